"""The test views of one video: clips along time, crops across the frame.

The views are `keras_stw.data.ClipSpec(training=False).load`: the very crops the
validation pipeline of `video_dataset`, `evaluate.py` and `predict` use, and what a
client of a served model should send (see the README's serving section).
"""

import numpy as np

from keras_stw.data import FRAME_TEMPLATE, ClipSpec, VideoRecord

# Test protocols: (clips along time, crops across the frame).
PROTOCOLS = {"1x1": (1, 1), "10x3": (10, 3)}


def video_views(
    path: str,
    *,
    num_frames: int,
    image_size: int = 224,
    short_side: int = 256,
    num_clips: int = 1,
    num_crops: int = 1,
    total: int | None = None,
    sampling: str = "segment",
    frame_interval: int = 1,
    frame_template: str = FRAME_TEMPLATE,
    frame_start: int = 1,
) -> np.ndarray:
    """Reads the test views of one video.

    Clip `k` of `num_clips` takes the frame at fraction `(k + 0.5) / num_clips` of
    each of the `num_frames` segments (or, with `sampling="dense"`, a dense clip
    starting in the `k`-th share of the video); square crops of the short side
    resized to `short_side` are cut at the centre (`num_crops=1`) or at the start,
    centre and end of the long side (`num_crops=3`) and resized to `image_size`.

    Args:
        path: str. Video file or JPEG frame folder.
        num_frames: int. Frames per clip, `T`.
        image_size: int. Crop size. Defaults to `224`.
        short_side: int. Short side before cropping. Defaults to `256`.
        num_clips: int. Clips along time. Defaults to `1`.
        num_crops: int. 1 or 3. Defaults to `1`.
        total: int. Frame count if known. Defaults to `None`: counted.
        sampling: str. `"segment"` (TSN) or `"dense"`. Defaults to `"segment"`.
        frame_interval: int. Step of dense sampling. Defaults to `1`.
        frame_template: str. Frame file pattern of a folder. Defaults to
            `"img_{:05d}.jpg"`.
        frame_start: int. Number of a folder's first frame. Defaults to `1`.

    Returns:
        uint8 array `(num_clips * num_crops, T, image_size, image_size, 3)`, clip major.

    Raises:
        keras_stw.data.DecodeError: the video cannot be read.

    Example:
    >>> video_views("demo.mp4", num_frames=8, num_clips=10, num_crops=3).shape
    (30, 8, 224, 224, 3)
    """
    spec = ClipSpec(
        num_frames=num_frames,
        image_size=image_size,
        short_side=short_side,
        sampling=sampling,
        frame_interval=frame_interval,
        num_clips=num_clips,
        num_crops=num_crops,
        frame_template=frame_template,
        frame_start=frame_start,
    )
    views, _ = spec.load(VideoRecord(path, -1, total))
    return views.reshape(spec.views, *views.shape[-4:])
