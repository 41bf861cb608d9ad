"""Export of keras-stw models: `.keras`, TF Serving SavedModel, TFLite and ONNX.

`.keras` needs nothing here: `model.save(path)` and `keras.saving.load_model(path)`
round-trip every keras-stw model on every backend, since its layers are registered
serializable (import `keras_stw` before loading). TensorFlow, tf2onnx and ONNX
Runtime are imported only by the functions that need them.
"""

from keras_stw.export.onnx import export_onnx, run_onnx
from keras_stw.export.parity import output_parity, run_saved_model
from keras_stw.export.saved_model import export_saved_model
from keras_stw.export.tflite import export_tflite, run_tflite, tflite_interpreter

__all__ = [
    "export_onnx",
    "export_saved_model",
    "export_tflite",
    "output_parity",
    "run_onnx",
    "run_saved_model",
    "run_tflite",
    "tflite_interpreter",
]
