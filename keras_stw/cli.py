"""The `python -m keras_stw` command line: `predict` a video's top-5 classes."""

import argparse
import os
import sys

from keras_stw.data import AnnotationError, DecodeError, read_label_map


def main(argv=None) -> int:
    """Runs a `python -m keras_stw` command; returns the exit status.

    Args:
        argv: list of str. Arguments without the program name. Defaults to
            `sys.argv[1:]`.

    Returns:
        0 on success, 1 on an error (printed to stderr as one line).

    Example:
    >>> main(["predict", "demo.mp4", "--model", "model.keras", "--labels", "labels.txt"])
    """
    parser = argparse.ArgumentParser(prog="python -m keras_stw")
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser("predict", help="Top-5 classes of a video.")
    predict.add_argument("video", help="Video file or JPEG frame folder.")
    predict.add_argument("--model", required=True, help="A .keras clip model.")
    predict.add_argument("--labels", required=True, help="Label map, one class a line.")
    predict.add_argument("--num-frames", type=int, help="Check the model's clip length.")
    predict.add_argument("--protocol", choices=("1x1", "10x3"), default="1x1")
    predict.add_argument("--top-k", type=int, default=5)
    args = parser.parse_args(argv)
    try:
        predictions = _predict(args)
    except (OSError, ValueError, DecodeError, AnnotationError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    width = max(len(name) for name, _ in predictions)
    for name, score in predictions:
        print(f"{name:<{width}}  {score:.4f}")
    return 0


def _predict(args):
    for what, path in (("model", args.model), ("label map", args.labels)):
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such {what} file.")
    if not os.path.exists(args.video):
        raise FileNotFoundError(f"{args.video}: no such video file or frame folder.")
    # Imported here so that argument errors come back without loading Keras.
    import keras

    import keras_stw  # noqa: F401  (registers the custom layers for loading)
    from keras_stw import evaluation

    class_names = read_label_map(args.labels)
    try:
        model = keras.saving.load_model(args.model)
    except Exception as error:
        raise ValueError(f"{args.model}: cannot load the model ({error}).") from error
    num_frames, _ = evaluation.model_frames(model)
    if args.num_frames is not None and args.num_frames != num_frames:
        raise ValueError(
            f"{args.model} takes clips of {num_frames} frames. Received: "
            f"--num-frames {args.num_frames}"
        )
    return evaluation.predict_video(
        model, args.video, class_names, top_k=args.top_k, protocol=args.protocol
    )
