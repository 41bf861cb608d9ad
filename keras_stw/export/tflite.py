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


def tflite_interpreter(path: str):
    """Loads a `.tflite` file into LiteRT's interpreter, or TensorFlow's without LiteRT.

    LiteRT (`pip install ai-edge-litert`, in the `export` extra) replaces
    `tf.lite.Interpreter`, which TensorFlow deprecates; the two take the same
    arguments and give the same signature runners.

    Args:
        path: str. The `.tflite` file.

    Returns:
        `ai_edge_litert.interpreter.Interpreter`, or `tf.lite.Interpreter` where
        `ai_edge_litert` is not installed.

    Example:
    >>> type(tflite_interpreter("/tmp/stw.tflite")).__module__
    'ai_edge_litert.interpreter'
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter(model_path=os.fspath(path))


def run_tflite(path: str, clips: np.ndarray) -> dict[str, np.ndarray]:
    """Runs a `.tflite` file from `export_tflite` on `uint8` clips.

    The interpreter is `tflite_interpreter`'s: LiteRT where installed.

    Args:
        path: str. The `.tflite` file.
        clips: `uint8` array `(batch, T, H, W, 3)`.

    Returns:
        dict of the signature's named outputs, as NumPy arrays.

    Example:
    >>> run_tflite("/tmp/stw.tflite", clips)["probabilities"].shape
    (2, 5)
    """
    runner = tflite_interpreter(path).get_signature_runner(DEFAULT_SIGNATURE)
    return runner(clips=np.asarray(clips))
