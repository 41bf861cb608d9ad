"""Evaluates one model or an ensemble of `.keras` models on a labelled video list.

Protocols: `1x1` (1 clip x 1 centre crop: Something-Something) and `10x3` (10 clips x
3 crops, left / centre / right, scores averaged: Kinetics-400, UCF101, HMDB51). An
ensemble (`--model a.keras b.keras`, e.g. the paper's 16-frame + 8-frame STW) averages
the models' scores; each model reads clips of its own length. Prints top-1, top-5 and
mean per-class accuracy, and writes `metrics.json` (per-class accuracies included) and
`confusion_matrix.png` to `--output-dir`. Decoding is TF-free (OpenCV), so any Keras
backend works.

Example:
    python examples/evaluate.py --model runs/stw16/model.keras runs/stw8/model.keras \\
        --list val.txt --root videos --labels label_map.txt --protocol 1x1
"""

import argparse
import json
import os

import keras

from keras_stw import data, evaluation


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", nargs="+", required=True, help="One or more .keras.")
    parser.add_argument("--list", required=True, help="List: `path [num_frames] label`.")
    parser.add_argument("--root", default="", help="Folder the list's paths are in.")
    parser.add_argument("--labels", required=True, help="Label map, one class a line.")
    parser.add_argument("--protocol", choices=tuple(evaluation.PROTOCOLS), default="1x1")
    parser.add_argument("--short-side", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--frame-template", default="img_{:05d}.jpg")
    parser.add_argument("--output-dir", default="runs/evaluate")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    class_names = data.read_label_map(args.labels)
    records, _ = data.read_list(args.list, root=args.root, class_names=class_names)
    models = [keras.saving.load_model(path) for path in args.model]
    for path, model in zip(args.model, models, strict=True):
        num_frames, image_size = evaluation.model_frames(model)
        print(f"{path}: {num_frames} frames of {image_size}x{image_size}")
    scores = evaluation.video_scores(
        models,
        [r.path for r in records],
        protocol=args.protocol,
        short_side=args.short_side,
        batch_size=args.batch_size,
        totals=[r.num_frames for r in records],
        frame_template=args.frame_template,
    )
    metrics = evaluation.classification_metrics(scores, [r.label for r in records], class_names)
    os.makedirs(args.output_dir, exist_ok=True)
    png = evaluation.plot_confusion_matrix(
        metrics["confusion"], class_names, os.path.join(args.output_dir, "confusion_matrix.png")
    )
    report = {
        "models": args.model,
        "protocol": args.protocol,
        "videos": len(records),
        **{k: v for k, v in metrics.items() if k != "confusion"},
        "confusion": metrics["confusion"].tolist(),
    }
    with open(os.path.join(args.output_dir, "metrics.json"), "w", encoding="utf-8") as file:
        json.dump(report, file, indent=2)
    print(
        f"{len(records)} videos, protocol {args.protocol}, {len(models)} model(s): "
        f"top-1 {100 * metrics['top1']:.2f}%, top-5 {100 * metrics['top5']:.2f}%, "
        f"mean class accuracy {100 * metrics['mean_class_accuracy']:.2f}%"
    )
    print(f"Saved {args.output_dir}/metrics.json and {png}")
    return report


if __name__ == "__main__":
    main()
