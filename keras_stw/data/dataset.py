"""`video_dataset`: annotated videos to a batched `tf.data.Dataset` of uint8 clips.

The pipeline reads in one direction: records -> shuffle -> (per video, in parallel)
count frames, sample indices, decode only those frames (`clips.load_clip`, numpy and
OpenCV inside `tf.numpy_function`) -> skip accounting -> crop / flip (`augment`) ->
batch -> prefetch.
"""

import logging
import threading

import numpy as np
import tensorflow as tf

from keras_stw.data import augment, clips, decode
from keras_stw.data.annotations import ON_ERROR, Annotations, VideoRecord
from keras_stw.data.sampling import SAMPLINGS

logger = logging.getLogger(__name__)

_OK, _SKIPPED, _END_OF_PASS = 0, 1, 2
# Errors a broken video can raise inside OpenCV or numpy, besides `DecodeError`.
_VIDEO_ERRORS = (decode.DecodeError, OSError, ValueError, MemoryError)


class SkippedVideos:
    """Counts the videos that `video_dataset(..., on_error="skip")` could not read.

    At the end of every pass over the data, the pass's count is appended to
    `per_epoch` and, when not zero, logged once as a warning with an example error.

    Attributes:
        per_epoch: list of int. Videos skipped in each completed pass.
        current: int. Videos skipped so far in the pass in progress.
        errors: list of str. The most recent error messages (at most 20).
    """

    def __init__(self):
        self.per_epoch = []
        self.current = 0
        self.errors = []
        self._loaded = 0
        self._lock = threading.Lock()

    @property
    def total(self) -> int:
        """Videos skipped over all passes, the one in progress included."""
        return sum(self.per_epoch) + self.current

    def _add_error(self, message):
        with self._lock:
            self.errors = [*self.errors[-19:], message]

    def _update(self, status):
        """Counts one element in pass order; returns whether it is a video to keep."""
        status = int(status)
        if status == _OK:
            self._loaded += 1
        elif status == _SKIPPED:
            self.current += 1
        else:
            skipped, loaded = self.current, self._loaded
            self.per_epoch.append(skipped)
            self.current = self._loaded = 0
            if skipped:
                logger.warning(
                    "video_dataset skipped %d unreadable video(s) in this pass, e.g. %s",
                    skipped,
                    self.errors[-1],
                )
            if skipped and not loaded:
                # Without this, a repeated dataset of only bad videos never yields.
                raise decode.DecodeError(
                    f"Every video of the pass failed to load ({skipped}); last error: "
                    f"{self.errors[-1]}"
                )
        return status == _OK


def video_dataset(
    source,
    *,
    num_frames: int = 8,
    training: bool = False,
    batch_size: int = 8,
    image_size: int = 224,
    short_side: int = 256,
    sampling: str = "segment",
    clip_len: int | None = None,
    frame_interval: int = 1,
    num_clips: int = 1,
    num_crops: int = 1,
    flip: bool = False,
    flip_label_map=None,
    seed: int | None = None,
    on_error: str = "raise",
    shuffle: bool | None = None,
    repeat: bool = False,
    scales=augment.TSN_SCALES,
    frame_template: str = "img_{:05d}.jpg",
    frame_start: int = 1,
    drop_remainder: bool = False,
    num_parallel_calls: int = tf.data.AUTOTUNE,
    skipped: SkippedVideos | None = None,
) -> tf.data.Dataset:
    """Builds a batched `tf.data.Dataset` of `(uint8 clips, int32 labels)`.

    Training clips are TSN-sampled (a random frame per segment) or densely sampled,
    multi-scale cropped to `image_size` with one box per clip and optionally flipped
    (with `flip_label_map` swapping direction classes). Test clips take the centre
    frames and a centre crop of the short side resized to `short_side`; with
    `num_clips * num_crops > 1` every video gives that many views, stacked on a views
    axis, so a caller reshapes `(batch * views, T, H, W, 3)`, predicts and averages
    the scores of each video (the 10 x 3 protocol of Kinetics, UCF101, HMDB51).

    Every random choice comes from `seed`, so two datasets with the same seed give the
    same clips; each new pass (epoch) draws new ones.

    Args:
        source: `Annotations` from a reader of `keras_stw.data`, or a list of
            `VideoRecord` or of `(path, label)` / `(path, label, num_frames)` tuples.
            A path is a video file (mp4, avi, webm, mkv, ...) or a JPEG frame folder.
        num_frames: int. Frames per clip, `T`. Defaults to `8`.
        training: bool. Random sampling and augmentation (`True`) or test views.
            Defaults to `False`.
        batch_size: int. Videos per batch. Defaults to `8`.
        image_size: int. Output frame height and width. Defaults to `224`.
        short_side: int. Short side the test crops are cut from. Defaults to `256`.
        sampling: str. `"segment"` (TSN) or `"dense"`. Defaults to `"segment"`.
        clip_len: int. Frames of a dense clip; must equal `num_frames` (mmaction2's
            name for it). Defaults to `None`.
        frame_interval: int. Step between densely sampled frames. Defaults to `1`.
        num_clips: int. Test views along time (e.g. 10). Defaults to `1`.
        num_crops: int. Test crops, 1 (centre) or 3 (left, centre, right).
            Defaults to `1`.
        flip: bool. Random horizontal flips when training. Defaults to `False`.
        flip_label_map: sequence of int. Label of a flipped clip per label, see
            `flip_label_map_from_names`; `None` keeps labels. Defaults to `None`.
        seed: int. Seed of shuffling, sampling and augmentation. Defaults to `None`.
        on_error: str. `"raise"` an error naming the file and annotation line, or
            `"skip"` unreadable videos, counting them in `skipped`. Defaults to
            `"raise"`.
        shuffle: bool. Shuffle the videos every pass. Defaults to `training`.
        repeat: bool. Repeat forever (use `steps_per_epoch`). Defaults to `False`.
        scales: sequence of float. Multi-scale crop sizes relative to the short side.
            Defaults to `TSN_SCALES` (1, .875, .75, .66).
        frame_template: str. Frame file pattern of frame folders: `"{:05d}.jpg"`
            (Something-Something v1) or `"img_{:05d}.jpg"`. Defaults to
            `"img_{:05d}.jpg"`.
        frame_start: int. Number of a folder's first frame. Defaults to `1`.
        drop_remainder: bool. Drop the last incomplete batch. Defaults to `False`.
        num_parallel_calls: int. Videos decoded in parallel. Defaults to
            `tf.data.AUTOTUNE`.
        skipped: `SkippedVideos`. Counter of skipped videos; also available as the
            returned dataset's `skipped` attribute. Defaults to `None`: a new one.

    Returns:
        A `tf.data.Dataset` of `(clips, labels)`: clips uint8
        `(batch, T, image_size, image_size, 3)`, or
        `(batch, num_clips * num_crops, T, image_size, image_size, 3)` for several
        test views, and labels int32 `(batch,)`.

    Example:
    >>> records, names = keras_stw.data.read_list("train.txt", root="videos")
    >>> train_ds = keras_stw.data.video_dataset(records, training=True, seed=0)
    >>> model.fit(train_ds, epochs=1)
    """
    views = num_clips * num_crops
    _validate(sampling, clip_len, num_frames, on_error, training, views, num_crops)
    records = _as_records(source)
    skipped = skipped if skipped is not None else SkippedVideos()
    shuffle = training if shuffle is None else shuffle

    def load(path, total, origin, seed_value, end_of_pass):
        if end_of_pass:
            return np.zeros((0, 1, 1, 3), np.uint8), np.int32(_END_OF_PASS)
        path, origin = path.decode(), origin.decode()
        rng = np.random.default_rng(np.int64(seed_value).view(np.uint64))
        try:
            frames = clips.load_clip(
                path,
                num_frames=num_frames,
                training=training,
                rng=rng if training else None,
                total=int(total),
                sampling_mode=sampling,
                frame_interval=frame_interval,
                num_clips=num_clips,
                frame_template=frame_template,
                frame_start=frame_start,
            )
        except _VIDEO_ERRORS as error:
            message = f"{error} (annotation {origin})" if origin else str(error)
            if on_error == "raise":
                raise decode.DecodeError(message) from error
            skipped._add_error(message)
            return np.zeros((0, 1, 1, 3), np.uint8), np.int32(_SKIPPED)
        return frames, np.int32(_OK)

    def load_graph(element, seed_value):
        frames, status = tf.numpy_function(
            load,
            [element["path"], element["total"], element["origin"], seed_value, element["end"]],
            [tf.uint8, tf.int32],
            stateful=False,
        )
        frames.set_shape([None, None, None, 3])
        return frames, element["label"], status, seed_value

    def keep(frames, label, status, seed_value):
        return tf.py_function(skipped._update, [status], tf.bool)

    def finish(frames, label, status, seed_value):
        if training:
            stateless_seed = tf.stack([seed_value, tf.constant(0, tf.int64)])
            return augment.train_augment(
                frames,
                label,
                stateless_seed,
                image_size=image_size,
                scales=scales,
                flip=flip,
                flip_label_map=flip_label_map,
            )
        height, width = tf.shape(frames)[1], tf.shape(frames)[2]
        grouped = tf.reshape(frames, [num_clips, num_frames, height, width, 3])
        crops = augment.multi_view_crops(
            grouped, image_size=image_size, short_side=short_side, num_crops=num_crops
        )
        return (crops if views > 1 else crops[0]), label

    ds = tf.data.Dataset.from_tensor_slices(_columns(records))
    if shuffle:
        ds = ds.shuffle(len(records), seed=seed, reshuffle_each_iteration=True)
    ds = ds.concatenate(tf.data.Dataset.from_tensor_slices(_columns([None])))
    if repeat:
        ds = ds.repeat()
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    ds = tf.data.Dataset.zip(ds, seeds)
    ds = ds.map(load_graph, num_parallel_calls=num_parallel_calls, deterministic=True)
    # Sequential, so the end-of-pass marker comes after every video of its pass.
    ds = ds.filter(keep) if on_error == "skip" else ds.filter(_is_video)
    ds = ds.map(finish, num_parallel_calls=num_parallel_calls, deterministic=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    ds.skipped = skipped
    return ds


def _is_video(frames, label, status, seed_value):
    return status == _OK


def _columns(records):
    """Column tensors of the records; `None` stands for the end-of-pass marker."""
    return {
        "path": [r.path if r else "" for r in records],
        "label": tf.constant([r.label if r else -1 for r in records], tf.int32),
        "total": tf.constant([(r.num_frames or 0) if r else 0 for r in records], tf.int64),
        "origin": [r.origin if r else "" for r in records],
        "end": [r is None for r in records],
    }


def _as_records(source):
    if isinstance(source, Annotations):
        source = source.records
    records = [r if isinstance(r, VideoRecord) else VideoRecord(*r) for r in source]
    if not records:
        raise ValueError("`source` holds no video record.")
    return records


def _validate(sampling, clip_len, num_frames, on_error, training, views, num_crops):
    if sampling not in SAMPLINGS:
        raise ValueError(f"`sampling` must be one of {SAMPLINGS}. Received: {sampling!r}")
    if clip_len is not None and (sampling != "dense" or clip_len != num_frames):
        raise ValueError(
            "`clip_len` is the length of a dense clip and must equal `num_frames`. "
            f"Received: clip_len={clip_len}, num_frames={num_frames}, "
            f"sampling={sampling!r}"
        )
    if on_error not in ON_ERROR:
        raise ValueError(f"`on_error` must be one of {ON_ERROR}. Received: {on_error!r}")
    if num_crops not in (1, 3):
        raise ValueError(f"`num_crops` must be 1 or 3. Received: num_crops={num_crops}")
    if training and views > 1:
        raise ValueError(
            "Test views are for evaluation: use `num_clips=1, num_crops=1` when "
            f"training. Received: views={views}"
        )
