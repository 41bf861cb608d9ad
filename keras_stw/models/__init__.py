"""The keras-stw model zoo: the registry, `VideoResNet` and the registered models."""

from keras_stw.models.backbones import BACKBONES, build_resnet_backbone
from keras_stw.models.folding import (
    call_folded,
    folded_trios,
    folding_pairs,
    residual_relus,
)
from keras_stw.models.preset import from_preset, save_to_preset
from keras_stw.models.registry import (
    ModelInfo,
    create_model,
    list_models,
    model_info,
    register_model,
)
from keras_stw.models.residual_folding import residual_folds
from keras_stw.models.resnet import (
    STWResNet50,
    STWResNet101,
    TSMResNet50,
    TSMResNet101,
    TSNResNet50,
    TSNResNet101,
    register_family,
)
from keras_stw.models.video_resnet import TEMPORAL_BLOCKS, VideoResNet, video_resnet
from keras_stw.models.weights import WeightsUnavailableError

__all__ = [
    "BACKBONES",
    "ModelInfo",
    "STWResNet50",
    "STWResNet101",
    "TEMPORAL_BLOCKS",
    "TSMResNet50",
    "TSMResNet101",
    "TSNResNet50",
    "TSNResNet101",
    "VideoResNet",
    "WeightsUnavailableError",
    "build_resnet_backbone",
    "create_model",
    "call_folded",
    "folded_trios",
    "folding_pairs",
    "from_preset",
    "list_models",
    "model_info",
    "register_family",
    "register_model",
    "residual_folds",
    "residual_relus",
    "save_to_preset",
    "video_resnet",
]
