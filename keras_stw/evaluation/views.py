"""The test views of one video: clips along time, crops across the frame.

The views are `keras_stw.data.ClipSpec(training=False).load`: the very crops the
validation pipeline of `video_dataset`, `evaluate.py` and `predict` use, and what a
client of a served model should send (see the README's serving section).
"""

import numpy as np

from keras_stw.data import ClipSpec, VideoRecord

# Test protocols: (clips along time, crops across the frame).
PROTOCOLS = {"1x1": (1, 1), "10x3": (10, 3)}


def video_views(
    path: str,
    spec: ClipSpec | None = None,
    *,
    total: int | None = None,
    **fields,
) -> np.ndarray:
    """Reads the test views of one video.

    Clip `k` of `num_clips` takes the frame at fraction `(k + 0.5) / num_clips` of
    each of the `num_frames` segments (or, with `sampling="dense"`, a dense clip
    starting in the `k`-th share of the video); square crops of the short side
    resized to `short_side` are cut at the centre (`num_crops=1`) or at the start,
    centre and end of the long side (`num_crops=3`) and resized to `image_size`.

    Args:
        path: str. Video file or JPEG frame folder.
        spec: `ClipSpec`. The clip recipe, e.g. a model's
            (`keras_stw.evaluation.model_clip_spec(model)`); its test views are
            taken. Defaults to `None`: `ClipSpec(**fields)`.
        total: int. Frame count if known. Defaults to `None`: counted.
        **fields: `ClipSpec` fields that replace the spec's: `num_frames`,
            `image_size`, `short_side`, `num_clips`, `num_crops`, `sampling`,
            `frame_interval`, `frame_template`, `frame_start` (keras-stw 0.1.0's
            keywords).

    Returns:
        uint8 array `(num_clips * num_crops, T, image_size, image_size, 3)`, clip major.

    Raises:
        keras_stw.data.DecodeError: the video cannot be read.

    Example:
    >>> video_views("demo.mp4", num_frames=8, num_clips=10, num_crops=3).shape
    (30, 8, 224, 224, 3)
    >>> video_views("demo.mp4", model_clip_spec(model)).shape
    (1, 8, 224, 224, 3)
    """
    spec = (spec or ClipSpec()).replace(training=False, flip=False, flip_label_map=None)
    spec = spec.replace(**fields)
    views, _ = spec.load(VideoRecord(path, -1, total))
    return views.reshape(spec.views, *views.shape[-4:])
