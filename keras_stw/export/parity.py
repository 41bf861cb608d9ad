"""Output parity of exported models against the Keras model they came from."""

import os

import keras
import numpy as np


def run_saved_model(saved_model_dir: str, clips: np.ndarray) -> dict[str, np.ndarray]:
    """Runs the `serving_default` signature of a SavedModel on `uint8` clips.

    Args:
        saved_model_dir: str. A version folder written by `export_saved_model`.
        clips: `uint8` array `(batch, T, H, W, 3)`.

    Returns:
        dict of the signature's named outputs, as NumPy arrays.

    Example:
    >>> run_saved_model("/tmp/stw/1", clips)["top_k_indices"].shape
    (2, 3)
    """
    import tensorflow as tf

    from keras_stw.export.saved_model import DEFAULT_SIGNATURE

    signature = tf.saved_model.load(os.fspath(saved_model_dir)).signatures[DEFAULT_SIGNATURE]
    outputs = signature(clips=tf.constant(clips, tf.uint8))
    return {name: value.numpy() for name, value in outputs.items()}


def output_parity(
    model: keras.Model,
    clips: np.ndarray,
    saved_model_dir: str | None = None,
    tflite_path: str | None = None,
    onnx_path: str | None = None,
) -> dict[str, dict[str, float]]:
    """Compares each exported format's probabilities with the Keras model's.

    Args:
        model: keras.Model. The model that was exported, on any backend.
        clips: `uint8` array `(batch, T, H, W, 3)`.
        saved_model_dir: str or `None`. A SavedModel version folder.
        tflite_path: str or `None`. A `.tflite` file from `export_tflite`.
        onnx_path: str or `None`. An `.onnx` file from `export_onnx`.

    Returns:
        dict from format name to `{"max_abs_diff": float, "top1_agreement": float}`:
        the largest absolute difference of any class probability, and the fraction
        of clips whose top class matches the Keras model's.

    Example:
    >>> output_parity(model, clips, saved_model_dir="/tmp/stw/1")
    {'saved_model': {'max_abs_diff': 0.0, 'top1_agreement': 1.0}}
    """
    from keras_stw.export.onnx import run_onnx
    from keras_stw.export.tflite import run_tflite

    clips = np.asarray(clips, "uint8")
    reference = keras.ops.convert_to_numpy(model(clips.astype("float32"), training=False))
    runners = {
        "saved_model": (run_saved_model, saved_model_dir),
        "tflite": (run_tflite, tflite_path),
        "onnx": (run_onnx, onnx_path),
    }
    table = {}
    for name, (run, path) in runners.items():
        if path is None:
            continue
        probabilities = run(path, clips)["probabilities"]
        table[name] = {
            "max_abs_diff": float(np.max(np.abs(probabilities - reference))),
            "top1_agreement": float(np.mean(probabilities.argmax(-1) == reference.argmax(-1))),
        }
    return table
