"""Evaluates one model or an ensemble of `.keras` models on an annotated split.

Protocols: `1x1` (1 clip x 1 centre crop: Something-Something) and `10x3` (10 clips x
3 crops, left / centre / right, scores averaged: Kinetics-400, UCF101, HMDB51). An
ensemble (`--model a.keras b.keras`, e.g. the paper's 16-frame + 8-frame STW) averages
the models' scores; each model reads clips as it was trained: its own length, size and
the clip recipe saved with it (sampling, frame interval, short side, frame file names),
which a given `--sampling`, `--frame-interval`, `--short-side` or `--frame-template`
overrides, saying so. It reads every annotation
format `train.py` reads, through the same pipeline (`keras_stw.data.video_dataset`:
Grain without TensorFlow, tf.data with it), so any Keras backend works.

Prints top-1, top-5 and mean per-class accuracy, and writes `metrics.json` (per-class
accuracies included) and `confusion_matrix.png` to `--output-dir`. The models and the
label map are checked against each other before any video is read; with `--on-error
skip`, unreadable videos are left out of the metrics and counted. `--save-scores` also
writes `scores.npy`, each video's class scores in the annotation file's order.

Several processes (hosts) share the videos with the launch flags of `train.py`: on JAX
`--coordinator-address`, `--num-processes`, `--process-id` (or `--multi-host` under a
cluster JAX detects), on TensorFlow `--multi-host` with `TF_CONFIG` on every worker.
Process `p` of `P` scores videos `p * n / P` to `(p + 1) * n / P` of the list on its
first device, the scores are gathered in memory (no file passes between hosts), and
process 0 alone writes the files.

Example:
    python examples/evaluate.py --model runs/stw16/model.keras runs/stw8/model.keras \\
        --annotations val.txt --root videos --labels label_map.txt --protocol 10x3
"""

import argparse
import hashlib
import json
import os
import sys

import keras
import numpy as np

from keras_stw import cli, evaluation, training

# The values each numeric flag allows, as `check_number`'s arguments.
FLAG_RANGES = {"batch_size": {"low": 1}, **cli.LAUNCH_FLAG_RANGES, **cli.DATA_FLAG_RANGES}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", nargs="+", required=True, help="One or more .keras.")
    parser.add_argument("--annotations", "--list", help="The split to evaluate.")
    parser.add_argument("--protocol", choices=tuple(evaluation.PROTOCOLS), default="1x1")
    parser.add_argument("--batch-size", type=int, default=8, help="Videos per pass.")
    parser.add_argument("--output-dir", default="runs/evaluate")
    parser.add_argument(
        "--save-scores",
        action="store_true",
        help="Also write scores.npy: each video's class scores (NaN rows: skipped videos).",
    )
    cli.add_data_arguments(parser)
    cli.add_launch_arguments(parser)
    return parser.parse_args(argv)


def _digest(records) -> int:
    """63 bits of a hash of the videos' paths and labels, in order."""
    text = "\n".join(f"{record.path} {record.label}" for record in records)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def main(argv=None) -> dict | None:
    args = parse_args(argv)
    cli.check_flags(args, FLAG_RANGES)
    multi_host, launch = cli.launch_settings(args)
    # One process; under TensorFlow's workers, the scores are gathered in their scope.
    processes, parallel = training.Processes(0, 1), training.DataParallel(1, "one process")
    if multi_host and keras.backend.backend() == "tensorflow":
        # The workers of `TF_CONFIG`.
        parallel = training.data_parallel(True, **launch)
        processes = training.Processes(parallel.process_index, parallel.process_count)
    elif multi_host and keras.backend.backend() == "jax":
        processes = training.start_multi_host(**launch)
    elif multi_host:
        raise ValueError(
            "Evaluation over several processes needs the JAX or TensorFlow backend; "
            "elsewhere run it in one process, without the launch flags. Received: "
            f"--multi-host under backend {keras.backend.backend()!r}"
        )
    split = cli.read_split(args, "val", args.annotations)
    if split is None:
        raise SystemExit(f"error: --format {args.format} needs --annotations.")
    records, class_names = split
    # The loader of `python -m keras_stw predict`: a file that holds no clip model
    # is refused in one line naming it.
    models = [evaluation.load_clip_model(path) for path in args.model]
    saved_names = getattr(models[0], "class_names", None)
    if args.format == "list" and args.labels is None and saved_names is not None:
        class_names = list(saved_names)  # A list file's labels are numbers: name them.
    elif saved_names is not None and tuple(class_names) != tuple(saved_names):
        print(
            f"note: the labels of --format {args.format} override the class names saved "
            f"in {args.model[0]}.",
            file=sys.stderr,
        )
    specs = []
    for path, model in zip(args.model, models, strict=True):
        num_frames, image_size = evaluation.model_frames(model)
        if model.output_shape[-1] != len(class_names):
            raise ValueError(
                f"{path} predicts {model.output_shape[-1]} classes but the labels name "
                f"{len(class_names)}; use the label file the model was trained with."
            )
        specs.append(cli.clip_spec(args, getattr(model, "clip_spec", None)))
        recipe = f"{specs[-1].sampling} sampling, short side {specs[-1].short_side}"
        if specs[-1].sampling == "dense":
            recipe += f", frame interval {specs[-1].frame_interval}"
        print(f"{path}: {num_frames} frames of {image_size}x{image_size}, {recipe}")
    with parallel.scope:
        training.check_same_on_every_process(
            "list of videos (a digest of every path and label)",
            _digest(records),
            f"Every process must read the same annotations ({len(records)} videos here).",
        )
    # Each process scores its part of the videos; every process gets all the scores.
    part = evaluation.video_scores(
        models,
        processes.part(records),
        protocol=args.protocol,
        spec=specs,
        batch_size=args.batch_size,
        on_error=args.on_error,
        engine=args.engine,
        workers=args.workers,
    )
    with parallel.scope:
        scores = training.gather_rows(part)
    if processes.process_index != 0:
        print(f"Scored {len(part)} of {len(records)} videos; process 0 writes the metrics.")
        return None
    scored = ~np.isnan(scores).any(1)
    labels = np.array([r.label for r in records])
    metrics = evaluation.classification_metrics(scores[scored], labels[scored], class_names)
    os.makedirs(args.output_dir, exist_ok=True)
    png = evaluation.plot_confusion_matrix(
        metrics["confusion"], class_names, os.path.join(args.output_dir, "confusion_matrix.png")
    )
    report = {
        "models": args.model,
        "protocol": args.protocol,
        "videos": int(scored.sum()),
        "skipped_videos": [r.path for r, ok in zip(records, scored, strict=True) if not ok],
        **{k: v for k, v in metrics.items() if k != "confusion"},
        "confusion": metrics["confusion"].tolist(),
    }
    with open(os.path.join(args.output_dir, "metrics.json"), "w", encoding="utf-8") as file:
        json.dump(report, file, indent=2)
    if args.save_scores:
        np.save(os.path.join(args.output_dir, "scores.npy"), scores)
    print(
        f"{report['videos']} videos ({len(report['skipped_videos'])} skipped), protocol "
        f"{args.protocol}, {len(models)} model(s): top-1 {100 * metrics['top1']:.2f}%, "
        f"top-5 {100 * metrics['top5']:.2f}%, mean class accuracy "
        f"{100 * metrics['mean_class_accuracy']:.2f}%"
    )
    print(f"Saved {args.output_dir}/metrics.json and {png}")
    return report


if __name__ == "__main__":
    sys.exit(cli.run_program(main))
