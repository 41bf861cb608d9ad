"""The Grain engine of `video_dataset`: `ClipBatches` run in worker processes.

Grain's `mp_prefetch` gives each worker process every `workers`-th batch and hands the
finished batches back through shared memory, in order; the main process only counts
skipped videos. No TensorFlow is needed: this is the engine for JAX and PyTorch.

Grain starts its workers with the "spawn" method: each one runs the main script
again, as `__mp_main__`, before it works. A script that makes its dataset outside an
`if __name__ == "__main__":` guard is refused before any worker starts.
"""

import ast
import functools
import inspect
import sys

import cv2
import grain
import numpy as np
from absl import flags

from keras_stw.data.batches import ClipBatches, bookkeeping
from keras_stw.data.errors import SkippedVideos
from keras_stw.data.live_stream import LiveStream


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
    if workers:
        check_main_guard(workers)
        # Grain reads its absl flags when it starts workers; outside an absl program
        # nothing parses them, and reading an unparsed flag fails. Their defaults do.
        if not flags.FLAGS.is_parsed():
            flags.FLAGS.mark_as_parsed()
    # One pass is the same batches every time: it repeats, so that a new iteration
    # continues the running workers (see `LiveStream`).
    pass_length = None if batches.repeat else len(batches) - initial_step
    stream = functools.partial(
        _stream, batches, initial_step=initial_step, workers=workers, skipped=skipped
    )
    return LiveStream(stream, pass_length=pass_length).filter(_has_clips)


def _stream(batches, start, cycle, *, initial_step, workers, skipped):
    """Batches `initial_step + start` on, with the pass repeated when `cycle` is true."""
    ds = grain.MapDataset.range(initial_step + start, len(batches))
    ds = (ds.repeat() if cycle else ds).map(batches.__getitem__)
    # One batch at a time per process: the parallelism is the worker processes.
    ds = ds.to_iter_dataset(grain.ReadOptions(num_threads=0, prefetch_buffer_size=0))
    if workers:
        ds = ds.mp_prefetch(
            grain.MultiprocessingOptions(num_workers=workers), worker_init_fn=_init_worker
        )
    return ds.map(_Counter(skipped))


def check_main_guard(workers: int):
    """Refuses to start workers that would run this dataset's script again.

    A spawned worker runs the main script again before it works (as Python's
    `multiprocessing` does for every "spawn" process); code outside an
    `if __name__ == "__main__":` guard would make a dataset, start workers of its
    own and train in every worker. Scripts run with `python -m package` (a
    `__main__.py`), interactive sessions and notebooks are not run again.

    Args:
        workers: int. The worker processes to start, for the message.

    Raises:
        RuntimeError: the dataset is made by the main script's top-level code,
            outside such a guard, or by a worker running the script again.
    """
    main = sys.modules["__main__"]
    frame = inspect.currentframe()
    while frame is not None and not _is_main_script(frame, main):
        frame = frame.f_back
    if frame is None:
        return
    if frame.f_globals["__name__"] == "__main__" and (
        not _rerun_by_workers(main) or _guarded(frame.f_code.co_filename, frame.f_lineno)
    ):
        return
    raise RuntimeError(
        f"video_dataset(workers={workers}) starts worker processes, and each runs the "
        'main script again: put the script\'s code under `if __name__ == "__main__":`, '
        "or pass workers=0. Received: a dataset made outside that guard, at "
        f"{frame.f_code.co_filename}:{frame.f_lineno}"
    )


def _is_main_script(frame, main):
    # The script's top-level code: run as `__main__`, or again as `__mp_main__` in a
    # spawned worker.
    name = frame.f_globals.get("__name__")
    return frame.f_code.co_name == "<module>" and (
        frame.f_globals is vars(main) or name == "__mp_main__"
    )


def _rerun_by_workers(main):
    # The rule of `multiprocessing.spawn.get_preparation_data` and `_fixup_main_*`.
    name = getattr(getattr(main, "__spec__", None), "name", None)
    if name is not None:
        return not (name == "__main__" or name.endswith(".__main__"))
    return getattr(main, "__file__", None) is not None


def _guarded(path, line):
    """Whether `line` of the file lies in the body of an `if __name__ == "__main__":`."""
    try:
        with open(path, encoding="utf-8") as file:
            tree = ast.parse(file.read())
    except (OSError, SyntaxError, ValueError):
        # Source that cannot be read is not refused on a guess.
        return True
    return any(
        isinstance(node, ast.If)
        and _tests_main(node.test)
        and node.body[0].lineno <= line <= node.body[-1].end_lineno
        for node in ast.walk(tree)
    )


def _tests_main(test):
    names = {node.id for node in ast.walk(test) if isinstance(node, ast.Name)}
    constants = {node.value for node in ast.walk(test) if isinstance(node, ast.Constant)}
    return "__name__" in names and "__main__" in constants


def _has_clips(batch):
    return len(batch[1]) > 0


def _init_worker(worker_index, worker_count):
    # Each worker owns one core: OpenCV's own threads would only compete.
    cv2.setNumThreads(1)


class _Counter:
    """Counts a batch's skipped videos and returns a copy of its `(clips, labels)`."""

    def __init__(self, skipped):
        self.skipped = skipped

    def __call__(self, batch):
        self.skipped.observe(**bookkeeping(batch))
        # Copies in this process's own memory: a batch left in Grain's shared memory
        # (a script's loop variable at exit, say) outlives the module that frees it,
        # and is reported as leaked.
        return np.array(batch["clips"]), np.array(batch["labels"])
