"""Frame-axis helpers shared by the temporal layers.

Every temporal layer sees frame features laid out as `(batch * num_frames, H, W, C)`, the
layout a 2D CNN works in. These helpers fold that layout into clips
`(batch, num_frames, H, W, C)`, move features one frame along time within each clip, and
unfold the result again. Folding happens before any temporal mixing, so frames of different
clips in one batch never mix.
"""

from fractions import Fraction

from keras import ops

PADDING_MODES = ("zeros", "replicate")


def validate_padding(padding):
    """Raises a `ValueError` unless `padding` names a clip-end padding mode."""
    if padding not in PADDING_MODES:
        raise ValueError(f"`padding` must be one of {PADDING_MODES}. Received: padding={padding!r}")


def validate_frame_shape(input_shape, num_frames, layer_name):
    """Checks that `input_shape` is `(batch * num_frames, H, W, C)` with a known `C`."""
    if len(input_shape) != 4:
        raise ValueError(
            f"`{layer_name}` expects frame features of rank 4, "
            "(batch * num_frames, height, width, channels). "
            f"Received: input_shape={tuple(input_shape)}"
        )
    if input_shape[-1] is None:
        raise ValueError(
            f"`{layer_name}` needs a known channel count. "
            f"Received: input_shape={tuple(input_shape)}"
        )
    batch = input_shape[0]
    if batch is not None and batch % num_frames:
        raise ValueError(
            f"`{layer_name}` received {batch} frames, which is not a whole number of "
            f"clips of num_frames={num_frames}. Received: input_shape={tuple(input_shape)}"
        )


def parse_ratio(ratio):
    """Returns `ratio` (a number or a string such as `"8/7"`) as an exact `Fraction`."""
    if isinstance(ratio, str):
        return Fraction(ratio)
    return Fraction(ratio).limit_denominator(1000)


def fold_frames(x, num_frames):
    """`(batch * num_frames, ...)` -> `(batch, num_frames, ...)`."""
    shape = ops.shape(x)
    return ops.reshape(x, (-1, num_frames, *shape[1:]))


def unfold_frames(clips):
    """`(batch, num_frames, ...)` -> `(batch * num_frames, ...)`."""
    shape = ops.shape(clips)
    return ops.reshape(clips, (-1, *shape[2:]))


def shift_frames(clips, offset, padding):
    """Moves features one frame along time inside each clip.

    Args:
        clips: tensor of shape `(batch, num_frames, ...)`.
        offset: `1` makes frame `t` receive frame `t - 1` (the past); `-1` makes it
            receive frame `t + 1` (the future).
        padding: `"zeros"` fills the frame that has no neighbour with zeros, as TSM
            does; `"replicate"` repeats the clip's edge frame.

    Returns:
        A tensor of the same shape as `clips`.
    """
    if offset == 1:
        edge, body = clips[:, :1], clips[:, :-1]
    elif offset == -1:
        edge, body = clips[:, -1:], clips[:, 1:]
    else:
        raise ValueError(f"`offset` must be 1 or -1. Received: offset={offset!r}")
    fill = ops.zeros_like(edge) if padding == "zeros" else edge
    parts = [fill, body] if offset == 1 else [body, fill]
    return ops.concatenate(parts, axis=1)
