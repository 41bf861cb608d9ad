"""`ClipsPerSecond`: each epoch's training rate, in the logs beside the loss."""

import threading
import time

import keras

from keras_stw.validation import check_positive_int


class ClipsPerSecond(keras.callbacks.Callback):
    """Adds `clips_per_second` to the logs of every epoch.

    The clock starts once the epoch's first `warmup_steps` steps have finished (they
    hold compilation and the loader's start; with `0`, when the epoch begins) and
    stops when its last training step has (before validation): when Keras hands over
    that step's logs, as numbers, which it does once the device has run the step. The
    rate is the steps in between times `batch_size`, or NaN for an epoch of no more
    than `warmup_steps` steps; a `CSVLogger` after this callback records it in
    `log.csv`.

    Args:
        batch_size: int. Clips per training step (the global batch).
        warmup_steps: int. Steps of each epoch left out of the timing. Defaults to
            `2`.

    Example:
    >>> model.fit(train_ds, epochs=2, steps_per_epoch=100,
    ...     callbacks=[ClipsPerSecond(64), keras.callbacks.CSVLogger("log.csv")])
    """

    # Keras may then call `on_train_batch_end` in threads of its own, so that no step
    # waits for the one before; calls may come out of order, each a little after its
    # step finished. Steps finish in order, so the warm-up step finished no later than
    # the earliest call for it or a step after it, and the last step no later than the
    # latest call: the clock never runs backwards.
    async_safe = True

    def __init__(self, batch_size: int, warmup_steps: int = 2):
        super().__init__()
        check_positive_int("batch_size", batch_size)
        check_positive_int("warmup_steps", warmup_steps, minimum=0)
        self.batch_size = batch_size
        self.warmup_steps = warmup_steps
        self._lock = threading.Lock()
        self._steps = 0
        self._start = self._stop = None

    def on_epoch_begin(self, epoch, logs=None):
        self._steps = 0
        self._start = time.perf_counter() if self.warmup_steps == 0 else None
        self._stop = None

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        step = batch + 1
        with self._lock:
            self._steps = max(self._steps, step)
            self._stop = max(self._stop or now, now)
            if step >= self.warmup_steps > 0:
                self._start = min(self._start or now, now)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        timed = self._steps - self.warmup_steps
        # NaN for an epoch too short to time: a log's columns stay the same.
        logs["clips_per_second"] = float("nan")
        if timed > 0 and self._stop > self._start:
            logs["clips_per_second"] = timed * self.batch_size / (self._stop - self._start)
