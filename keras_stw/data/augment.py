"""Clip crops in NumPy and OpenCV: TSN multi-scale crop, flip with label swap, test views.

Every crop is a box in the frame's own pixels, measured in units of its short side, cut
and resized to `image_size` in one `cv2.resize`. That is the same as resizing the short
side to `short_side` first and cropping after (TSN's recipe), with one interpolation
instead of two: bilinear (`INTER_LINEAR`, as TSN, TSM and mmaction2 resize), or
`INTER_AREA` when the box is more than twice the output's size, where bilinear would
alias. One box serves every frame of a clip, so motion is not distorted. Training crops draw from a
`np.random.Generator`, so a clip's augmentation is reproducible from its seed.

These are the only crops of the package: the training and validation pipelines of
`video_dataset`, `keras_stw.evaluation` (evaluate, predict) and a serving client all cut
their frames here.
"""

import re

import cv2
import numpy as np

# TSN's multi-scale crop sizes, as fractions of the 256-pixel short side
# (256, 224, 192, 168 pixels).
TSN_SCALES = (1.0, 0.875, 0.75, 0.66)
DIRECTION_SWAPS = (("left", "right"),)
NUM_CROPS = (1, 3)


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
    frames: np.ndarray,
    label: int,
    rng: np.random.Generator,
    *,
    image_size: int = 224,
    scales=TSN_SCALES,
    flip: bool = False,
    flip_label_map=None,
) -> tuple[np.ndarray, int]:
    """Multi-scale crops a clip to `image_size` and optionally flips it.

    The crop's height and width are picked independently from `scales` (times the
    short side), at most one scale step apart (TSN's `max_distort=1`), at a uniformly
    random position; the box is then resized to `image_size` x `image_size`.

    Args:
        frames: uint8 array `(T, H, W, 3)`.
        label: int. The clip's class.
        rng: `np.random.Generator`. Source of the crop and the flip.
        image_size: int. Output height and width. Defaults to `224`.
        scales: sequence of float. Crop sizes relative to the short side.
            Defaults to `TSN_SCALES`.
        flip: bool. Flip half of the clips horizontally. Defaults to `False`.
        flip_label_map: sequence of int. Label of a flipped clip, per label (see
            `flip_label_map_from_names`). Defaults to `None`: labels unchanged.

    Returns:
        `(frames, label)`: uint8 `(T, image_size, image_size, 3)` and int.

    Example:
    >>> clip = np.zeros((8, 256, 340, 3), "uint8")
    >>> train_augment(clip, 3, np.random.default_rng(0))[0].shape
    (8, 224, 224, 3)
    """
    height, width = frames.shape[1:3]
    short = min(height, width)
    i = int(rng.integers(len(scales)))
    j = int(np.clip(i + rng.integers(-1, 2), 0, len(scales) - 1))
    box_height = min(max(round(scales[i] * short), 1), height)
    box_width = min(max(round(scales[j] * short), 1), width)
    top = round(rng.random() * (height - box_height))
    left = round(rng.random() * (width - box_width))
    flipped = flip and rng.random() < 0.5
    if flipped and flip_label_map is not None:
        label = int(flip_label_map[label])
    return crop_and_resize(frames, top, left, box_height, box_width, image_size, flipped), label


def multi_view_crops(
    clips: np.ndarray, *, image_size: int = 224, short_side: int = 256, num_crops: int = 1
) -> np.ndarray:
    """Cuts the test views of clips: a centre crop, or left, centre and right crops.

    With the short side resized to `short_side`, square crops of `image_size` are
    taken at the centre (`num_crops=1`) or at the start, centre and end of the long
    side (`num_crops=3`: left, centre, right for landscape video). When `short_side`
    is at most `image_size`, the crop is the whole short side.

    Args:
        clips: uint8 array `(num_clips, T, H, W, 3)`.
        image_size: int. Crop size. Defaults to `224`.
        short_side: int. Short side before cropping. Defaults to `256`.
        num_crops: int. 1 or 3. Defaults to `1`.

    Returns:
        uint8 array `(num_clips * num_crops, T, image_size, image_size, 3)`, clip
        major: the crops of clip 0, then of clip 1, ...

    Example:
    >>> multi_view_crops(np.zeros((2, 8, 256, 340, 3), "uint8"), num_crops=3).shape
    (6, 8, 224, 224, 3)
    """
    if num_crops not in NUM_CROPS:
        raise ValueError(f"`num_crops` must be 1 or 3. Received: num_crops={num_crops!r}")
    height, width = clips.shape[2:4]
    short = min(height, width)
    box = min(max(round(short * image_size / short_side), 1), short)
    positions = (0.5,) if num_crops == 1 else (0.0, 0.5, 1.0)
    views = []
    for clip in clips:
        for position in positions:
            # The crop moves along the long side and stays centred on the short side.
            along_height = height > width
            top = round((height - box) * (position if along_height else 0.5))
            left = round((width - box) * (0.5 if along_height else position))
            views.append(crop_and_resize(clip, top, left, box, box, image_size))
    return np.stack(views)


def crop_and_resize(
    frames: np.ndarray,
    top: int,
    left: int,
    height: int,
    width: int,
    image_size: int,
    flip: bool = False,
) -> np.ndarray:
    """Cuts one box out of every frame, resizes it to `image_size` squared, may flip it.

    Args:
        frames: uint8 array `(T, H, W, 3)`.
        top: int. First row of the box.
        left: int. First column of the box.
        height: int. Rows of the box.
        width: int. Columns of the box.
        image_size: int. Output height and width.
        flip: bool. Mirror the output left to right. Defaults to `False`.

    Returns:
        uint8 array `(T, image_size, image_size, 3)`.

    Example:
    >>> crop_and_resize(np.zeros((2, 40, 60, 3), "uint8"), 0, 10, 40, 40, 20).shape
    (2, 20, 20, 3)
    """
    boxes = frames[:, top : top + height, left : left + width]
    size = (image_size, image_size)
    aliasing = min(height, width) > 2 * image_size
    interpolation = cv2.INTER_AREA if aliasing else cv2.INTER_LINEAR
    out = np.empty((len(frames), *size, 3), np.uint8)
    for box, target in zip(boxes, out, strict=True):
        if (height, width) != size:
            box = cv2.resize(box, size, interpolation=interpolation)
        if flip:
            cv2.flip(box, 1, dst=target)
        else:
            target[...] = box
    return out
