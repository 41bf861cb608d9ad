"""`original_errors`: the data errors that TensorFlow wrapped, raised as what they are."""

import contextlib
import re

from keras_stw.data.annotations import AnnotationError
from keras_stw.data.decode import DecodeError

# How the tf.data engine's `tf.debugging.Assert` quotes a data error (tf_pipeline.py).
_QUOTED = re.compile(r"assertion failed: \[(DecodeError|AnnotationError): (.*)\]$", re.MULTILINE)
# The C escapes TensorFlow writes into a quoted string; UTF-8 text is left as it is.
_ESCAPE = re.compile(r"\\([0-7]{3}|.)")
_ESCAPED = {"n": "\n", "r": "\r", "t": "\t"}


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
    return (DecodeError if name == "DecodeError" else AnnotationError)(message)


def _unescape(match):
    code = match.group(1)
    if len(code) == 3:
        return chr(int(code, 8))
    return _ESCAPED.get(code, code)
