"""The generic video ResNet builder behind the zoo's factories."""

import keras

from keras_stw import surgery
from keras_stw.layers import (
    ClipToFrames,
    FrameNormalization,
    STWBlock,
    TemporalConsensus,
    TemporalShift,
)
from keras_stw.models import backbones
from keras_stw.validation import check_positive_int

TEMPORAL_BLOCKS = ("stw", "tsm", None)


def video_resnet(
    temporal_block="stw",
    *,
    num_frames: int = 8,
    num_classes: int = 174,
    weights=None,
    input_shape=(224, 224, 3),
    stages=surgery.DEFAULT_STAGES,
    depth: int = 50,
    backbone: str = "keras_cv",
    base_width: int = 64,
    dropout: float = 0.5,
    activation="softmax",
    name=None,
    **block_kwargs,
) -> keras.Model:
    """Builds a TSN-style video classifier on a ResNet, with optional temporal blocks.

    A clip `(batch, num_frames, H, W, 3)` of raw pixels in `[0, 255]` (uint8 or float)
    is reshaped to `batch * num_frames` frames, normalized as the backbone's pretrained
    weights expect, and run through the ResNet, whose residual branches in `stages`
    start with a temporal block. Global average pooling, dropout and a dense layer give
    per-frame class scores, which are averaged over the clip (TSN's consensus) and
    passed through `activation`.

    Args:
        temporal_block: `"stw"`, `"tsm"`, `None` (TSN: no temporal modeling), or a
            callable taking a layer name and returning a new temporal layer (see
            `insert_temporal_blocks`). Defaults to `"stw"`.
        num_frames: int. Frames per clip, `T`. Defaults to `8`.
        num_classes: int. Number of classes. Defaults to `174` (Something-Something).
        weights: `None`, `"imagenet"` or the path of a backbone weights file; it
            initializes the backbone before the temporal blocks are inserted.
            Defaults to `None`.
        input_shape: tuple. Frame shape `(H, W, 3)`. Defaults to `(224, 224, 3)`.
        stages: iterable of ints in 2..5. Stages whose blocks get a temporal block
            (Table 7). Defaults to `(2, 3, 4, 5)`.
        depth: int. ResNet depth. Defaults to `50`.
        backbone: str. `"keras_cv"` (KerasCV's `ResNetBackbone`, needs TensorFlow) or
            `"keras"` (`keras.applications`, any backend). Defaults to `"keras_cv"`.
        base_width: int. First-stage filters (KerasCV only), for narrow test and demo
            models. Defaults to `64`.
        dropout: float. Dropout rate before the classifier. Defaults to `0.5`.
        activation: activation of the clip scores; `None` gives logits. Defaults to
            `"softmax"`.
        name: str. Model name. Defaults to e.g. `"stw_resnet50"`.
        **block_kwargs: passed to the temporal block: `combination`, `ratios`,
            `kernel_size`, `padding` for STW; `shift_div`, `padding` for TSM.

    Returns:
        A functional `keras.Model`.

    Example:
    >>> model = keras_stw.video_resnet("stw", num_frames=4, num_classes=10,
    ...     input_shape=(64, 64, 3), base_width=8)
    >>> model.output_shape
    (None, 10)
    """
    check_positive_int("num_frames", num_frames)
    if not callable(temporal_block) and temporal_block not in TEMPORAL_BLOCKS:
        raise ValueError(
            f"`temporal_block` must be one of {TEMPORAL_BLOCKS} or a block factory. "
            f"Received: temporal_block={temporal_block!r}"
        )
    if (temporal_block is None or callable(temporal_block)) and block_kwargs:
        raise ValueError(
            "Block options apply to temporal_block='stw' or 'tsm' only. "
            f"Received: {sorted(block_kwargs)} with temporal_block={temporal_block!r}"
        )
    check_positive_int("num_classes", num_classes)
    if len(input_shape) != 3:
        raise ValueError(
            "`input_shape` is the frame shape (height, width, channels). "
            f"Received: input_shape={input_shape!r}"
        )
    make_block = _block_factory(temporal_block, num_frames, block_kwargs)
    frame_model = backbones.build_resnet_backbone(
        depth, backbone, tuple(input_shape), weights, base_width
    )
    if make_block is not None:
        frame_model = surgery.insert_temporal_blocks(frame_model, make_block, stages)
    tag = "custom" if callable(temporal_block) else temporal_block or "tsn"

    # === Functional Model ===
    clips = keras.Input(shape=(num_frames, *input_shape), name="clips")
    x = ClipToFrames(num_frames, name="clip_to_frames")(clips)
    x = FrameNormalization(**backbones.NORMALIZATION[backbone], name="normalization")(x)
    x = frame_model(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    x = keras.layers.Dense(num_classes, name="frame_scores")(x)
    x = TemporalConsensus(num_frames, name="consensus")(x)
    outputs = keras.layers.Activation(activation, name="predictions")(x)
    return keras.Model(clips, outputs, name=name or f"{tag}_resnet{depth}")


def _block_factory(temporal_block, num_frames, block_kwargs):
    if temporal_block is None or callable(temporal_block):
        return temporal_block
    layer_class = STWBlock if temporal_block == "stw" else TemporalShift
    # Build one block now, so a bad keyword fails here, naming the argument.
    try:
        layer_class(num_frames, **block_kwargs)
    except TypeError as error:
        raise ValueError(
            f"Unknown argument for temporal_block={temporal_block!r}: {error}"
        ) from error
    return lambda name: layer_class(num_frames, name=name, **block_kwargs)
