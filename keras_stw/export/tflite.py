"""TFLite conversion of the SavedModel's `serving_default` signature."""

import os

import numpy as np

from keras_stw.export.saved_model import DEFAULT_SIGNATURE


def export_tflite(saved_model_dir: str, path: str) -> str:
    """Converts the `serving_default` signature of a SavedModel to a `.tflite` file.

    Every op of the STW, TSM and TSN graphs (slices, concatenation, depthwise and
    regular convolutions, `ensure_shape`, `top_k`) has a TFLite builtin, so no
    TensorFlow ops are pulled in. `serving_jpeg` is left out: `DecodeJpeg` has no
    TFLite builtin.

    Args:
        saved_model_dir: str. A version folder written by `export_saved_model`.
        path: str. The `.tflite` file to write.

    Returns:
        str. `path`.

    Example:
    >>> export_tflite("/tmp/stw/1", "/tmp/stw.tflite")
    '/tmp/stw.tflite'
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(
        os.fspath(saved_model_dir), signature_keys=[DEFAULT_SIGNATURE]
    )
    with open(path, "wb") as file:
        file.write(converter.convert())
    return path


def run_tflite(path: str, clips: np.ndarray) -> dict[str, np.ndarray]:
    """Runs a `.tflite` file from `export_tflite` on `uint8` clips.

    Args:
        path: str. The `.tflite` file.
        clips: `uint8` array `(batch, T, H, W, 3)`.

    Returns:
        dict of the signature's named outputs, as NumPy arrays.

    Example:
    >>> run_tflite("/tmp/stw.tflite", clips)["probabilities"].shape
    (2, 5)
    """
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=os.fspath(path))
    runner = interpreter.get_signature_runner(DEFAULT_SIGNATURE)
    return runner(clips=np.asarray(clips))
