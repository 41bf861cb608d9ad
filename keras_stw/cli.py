"""Command lines: `python -m keras_stw predict` and `convert`, and the programs' data options.

`examples/train.py` and `examples/evaluate.py` take their dataset options from
`add_data_arguments` and read their splits with `read_split`, so whatever one program
reads the other reads too.
"""

import argparse
import gc
import os
import re
import sys

from keras_stw.convert import convert_checkpoint
from keras_stw.data import (
    ENGINES,
    FORMATS,
    ON_ERROR,
    SAMPLINGS,
    AnnotationError,
    ClipSpec,
    DecodeError,
    annotation_format,
    frame_template_of,
    original_errors,
    read_annotations,
    read_label_map,
)
from keras_stw.evaluation.views import PROTOCOLS
from keras_stw.models.video_resnet import MIN_IMAGE_SIZE
from keras_stw.validation import check_number

__all__ = [
    "DATA_FLAG_RANGES",
    "LAUNCH_FLAG_RANGES",
    "RECIPE_FLAGS",
    "add_data_arguments",
    "add_launch_arguments",
    "check_flags",
    "clip_spec",
    "launch_settings",
    "main",
    "one_line",
    "read_split",
    "run_program",
]

# The values the numeric options of `add_data_arguments` allow, as `check_number`'s
# arguments.
DATA_FLAG_RANGES = {
    "split": {"low": 1},
    "short_side": {"low": 1},
    "frame_interval": {"low": 1},
    "workers": {"low": 0},
}

# The values the options of `add_launch_arguments` allow, as `check_number`'s arguments.
LAUNCH_FLAG_RANGES = {"num_processes": {"low": 1}, "process_id": {"low": 0}}

# The options that set fields of the clip recipe, `ClipSpec`: left out, a program takes
# them from the model (the recipe saved with it), else from `ClipSpec`'s defaults.
RECIPE_FLAGS = ("short_side", "sampling", "frame_interval", "frame_template")

# Errors whose message says what is wrong; others also name their type.
_EXPECTED_ERRORS = (OSError, ValueError, DecodeError, AnnotationError)


def main(argv=None) -> int:
    """Runs a `python -m keras_stw` command; returns the exit status.

    `predict` prints a video's top classes; `convert` turns a PyTorch ResNet checkpoint
    (torchvision, TSM, mmaction2) into a `.keras` zoo model and prints what it matched.
    Any bad input (a missing, empty or undecodable video, a model file that cannot
    be loaded or is no clip model, a label map that does not match, a checkpoint that
    does not fit the model, a bad option value) gives one line on stderr and status 1,
    never a traceback.

    Args:
        argv: list of str. Arguments without the program name. Defaults to
            `sys.argv[1:]`.

    Returns:
        0 on success, 1 on an error (printed to stderr as one line).

    Example:
    >>> main(["predict", "demo.mp4", "--model", "model.keras"])
    >>> main(["convert", "tsm_k400.pth", "--model", "tsm_resnet50", "--out", "tsm.keras"])
    """
    parser = argparse.ArgumentParser(prog="python -m keras_stw")
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser("predict", help="Top-5 classes of a video.")
    predict.add_argument("video", help="Video file or JPEG frame folder.")
    predict.add_argument("--model", required=True, help="A .keras clip model.")
    predict.add_argument("--labels", help="Label map. Default: the model's class names.")
    predict.add_argument("--num-frames", type=int, help="Check the model's clip length.")
    predict.add_argument("--protocol", choices=tuple(PROTOCOLS), default="1x1")
    predict.add_argument("--top-k", type=int, default=5, help="Classes shown, at least 1.")
    _add_recipe_arguments(predict)
    convert = commands.add_parser("convert", help="A PyTorch ResNet checkpoint as .keras.")
    convert.add_argument("checkpoint", help="A .pth, .safetensors or .npz state dict.")
    convert.add_argument("--model", required=True, help="A zoo name, e.g. tsm_resnet50.")
    convert.add_argument("--out", required=True, help="The .keras file to write.")
    convert.add_argument("--num-classes", type=int, help="Default: the checkpoint's.")
    convert.add_argument("--num-frames", type=int, default=8)
    convert.add_argument("--image-size", type=int, default=224)
    convert.add_argument(
        "--backbone-only", action="store_true", help="The ResNet only; a new classifier."
    )
    convert.add_argument("--verbose", action="store_true", help="List every matched key.")
    args = parser.parse_args(argv)
    run = {"predict": _predict, "convert": _convert}[args.command]
    try:
        lines = run(args)
    except Exception as error:  # The command's contract: one line, never a traceback.
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


def run_program(main, argv=None) -> int:
    """Runs a program's `main`; bad input ends it with one line and status 1.

    Errors about the input (files, annotations, videos, arguments) print `error: ...`
    on one line, without a traceback, however deep they were raised: in a `tf.data`
    pipeline too (see `keras_stw.data.original_errors`). Anything else is a bug, and
    keeps its traceback.

    Args:
        main: callable taking `argv`.
        argv: list of str. The program's arguments. Defaults to `None`:
            `sys.argv[1:]`.

    Returns:
        The exit status: 0, or 1 after bad input.

    Example:
    >>> if __name__ == "__main__":
    ...     sys.exit(run_program(main))
    """
    try:
        with original_errors():
            main(argv)
        status = 0
    except _EXPECTED_ERRORS as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        status = 1
    # The run's dataset iterators sit in reference cycles. Collected now, while the
    # interpreter is whole, they stop their threads and worker processes and free
    # their shared memory; at exit, tf.data's threads would abort the process
    # (SIGABRT) and Grain's prefetched batches would be reported as leaked.
    gc.collect()
    return status


def one_line(error: Exception) -> str:
    """A one-line message for an error: its first line, or the class Keras cannot find.

    Keras's message for a `.keras` file naming an unknown class quotes the whole
    model config: the class's name is what the reader needs.

    Args:
        error: the exception.

    Returns:
        str.

    Example:
    >>> one_line(ValueError("first line\\nsecond line"))
    'first line'
    """
    message = str(error)
    unknown = re.search(r"Could not locate (?:class|function) '([^']+)'", message)
    if unknown:
        return f"unknown class {unknown.group(1)!r} (from a package that is not imported?)"
    lines = message.strip().splitlines()
    first = lines[0] if lines else type(error).__name__
    return first if isinstance(error, _EXPECTED_ERRORS) else f"{type(error).__name__}: {first}"


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the dataset options of the programs: format, files, sampling, loader.

    Args:
        parser: the program's `argparse.ArgumentParser`.

    Example:
    >>> parser = argparse.ArgumentParser()
    >>> add_data_arguments(parser)
    >>> args = parser.parse_args(["--format", "sthv1", "--labels", "labels.csv"])
    """
    group = parser.add_argument_group("data")
    group.add_argument("--format", choices=FORMATS, default="list")
    group.add_argument("--labels", help="Label file (list and kinetics: optional).")
    group.add_argument("--root", default="", help="Folder the annotation paths are in.")
    group.add_argument("--splits-dir", help="UCF101 / HMDB51 split files.")
    group.add_argument("--split", type=int, default=1, help="UCF101 / HMDB51 split.")
    _add_recipe_arguments(group)
    group.add_argument("--on-error", choices=ON_ERROR, default="raise")
    group.add_argument("--engine", choices=ENGINES, default="auto")
    group.add_argument("--workers", type=int, help="Decoding processes (Grain) or threads.")


def add_launch_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options that join the processes of a multi-host run (see `launch_settings`).

    Args:
        parser: the program's `argparse.ArgumentParser`.

    Example:
    >>> parser = argparse.ArgumentParser()
    >>> add_launch_arguments(parser)
    >>> args = parser.parse_args(["--num-processes", "2", "--process-id", "1"])
    """
    group = parser.add_argument_group("several processes")
    group.add_argument("--multi-host", action="store_true", help="Several processes (hosts).")
    group.add_argument("--coordinator-address", help="HOST:PORT of process 0 (--multi-host).")
    group.add_argument("--num-processes", type=int, help="Processes of a --multi-host run.")
    group.add_argument("--process-id", type=int, help="This process, 0 to --num-processes - 1.")


def launch_settings(args: argparse.Namespace) -> tuple[bool, dict]:
    """Whether the options of `add_launch_arguments` ask for several processes, and how.

    Any of the three launch flags implies `--multi-host`.

    Args:
        args: the parsed options.

    Returns:
        `(multi_host, settings)`: a bool, and the keyword arguments of
        `keras_stw.training.start_multi_host` (`None` where not given).

    Example:
    >>> launch_settings(argparse.Namespace(multi_host=False, coordinator_address=None,
    ...     num_processes=2, process_id=1))
    (True, {'coordinator_address': None, 'num_processes': 2, 'process_id': 1})
    """
    settings = {
        "coordinator_address": args.coordinator_address,
        "num_processes": args.num_processes,
        "process_id": args.process_id,
    }
    return args.multi_host or any(v is not None for v in settings.values()), settings


def _add_recipe_arguments(group):
    """The `RECIPE_FLAGS`: unset (`None`) unless given, so a given one can be told apart."""
    saved = "Default: the model's recipe, else"
    group.add_argument("--frame-template", help=f"{saved} the format's frame file names.")
    group.add_argument("--short-side", type=int, help=f"{saved} 256.")
    group.add_argument("--sampling", choices=SAMPLINGS, help=f"{saved} segment.")
    group.add_argument("--frame-interval", type=int, help=f"Dense sampling. {saved} 1.")


def check_flags(args: argparse.Namespace, ranges: dict) -> None:
    """Refuses, by flag name, any value no run can mean, before anything is read.

    Args:
        args: the parsed options.
        ranges: dict. Option name (`"batch_size"`) -> `check_number`'s keyword arguments;
            an option of several values (`--stages 2 3`) has each one checked, an unset
            one (`None`) none.

    Example:
    >>> check_flags(argparse.Namespace(batch_size=0), {"batch_size": {"low": 1}})
    Traceback (most recent call last):
    ValueError: `--batch-size` must be a number in [1, inf). Received: --batch-size=0
    """
    for name, allowed in ranges.items():
        values = getattr(args, name)
        for value in values if isinstance(values, list) else [values]:
            if value is not None:
                check_number(f"--{name.replace('_', '-')}", value, **allowed)


def read_split(args: argparse.Namespace, subset: str, annotation_file: str | None):
    """Reads a split with the options of `add_data_arguments`, or `None`.

    Args:
        args: the parsed options.
        subset: str. `"train"` or `"val"`.
        annotation_file: str. The split's annotation file. For a `"val"` split,
            `None` means none: the result is `None`, except for UCF101 and HMDB51,
            whose splits are in `--splits-dir`.

    Returns:
        `Annotations`, or `None`.

    Example:
    >>> train = read_split(args, "train", args.train_annotations)
    """
    split_folder = annotation_format(args.format).split_folder
    if subset == "val" and annotation_file is None and not split_folder:
        return None
    return read_annotations(
        args.format,
        subset,
        annotation_file=annotation_file,
        labels=args.labels,
        root=args.root,
        splits_dir=args.splits_dir,
        split=args.split,
    )


def clip_spec(args: argparse.Namespace, recipe: ClipSpec | None = None, **fields) -> ClipSpec:
    """The `ClipSpec` of a saved recipe and the `RECIPE_FLAGS` given, with other `fields`.

    A flag left out takes the recipe's value; a flag given wins, and when it disagrees
    with the recipe the program says so on stderr, in one line. Without a recipe (a
    new run, a model saved by keras-stw 0.1.0), flags left out take `ClipSpec`'s
    defaults, and the frame file names those of `--format`.

    Args:
        args: the parsed options: `--short-side`, `--sampling`, `--frame-interval` and
            `--frame-template`, `None` when not given.
        recipe: `ClipSpec`. The recipe saved with the model or the run. Defaults to
            `None`.
        **fields: the program's own `ClipSpec` fields, e.g. `num_frames=8,
            training=True`.

    Returns:
        `ClipSpec`.

    Example:
    >>> spec = clip_spec(args, num_frames=args.num_frames, training=True)
    >>> spec = clip_spec(args, model.clip_spec)
    """
    base = recipe or ClipSpec(frame_template=frame_template_of(getattr(args, "format", "")))
    given = {name: getattr(args, name) for name in RECIPE_FLAGS if getattr(args, name) is not None}
    for name, value in given.items():
        if recipe is not None and value != getattr(recipe, name):
            print(
                f"note: --{name.replace('_', '-')} {value} overrides the saved recipe's "
                f"{name}={getattr(recipe, name)!r}.",
                file=sys.stderr,
            )
    return base.replace(**given, **fields)


def _check_flag(flag, value, minimum, why=""):
    if value is not None and value < minimum:
        raise ValueError(f"{flag} must be at least {minimum}{why}. Received: {flag} {value}")


def _predict(args):
    _check_flag("--top-k", args.top_k, 1)
    _check_flag("--num-frames", args.num_frames, 1)
    check_flags(args, {name: DATA_FLAG_RANGES[name] for name in ("short_side", "frame_interval")})
    if args.labels is not None and not os.path.exists(args.labels):
        raise FileNotFoundError(f"{args.labels}: no such label map file.")
    if not os.path.exists(args.video):
        raise FileNotFoundError(f"{args.video}: no such video file or frame folder.")
    # Imported here so that argument errors come back without loading Keras.
    import keras_stw  # noqa: F401  (registers the custom layers for loading)
    from keras_stw import evaluation

    model = evaluation.load_clip_model(args.model)
    num_frames, _ = evaluation.model_frames(model)
    if args.num_frames is not None and args.num_frames != num_frames:
        raise ValueError(
            f"{args.model} takes clips of {num_frames} frames. Received: "
            f"--num-frames {args.num_frames}"
        )
    class_names = _class_names(args.labels, model, args.model)
    spec = clip_spec(args, getattr(model, "clip_spec", None))
    predictions = evaluation.predict_video(
        model, args.video, class_names, top_k=args.top_k, protocol=args.protocol, spec=spec
    )
    width = max(len(name) for name, _ in predictions)
    return [f"{name:<{width}}  {score:.4f}" for name, score in predictions]


def _class_names(labels, model, model_path):
    """The label map's class names if given (it wins, and says so), else the model's."""
    saved = getattr(model, "class_names", None)
    if labels is None:
        if saved is None:
            raise ValueError(
                f"{model_path} was saved without class names (keras-stw 0.1.0?): "
                "pass --labels, the label map it was trained with."
            )
        return list(saved)
    class_names = read_label_map(labels)
    if saved is not None and tuple(class_names) != tuple(saved):
        print(
            f"note: --labels {labels} overrides the class names saved in {model_path}.",
            file=sys.stderr,
        )
    return class_names


def _convert(args):
    _check_flag("--image-size", args.image_size, MIN_IMAGE_SIZE, " (the ResNet downsamples 32x)")
    _check_flag("--num-frames", args.num_frames, 1)
    _check_flag("--num-classes", args.num_classes, 1)
    if not args.out.endswith(".keras"):
        raise ValueError(f"--out must name a .keras file. Received: --out {args.out}")
    if not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
        raise FileNotFoundError(f"{args.out}: its folder does not exist.")
    model, report = convert_checkpoint(
        args.checkpoint,
        args.model,
        num_classes=args.num_classes,
        backbone_only=args.backbone_only,
        num_frames=args.num_frames,
        image_shape=(args.image_size, args.image_size, 3),
    )
    model.save(args.out)
    lines = report.lines()
    if args.verbose:
        lines += [f"  {key} -> {path}" for key, path in report.matched.items()]
    frames = f"{model.num_frames} frames of {args.image_size}x{args.image_size}"
    return [*lines, f"saved: {args.out} ({model.name}, {frames}, {model.num_classes} classes)"]
