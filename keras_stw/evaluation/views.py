"""TF-free test views of a video: clips along time, crops across the frame, in numpy.

The same views as `keras_stw.data.video_dataset` makes for testing (centre crop, or
left / centre / right crops of the short side resized to `short_side`), built with
OpenCV only so evaluation and prediction run on any backend.
"""

import cv2
import numpy as np

from keras_stw.data import clips

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
    frame_template: str = "img_{:05d}.jpg",
) -> np.ndarray:
    """Reads the test views of one video.

    Clip `k` takes the frame at fraction `(k + 0.5) / num_clips` of each of the
    `num_frames` segments; each clip's short side is resized to `short_side` and
    square `image_size` crops are cut at the centre (`num_crops=1`) or at the start,
    centre and end of the long side (`num_crops=3`).

    Args:
        path: str. Video file or JPEG frame folder.
        num_frames: int. Frames per clip, `T`.
        image_size: int. Crop size. Defaults to `224`.
        short_side: int. Short side before cropping. Defaults to `256`.
        num_clips: int. Clips along time. Defaults to `1`.
        num_crops: int. 1 or 3. Defaults to `1`.
        total: int. Frame count if known. Defaults to `None`: counted.
        frame_template: str. Frame file pattern of a folder. Defaults to
            `"img_{:05d}.jpg"`.

    Returns:
        uint8 array `(num_clips * num_crops, T, image_size, image_size, 3)`, clip major.

    Raises:
        keras_stw.data.DecodeError: the video cannot be read.

    Example:
    >>> video_views("demo.mp4", num_frames=8, num_clips=10, num_crops=3).shape
    (30, 8, 224, 224, 3)
    """
    if num_crops not in (1, 3):
        raise ValueError(f"`num_crops` must be 1 or 3. Received: num_crops={num_crops}")
    frames = clips.load_clip(
        path,
        num_frames=num_frames,
        training=False,
        total=total,
        num_clips=num_clips,
        frame_template=frame_template,
    )
    height, width = frames.shape[1:3]
    scale = short_side / min(height, width)
    new_size = (max(round(width * scale), short_side), max(round(height * scale), short_side))
    resized = np.stack([cv2.resize(f, new_size, interpolation=cv2.INTER_AREA) for f in frames])
    crop = min(image_size, short_side)
    positions = (0.5,) if num_crops == 1 else (0.0, 0.5, 1.0)
    views = []
    for clip in resized.reshape(num_clips, num_frames, *resized.shape[1:]):
        for position in positions:
            views.append(_crop(clip, crop, position, image_size))
    return np.stack(views)


def _crop(clip, crop, position, image_size):
    height, width = clip.shape[1:3]
    # The crop moves along the long side and stays centred on the short side.
    along_height = height > width
    top = round((height - crop) * (position if along_height else 0.5))
    left = round((width - crop) * (0.5 if along_height else position))
    window = clip[:, top : top + crop, left : left + crop]
    if crop != image_size:
        window = np.stack([cv2.resize(f, (image_size, image_size)) for f in window])
    return window
