"""TF-free clip loading: count a video's frames, sample indices, decode those frames.

This is the whole per-video work of the loader, in numpy and OpenCV only, so the same
function feeds `video_dataset` (inside `tf.numpy_function`) and a thread or process
pool on a machine without TensorFlow (see `benchmarks/loader.py`).
"""

import numpy as np

from keras_stw.data import decode, sampling


def load_clip(
    path: str,
    *,
    num_frames: int,
    training: bool,
    rng: np.random.Generator | None = None,
    total: int | None = None,
    sampling_mode: str = "segment",
    frame_interval: int = 1,
    num_clips: int = 1,
    frame_template: str = "img_{:05d}.jpg",
    frame_start: int = 1,
) -> np.ndarray:
    """Reads the frames of `num_clips` sampled clips of one video.

    Each distinct frame is decoded once, even when clips overlap or short videos
    repeat frames.

    Args:
        path: str. Video file or JPEG frame folder.
        num_frames: int. Frames per clip, `T`.
        training: bool. Random (`True`) or deterministic test sampling.
        rng: `np.random.Generator`. Needed when `training`. Defaults to `None`.
        total: int. The video's frame count if known (from the annotation).
            Defaults to `None`: counted with `decode.count_frames`.
        sampling_mode: str. `"segment"` or `"dense"`. Defaults to `"segment"`.
        frame_interval: int. Step of dense sampling. Defaults to `1`.
        num_clips: int. Test views along time. Defaults to `1`.
        frame_template: str. Frame file pattern of a folder. Defaults to
            `"img_{:05d}.jpg"`.
        frame_start: int. Number of a folder's first frame. Defaults to `1`.

    Returns:
        uint8 RGB array `(num_clips * num_frames, H, W, 3)`, clip after clip.

    Raises:
        decode.DecodeError: the video cannot be read; the message names the file.

    Example:
    >>> load_clip("demo.mp4", num_frames=8, training=False).shape
    (8, 256, 340, 3)
    """
    if not total:
        total = decode.count_frames(path, frame_template, frame_start)
    indices = sampling.sample_indices(
        total,
        num_frames,
        sampling=sampling_mode,
        training=training,
        rng=rng,
        frame_interval=frame_interval,
        num_clips=num_clips,
    )
    return decode.read_frames(path, indices.reshape(-1), frame_template, frame_start)
