"""The data errors: their classes, the `on_error` policy, their messages and their count.

Every module of `keras_stw.data` raises, words, skips and counts its errors through
this one: `DecodeError` (a video or frame folder cannot be read) and `AnnotationError`
(a malformed annotation), `on_error="raise"` or `"skip"` (`ON_ERROR`), the message of
an unreadable video, `SkippedVideos` (what `"skip"` left out, pass by pass) and
`original_errors` (the errors that `tf.data` wrapped, raised as what they are).
"""

import contextlib
import logging
import re
import threading

import cv2

# What to do with an unreadable video or a malformed annotation line.
ON_ERROR = ("raise", "skip")

logger = logging.getLogger("keras_stw.data")


class DecodeError(RuntimeError):
    """A video or frame folder cannot be read; the message names the file.

    Example:
    >>> try:
    ...     keras_stw.data.count_frames("missing.mp4")
    ... except keras_stw.data.DecodeError as error:
    ...     print(error)
    missing.mp4: no such video file.
    """


class AnnotationError(ValueError):
    """A malformed annotation; the message names the file and line.

    Example:
    >>> keras_stw.data.read_list("train.txt")  # line 3 is `a.mp4 x`
    Traceback (most recent call last):
    AnnotationError: train.txt:3: invalid literal for int() with base 10: 'x' (in 'a.mp4 x')
    """


# The errors about the data, which `original_errors` raises again as what they were.
DATA_ERRORS = (DecodeError, AnnotationError)
# What a broken video can raise inside OpenCV or NumPy, besides `DecodeError`.
VIDEO_ERRORS = (DecodeError, OSError, ValueError, MemoryError, cv2.error)

_BY_NAME = {error.__name__: error for error in DATA_ERRORS}
# How the tf.data engine's `tf.debugging.Assert` quotes a data error (see `quote_error`).
_QUOTED = re.compile(rf"assertion failed: \[({'|'.join(_BY_NAME)}): (.*)\]$", re.MULTILINE)
# The C escapes TensorFlow writes into a quoted string; UTF-8 text is left as it is.
_ESCAPE = re.compile(r"\\([0-7]{3}|.)")
_ESCAPED = {"n": "\n", "r": "\r", "t": "\t"}


def check_on_error(on_error: str) -> str:
    """Returns `on_error` when it is one of `ON_ERROR`; raises `ValueError` otherwise."""
    if on_error not in ON_ERROR:
        raise ValueError(f"`on_error` must be one of {ON_ERROR}. Received: {on_error!r}")
    return on_error


def describe_error(record, error: Exception) -> str:
    """The error message of a video, with its annotation line when known.

    Args:
        record: `VideoRecord`. The video that failed.
        error: Exception. What reading it raised.

    Returns:
        str, `"<error> (annotation <file:line>)"`, or the error's message alone when the
        record has no origin.

    Example:
    >>> describe_error(VideoRecord("a.mp4", 0, origin="train.txt:3"), DecodeError("a.mp4: ..."))
    'a.mp4: ... (annotation train.txt:3)'
    """
    return f"{error} (annotation {record.origin})" if record.origin else str(error)


def every_video_failed(videos: str, count: int, last_error: str) -> DecodeError:
    """The error for `count` videos that all failed to load, e.g. `"of the pass"`."""
    return DecodeError(f"Every video {videos} failed to load ({count}); last error: {last_error}")


def quote_error(error: Exception) -> bytes:
    """A data error as the `tf.data` engine carries it, its class and message.

    The engine's `tf.debugging.Assert` raises it quoted, and `original_errors` reads
    it back.
    """
    return f"{type(error).__name__}: {error}".encode()


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
            raise every_video_failed("of the pass", skipped, self.errors[-1])


@contextlib.contextmanager
def original_errors():
    """Raises the keras-stw data errors that TensorFlow wrapped as what they are.

    An error raised inside a `tf.data` pipeline reaches the caller as a
    `tf.errors.OpError` that quotes it; within this context it is raised again as
    the `DecodeError` or `AnnotationError` it was, with its message, so one `except`
    clause serves both engines. Other errors pass through unchanged.

    Example:
    >>> with keras_stw.data.original_errors():
    ...     try:
    ...         model.fit(train_ds, epochs=1, steps_per_epoch=100)
    ...     except keras_stw.data.DecodeError as error:
    ...         print(error)
    """
    try:
        yield
    except Exception as error:
        original = _original_error(error)
        if original is None:
            raise
        raise original from error


def _original_error(error):
    if not type(error).__module__.startswith("tensorflow"):
        return None
    quoted = _QUOTED.findall(str(error))
    if not quoted:
        return None
    name, message = quoted[-1]
    message = _ESCAPE.sub(_unescape, message)
    return _BY_NAME[name](message)


def _unescape(match):
    code = match.group(1)
    if len(code) == 3:
        return chr(int(code, 8))
    return _ESCAPED.get(code, code)
