"""`SkippedVideos`: the count of unreadable videos a pipeline skipped, pass by pass."""

import logging
import threading

from keras_stw.data.decode import DecodeError

logger = logging.getLogger("keras_stw.data")


class SkippedVideos:
    """Counts the videos that `video_dataset(..., on_error="skip")` could not read.

    The pipeline reports every batch here in the order the batches are consumed.
    When a pass over the videos (an epoch of the data) ends, its count is appended to
    `per_epoch` and, when not zero, logged once as a warning with an example error. A
    batch that does not follow the previous one starts a new iteration: the unfinished
    pass is dropped, so batches read ahead and thrown away (as Keras does to learn a
    dataset's shapes) are not counted twice.

    Attributes:
        per_epoch: list of int. Videos skipped in each completed pass.
        current: int. Videos skipped so far in the pass in progress.
        errors: list of str. The most recent error messages (at most 20).

    Example:
    >>> ds = keras_stw.data.video_dataset(records, on_error="skip")
    >>> batches = list(ds)
    >>> ds.skipped.per_epoch
    [2]
    """

    def __init__(self):
        self.per_epoch = []
        self.current = 0
        self.errors = []
        self._loaded = 0
        self._next_position = None
        self._lock = threading.Lock()

    @property
    def total(self) -> int:
        """Videos skipped over all passes, the one in progress included."""
        return sum(self.per_epoch) + self.current

    def observe(self, start, stop, loaded, errors, completed_passes):
        """Counts one batch, in consumption order.

        Args:
            start: int. Stream position of the batch's first video.
            stop: int. Stream position after its last video.
            loaded: int. Clips the batch holds.
            errors: sequence of str. One message per video skipped for the batch.
            completed_passes: int. Passes over the videos that end with this batch.

        Raises:
            keras_stw.data.DecodeError: a pass ended without one readable video.
        """
        with self._lock:
            if start != self._next_position:
                self.current = self._loaded = 0
            self._next_position = stop
            self.current += len(errors)
            self._loaded += loaded
            self.errors = [*self.errors, *errors][-20:]
            for _ in range(completed_passes):
                self._end_pass()

    def _end_pass(self):
        skipped, loaded = self.current, self._loaded
        self.per_epoch.append(skipped)
        self.current = self._loaded = 0
        if not skipped:
            return
        logger.warning(
            "video_dataset skipped %d unreadable video(s) in this pass, e.g. %s",
            skipped,
            self.errors[-1],
        )
        if not loaded:
            raise DecodeError(
                f"Every video of the pass failed to load ({skipped}); last error: {self.errors[-1]}"
            )
