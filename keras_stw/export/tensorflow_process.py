"""SavedModel export from the JAX or PyTorch backend, through a TensorFlow rebuild."""

import os
import pathlib
import subprocess
import sys
import tempfile

import keras


def export_saved_model(model, export_dir, version, top_k, class_names, jpeg_signature):
    """Saves `model` as `.keras` and exports it from a TensorFlow-backend process.

    TF Serving needs a TensorFlow graph, which Keras traces only under the TensorFlow
    backend. The `.keras` file carries the architecture and the weights trained here;
    `python -m keras_stw.export` rebuilds the model from it with
    `KERAS_BACKEND=tensorflow` and writes the SavedModel to `export_dir/{version}`.
    """
    with tempfile.TemporaryDirectory() as tmp:
        model_path = os.path.join(tmp, "model.keras")
        model.save(model_path)
        command = [
            sys.executable,
            "-m",
            "keras_stw.export",
            model_path,
            os.fspath(export_dir),
            "--version",
            str(version),
            "--top-k",
            str(top_k),
        ]
        if class_names is not None:
            names_path = os.path.join(tmp, "class_names.txt")
            pathlib.Path(names_path).write_text("\n".join(class_names) + "\n")
            command += ["--class-names", names_path]
        if not jpeg_signature:
            command.append("--no-jpeg")
        _run(command)
    return os.path.join(os.fspath(export_dir), str(version))


def _run(command):
    package_root = str(pathlib.Path(__file__).resolve().parents[2])
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(
            f"The TensorFlow export process failed under the {keras.backend.backend()} "
            f"backend's model (exit code {result.returncode}):\n{result.stderr[-4000:]}"
        )
