"""`ClipBatches`: batch `k` of a video dataset, made from `k` alone, without TensorFlow.

A dataset is a stream of positions `0, 1, 2, ...`: pass `q` over the videos holds
positions `q * N ... q * N + N - 1`, in the order of pass `q`'s shuffle, and batch `k`
holds positions `k * batch_size ... (k + 1) * batch_size - 1`. The clip at a position
is `ClipSpec.load` of its video, seeded by the dataset's seed and the position. So
every batch is a pure function of its index: the `tf.data` and Grain engines run the
same batches in threads or in processes, in any number, and a run resumed at step `s`
starts at batch `s` and sees exactly the batches an uninterrupted run would have seen.

A multi-process run splits every batch: shard `i` of `n` makes only its contiguous
part of each batch's positions, so the processes together make the very batch one
process would, whatever their number.
"""

import dataclasses

import numpy as np

from keras_stw.data.annotations import Annotations, VideoRecord
from keras_stw.data.clips import ClipSpec
from keras_stw.data.decode import count_frames
from keras_stw.data.errors import (
    VIDEO_ERRORS,
    DecodeError,
    check_on_error,
    describe_error,
    every_video_failed,
)
from keras_stw.validation import check_positive_int

# Batches of a repeated dataset: without end, for every practical purpose.
UNLIMITED = 2**62
# Other videos tried in place of an unreadable training video, at most.
MAX_REPLACEMENTS = 100
# Seed streams: a clip's sampling and crop, a pass's order, a clip's replacements.
_CLIP, _ORDER, _REPLACEMENT = 0, 1, 2


class ClipBatches:
    """The batches of a video dataset, each computed from its index (random access).

    With `on_error="skip"`, an unreadable training video is replaced by another
    video drawn from the position's seed (as mmaction2 refetches), so training
    batches stay full and replayable; an unreadable test video is dropped from its
    batch. Both are counted, see `SkippedVideos`.

    Args:
        source: `Annotations`, or a list of `VideoRecord`, of `(path, label)` /
            `(path, label, total_frames)` tuples or of paths (unlabelled).
        spec: `ClipSpec`. The clip each video gives.
        batch_size: int. Videos per batch.
        seed: int. Seed of the pass orders, the sampling and the augmentation.
            Defaults to `None`: a random one, fixed for this object.
        shuffle: bool. A new order for every pass. Defaults to `spec.training`.
        repeat: bool. Passes without end. Defaults to `False`: one pass.
        drop_remainder: bool. Drop the last, incomplete batch of a single pass.
            Defaults to `False`.
        on_error: str. `"raise"` an error naming the file and annotation line, or
            `"skip"` unreadable videos. Defaults to `"raise"`.
        threads: int. FFmpeg decoding threads per video. Defaults to `1`: the
            engines decode many videos in parallel.
        shard_index: int. The part of every batch to make, `0` to
            `shard_count - 1`: positions `start + i * n // shard_count` to
            `start + (i + 1) * n // shard_count` of a batch of `n`. Defaults to `0`.
        shard_count: int. Parts every batch is split into (the processes of a
            multi-process run); `batch_size` must be a multiple of it. Defaults to
            `1`: whole batches.

    Example:
    >>> batches = ClipBatches(records, ClipSpec(num_frames=8), batch_size=4)
    >>> batches[0]["clips"].shape
    (4, 8, 224, 224, 3)
    """

    def __init__(
        self,
        source,
        spec: ClipSpec,
        *,
        batch_size: int,
        seed: int | None = None,
        shuffle: bool | None = None,
        repeat: bool = False,
        drop_remainder: bool = False,
        on_error: str = "raise",
        threads: int | None = 1,
        shard_index: int = 0,
        shard_count: int = 1,
    ):
        check_positive_int("batch_size", batch_size)
        check_positive_int("shard_count", shard_count)
        check_positive_int("shard_index", shard_index, minimum=0)
        if shard_index >= shard_count:
            raise ValueError(
                f"`shard_index` must be below `shard_count` ({shard_count}). "
                f"Received: shard_index={shard_index}"
            )
        if batch_size % shard_count:
            raise ValueError(
                f"`batch_size` must be a multiple of `shard_count` ({shard_count}): every "
                f"shard makes an equal part of each batch. Received: batch_size={batch_size}"
            )
        self.on_error = check_on_error(on_error)
        self.records = as_records(source)
        self.spec = spec
        self.batch_size = batch_size
        self.seed = int(np.random.SeedSequence().entropy if seed is None else seed)
        self.shuffle = spec.training if shuffle is None else shuffle
        self.repeat = repeat
        self.drop_remainder = drop_remainder
        self.threads = threads
        self.shard_index = shard_index
        self.shard_count = shard_count
        self._orders = {}
        self._frame_counts = {}

    def __len__(self) -> int:
        """Batches in the dataset: one pass, or `UNLIMITED` when repeated."""
        if self.repeat:
            return UNLIMITED
        whole, rest = divmod(len(self.records), self.batch_size)
        return whole + (1 if rest and not self.drop_remainder else 0)

    @property
    def fixed_batch_size(self) -> int | None:
        """This shard's part of a batch when every batch gives that many clips, else `None`."""
        full = self.repeat or self.drop_remainder or len(self.records) % self.batch_size == 0
        complete = self.spec.training or self.on_error == "raise"
        return self.batch_size // self.shard_count if full and complete else None

    def __getstate__(self):
        # The caches are rebuilt on demand in each worker process.
        return {**self.__dict__, "_orders": {}, "_frame_counts": {}}

    def __getitem__(self, index: int) -> dict:
        """Batch `index` (this shard's part): clips, labels, positions, skip messages.

        Returns:
            A dict: `clips` uint8 `(n, *spec.clip_shape)`, `labels` int32 `(n,)`,
            `start` and `stop` (the whole batch's stream positions), `errors` (a
            tuple of one message per skipped video) and `completed_passes` (the
            passes over the videos that end with it); `bookkeeping` reads the
            last four for `SkippedVideos`.
        """
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"Batch {index} is outside the dataset's {len(self)} batches.")
        count = len(self.records)
        start = index * self.batch_size
        stop = start + self.batch_size if self.repeat else min(start + self.batch_size, count)
        clips, labels, errors = [], [], []
        shard = contiguous_part(range(start, stop), self.shard_index, self.shard_count)
        for position in shard:
            clip, label, messages = self._clip_at(position)
            errors += messages
            if clip is not None:
                clips.append(clip)
                labels.append(label)
        last = not self.repeat and index == len(self) - 1
        return {
            "clips": np.stack(clips) if clips else np.zeros((0, *self.spec.clip_shape), np.uint8),
            "labels": np.asarray(labels, np.int32),
            "start": start,
            "stop": stop,
            "errors": tuple(errors),
            "completed_passes": (stop // count - start // count) if self.repeat else int(last),
        }

    def record_index(self, position: int) -> int:
        """The index in `records` of the video at a stream position."""
        epoch, offset = divmod(position, len(self.records))
        if not self.shuffle:
            return offset
        order = self._orders.get(epoch)
        if order is None:
            order = np.random.default_rng([self.seed, _ORDER, epoch]).permutation(len(self.records))
            # One pass's order is kept: a stream reads its passes one after another.
            self._orders = {epoch: order}
        return int(order[offset])

    def _clip_at(self, position):
        """`(clip, label, messages)` of a position; `clip` is `None` when dropped."""
        seed = [self.seed, _CLIP, position]
        record = self.records[self.record_index(position)]
        try:
            return (*self._load(record, seed), [])
        except VIDEO_ERRORS as error:
            message = describe_error(record, error)
            if self.on_error == "raise":
                raise DecodeError(message) from error
        if not self.spec.training:
            return None, None, [message]
        return self._replacement(position, seed, [message])

    def _replacement(self, position, seed, messages):
        rng = np.random.default_rng([self.seed, _REPLACEMENT, position])
        failed = self.record_index(position)
        others = rng.permutation(len(self.records))
        for other in others[others != failed][:MAX_REPLACEMENTS]:
            record = self.records[other]
            try:
                return (*self._load(record, seed), messages)
            except VIDEO_ERRORS as error:
                messages.append(describe_error(record, error))
        raise every_video_failed("tried for one clip", len(messages), messages[-1])

    def _load(self, record, seed):
        if not record.total_frames:
            # Counted once per process: counting a frame folder lists it.
            if record.path not in self._frame_counts:
                self._frame_counts[record.path] = count_frames(
                    record.path, self.spec.frame_template, self.spec.frame_start
                )
            record = dataclasses.replace(record, total_frames=self._frame_counts[record.path])
        return self.spec.load(record, seed, self.threads)


def contiguous_part(items, index: int, count: int):
    """Part `index` of `count` of `items`, contiguous and split as evenly as can be.

    Part `p` of `P` is items `p * n // P` to `(p + 1) * n // P` of `n`: the parts in
    order are `items` again. A process's part of a list of videos, or of every batch.

    Args:
        items: a sequence (a list, a `range`).
        index: int. The part, `0` to `count - 1`.
        count: int. Parts in all.

    Returns:
        The slice of `items`.

    Example:
    >>> contiguous_part([0, 1, 2, 3, 4], 1, 2)
    [2, 3, 4]
    """
    n = len(items)
    return items[index * n // count : (index + 1) * n // count]


def bookkeeping(batch: dict) -> dict:
    """What `SkippedVideos.observe` takes of a batch of `ClipBatches`, as keywords.

    Both engines count a batch with `skipped.observe(**bookkeeping(batch))`. The
    values are ints and a list of str, which the `tf.data` engine carries as JSON.

    Args:
        batch: dict. A batch, `ClipBatches[index]`.

    Returns:
        dict with `start`, `stop`, `loaded` (the clips it holds), `errors` and
        `completed_passes`.

    Example:
    >>> bookkeeping(ClipBatches(records, ClipSpec(num_frames=8), batch_size=2)[0])
    {'start': 0, 'stop': 2, 'loaded': 2, 'errors': [], 'completed_passes': 0}
    """
    return {
        "start": int(batch["start"]),
        "stop": int(batch["stop"]),
        "loaded": len(batch["labels"]),
        "errors": list(batch["errors"]),
        "completed_passes": int(batch["completed_passes"]),
    }


def as_records(source) -> list[VideoRecord]:
    """The `VideoRecord`s of a dataset's `source`.

    Args:
        source: `Annotations`, or a list of `VideoRecord`s, `(path, label)` /
            `(path, label, total_frames)` tuples or paths (unlabelled: label `-1`).

    Returns:
        list of `VideoRecord`.

    Example:
    >>> as_records(["a.mp4"])
    [VideoRecord(path='a.mp4', label=-1, total_frames=None, origin='')]
    """
    if isinstance(source, Annotations):
        source = source.records
    records = [_as_record(item) for item in source]
    if not records:
        raise ValueError("`source` holds no video record.")
    return records


def _as_record(item):
    if isinstance(item, VideoRecord):
        return item
    if isinstance(item, str):
        return VideoRecord(item, -1)
    return VideoRecord(*item)
