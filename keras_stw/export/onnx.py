"""ONNX conversion of the SavedModel's `serving_default` signature, with tf2onnx."""

import os

import numpy as np

from keras_stw.export.saved_model import DEFAULT_SIGNATURE


def export_onnx(saved_model_dir: str, path: str, opset: int = 17) -> str:
    """Converts the `serving_default` signature of a SavedModel to an `.onnx` file.

    This is what `python -m tf2onnx.convert --saved-model DIR --signature_def
    serving_default` does, so the ONNX graph is the one TF Serving runs, with the same
    input (`clips`) and output names.

    Args:
        saved_model_dir: str. A version folder written by `export_saved_model`.
        path: str. The `.onnx` file to write.
        opset: int. The ONNX opset. Defaults to `17`.

    Returns:
        str. `path`.

    Example:
    >>> export_onnx("/tmp/stw/1", "/tmp/stw.onnx")
    '/tmp/stw.onnx'
    """
    from tf2onnx import convert, tf_loader

    graph_def, inputs, outputs, renames = tf_loader.from_saved_model(
        os.fspath(saved_model_dir),
        None,
        None,
        signatures=[DEFAULT_SIGNATURE],
        return_tensors_to_rename=True,
    )
    convert.from_graph_def(
        graph_def,
        input_names=inputs,
        output_names=outputs,
        opset=opset,
        tensors_to_rename=renames,
        output_path=os.fspath(path),
    )
    return path


def run_onnx(path: str, clips: np.ndarray) -> dict[str, np.ndarray]:
    """Runs an `.onnx` file from `export_onnx` on `uint8` clips with ONNX Runtime.

    Args:
        path: str. The `.onnx` file.
        clips: `uint8` array `(batch, T, H, W, 3)`.

    Returns:
        dict of the named outputs, as NumPy arrays.

    Example:
    >>> run_onnx("/tmp/stw.onnx", clips)["probabilities"].shape
    (2, 5)
    """
    import onnxruntime

    session = onnxruntime.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    values = session.run(names, {session.get_inputs()[0].name: np.asarray(clips)})
    return dict(zip(names, values, strict=True))
