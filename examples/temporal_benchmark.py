"""The temporal benchmark: TSN, TSM, STFM only, TWM only and STW on time-reversal pairs.

Generates `keras_stw.data.write_synthetic_dataset` (classes in time-reversal pairs:
"moving left to right" is "moving right to left" played backwards), trains the five
models of the paper's Table 6 with the same backbone, data and budget, and prints one
table: top-1, within-pair order accuracy, GFLOPs, parameters and training time. Every
video has exactly `--num-frames` frames and clips take all of them, so TSN, which
averages per-frame scores, sees the same frames for a video and its reverse: it can find
the pair but not the order, and its order accuracy is at chance (50%).

The data path is TF-free (OpenCV decoding into numpy arrays, `model.fit` on arrays), so
the program runs on any Keras backend. The backbone is KerasCV's narrow ResNet when
TensorFlow is importable and Keras Applications' ResNet-50 otherwise.

Results go to `--output-dir` as they come: `results.json` and `results.md` after each
model, `results.png` (a bar chart) at the end, so a run stopped early keeps what it
finished.

Usage:
    python examples/temporal_benchmark.py                 # ~11 min on 2 CPU cores
    KERAS_BACKEND=jax python examples/temporal_benchmark.py --full   # GPU: ResNet-50, 224
"""

import argparse
import dataclasses
import importlib.util
import json
import os
import time

import keras
import numpy as np

import keras_stw
from keras_stw import data

# The rows of the paper's Table 6: row -> (registered model family, block options); the
# model is `keras_stw.create_model(f"{family}_resnet{depth}", ...)`.
MODELS = {
    "TSN": ("tsn", {}),
    "TSM": ("tsm", {}),
    "STFM only": ("stw", {"combination": "stfm"}),
    "TWM only": ("stw", {"combination": "twm"}),
    "STW": ("stw", {}),
}


@dataclasses.dataclass
class Config:
    """One benchmark size: data, backbone and training budget."""

    size: int
    num_frames: int
    num_classes: int
    videos_per_class: int
    depth: int
    base_width: int
    epochs: int
    batch_size: int
    learning_rate: float
    mixed_precision: bool


SMALL = Config(
    size=32,
    num_frames=8,
    num_classes=8,
    videos_per_class=150,
    depth=26,
    base_width=8,
    epochs=12,
    batch_size=16,
    learning_rate=0.05,
    mixed_precision=False,
)
# ResNet-50 at 224 for one GPU. On an H200 (JAX, bf16) one model takes about 75 s, XLA
# compile included, and these settings gave STW 98.0% and TSN 33.0% top-1
# (benchmarks/results/temporal_benchmark_full_h200/); with 15 epochs at learning rate 0.02
# every model stayed at chance.
FULL = Config(
    size=224,
    num_frames=8,
    num_classes=8,
    videos_per_class=100,
    depth=50,
    base_width=64,
    epochs=40,
    batch_size=16,
    learning_rate=0.005,
    mixed_precision=True,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="ResNet-50 at 224, bf16 (GPU).")
    parser.add_argument("--output-dir", default="runs/temporal_benchmark")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--size", type=int, help="Frame height and width.")
    parser.add_argument("--num-frames", type=int)
    parser.add_argument("--num-classes", type=int, help="Even, 2 to 16.")
    parser.add_argument("--videos-per-class", type=int)
    parser.add_argument("--depth", type=int, help="ResNet depth (26 needs KerasCV).")
    parser.add_argument("--base-width", type=int, help="First-stage filters (KerasCV).")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--backbone", choices=("keras_cv", "keras"), help="Default: auto.")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def make_config(args) -> Config:
    base = FULL if args.full else SMALL
    changes = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(Config)
        if getattr(args, field.name, None) is not None
    }
    return dataclasses.replace(base, **changes)


def default_backbone() -> str:
    """KerasCV (narrow, shallow ResNets) needs TensorFlow; Keras Applications does not."""
    has_tf = importlib.util.find_spec("tensorflow") and importlib.util.find_spec("keras_cv")
    return "keras_cv" if has_tf else "keras"


def load_arrays(dataset: data.SyntheticDataset, subset: str, num_frames: int):
    """Decodes a split into uint8 clips `(N, T, H, W, 3)` and int labels, TF-free."""
    records, _ = dataset.read(subset)
    clips = [
        data.load_clip(r.path, num_frames=num_frames, training=False, total=r.num_frames)
        for r in records
    ]
    return np.stack(clips), np.array([r.label for r in records], "int32")


def build_model(name: str, config: Config, backbone: str) -> keras.Model:
    family, options = MODELS[name]
    return keras_stw.create_model(
        f"{family}_resnet{config.depth}",
        num_frames=config.num_frames,
        num_classes=config.num_classes,
        image_shape=(config.size, config.size, 3),
        backbone=backbone,
        base_width=config.base_width,
        dropout=0.0,
        **options,
    )


def train_and_score(name, config, backbone, train, val, seed) -> dict:
    """Trains one model from scratch and measures it on the validation split."""
    keras.utils.set_random_seed(seed)
    model = build_model(name, config, backbone)
    steps_per_epoch = -(-len(train[0]) // config.batch_size)
    # Cosine decay: the same smooth schedule for every model, short budgets included.
    schedule = keras.optimizers.schedules.CosineDecay(
        config.learning_rate, config.epochs * steps_per_epoch
    )
    model.compile(
        optimizer=keras.optimizers.SGD(schedule, momentum=0.9, weight_decay=5e-4),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    model.fit(
        train[0],
        train[1],
        batch_size=config.batch_size,
        epochs=config.epochs,
        shuffle=True,
        verbose=2,
    )
    train_seconds = time.perf_counter() - start
    scores = model.predict(val[0], batch_size=config.batch_size, verbose=0)
    predicted = scores.argmax(-1)
    labels = val[1]
    same_pair = predicted // 2 == labels // 2
    return {
        "model": name,
        "top1": float(np.mean(predicted == labels)),
        "pair_accuracy": float(np.mean(same_pair)),
        # Among videos whose pair is right: is the direction in time right?
        "order_accuracy": float(np.mean(predicted[same_pair] == labels[same_pair]))
        if same_pair.any()
        else 0.0,
        "gflops": keras_stw.count_flops(model) / 1e9,
        "params": int(model.count_params()),
        "train_seconds": train_seconds,
    }


def markdown_table(rows, header) -> str:
    lines = [
        header,
        "",
        "| model | top-1 (%) | order acc. (%) | pair acc. (%) | GFLOPs | params | train time (s) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {100 * r['top1']:.1f} | {100 * r['order_accuracy']:.1f} | "
            f"{100 * r['pair_accuracy']:.1f} | {r['gflops']:.3f} | {r['params']:,} | "
            f"{r['train_seconds']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def save_results(output_dir, rows, meta):
    with open(os.path.join(output_dir, "results.json"), "w", encoding="utf-8") as file:
        json.dump({"config": meta, "results": rows}, file, indent=2)
    header = (
        f"Temporal benchmark ({meta['backend']} backend, {meta['backbone']} ResNet-"
        f"{meta['depth']}, {meta['size']}x{meta['size']}, {meta['num_frames']} frames, "
        f"{meta['num_classes']} classes, {meta['train_videos']} train / "
        f"{meta['val_videos']} val videos, {meta['epochs']} epochs). Chance: top-1 "
        f"{100 / meta['num_classes']:.1f}%, order 50%.\n\nCommand: `{meta['command']}`"
    )
    table = markdown_table(rows, header)
    with open(os.path.join(output_dir, "results.md"), "w", encoding="utf-8") as file:
        file.write(table)
    return table


def save_chart(output_dir, rows, num_classes):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    names = [r["model"] for r in rows]
    positions = np.arange(len(rows))
    figure, axis = plt.subplots(figsize=(7, 4))
    axis.bar(positions - 0.2, [100 * r["top1"] for r in rows], 0.4, label="top-1")
    axis.bar(positions + 0.2, [100 * r["order_accuracy"] for r in rows], 0.4, label="order")
    axis.axhline(100 / num_classes, color="gray", linestyle=":", label="top-1 chance")
    axis.axhline(50, color="black", linestyle="--", label="order chance")
    axis.set_xticks(positions, names)
    axis.set_ylabel("validation accuracy (%)")
    axis.set_ylim(0, 100)
    axis.set_title("Time-reversal pairs: who sees the arrow of time?")
    axis.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    path = os.path.join(output_dir, "results.png")
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def main(argv=None):
    args = parse_args(argv)
    config = make_config(args)
    backbone = args.backbone or default_backbone()
    if backbone == "keras" and config.depth not in (50, 101, 152):
        # Keras Applications has no ResNet-26 and a fixed width.
        config = dataclasses.replace(config, depth=50, base_width=64)
    if config.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    os.makedirs(args.output_dir, exist_ok=True)
    wall_start = time.perf_counter()

    print(f"Writing the synthetic dataset ({config})...", flush=True)
    dataset = data.write_synthetic_dataset(
        os.path.join(args.output_dir, "data"),
        num_classes=config.num_classes,
        videos_per_class=config.videos_per_class,
        num_frames=config.num_frames,
        size=config.size,
        seed=args.seed,
    )
    train = load_arrays(dataset, "train", config.num_frames)
    val = load_arrays(dataset, "val", config.num_frames)
    print(
        f"{len(train[0])} train / {len(val[0])} val clips of shape {train[0].shape[1:]}, "
        f"{time.perf_counter() - wall_start:.0f}s",
        flush=True,
    )
    meta = {
        **dataclasses.asdict(config),
        "backbone": backbone,
        "backend": keras.backend.backend(),
        "train_videos": len(train[0]),
        "val_videos": len(val[0]),
        "command": "python examples/temporal_benchmark.py" + (" " + " ".join(argv) if argv else ""),
    }
    rows = []
    for name in args.models:
        print(f"\n=== {name} ===", flush=True)
        rows.append(train_and_score(name, config, backbone, train, val, args.seed))
        table = save_results(args.output_dir, rows, meta)
        print(
            f"{name}: top-1 {100 * rows[-1]['top1']:.1f}%, order "
            f"{100 * rows[-1]['order_accuracy']:.1f}% "
            f"({time.perf_counter() - wall_start:.0f}s elapsed)",
            flush=True,
        )
    meta["wall_seconds"] = time.perf_counter() - wall_start
    table = save_results(args.output_dir, rows, meta)
    chart = save_chart(args.output_dir, rows, config.num_classes)
    print("\n" + table)
    print(f"Saved {args.output_dir}/results.md, results.json and {chart}")
    print(f"Total wall time: {meta['wall_seconds']:.0f}s")
    return rows


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
