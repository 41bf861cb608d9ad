"""keras-stw: Spatio-Temporal-Wise networks for video action recognition in Keras 3.

The public API, listed explicitly; anything not exported here (or in the `__all__` of
`keras_stw.layers`, `.models`, `.data`, `.evaluation`, `.training`, `.export`, `.convert`,
`.kernels`) is private. Importing the package registers its layers and `VideoResNet` with Keras, so
`.keras` files load without `custom_objects`, and the zoo's models with the registry.
"""

from keras_stw import convert, kernels, layers, models
from keras_stw.convert import list_pretrained
from keras_stw.flops import count_flops
from keras_stw.layers import STFM, STW_COMBINATIONS, TWM, STWBlock, TemporalShift
from keras_stw.models import (
    BACKBONES,
    TEMPORAL_BLOCKS,
    ModelInfo,
    STWResNet50,
    STWResNet101,
    TSMResNet50,
    TSMResNet101,
    TSNResNet50,
    TSNResNet101,
    VideoResNet,
    WeightsUnavailableError,
    build_resnet_backbone,
    create_model,
    from_preset,
    list_models,
    model_info,
    register_family,
    register_model,
    save_to_preset,
    video_resnet,
)
from keras_stw.surgery import (
    ResidualBlock,
    find_residual_blocks,
    insert_temporal_blocks,
)
from keras_stw.version import __version__ as __version__

__all__ = [
    "BACKBONES",
    "STFM",
    "STWBlock",
    "STWResNet50",
    "STWResNet101",
    "STW_COMBINATIONS",
    "TEMPORAL_BLOCKS",
    "TSMResNet50",
    "TSMResNet101",
    "TSNResNet50",
    "TSNResNet101",
    "TWM",
    "ModelInfo",
    "ResidualBlock",
    "TemporalShift",
    "VideoResNet",
    "WeightsUnavailableError",
    "build_resnet_backbone",
    "convert",
    "count_flops",
    "create_model",
    "find_residual_blocks",
    "from_preset",
    "insert_temporal_blocks",
    "kernels",
    "layers",
    "list_models",
    "list_pretrained",
    "model_info",
    "models",
    "register_family",
    "register_model",
    "save_to_preset",
    "video_resnet",
]
