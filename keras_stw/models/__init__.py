"""The keras-stw model zoo."""

from keras_stw.models.backbones import build_resnet_backbone
from keras_stw.models.resnet import (
    STWResNet50,
    STWResNet101,
    TSMResNet50,
    TSMResNet101,
    TSNResNet50,
    TSNResNet101,
)
from keras_stw.models.video_resnet import video_resnet
from keras_stw.models.weights import WeightsUnavailableError

__all__ = [
    "STWResNet50",
    "STWResNet101",
    "TSMResNet50",
    "TSMResNet101",
    "TSNResNet50",
    "TSNResNet101",
    "WeightsUnavailableError",
    "build_resnet_backbone",
    "video_resnet",
]
