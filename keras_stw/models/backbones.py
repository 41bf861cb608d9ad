"""Frame-level ResNet backbones from KerasCV or Keras Applications."""

import contextlib

import keras

from keras_stw.models import weights as weights_lib
from keras_stw.validation import check_positive_int

# The values of the zoo's `backbone=` argument: where the frame-level ResNet comes from.
BACKBONES = ("keras_cv", "keras")
STACKWISE_BLOCKS = {
    26: (2, 2, 2, 2),
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
}
APPLICATIONS = {50: "ResNet50", 101: "ResNet101", 152: "ResNet152"}

# What each source's ImageNet weights were trained on, in [0, 255] pixel units.
# KerasCV's ResNet v1 rescales to [0, 1]; Keras Applications' ResNets are Caffe-style:
# BGR order, ImageNet mean subtracted, no scaling.
NORMALIZATION = {
    "keras_cv": {"mean": (0.0, 0.0, 0.0), "std": (255.0, 255.0, 255.0)},
    "keras": {
        "mean": (103.939, 116.779, 123.68),
        "std": (1.0, 1.0, 1.0),
        "reverse_channels": True,
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
    """Builds a frame-level ResNet v1 without its classifier.

    Args:
        depth: int. 26, 50, 101 or 152 for KerasCV; 50, 101 or 152 for Keras.
            Defaults to `50`.
        source: str. `"keras_cv"` builds `keras_cv.models.ResNetBackbone` (needs
            TensorFlow); `"keras"` builds `keras.applications.ResNet{depth}` (any
            backend). Defaults to `"keras_cv"`.
        input_shape: tuple. Frame shape `(H, W, 3)`. Defaults to `(224, 224, 3)`.
        weights: `None`, `"imagenet"` or the path of a backbone weights file.
            Defaults to `None`.
        base_width: int. Filters of the first stage (KerasCV only); the stages have
            `base_width * (1, 2, 4, 8)`. Defaults to `64`, the standard width.
        name: str. The backbone model's name. Defaults to `"backbone"`.
        dtype: `None`, a dtype name or a `keras.DTypePolicy` such as
            `"mixed_bfloat16"`, for every layer of the backbone. Neither KerasCV's
            `ResNetBackbone` nor Keras Applications take a `dtype`, so the backbone is
            built while this is the global policy, which is restored afterwards.
            Defaults to `None`, the global policy.

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
        return _keras_cv_resnet(depth, input_shape, weights, base_width, name)


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
    allowed = sorted(STACKWISE_BLOCKS if source == "keras_cv" else APPLICATIONS)
    if depth not in allowed:
        raise ValueError(
            f"`depth` must be one of {allowed} for backbone={source!r}. Received: depth={depth!r}"
        )
    if source == "keras" and base_width != 64:
        raise ValueError(
            "`base_width` other than 64 needs backbone='keras_cv'; Keras Applications' "
            f"ResNets have a fixed width. Received: base_width={base_width!r}"
        )
    check_positive_int("base_width", base_width)


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
    try:
        import keras_cv
    except ImportError as error:
        raise ImportError(
            "backbone='keras_cv' needs KerasCV and TensorFlow: "
            "`pip install keras-stw[tensorflow]`. Without TensorFlow, pass "
            "backbone='keras'."
        ) from error
    if weights == "imagenet":
        if depth != 50:
            raise ValueError(
                f"KerasCV has ImageNet weights for ResNet-50 only. Received: depth={depth}, "
                "weights='imagenet'. Use backbone='keras' for deeper ImageNet ResNets."
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
