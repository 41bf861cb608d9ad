"""`VideoResNet`: the video classifier behind the zoo, and its `video_resnet` builder."""

import inspect
import numbers
import warnings

import keras

from keras_stw import surgery
from keras_stw.data.clips import ClipSpec
from keras_stw.layers import (
    ClipToFrames,
    FrameNormalization,
    STWBlock,
    TemporalConsensus,
    TemporalShift,
)
from keras_stw.models import backbones, folding, preset
from keras_stw.validation import check_positive_int

# The built-in temporal blocks by their `temporal_block=` name.
_BLOCK_LAYERS = {"stw": STWBlock, "tsm": TemporalShift}
# The values of `temporal_block=` that name a built-in block; `None` is TSN.
TEMPORAL_BLOCKS = (*_BLOCK_LAYERS, None)
# The smallest frame height and width Keras Applications' ResNets build (they refuse
# smaller ones); KerasCV's and KerasHub's take any positive size.
MIN_IMAGE_SIZE = 32


@keras.saving.register_keras_serializable(package="keras_stw")
class VideoResNet(keras.Model):
    """A TSN-style video classifier on a ResNet, with temporal blocks in its residual branches.

    A clip `(batch, num_frames, H, W, 3)` of raw pixels in `[0, 255]` (uint8 or float)
    is reshaped to `batch * num_frames` frames, normalized as the backbone's pretrained
    weights expect (`normalization`), and run through the ResNet, whose residual
    branches in `stages` start with a temporal block. Global average pooling, dropout
    and a dense layer give per-frame class scores, which are averaged over the clip
    (TSN's consensus) and passed through `activation`.

    The model knows what it is: its constructor arguments are attributes
    (`model.num_frames`, `model.image_shape`, `model.temporal_block`, ...) and
    `get_config()` returns them, so it round-trips through `.keras` as a `VideoResNet`.
    `weights` only initializes the backbone at construction and is not part of the
    config: a `.keras` file carries the trained weights, and loading one never downloads.

    The model also carries what it was trained on: `clip_spec`, the recipe of its clips
    (sampling, frame interval, short side, frame file names), and `class_names`. Both
    are in the config, so `python -m keras_stw predict video.mp4 --model m.keras`,
    `evaluate.py` and `video_scores` make the clips the model was trained on and name
    its classes without being told again. They are attributes of the model rather than
    a separate preprocessor object (KerasHub's task / preprocessor split) because a
    recipe is a few plain values that the loaders read: kept in the model's config,
    they need no second file, load with any `.keras` file and any Keras backend, and
    leave the model's graph, and so its SavedModel / TFLite / ONNX export, unchanged.
    A model without them (a `.keras` file of keras-stw 0.1.0) is read with `ClipSpec`'s
    defaults.

    Args:
        temporal_block: `"stw"` (`STWBlock`), `"tsm"` (`TemporalShift`), `None` (TSN: no
            temporal modeling), or a callable taking a layer name and returning a new
            temporal layer, or `None` for no block there (see `insert_temporal_blocks`).
            A callable is saved as the layers it made, so those must be serializable
            (registered) layers.
            Defaults to `"stw"`.
        num_frames: int. Frames per clip, `T`. Defaults to `8`.
        num_classes: int. Number of classes. Defaults to `174` (Something-Something).
        image_shape: tuple. Frame shape `(H, W, 3)`; the model's input is the clip,
            `(batch, num_frames, H, W, 3)`. Defaults to `(224, 224, 3)`.
        stages: iterable of ints in 2..5. Stages whose blocks get a temporal block
            (Table 7). Defaults to `(2, 3, 4, 5)`.
        depth: int. ResNet depth: 26, 50, 101 or 152 (26 with KerasCV and KerasHub).
            Defaults to `50`.
        backbone: str. One of `keras_stw.BACKBONES`: `"keras_cv"` (KerasCV's
            `ResNetBackbone`, ResNet v1, needs TensorFlow), `"keras"`
            (`keras.applications`, ResNet v1, any backend) or `"keras_hub"` (KerasHub's
            `ResNetBackbone`, ResNet v1.5 as in the paper, any backend). Defaults to
            `"keras_cv"`.
        base_width: int. First-stage filters (KerasCV only), for narrow test and demo
            models. Defaults to `64`.
        dropout: float. Dropout rate before the classifier. Defaults to `0.5`.
        activation: activation of the clip scores; `None` gives logits. Defaults to
            `"softmax"`.
        block_options: dict or `None`. Keyword arguments of the built-in block:
            `combination`, `ratios`, `kernel_size`, `padding` for `"stw"`; `shift_div`,
            `padding` for `"tsm"`. Defaults to `None` (the block's defaults).
        normalization: dict or `None`. The arguments of the `FrameNormalization` that
            maps raw pixels to the backbone's input: `mean` and `std` per channel in
            `[0, 255]` units, and `reverse_channels`. `None` takes what the backbone's
            weights expect (`x / 255` for KerasCV, Caffe-style for Keras Applications;
            for KerasHub, the image converter of the preset in `weights`, else that of
            `resnet_50_imagenet`: ImageNet mean and std). The resolved value is the
            attribute and goes in the config, so a `.keras` file keeps it.
            Defaults to `None`.
        weights: `None`, `"imagenet"` or the path of a backbone weights file; with
            `backbone="keras_hub"` also a local KerasHub preset directory. It
            initializes the backbone before the temporal blocks are inserted.
            Defaults to `None`.
        dtype: `None`, a dtype name or a `keras.DTypePolicy`, e.g. `"mixed_bfloat16"`.
            Every layer of the model, the backbone's included, computes in it.
            Defaults to `None`, the global policy at construction.
        name: str. Model name. Defaults to e.g. `"stw_resnet50"`.
        clip_spec: `keras_stw.data.ClipSpec`, its `get_config()` dict, or `None`. How
            the model's clips are made from a video; its `num_frames` and
            `image_size` must be the model's. Defaults to `None`: not recorded
            (readers use `ClipSpec`'s defaults).
        class_names: sequence of `num_classes` str, or `None`. The name of each class
            the model scores. Defaults to `None`.
        **kwargs: `trainable`, the one other base model argument.

    Example:
    >>> model = keras_stw.VideoResNet("stw", num_frames=4, num_classes=10,
    ...     image_shape=(64, 64, 3), depth=26, base_width=8)
    >>> model.input_shape, model.output_shape
    ((None, 4, 64, 64, 3), (None, 10))
    >>> model.num_frames, model.image_shape
    (4, (64, 64, 3))
    """

    def __init__(
        self,
        temporal_block="stw",
        num_frames: int = 8,
        num_classes: int = 174,
        image_shape=(224, 224, 3),
        stages=surgery.DEFAULT_STAGES,
        depth: int = 50,
        backbone: str = "keras_cv",
        base_width: int = 64,
        dropout: float = 0.5,
        activation="softmax",
        block_options=None,
        normalization=None,
        weights=None,
        dtype=None,
        name=None,
        clip_spec=None,
        class_names=None,
        **kwargs,
    ):
        block_options = dict(block_options or {})
        if not isinstance(image_shape, (tuple, list)):
            raise ValueError(
                "`image_shape` must be the frame shape, a tuple (height, width, channels). "
                f"Received: image_shape={image_shape!r}"
            )
        image_shape = tuple(image_shape)
        _validate(
            temporal_block, num_frames, num_classes, image_shape, backbone, block_options, kwargs
        )
        _validate_normalization(normalization)
        clip_spec = _validate_clip_spec(clip_spec, num_frames, image_shape)
        class_names = _validate_class_names(class_names, num_classes)
        dtype = keras.config.dtype_policy() if dtype is None else keras.dtype_policies.get(dtype)

        # === Layers ===
        made_blocks = {}
        make_block = _block_factory(temporal_block, num_frames, block_options, dtype, made_blocks)
        # Under `dtype` as the global policy, so that it reaches the layers that neither
        # KerasCV, Keras Applications nor a user's block factory give a dtype.
        with backbones.dtype_policy_scope(dtype):
            frame_model = backbones.build_resnet_backbone(
                depth, backbone, image_shape, weights, base_width, dtype=dtype
            )
            if make_block is not None:
                frame_model = surgery.insert_temporal_blocks(frame_model, make_block, stages)
        if normalization is None:  # After the backbone: its download fails first, offline.
            normalization = backbones.input_normalization(backbone, weights, depth)
        # A block factory cannot be saved; the layers it made can, and make it again.
        made_block_configs = {
            name: keras.saving.serialize_keras_object(layer) for name, layer in made_blocks.items()
        }

        # === Functional Model ===
        clips = keras.Input(shape=(num_frames, *image_shape), name="clips")
        x = ClipToFrames(num_frames, dtype=dtype, name="clip_to_frames")(clips)
        normalize = FrameNormalization(**normalization, dtype=dtype, name="normalization")
        x = normalize(x)
        x = frame_model(x)
        x = keras.layers.GlobalAveragePooling2D(dtype=dtype, name="avg_pool")(x)
        x = keras.layers.Dropout(dropout, dtype=dtype, name="dropout")(x)
        x = keras.layers.Dense(num_classes, dtype=dtype, name="frame_scores")(x)
        x = TemporalConsensus(num_frames, dtype=dtype, name="consensus")(x)
        outputs = keras.layers.Activation(activation, dtype=dtype, name="predictions")(x)
        tag = "custom" if callable(temporal_block) else temporal_block or "tsn"
        super().__init__(clips, outputs, name=name or f"{tag}_resnet{depth}", **kwargs)

        # === Config ===
        self.temporal_block = temporal_block
        self.num_frames = num_frames
        self.num_classes = num_classes
        self.image_shape = image_shape
        self.stages = tuple(stages)
        self.depth = depth
        self.backbone = backbone
        self.base_width = base_width
        self.dropout = dropout
        self.activation = activation
        self.block_options = block_options
        self.normalization = {
            "mean": normalize.mean,
            "std": normalize.std,
            "reverse_channels": normalize.reverse_channels,
        }
        self.dtype_policy = dtype
        self.clip_spec = clip_spec
        self.class_names = class_names
        self._made_block_configs = made_block_configs

    def call(self, inputs, training=None, mask=None):
        # Each temporal block and the 1x1 convolution that reads it may run as a pair that
        # does not keep the block's output: folded into one kernel, or recomputed in the
        # backward pass (both are off by default). Under JAX, training also runs the residual
        # ReLUs with a gradient that reads their output (`keras_stw.models.folding`).
        outputs = folding.call_folded(self, inputs, training)
        if outputs is None:
            return super().call(inputs, training=training, mask=mask)
        return outputs

    def get_config(self):
        # Not chained to super: a functional model's config is its graph, and this
        # model is rebuilt from its arguments instead.
        temporal_block = self.temporal_block
        if callable(temporal_block):
            temporal_block = {"layers": dict(self._made_block_configs)}
        return {
            "temporal_block": temporal_block,
            "num_frames": self.num_frames,
            "num_classes": self.num_classes,
            "image_shape": self.image_shape,
            "stages": self.stages,
            "depth": self.depth,
            "backbone": self.backbone,
            "base_width": self.base_width,
            "dropout": self.dropout,
            "activation": keras.saving.serialize_keras_object(self.activation),
            "block_options": dict(self.block_options),
            "normalization": dict(self.normalization),
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "name": self.name,
            "trainable": self.trainable,
            "clip_spec": None if self.clip_spec is None else self.clip_spec.get_config(),
            "class_names": None if self.class_names is None else list(self.class_names),
        }

    def save_to_preset(self, preset_dir, provenance=None) -> str:
        """Saves the model as a preset folder; see `keras_stw.save_to_preset`.

        Args:
            preset_dir: str or `os.PathLike`. The folder; made if missing.
            provenance: dict or `None`. Where the weights come from. Defaults to `None`.

        Returns:
            The folder's path.

        Example:
        >>> model.save_to_preset("my_stw", {"source": "trained by examples/train.py"})
        >>> keras_stw.from_preset("my_stw")
        """
        return preset.save_to_preset(self, preset_dir, provenance)

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        temporal_block = config["temporal_block"]
        if isinstance(temporal_block, dict):
            # A block factory, saved as the layers it made: make the same ones again.
            configs = temporal_block["layers"]
            config["temporal_block"] = lambda name: keras.saving.deserialize_keras_object(
                configs[name]
            )
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)


def video_resnet(
    temporal_block="stw",
    num_frames: int = 8,
    num_classes: int = 174,
    weights=None,
    *,
    input_shape=None,
    **kwargs,
) -> VideoResNet:
    """Builds a `VideoResNet`, with the temporal block's options as keywords.

    The zoo's functions (`keras_stw.create_model("stw_resnet50")`, `STWResNet50`) call
    this. It takes `VideoResNet`'s arguments, except that the block's options are
    keywords of their own (`combination="stfm"`, `shift_div=4`) rather than one
    `block_options` dict: a keyword that is not an argument of `VideoResNet` is a block
    option.

    Args:
        temporal_block: `"stw"`, `"tsm"`, `None` or a block factory; see
            `VideoResNet`. Defaults to `"stw"`.
        num_frames: int. Frames per clip. Defaults to `8`.
        num_classes: int. Number of classes. Defaults to `174`.
        weights: `None`, `"imagenet"` or the path of a backbone weights file.
            Defaults to `None`.
        input_shape: deprecated name of `image_shape`, from keras-stw 0.1.0; it is
            the frame shape, not the model's `input_shape` (the clip shape).
        **kwargs: `VideoResNet`'s other arguments (`image_shape`, `stages`, `depth`,
            `backbone`, `base_width`, `dropout`, `activation`, `normalization`, `dtype`,
            `name`, `trainable`), then the temporal block's options: `combination`, `ratios`,
            `kernel_size`, `padding` for STW; `shift_div`, `padding` for TSM.

    Returns:
        A `VideoResNet`.

    Example:
    >>> model = keras_stw.video_resnet("stw", num_frames=4, num_classes=10,
    ...     image_shape=(64, 64, 3), depth=26, base_width=8, combination="stfm")
    >>> model.block_options
    {'combination': 'stfm'}
    """
    model_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in _MODEL_ARGUMENTS}
    if input_shape is not None:
        model_kwargs["image_shape"] = _deprecated_input_shape(input_shape, model_kwargs)
    return VideoResNet(
        temporal_block,
        num_frames,
        num_classes,
        weights=weights,
        block_options=kwargs,
        **model_kwargs,
    )


# Keywords of `video_resnet` that are `VideoResNet`'s own; the others are block options.
_MODEL_ARGUMENTS = {*inspect.signature(VideoResNet.__init__).parameters, "trainable"} - {
    "self",
    "block_options",
    "kwargs",
}


def _deprecated_input_shape(input_shape, model_kwargs):
    """Returns `input_shape`, the 0.1.0 name of `image_shape`, with a warning."""
    if "image_shape" in model_kwargs:
        raise ValueError(
            "Pass the frame shape once, as `image_shape`; `input_shape` is its deprecated "
            f"name. Received: image_shape={model_kwargs['image_shape']!r}, "
            f"input_shape={input_shape!r}"
        )
    warnings.warn(
        "`input_shape` is deprecated: pass the frame shape as `image_shape` (the model's "
        "`input_shape` is the clip shape, (batch, num_frames, *image_shape)).",
        DeprecationWarning,
        stacklevel=_caller_stacklevel(),
    )
    return input_shape


def _caller_stacklevel():
    """The `stacklevel` that points a warning at the first caller outside keras_stw.

    The zoo's functions call `video_resnet`, so a fixed level would name package code,
    and Python shows a `DeprecationWarning` by default only where `__main__` causes it.
    """
    frame, level = inspect.currentframe().f_back, 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("keras_stw"):
        frame, level = frame.f_back, level + 1
    return level


def _validate(
    temporal_block, num_frames, num_classes, image_shape, backbone, block_options, kwargs
):
    # A functional model would ignore unknown keywords silently, block options included.
    unknown = sorted(set(kwargs) - {"trainable"})
    if unknown:
        raise ValueError(
            f"Unrecognized arguments for VideoResNet: {unknown}. A temporal block's "
            f"options go in `block_options`. Received: {', '.join(unknown)}"
        )
    check_positive_int("num_frames", num_frames)
    check_positive_int("num_classes", num_classes)
    if not callable(temporal_block) and temporal_block not in TEMPORAL_BLOCKS:
        raise ValueError(
            f"`temporal_block` must be one of {TEMPORAL_BLOCKS} or a block factory. "
            f"Received: temporal_block={temporal_block!r}"
        )
    if (temporal_block is None or callable(temporal_block)) and block_options:
        raise ValueError(
            "Block options apply to temporal_block='stw' or 'tsm' only. "
            f"Received: {sorted(block_options)} with temporal_block={temporal_block!r}"
        )
    if len(image_shape) != 3:
        raise ValueError(
            "`image_shape` (0.1.0: `input_shape`) is the frame shape (height, width, "
            f"channels), not the clip shape. Received: image_shape={image_shape!r}"
        )
    minimum, why = 1, ""
    if backbone == "keras":
        minimum, why = MIN_IMAGE_SIZE, " (Keras Applications' ResNet downsamples them 32 times)"
    integers = all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in image_shape)
    if not integers or min(image_shape[:2]) < minimum or image_shape[2] < 1:
        raise ValueError(
            f"`image_shape` must be (height, width, channels), height and width integers of "
            f"at least {minimum}{why} and channels at least 1. "
            f"Received: image_shape={image_shape!r}, backbone={backbone!r}"
        )


def _validate_normalization(normalization):
    keys = {"mean", "std", "reverse_channels"}
    if normalization is not None and (
        not isinstance(normalization, dict) or not {"mean", "std"} <= set(normalization) <= keys
    ):
        raise ValueError(
            "`normalization` must be None or a dict with `mean` and `std` (per channel, "
            "in [0, 255] units) and optionally `reverse_channels`. "
            f"Received: normalization={normalization!r}"
        )


def _validate_clip_spec(clip_spec, num_frames, image_shape):
    """Returns `clip_spec` as a `ClipSpec` (or `None`), checked against the model."""
    if clip_spec is None or isinstance(clip_spec, ClipSpec):
        spec = clip_spec
    elif isinstance(clip_spec, dict):
        spec = ClipSpec.from_config(clip_spec)
    else:
        raise ValueError(
            "`clip_spec` must be None, a `keras_stw.data.ClipSpec` or its config dict. "
            f"Received: clip_spec={clip_spec!r}"
        )
    if spec is not None and (
        spec.num_frames != num_frames or (spec.image_size,) * 2 != tuple(image_shape[:2])
    ):
        raise ValueError(
            "`clip_spec` must make the model's clips: its `num_frames` and `image_size` "
            f"those of the model. Received: clip_spec.num_frames={spec.num_frames}, "
            f"clip_spec.image_size={spec.image_size} for num_frames={num_frames}, "
            f"image_shape={image_shape}"
        )
    return spec


def _validate_class_names(class_names, num_classes):
    """Returns `class_names` as a tuple of `num_classes` str, or `None`."""
    if class_names is None:
        return None
    if isinstance(class_names, str) or not all(isinstance(n, str) for n in class_names):
        raise ValueError(
            f"`class_names` must be a sequence of str. Received: class_names={class_names!r}"
        )
    class_names = tuple(class_names)
    if len(class_names) != num_classes:
        raise ValueError(
            f"`class_names` must name the {num_classes} classes (`num_classes`). "
            f"Received: {len(class_names)} class_names"
        )
    return class_names


def _block_factory(temporal_block, num_frames, block_options, dtype, made_blocks):
    """Returns `make(name) -> layer` for the surgery, or `None` for TSN.

    Layers of a callable `temporal_block` are recorded in `made_blocks`, by name, so
    `get_config` can save them.
    """
    if temporal_block is None:
        return None
    if callable(temporal_block):

        def make(name):
            made_blocks[name] = temporal_block(name)
            return made_blocks[name]

        return make
    layer_class = _BLOCK_LAYERS[temporal_block]
    # Build one block now, so a bad keyword fails here, naming the argument.
    try:
        layer_class(num_frames, **block_options)
    except TypeError as error:
        raise ValueError(
            f"Unknown argument for temporal_block={temporal_block!r}: {error}"
        ) from error
    return lambda name: layer_class(num_frames, name=name, dtype=dtype, **block_options)
