"""Clip augmentation in TensorFlow: multi-scale crop, flip with label swap, test crops.

All crops are boxes measured in units of the frame's short side and are cut and
resized in one `tf.image.crop_and_resize`, which is the same as resizing the short
side to `short_side` first and cropping after (TSN's recipe), with one interpolation
instead of two. One box serves every frame of a clip, so motion is not distorted.
Randomness comes from stateless ops and an explicit seed, so a clip's augmentation is
reproducible.
"""

import re

import tensorflow as tf

# TSN's multi-scale crop sizes, as fractions of the 256-pixel short side
# (256, 224, 192, 168 pixels).
TSN_SCALES = (1.0, 0.875, 0.75, 0.66)
DIRECTION_SWAPS = (("left", "right"),)


def flip_label_map_from_names(class_names: list[str], swaps=DIRECTION_SWAPS) -> list[int]:
    """Maps each class to its mirror-image class, for horizontal flips.

    A class whose name contains a word of `swaps` is mapped to the class named with
    the words exchanged, e.g. Something-Something's "Pushing something from left to
    right" to "Pushing something from right to left"; every other class maps to
    itself.

    Args:
        class_names: list of str. Class names in index order.
        swaps: sequence of word pairs exchanged by a flip. Defaults to
            `(("left", "right"),)`; add `("clockwise", "anticlockwise")` for
            rotation classes.

    Returns:
        A list `m` with `m[label]` the label of the flipped clip.

    Example:
    >>> flip_label_map_from_names(["move left", "move right", "jump"])
    [1, 0, 2]
    """
    table = {}
    for a, b in swaps:
        table[a], table[b] = b, a
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, table)) + r")\b")
    index = {name: i for i, name in enumerate(class_names)}
    mapping = []
    for i, name in enumerate(class_names):
        mirrored = pattern.sub(lambda match: table[match.group(0)], name)
        mapping.append(index.get(mirrored, i))
    return mapping


def train_augment(
    frames: tf.Tensor,
    label: tf.Tensor,
    seed: tf.Tensor,
    *,
    image_size: int = 224,
    scales=TSN_SCALES,
    flip: bool = False,
    flip_label_map=None,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Multi-scale crops a clip to `image_size` and optionally flips it.

    The crop's height and width are picked independently from `scales` (times the
    short side), at most one scale step apart (TSN's `max_distort=1`), at a uniformly
    random position; the box is then resized to `image_size` x `image_size`.

    Args:
        frames: uint8 tensor `(T, H, W, 3)`.
        label: int32 scalar tensor.
        seed: int tensor of shape `(2,)`, the stateless seed of this clip.
        image_size: int. Output height and width. Defaults to `224`.
        scales: sequence of float. Crop sizes relative to the short side.
            Defaults to `TSN_SCALES`.
        flip: bool. Flip half of the clips horizontally. Defaults to `False`.
        flip_label_map: sequence of int. Label of a flipped clip, per label (see
            `flip_label_map_from_names`). Defaults to `None`: labels unchanged.

    Returns:
        `(frames, label)`: uint8 `(T, image_size, image_size, 3)` and int32.

    Example:
    >>> clip = tf.zeros((8, 256, 340, 3), "uint8")
    >>> train_augment(clip, 3, tf.constant([1, 2]))[0].shape
    TensorShape([8, 224, 224, 3])
    """
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 5)
    shape = tf.cast(tf.shape(frames)[1:3], tf.float32)
    scales = tf.constant(scales, tf.float32)
    count = tf.size(scales)
    i = tf.random.stateless_uniform([], seeds[0], 0, count, tf.int32)
    step = tf.random.stateless_uniform([], seeds[1], -1, 2, tf.int32)
    j = tf.clip_by_value(i + step, 0, count - 1)
    # Box size in normalized coordinates: a fraction of the short side.
    size = tf.stack([scales[i], scales[j]]) * tf.reduce_min(shape) / shape
    start = tf.random.stateless_uniform([2], seeds[2]) * (1.0 - size)
    frames = _crop(frames, start, size, image_size)
    if flip:
        flipped = tf.random.stateless_uniform([], seeds[3]) < 0.5
        frames = tf.cond(flipped, lambda: tf.reverse(frames, [2]), lambda: frames)
        if flip_label_map is not None:
            mirrored = tf.gather(tf.constant(flip_label_map, tf.int32), label)
            label = tf.where(flipped, mirrored, label)
    return frames, label


def multi_view_crops(
    clips: tf.Tensor, *, image_size: int = 224, short_side: int = 256, num_crops: int = 1
) -> tf.Tensor:
    """Cuts the test views of clips: a centre crop, or left, centre and right crops.

    With the short side resized to `short_side`, square crops of `image_size` are
    taken at the centre (`num_crops=1`) or at the start, centre and end of the long
    side (`num_crops=3`: left, centre, right for landscape video).

    Args:
        clips: uint8 tensor `(num_clips, T, H, W, 3)`.
        image_size: int. Crop size. Defaults to `224`.
        short_side: int. Short side before cropping. Defaults to `256`.
        num_crops: int. 1 or 3. Defaults to `1`.

    Returns:
        uint8 tensor `(num_clips * num_crops, T, image_size, image_size, 3)`, clip
        major: the crops of clip 0, then of clip 1, ...

    Example:
    >>> multi_view_crops(tf.zeros((2, 8, 256, 340, 3), "uint8"), num_crops=3).shape
    TensorShape([6, 8, 224, 224, 3])
    """
    if num_crops not in (1, 3):
        raise ValueError(f"`num_crops` must be 1 or 3. Received: num_crops={num_crops}")
    shape = tf.cast(tf.shape(clips)[2:4], tf.float32)
    fraction = min(image_size / short_side, 1.0)
    size = fraction * tf.reduce_min(shape) / shape
    positions = (0.5,) if num_crops == 1 else (0.0, 0.5, 1.0)
    views = []
    for c in range(clips.shape[0]):
        for position in positions:
            # Centre on the short side, at `position` along the long side.
            along = tf.where(shape[0] > shape[1], [position, 0.5], [0.5, position])
            start = along * (1.0 - size)
            views.append(_crop(clips[c], start, size, image_size))
    return tf.stack(views)


def _crop(frames, start, size, image_size):
    # `start` and `size` are fractions of the frame; `crop_and_resize` wants the
    # first and last pixel centres of the box, as fractions of (side - 1).
    side = tf.cast(tf.shape(frames)[1:3], tf.float32)
    first = start * side
    last = first + size * side - 1.0
    box = tf.concat([first, last], 0) / tf.tile(tf.maximum(side - 1.0, 1.0), [2])
    count = tf.shape(frames)[0]
    resized = tf.image.crop_and_resize(
        tf.cast(frames, tf.float32),
        tf.tile(box[None], [count, 1]),
        tf.range(count),
        [image_size, image_size],
    )
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)
