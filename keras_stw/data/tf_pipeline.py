"""The `tf.data` engine of `video_dataset`: `ClipBatches` run in parallel threads.

Each batch is made by `ClipBatches` (NumPy and OpenCV, which releases the GIL while it
decodes and resizes) inside a `tf.numpy_function`, several batches at a time, in order.

A data error (an unreadable video, a pass with no readable video) does not leave the
`numpy_function` as a Python exception: TensorFlow would log its traceback from every
kernel it passes through. It comes back as a message, and a `tf.debugging.Assert` in
the graph raises it as the `tf.errors.InvalidArgumentError` that `original_errors`
turns back into the `DecodeError` or `AnnotationError` it was.
"""

import json

import numpy as np
import tensorflow as tf

from keras_stw.data.batches import ClipBatches, bookkeeping
from keras_stw.data.errors import DATA_ERRORS, SkippedVideos, quote_error


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
    empty = np.zeros((0, *batches.spec.clip_shape), np.uint8)

    def load(index):
        try:
            batch = batches[index]
        except DATA_ERRORS as error:
            return empty, np.zeros(0, np.int32), b"", quote_error(error)
        # The batch's bookkeeping crosses the graph as one JSON string.
        return batch["clips"], batch["labels"], json.dumps(bookkeeping(batch)).encode(), b""

    def count(kept):
        kept = json.loads(kept)
        try:
            skipped.observe(**kept)
        except DATA_ERRORS as error:
            return np.bool_(False), quote_error(error)
        return np.bool_(kept["loaded"] > 0), b""

    def load_graph(index):
        clips, labels, kept, message = tf.numpy_function(
            load, [index], [tf.uint8, tf.int32, tf.string, tf.string], stateful=False
        )
        with tf.control_dependencies([raise_failure(message)]):
            clips, labels = tf.identity(clips), tf.identity(labels)
        clips.set_shape([batches.fixed_batch_size, *batches.spec.clip_shape])
        labels.set_shape([batches.fixed_batch_size])
        return clips, labels, kept

    def keep(clips, labels, kept):
        # Sequential, so the batches are counted in the order they are consumed.
        has_clips, message = tf.numpy_function(count, [kept], [tf.bool, tf.string], stateful=True)
        with tf.control_dependencies([raise_failure(message)]):
            return tf.identity(has_clips)

    ds = tf.data.Dataset.range(initial_step, len(batches))
    if workers == 0:
        ds = ds.map(load_graph)
    else:
        parallel = tf.data.AUTOTUNE if workers is None else workers
        ds = ds.map(load_graph, num_parallel_calls=parallel, deterministic=True)
    ds = ds.filter(keep).map(lambda clips, labels, *_: (clips, labels))
    return ds.prefetch(tf.data.AUTOTUNE)


def raise_failure(message: tf.Tensor) -> tf.Operation:
    """An op that raises `message` (`quote_error`'s) when it is not empty.

    TensorFlow's error reads `assertion failed: [<message>]`, escaped as C strings
    are; see `keras_stw.data.errors`.
    """
    return tf.debugging.Assert(tf.equal(message, b""), [message], summarize=1)
