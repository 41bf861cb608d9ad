"""PyTorch ResNet checkpoints converted into the zoo: torchvision, TSM and mmaction2.

`convert_checkpoint` builds a zoo model with a checkpoint's weights, `load_checkpoint`
loads them into a model already built; `python -m keras_stw convert` runs the first and
saves a `.keras` file. `.pth` files need torch; `.safetensors`
(with the `safetensors` package) and `.npz` exports of a state dict do not.
"""

from keras_stw.convert.checkpoint_files import CheckpointError, read_checkpoint
from keras_stw.convert.converter import ConversionReport, convert_checkpoint, load_checkpoint
from keras_stw.convert.layouts import LAYOUTS, ResNetState, parse_state_dict
from keras_stw.convert.pretrained import (
    PRETRAINED,
    PretrainedTag,
    list_pretrained,
    load_pretrained,
    register_pretrained,
)

__all__ = [
    "LAYOUTS",
    "PRETRAINED",
    "CheckpointError",
    "ConversionReport",
    "PretrainedTag",
    "ResNetState",
    "convert_checkpoint",
    "list_pretrained",
    "load_checkpoint",
    "load_pretrained",
    "parse_state_dict",
    "read_checkpoint",
    "register_pretrained",
]
