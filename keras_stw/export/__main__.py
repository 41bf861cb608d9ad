"""`python -m keras_stw.export MODEL.keras EXPORT_DIR`: a TF Serving SavedModel.

Run with `KERAS_BACKEND=tensorflow` (the exporter does this itself when called under
JAX or PyTorch): it loads the `.keras` file, whatever backend trained it, and writes
`EXPORT_DIR/VERSION/`.
"""

import argparse
import sys

import keras

from keras_stw.cli import run_program
from keras_stw.data import read_label_map
from keras_stw.evaluation import load_clip_model
from keras_stw.export.saved_model import export_saved_model
from keras_stw.validation import check_positive_int


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m keras_stw.export", description=__doc__)
    parser.add_argument("model", help="a .keras file")
    parser.add_argument("export_dir", help="the model's folder under TF Serving's base path")
    parser.add_argument("--version", type=int, default=1)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--class-names", help="a text file, one class name a line")
    parser.add_argument("--no-jpeg", action="store_true", help="omit serving_jpeg")
    args = parser.parse_args(argv)
    if keras.backend.backend() != "tensorflow":
        parser.error(
            "run with KERAS_BACKEND=tensorflow; the SavedModel is a TensorFlow graph. "
            f"Received backend: {keras.backend.backend()}"
        )
    check_positive_int("--version", args.version)
    check_positive_int("--top-k", args.top_k)
    class_names = read_label_map(args.class_names) if args.class_names else None
    path = export_saved_model(
        load_clip_model(args.model),
        args.export_dir,
        version=args.version,
        top_k=args.top_k,
        class_names=class_names,
        jpeg_signature=not args.no_jpeg,
    )
    print(path)


if __name__ == "__main__":
    sys.exit(run_program(main))
