"""`video_dataset`: annotated videos to batches of uint8 clips for `model.fit`.

The data path reads in one direction: records -> `ClipBatches` (the pass order, the
seeds, skipping) -> `ClipSpec.load` per video (sample, decode, crop, flip) -> batch ->
an engine that runs the batches in parallel: `tf.data` threads (`tf_pipeline.py`) or
Grain processes (`grain_pipeline.py`). Both engines make the same batches, pixel for
pixel.
"""

import atexit
import functools
import gc
import os
import sys

import keras

from keras_stw.data.batches import ClipBatches
from keras_stw.data.clips import ClipSpec
from keras_stw.data.errors import SkippedVideos
from keras_stw.validation import check_positive_int

ENGINES = ("auto", "tf", "grain")


def video_dataset(
    source,
    spec: ClipSpec | None = None,
    *,
    batch_size: int = 8,
    seed: int | None = None,
    shuffle: bool | None = None,
    repeat: bool = False,
    drop_remainder: bool = False,
    on_error: str = "raise",
    initial_step: int = 0,
    engine: str = "auto",
    workers: int | None = None,
    skipped: SkippedVideos | None = None,
    shard_index: int = 0,
    shard_count: int = 1,
    **clip_options,
):
    """Builds a dataset of `(uint8 clips, int32 labels)` batches for `model.fit`.

    What a clip is (its frames, sampling, crops, flips) is a `ClipSpec`: pass one,
    or its fields as keywords (`num_frames=8, training=True, flip=True, ...`).
    Training clips are randomly sampled and cropped; test clips are the centre
    frames' centre crop, or with `num_clips * num_crops > 1` every view of the video
    stacked on a views axis (the 10 x 3 protocol).

    Every batch is a function of the seed and its index alone. Two datasets with the
    same seed give the same batches, with either engine and any number of workers,
    and `initial_step=s` starts at batch `s`: a resumed training run sees exactly the
    batches it would have seen (see `keras_stw.training.fit_resumable`). Each new
    pass over the videos (epoch) draws a new order, new frames and new crops.

    In a multi-process run, each process makes only its part of every batch
    (`shard_index` of `shard_count`, a contiguous slice of `batch_size //
    shard_count` clips), and the processes' parts together are the batch one
    process would make: the global batch does not depend on the process count.

    Args:
        source: `Annotations` from a reader of `keras_stw.data`, or a list of
            `VideoRecord` or of `(path, label)` / `(path, label, total_frames)` tuples.
            A path is a video file (mp4, avi, webm, mkv, ...) or a JPEG frame folder.
        spec: `ClipSpec`. The clips to make. Defaults to `None`:
            `ClipSpec(**clip_options)`.
        batch_size: int. Videos per batch. Defaults to `8`.
        seed: int. Seed of the order, the sampling and the augmentation. Defaults to
            `None`: a random one.
        shuffle: bool. A new video order every pass. Defaults to `training`.
        repeat: bool. Repeat without end (use `steps_per_epoch`). Defaults to
            `False`.
        drop_remainder: bool. Drop the last incomplete batch. Defaults to `False`.
        on_error: str. `"raise"` an error naming the file and annotation line, or
            `"skip"` unreadable videos: a training video is replaced by another one,
            so batches stay full; a test video is dropped. Skipped videos are counted
            in `skipped`. Defaults to `"raise"`.
        initial_step: int. Index of the first batch. Defaults to `0`.
        engine: str. `"tf"` (`tf.data`, threads), `"grain"` (Grain, worker
            processes, no TensorFlow) or `"auto"`: `"tf"` under the TensorFlow
            backend and `"grain"` under JAX and PyTorch. Defaults to `"auto"`.
        workers: int. Batches made in parallel: Grain worker processes or tf.data
            parallel calls; `0` makes them in the calling process, one at a time.
            Defaults to `None`: one per CPU core (Grain) or tf.data's autotuning.
        skipped: `SkippedVideos`. Counter of skipped videos; also available as the
            returned dataset's `skipped` attribute. Defaults to `None`: a new one.
        shard_index: int. This process's part of every batch, `0` to
            `shard_count - 1`. Defaults to `0`.
        shard_count: int. Parts every batch is split into, one per process;
            `batch_size`, the global batch, must be a multiple of it. Defaults to
            `1`. `video_dataset(..., **keras_stw.training.data_parallel(...).shard)`
            passes both where the processes split batches themselves (JAX), and
            neither where `tf.distribute` splits whole global batches.
        **clip_options: the fields of `ClipSpec` when `spec` is not given:
            `num_frames`, `training`, `image_size`, `short_side`, `sampling`,
            `frame_interval`, `num_clips`, `num_crops`, `scales`, `flip`,
            `flip_label_map`, `frame_template`, `frame_start`.

    Returns:
        A `tf.data.Dataset` (engine `"tf"`) or a `grain.IterDataset` (engine
        `"grain"`) of `(clips, labels)`: clips uint8 `(batch, T, S, S, 3)`, or
        `(batch, views, T, S, S, 3)` for several test views, and labels int32
        `(batch,)`, where `batch` is `batch_size // shard_count`. Its `skipped`
        attribute counts the skipped videos.

    Raises:
        keras_stw.data.DecodeError: while iterating, for an unreadable video with
            `on_error="raise"`. Grain raises it as it is; TensorFlow wraps what a
            `tf.data` pipeline raises in its own errors: iterate (or `fit`) inside
            `with original_errors():` to catch it as `DecodeError` there too.

    Example:
    >>> train = keras_stw.data.read_list("train.txt", root="videos")
    >>> train_ds = keras_stw.data.video_dataset(
    ...     train, num_frames=8, training=True, batch_size=64, repeat=True, seed=0)
    >>> model.fit(train_ds, epochs=50, steps_per_epoch=1000)
    """
    if spec is None:
        spec = ClipSpec(**clip_options)
    elif clip_options:
        raise ValueError(
            "Pass the clip options in `spec` or as keywords, not both. Received: "
            f"spec={spec!r} and {sorted(clip_options)}"
        )
    batches = ClipBatches(
        source,
        spec,
        batch_size=batch_size,
        seed=seed,
        shuffle=shuffle,
        repeat=repeat,
        drop_remainder=drop_remainder,
        on_error=on_error,
        shard_index=shard_index,
        shard_count=shard_count,
    )
    check_positive_int("initial_step", initial_step, minimum=0)
    if initial_step >= len(batches):
        raise ValueError(
            f"`initial_step` must be a batch of the dataset, 0 to {len(batches) - 1}. "
            f"Received: initial_step={initial_step}"
        )
    if workers is not None:
        check_positive_int("workers", workers, minimum=0)
    skipped = skipped if skipped is not None else SkippedVideos()
    engine = resolve_engine(engine)
    if engine == "tf":
        from keras_stw.data.tf_pipeline import tf_dataset

        ds = tf_dataset(batches, initial_step=initial_step, workers=workers, skipped=skipped)
    else:
        grain_dataset = _import_grain_engine()
        workers = os.cpu_count() if workers is None else workers
        ds = grain_dataset(batches, initial_step=initial_step, workers=workers, skipped=skipped)
    _release_pipelines_at_exit()
    ds.skipped = skipped
    return ds


def resolve_engine(engine: str) -> str:
    """The engine `"auto"` stands for under the current Keras backend.

    Args:
        engine: str. `"auto"`, `"tf"` or `"grain"`.

    Returns:
        `"tf"` or `"grain"`.

    Example:
    >>> resolve_engine("auto")  # under KERAS_BACKEND=jax
    'grain'
    """
    if engine not in ENGINES:
        raise ValueError(f"`engine` must be one of {ENGINES}. Received: engine={engine!r}")
    if engine == "auto":
        return "tf" if keras.backend.backend() == "tensorflow" else "grain"
    return engine


def _import_grain_engine():
    try:
        from keras_stw.data.grain_pipeline import grain_dataset
    except ImportError as error:
        raise ImportError(
            f"engine='grain' needs Grain ({error}): `pip install grain`, or pass "
            "engine='tf' where TensorFlow is installed."
        ) from error
    return grain_dataset


@functools.cache
def _release_pipelines_at_exit():
    # Registered after TensorFlow and Grain are imported, so it runs before their own
    # exit handlers, while the interpreter is whole.
    atexit.register(_release_pipelines)


def _release_pipelines():
    """Stops the iterators still alive at exit: their threads, processes, shared memory.

    An iterator held by the traceback of an uncaught error (`sys.last_traceback`), or
    in a reference cycle, would otherwise live into the interpreter's shutdown: a
    `tf.data` thread that calls back into Python then aborts the process ("terminate
    called without an active exception") or waits forever for it, and Grain reports
    the shared memory of its prefetched batches as leaked. The uncaught error was
    printed already and the exit status is set. A Grain dataset's running stream
    (`LiveStream`) lives as long as the dataset, so it is stopped here too.
    """
    sys.last_type = sys.last_value = sys.last_traceback = None
    gc.collect()
    # A Grain dataset alive at exit (a script's variable) keeps its stream running.
    live_stream = sys.modules.get("keras_stw.data.live_stream")
    if live_stream is not None:
        live_stream.close_all()
