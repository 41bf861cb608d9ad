"""TF-free frame sampling: which frame indices make a clip (TSN segments or dense).

Every sampler returns an int array `(num_clips, num_frames)` of 0-based indices into
a video of `total` frames. Videos shorter than a clip repeat frames instead of failing.
"""

import numpy as np

SAMPLINGS = ("segment", "dense")


def segment_indices(
    total: int,
    num_frames: int,
    *,
    training: bool,
    rng: np.random.Generator | None = None,
    num_clips: int = 1,
) -> np.ndarray:
    """TSN segment sampling: one frame from each of `num_frames` equal segments.

    The video is split into `num_frames` equal (fractional) segments. Training takes
    a uniformly random frame of each segment; testing takes the centre frame. For
    `num_clips > 1` test views, clip `k` takes the frame at fraction
    `(k + 0.5) / num_clips` of each segment, so the clips tile the segments evenly
    (`num_clips=1` is the centre). A video with fewer frames than segments gives
    several segments the same frame.

    Args:
        total: int. Frames in the video, at least 1.
        num_frames: int. Frames per clip, `T`: one per segment.
        training: bool. Random (`True`) or centred (`False`) positions.
        rng: `np.random.Generator`. Source of the random positions; needed when
            `training`. Defaults to `None`.
        num_clips: int. Test views along time. Must be 1 when `training`.
            Defaults to `1`.

    Returns:
        int64 array `(num_clips, num_frames)`.

    Example:
    >>> segment_indices(80, 8, training=False)
    array([[ 5, 15, 25, 35, 45, 55, 65, 75]])
    """
    _validate(total, num_frames, training, rng, num_clips)
    segment = total / num_frames
    starts = np.arange(num_frames) * segment
    if training:
        offsets = rng.random((1, num_frames))
    else:
        offsets = ((np.arange(num_clips) + 0.5) / num_clips)[:, None]
    indices = np.floor(starts + offsets * segment).astype(np.int64)
    return np.minimum(indices, total - 1)


def dense_indices(
    total: int,
    num_frames: int,
    *,
    frame_interval: int = 1,
    training: bool,
    rng: np.random.Generator | None = None,
    num_clips: int = 1,
) -> np.ndarray:
    """Dense sampling: `num_frames` frames `frame_interval` apart from one start frame.

    Training picks the start uniformly among those whose clip fits in the video;
    testing spreads `num_clips` starts evenly, each centred in its share of the
    video (as mmaction2's `SampleFrames` does). A video shorter than the clip's span
    loops (index modulo `total`).

    Args:
        total: int. Frames in the video, at least 1.
        num_frames: int. Frames per clip, `T`.
        frame_interval: int. Step between sampled frames. Defaults to `1`.
        training: bool. Random (`True`) or evenly spread (`False`) starts.
        rng: `np.random.Generator`. Needed when `training`. Defaults to `None`.
        num_clips: int. Test views along time. Must be 1 when `training`.
            Defaults to `1`.

    Returns:
        int64 array `(num_clips, num_frames)`.

    Example:
    >>> dense_indices(100, 4, frame_interval=2, training=False)
    array([[46, 48, 50, 52]])
    """
    _validate(total, num_frames, training, rng, num_clips)
    if frame_interval < 1:
        raise ValueError(
            f"`frame_interval` must be at least 1. Received: frame_interval={frame_interval}"
        )
    span = (num_frames - 1) * frame_interval + 1
    room = max(total - span, 0)
    if training:
        starts = rng.integers(0, room + 1, size=1)
    else:
        starts = np.floor((np.arange(num_clips) + 0.5) * room / num_clips).astype(np.int64)
    indices = starts[:, None] + np.arange(num_frames) * frame_interval
    return (indices % total).astype(np.int64)


def sample_indices(
    total: int,
    num_frames: int,
    *,
    sampling: str = "segment",
    training: bool,
    rng: np.random.Generator | None = None,
    frame_interval: int = 1,
    num_clips: int = 1,
) -> np.ndarray:
    """Samples clip indices with `segment_indices` or `dense_indices`.

    Args:
        total: int. Frames in the video.
        num_frames: int. Frames per clip, `T`.
        sampling: str. `"segment"` (TSN) or `"dense"`. Defaults to `"segment"`.
        training: bool. Random (`True`) or deterministic test positions (`False`).
        rng: `np.random.Generator`. Needed when `training`. Defaults to `None`.
        frame_interval: int. Step of dense sampling. Defaults to `1`.
        num_clips: int. Test views along time. Defaults to `1`.

    Returns:
        int64 array `(num_clips, num_frames)`.

    Example:
    >>> sample_indices(10, 4, sampling="dense", training=False).shape
    (1, 4)
    """
    if sampling == "segment":
        return segment_indices(total, num_frames, training=training, rng=rng, num_clips=num_clips)
    if sampling == "dense":
        return dense_indices(
            total,
            num_frames,
            frame_interval=frame_interval,
            training=training,
            rng=rng,
            num_clips=num_clips,
        )
    raise ValueError(f"`sampling` must be one of {SAMPLINGS}. Received: sampling={sampling!r}")


def _validate(total, length, training, rng, num_clips):
    if total < 1:
        raise ValueError(f"A video needs at least one frame. Received: total={total}")
    if length < 1:
        raise ValueError(f"A clip needs at least one frame. Received: {length}")
    if num_clips < 1:
        raise ValueError(f"`num_clips` must be at least 1. Received: num_clips={num_clips}")
    if training and (rng is None or num_clips != 1):
        raise ValueError(
            "Training sampling needs an `rng` and exactly one clip. "
            f"Received: rng={rng!r}, num_clips={num_clips}"
        )
