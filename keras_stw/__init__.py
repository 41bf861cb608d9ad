"""keras-stw: Spatio-Temporal-Wise networks for video action recognition in Keras 3.

The public API, listed explicitly; anything not exported here is private.
"""

from keras_stw import layers
from keras_stw.flops import count_flops
from keras_stw.layers import STFM, TWM, STWBlock, TemporalShift
from keras_stw.models import (
    STWResNet50,
    STWResNet101,
    TSMResNet50,
    TSMResNet101,
    TSNResNet50,
    TSNResNet101,
    WeightsUnavailableError,
    build_resnet_backbone,
    video_resnet,
)
from keras_stw.surgery import (
    ResidualBlock,
    find_residual_blocks,
    insert_temporal_blocks,
)

__version__ = "0.1.0"

__all__ = [
    "STFM",
    "STWBlock",
    "STWResNet50",
    "STWResNet101",
    "TSMResNet50",
    "TSMResNet101",
    "TSNResNet50",
    "TSNResNet101",
    "TWM",
    "ResidualBlock",
    "TemporalShift",
    "WeightsUnavailableError",
    "build_resnet_backbone",
    "count_flops",
    "find_residual_blocks",
    "insert_temporal_blocks",
    "layers",
    "video_resnet",
]
