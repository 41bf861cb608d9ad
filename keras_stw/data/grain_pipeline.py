"""The Grain engine of `video_dataset`: `ClipBatches` run in worker processes.

Grain's `mp_prefetch` gives each worker process every `workers`-th batch and hands the
finished batches back through shared memory, in order; the main process only counts
skipped videos. No TensorFlow is needed: this is the engine for JAX and PyTorch.
"""

import cv2
import grain
from absl import flags

from keras_stw.data.batches import ClipBatches
from keras_stw.data.skipped import SkippedVideos


def grain_dataset(
    batches: ClipBatches, *, initial_step: int, workers: int, skipped: SkippedVideos
) -> grain.IterDataset:
    """A `grain.IterDataset` of `(clips, labels)` from batch `initial_step` on.

    Args:
        batches: `ClipBatches`. The batches to make.
        initial_step: int. Index of the first batch.
        workers: int. Worker processes; `0` makes the batches in the calling
            process.
        skipped: `SkippedVideos`. Counts the skipped videos, in batch order.

    Returns:
        A `grain.IterDataset`, which `model.fit`, `evaluate` and `predict` take on
        every backend.
    """
    ds = grain.MapDataset.range(initial_step, len(batches)).map(batches.__getitem__)
    # One batch at a time per process: the parallelism is the worker processes.
    ds = ds.to_iter_dataset(grain.ReadOptions(num_threads=0, prefetch_buffer_size=0))
    if workers:
        # Grain reads its absl flags when it starts workers; outside an absl program
        # nothing parses them, and reading an unparsed flag fails. Their defaults do.
        if not flags.FLAGS.is_parsed():
            flags.FLAGS.mark_as_parsed()
        ds = ds.mp_prefetch(
            grain.MultiprocessingOptions(num_workers=workers), worker_init_fn=_init_worker
        )
    return ds.map(_Counter(skipped)).filter(_has_clips)


def _has_clips(batch):
    return len(batch[1]) > 0


def _init_worker(worker_index, worker_count):
    # Each worker owns one core: OpenCV's own threads would only compete.
    cv2.setNumThreads(1)


class _Counter:
    """Counts a batch's skipped videos and returns its `(clips, labels)`."""

    def __init__(self, skipped):
        self.skipped = skipped

    def __call__(self, batch):
        self.skipped.observe(
            batch["start"],
            batch["stop"],
            len(batch["labels"]),
            batch["errors"],
            batch["completed_passes"],
        )
        return batch["clips"], batch["labels"]
