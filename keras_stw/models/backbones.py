"""Frame-level ResNet backbones from KerasCV, Keras Applications or KerasHub."""

import contextlib
import importlib
import os

import keras

from keras_stw.models import weights as weights_lib
from keras_stw.validation import check_positive_int

# The values of the zoo's `backbone=` argument: where the frame-level ResNet comes from.
# KerasCV's and Keras Applications' ResNets are v1 (a stage's stride 2 sits in the first
# 1x1 convolution of its first block); KerasHub's is v1.5 (stride in the 3x3 convolution),
# as torchvision's, TSM's, mmaction2's and the paper's.
BACKBONES = ("keras_cv", "keras", "keras_hub")
STACKWISE_BLOCKS = {
    26: (2, 2, 2, 2),
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
}
APPLICATIONS = {50: "ResNet50", 101: "ResNet101", 152: "ResNet152"}
# KerasHub's ImageNet presets: timm's `resnet{depth}.a1_in1k` weights, on Kaggle.
KERAS_HUB_PRESETS = {depth: f"resnet_{depth}_imagenet" for depth in (50, 101, 152)}

# The ImageNet mean and standard deviation of [0, 1] RGB pixels in timm's configuration of
# `resnet50.a1_in1k` (timm's IMAGENET_DEFAULT_MEAN / _STD), the weights of KerasHub's
# `resnet_50_imagenet`. KerasHub's timm loader (keras_hub/src/utils/timm/preset_loader.py)
# turns them into that preset's image converter: scale = 1 / (255 * std), offset =
# -mean / std.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# What each source's ImageNet weights were trained on, in [0, 255] pixel units.
# KerasCV's ResNet v1 rescales to [0, 1]; Keras Applications' ResNets are Caffe-style:
# BGR order, ImageNet mean subtracted, no scaling. KerasHub's are those of the preset's
# image converter (`input_normalization`); this is `resnet_50_imagenet`'s, the default.
NORMALIZATION = {
    "keras_cv": {"mean": (0.0, 0.0, 0.0), "std": (255.0, 255.0, 255.0)},
    "keras": {
        "mean": (103.939, 116.779, 123.68),
        "std": (1.0, 1.0, 1.0),
        "reverse_channels": True,
    },
    "keras_hub": {
        "mean": tuple(255 * m for m in IMAGENET_MEAN),
        "std": tuple(255 * s for s in IMAGENET_STD),
    },
}


def build_resnet_backbone(
    depth: int = 50,
    source: str = "keras_cv",
    input_shape=(224, 224, 3),
    weights=None,
    base_width: int = 64,
    name: str = "backbone",
    dtype=None,
) -> keras.Model:
    """Builds a frame-level ResNet without its classifier.

    KerasCV's and Keras Applications' ResNets are v1: a stage's stride 2 sits in the
    first 1x1 convolution of its first block. KerasHub's `ResNetBackbone` is v1.5, with
    the stride in the 3x3 convolution, as in torchvision, TSM, mmaction2 and the paper
    (4.09 instead of 3.86 GMACs a 224x224 frame for ResNet-50). It is built from
    explicit stack arguments (those of KerasHub's `resnet_{depth}_imagenet` presets), so
    nothing is downloaded unless `weights` asks for it.

    Args:
        depth: int. 26, 50, 101 or 152 for KerasCV and KerasHub; 50, 101 or 152 for
            Keras. Defaults to `50`.
        source: str. `"keras_cv"` builds `keras_cv.models.ResNetBackbone` (needs
            TensorFlow); `"keras"` builds `keras.applications.ResNet{depth}` (any
            backend); `"keras_hub"` builds `keras_hub.models.ResNetBackbone` (v1.5, any
            backend). Defaults to `"keras_cv"`.
        input_shape: tuple. Frame shape `(H, W, 3)`. Defaults to `(224, 224, 3)`.
        weights: `None`, `"imagenet"` or the path of a backbone weights file; with
            `source="keras_hub"` also the path of a local KerasHub preset directory
            (as `ResNetBackbone.save_to_preset(dir)` writes it), which loads without the
            network. `"imagenet"` downloads KerasCV's, Keras's or KerasHub's ImageNet
            weights (KerasHub: the `resnet_{depth}_imagenet` preset, from Kaggle).
            Defaults to `None`.
        base_width: int. Filters of the first stage (KerasCV only); the stages have
            `base_width * (1, 2, 4, 8)`. Defaults to `64`, the standard width.
        name: str. The backbone model's name. Defaults to `"backbone"`.
        dtype: `None`, a dtype name or a `keras.DTypePolicy` such as
            `"mixed_bfloat16"`, for every layer of the backbone. Neither KerasCV's
            `ResNetBackbone` nor Keras Applications take a `dtype`, so the backbone is
            built while this is the global policy, which is restored afterwards (a
            KerasHub preset's saved policy does not override it). Defaults to `None`,
            the global policy.

    Returns:
        A functional `keras.Model` from frames to the last feature map.

    Example:
    >>> backbone = build_resnet_backbone(50, "keras", input_shape=(64, 64, 3))
    >>> backbone.output.shape
    (None, 2, 2, 2048)
    """
    _validate(depth, source, base_width)
    with dtype_policy_scope(dtype):
        if source == "keras":
            return _keras_applications_resnet(depth, input_shape, weights, name)
        if source == "keras_hub":
            return _keras_hub_resnet(depth, input_shape, weights, name)
        return _keras_cv_resnet(depth, input_shape, weights, base_width, name)


def input_normalization(source: str, weights=None, depth: int = 50) -> dict:
    """The `FrameNormalization` arguments for the frames that a backbone's weights expect.

    KerasCV: `x / 255`. Keras Applications: Caffe-style (BGR, ImageNet mean subtracted).
    KerasHub: read from the image converter of the preset that `weights` names
    (`"imagenet"`: `resnet_{depth}_imagenet`, or a local preset directory), whose
    `x * scale + offset` is `(x - mean) / std`. Without a preset, or for a preset
    without an image converter (`ResNetBackbone.save_to_preset` writes none), it is
    that of `resnet_50_imagenet` (`NORMALIZATION["keras_hub"]`).

    Args:
        source: str. One of `BACKBONES`.
        weights: the `weights` the backbone was built with. Defaults to `None`.
        depth: int. The ResNet depth, which names the ImageNet preset. Defaults to `50`.

    Returns:
        A dict with `mean`, `std` (per channel, in `[0, 255]` units) and
        `reverse_channels`.

    Example:
    >>> input_normalization("keras_cv")
    {'mean': (0.0, 0.0, 0.0), 'std': (255.0, 255.0, 255.0), 'reverse_channels': False}
    """
    preset = _keras_hub_preset(depth, weights) if source == "keras_hub" else None
    normalization = {**NORMALIZATION[source]}
    normalization.setdefault("reverse_channels", False)
    if preset is None:
        return normalization
    keras_hub = _import_keras_hub()

    def load_converter():
        try:
            return keras_hub.layers.ImageConverter.from_preset(preset)
        except FileNotFoundError:  # KerasHub's answer, local or on Kaggle, to a missing file
            return None

    converter = _load_preset(preset, "image converter", load_converter)
    if converter is None:
        return normalization
    return {**normalization, **_converter_normalization(converter, preset)}


@contextlib.contextmanager
def dtype_policy_scope(dtype):
    """Makes `dtype` the global dtype policy inside the block, for layers built there."""
    if dtype is None:
        yield
        return
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(keras.dtype_policies.get(dtype))
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _validate(depth, source, base_width):
    if source not in BACKBONES:
        raise ValueError(f"`backbone` must be one of {BACKBONES}. Received: backbone={source!r}")
    allowed = sorted(APPLICATIONS if source == "keras" else STACKWISE_BLOCKS)
    if depth not in allowed:
        raise ValueError(
            f"`depth` must be one of {allowed} for backbone={source!r}. Received: depth={depth!r}"
        )
    fixed_width = {
        "keras": "Keras Applications' ResNets have a fixed width",
        "keras_hub": "KerasHub's ResNetBackbone needs 64 filters in its first stage",
    }
    if source in fixed_width and base_width != 64:
        raise ValueError(
            f"`base_width` other than 64 needs backbone='keras_cv'; {fixed_width[source]}. "
            f"Received: base_width={base_width!r}, backbone={source!r}"
        )
    check_positive_int("base_width", base_width)


def _require(module, why):
    """Imports `module`, or raises an `ImportError` that says how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(why) from error


def _keras_applications_resnet(depth, input_shape, weights, name):
    constructor = getattr(keras.applications, APPLICATIONS[depth])
    if weights == "imagenet":
        return weights_lib.download_imagenet(
            f"keras.applications.{APPLICATIONS[depth]}",
            lambda: constructor(
                include_top=False,
                weights="imagenet",
                input_shape=input_shape,
                name=name,
            ),
        )
    backbone = constructor(include_top=False, weights=None, input_shape=input_shape, name=name)
    weights_lib.load_backbone_weights(backbone, weights)
    return backbone


def _keras_cv_resnet(depth, input_shape, weights, base_width, name):
    keras_cv = _require(
        "keras_cv",
        "backbone='keras_cv' needs KerasCV and TensorFlow: `pip install "
        "keras-stw[tensorflow]`. Without TensorFlow, pass backbone='keras' or 'keras_hub'.",
    )
    if weights == "imagenet":
        if depth != 50:
            raise ValueError(
                f"KerasCV has ImageNet weights for ResNet-50 only. Received: depth={depth}, "
                "weights='imagenet'. Use backbone='keras' or 'keras_hub' for deeper "
                "ImageNet ResNets."
            )
        return weights_lib.download_imagenet(
            "keras_cv.models.ResNetBackbone preset 'resnet50_imagenet'",
            lambda: keras_cv.models.ResNetBackbone.from_preset(
                "resnet50_imagenet",
                input_shape=input_shape,
                include_rescaling=False,
                name=name,
            ),
        )
    backbone = keras_cv.models.ResNetBackbone(
        stackwise_filters=[base_width * m for m in (1, 2, 4, 8)],
        stackwise_blocks=list(STACKWISE_BLOCKS[depth]),
        stackwise_strides=[1, 2, 2, 2],
        include_rescaling=False,
        input_shape=input_shape,
        name=name,
    )
    weights_lib.load_backbone_weights(backbone, weights)
    return backbone


def _import_keras_hub():
    return _require(
        "keras_hub",
        "backbone='keras_hub' needs KerasHub 0.32 or later: `pip install "
        "keras-stw[keras_hub]` (on Linux, KerasHub's tensorflow-text dependency pulls "
        "TensorFlow). Without TensorFlow: `pip install --no-deps keras-hub` and `pip "
        "install regex tokenizers kagglehub`.",
    )


def _keras_hub_arguments(depth: int) -> dict:
    """The stack arguments of KerasHub's ResNet-{depth} v1.5 `ResNetBackbone`.

    They are those of KerasHub's `resnet_{depth}_imagenet` presets (KerasHub's timm
    converter, keras_hub/src/utils/timm/convert_resnet.py, gives timm's `resnet{depth}`
    these), with bottleneck blocks; ResNet-26 is timm's `resnet26`.
    """
    return {
        "input_conv_filters": [64],
        "input_conv_kernel_sizes": [7],
        "stackwise_num_filters": [64, 128, 256, 512],
        "stackwise_num_blocks": list(STACKWISE_BLOCKS[depth]),
        "stackwise_num_strides": [1, 2, 2, 2],
        "block_type": "bottleneck_block",
        "use_pre_activation": False,
    }


def _keras_hub_resnet(depth, input_shape, weights, name):
    keras_hub = _import_keras_hub()
    arguments = _keras_hub_arguments(depth)
    preset = _keras_hub_preset(depth, weights)
    if preset is None:
        backbone = keras_hub.models.ResNetBackbone(**arguments, image_shape=input_shape, name=name)
        weights_lib.load_backbone_weights(backbone, weights)
        return backbone
    backbone = _load_preset(
        preset,
        "backbone",
        lambda: keras_hub.models.ResNetBackbone.from_preset(
            preset, image_shape=input_shape, name=name
        ),
    )
    config = backbone.get_config()
    differing = sorted(key for key in arguments if config[key] != arguments[key])
    if differing:
        found = ", ".join(f"{key}={config[key]!r}" for key in differing)
        expected = ", ".join(f"{key}={arguments[key]!r}" for key in differing)
        raise weights_lib.WeightsUnavailableError(
            f"KerasHub preset {preset!r} is not the ResNet-{depth} v1.5 that "
            f"backbone='keras_hub' builds for depth={depth} ({expected}): it has {found}. "
            f"Received: weights={weights!r}"
        )
    return backbone


def _keras_hub_preset(depth, weights):
    """The KerasHub preset that `weights` names, or `None` (random or file weights)."""
    if weights == "imagenet":
        if depth not in KERAS_HUB_PRESETS:
            raise ValueError(
                "KerasHub has ImageNet presets for ResNet-50, -101 and -152 only. "
                f"Received: depth={depth}, weights='imagenet'"
            )
        return KERAS_HUB_PRESETS[depth]
    if isinstance(weights, (str, os.PathLike)) and os.path.isdir(weights):
        return os.fspath(weights)
    return None


def _load_preset(preset, what, load):
    """Runs `load()`, which reads `what` from KerasHub `preset`, with clear errors.

    A built-in preset is downloaded from Kaggle: offline, the error names it and tells
    how to use a local directory instead.
    """
    if os.path.isdir(preset):
        try:
            return load()
        except Exception as error:
            raise weights_lib.WeightsUnavailableError(
                f"Could not read the {what} of the KerasHub preset directory {preset!r}: {error}"
            ) from error
    return weights_lib.download_imagenet(
        f"KerasHub preset {preset!r} ({_kaggle_handle(preset)}), its {what}",
        load,
        hint=(
            "Where the network is reachable, save the preset to a directory, "
            f"`keras_hub.models.ImageClassifier.from_preset({preset!r})"
            f".save_to_preset({preset!r})` (or `keras_hub.models.ResNetBackbone`'s, "
            "without the image converter), copy that directory here and pass its path: "
            f"weights='/path/to/{preset}'. A local preset directory loads without the "
            "network."
        ),
    )


def _kaggle_handle(preset):
    """The Kaggle handle of KerasHub's built-in `preset`, e.g. `kaggle://keras/...`."""
    keras_hub = _import_keras_hub()
    return keras_hub.models.ResNetBackbone.presets[preset]["kaggle_handle"]


def _converter_normalization(converter, preset):
    """`mean` and `std` from a KerasHub image converter: `x * scale + offset`."""

    def per_channel(value, default):
        value = default if value is None else value
        if isinstance(value, (int, float)):
            value = (value,) * 3
        return tuple(float(v) for v in value)

    scale = per_channel(converter.scale, 1.0)
    offset = per_channel(converter.offset, 0.0)
    if len(scale) != len(offset) or any(s <= 0 for s in scale):
        raise ValueError(
            f"The image converter of KerasHub preset {preset!r} needs one positive scale "
            f"and one offset per channel. Received: scale={converter.scale!r}, "
            f"offset={converter.offset!r}"
        )
    return {
        "mean": tuple(-o / s for o, s in zip(offset, scale, strict=True)),
        "std": tuple(1 / s for s in scale),
    }
