"""The `tf.data` engine of `video_dataset`: `ClipBatches` run in parallel threads.

Each batch is made by `ClipBatches` (NumPy and OpenCV, which releases the GIL while it
decodes and resizes) inside a `tf.numpy_function`, several batches at a time, in order.
"""

import numpy as np
import tensorflow as tf

from keras_stw.data.batches import ClipBatches
from keras_stw.data.skipped import SkippedVideos


def tf_dataset(
    batches: ClipBatches, *, initial_step: int, workers: int | None, skipped: SkippedVideos
) -> tf.data.Dataset:
    """A `tf.data.Dataset` of `(clips, labels)` from batch `initial_step` on.

    Args:
        batches: `ClipBatches`. The batches to make.
        initial_step: int. Index of the first batch.
        workers: int. Batches made at once; `0` makes them one after another,
            `None` lets tf.data choose.
        skipped: `SkippedVideos`. Counts the skipped videos, in batch order.

    Returns:
        A `tf.data.Dataset`.
    """

    def load(index):
        batch = batches[index]
        errors = np.array([e.encode() for e in batch["errors"]], dtype=object)
        positions = np.array([batch["start"], batch["stop"], batch["completed_passes"]])
        return batch["clips"], batch["labels"], positions, errors

    def count(labels, positions, errors):
        start, stop, completed_passes = (int(p) for p in positions)
        messages = [e.decode() for e in errors]
        skipped.observe(start, stop, len(labels), messages, completed_passes)
        return np.bool_(len(labels) > 0)

    def load_graph(index):
        clips, labels, positions, errors = tf.numpy_function(
            load, [index], [tf.uint8, tf.int32, tf.int64, tf.string], stateful=False
        )
        clips.set_shape([batches.fixed_batch_size, *batches.spec.clip_shape])
        labels.set_shape([batches.fixed_batch_size])
        return clips, labels, positions, errors

    def keep(clips, labels, positions, errors):
        # Sequential, so the batches are counted in the order they are consumed.
        return tf.numpy_function(count, [labels, positions, errors], tf.bool, stateful=True)

    ds = tf.data.Dataset.range(initial_step, len(batches))
    if workers == 0:
        ds = ds.map(load_graph)
    else:
        parallel = tf.data.AUTOTUNE if workers is None else workers
        ds = ds.map(load_graph, num_parallel_calls=parallel, deterministic=True)
    ds = ds.filter(keep).map(lambda clips, labels, *_: (clips, labels))
    return ds.prefetch(tf.data.AUTOTUNE)
