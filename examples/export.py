"""Exports a keras-stw model to `.keras`, a TF Serving SavedModel, TFLite and ONNX.

Loads a `.keras` model (or builds a tiny untrained STW model), writes every format
under `--out`, prints the output parity of each against the Keras model and the
SavedModel's signatures as `saved_model_cli show --all` describes them.

    python examples/export.py --out /tmp/stw_export --tflite --onnx
    python examples/export.py --model my_model.keras --out /tmp/stw_export --version 2

Under `KERAS_BACKEND=jax` or `torch` the SavedModel is written by a TensorFlow-backend
process that rebuilds the model from its `.keras` file; TFLite, ONNX and the parity
check then read that SavedModel.
"""

import argparse
import os
import subprocess
import sys

import keras
import numpy as np

import keras_stw
from keras_stw import cli, evaluation, export
from keras_stw.validation import check_positive_int


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a .keras file; default: a tiny STW model")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--version", type=int, default=1)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--tflite", action="store_true", help="also write TFLite")
    parser.add_argument("--onnx", action="store_true", help="also write ONNX")
    args = parser.parse_args(argv)
    check_positive_int("--version", args.version)
    check_positive_int("--top-k", args.top_k)

    if args.model:
        model = evaluation.load_clip_model(args.model)
    else:
        model = keras_stw.create_model(
            "stw_resnet26", num_frames=4, num_classes=5, image_shape=(32, 32, 3), base_width=4
        )
    os.makedirs(args.out, exist_ok=True)
    keras_path = os.path.join(args.out, f"{model.name}.keras")
    model.save(keras_path)
    saved_model_dir = export.export_saved_model(
        model, os.path.join(args.out, "saved_model"), args.version, args.top_k
    )
    paths = {"saved_model_dir": saved_model_dir}
    if args.tflite:
        paths["tflite_path"] = export.export_tflite(
            saved_model_dir, os.path.join(args.out, f"{model.name}.tflite")
        )
    if args.onnx:
        paths["onnx_path"] = export.export_onnx(
            saved_model_dir, os.path.join(args.out, f"{model.name}.onnx")
        )

    clip_shape = tuple(model.inputs[0].shape[1:])
    clips = np.random.default_rng(0).integers(0, 256, (2, *clip_shape), dtype="uint8")
    restored = keras.saving.load_model(keras_path)
    keras_diff = np.max(
        np.abs(
            keras.ops.convert_to_numpy(restored(clips.astype("float32")))
            - keras.ops.convert_to_numpy(model(clips.astype("float32")))
        )
    )
    print(f"\nWritten: {keras_path}, " + ", ".join(paths.values()))
    print(f"\n{'format':<12} {'max |diff|':>12} {'top-1 agree':>12}")
    print(f"{'keras':<12} {keras_diff:>12.3g} {'':>12}")
    for name, row in export.output_parity(model, clips, **paths).items():
        print(f"{name:<12} {row['max_abs_diff']:>12.3g} {row['top1_agreement']:>12.0%}")
    print(f"\n$ saved_model_cli show --dir {saved_model_dir} --all")
    show = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    subprocess.run([show, "show", "--dir", saved_model_dir, "--all"], check=True)


if __name__ == "__main__":
    sys.exit(cli.run_program(main))
