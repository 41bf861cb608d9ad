"""The temporal benchmark: TSN, TSM, STFM only, TWM only and STW, several seeds each.

Generates `keras_stw.data.write_synthetic_dataset(task="temporal")`: twelve classes in
six pairs that single frames cannot tell apart (rotation direction, approaching /
receding, which of two events comes first, speeding up / slowing down, one swing or
two, there and back / one way), on a panning textured background with two distractors.
It trains the models of the paper's Table 6 with the same backbone, data and budget,
each with several seeds (the seed sets initialization and data order; the data stay
fixed), and prints one table: mean +- standard deviation over seeds of top-1, order
accuracy (within the four time-reversal pairs), tempo accuracy (within the two other
pairs), GFLOPs, parameters and training time, then which orderings the spread
supports. Every video has exactly `--num-frames` frames and clips take all of them, so
TSN, which averages per-frame scores, sees the same frames for a video and its reverse:
its order accuracy is at chance (50%) by construction.

The data path is TF-free (OpenCV decoding into numpy arrays, `model.fit` on arrays), so
the program runs on any Keras backend. The backbone is KerasCV's narrow ResNet when
TensorFlow is importable and Keras Applications' ResNet-50 otherwise.

Results go to `--output-dir` as they come: `results.json` (every run, per seed, and the
summary) and `results.md` after each run, `results.png` (mean, spread and every seed) at
the end, so a run stopped early keeps what it finished. `--shard k/n` runs the k-th of
n consecutive slices of the (model, seed) runs, for one process per GPU, and
`--combine DIR ...` merges their `results.json` into one table, chart and JSON.

Usage:
    python examples/temporal_benchmark.py                 # 2 CPU cores: TSN, TSM, STW x 3
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
from keras_stw import data, training

# The rows of the paper's Table 6, in its order (SSv1 top-1: TSN 19.7, TWM only 41.9,
# TSM 42.1, STFM only 42.6, STW 46.3): row -> (registered model family, block options);
# the model is the family's at the benchmark's depth, `keras_stw.list_models(family=, depth=)`.
MODELS = {
    "TSN": ("tsn", {}),
    "TWM only": ("stw", {"combination": "twm"}),
    "TSM": ("tsm", {}),
    "STFM only": ("stw", {"combination": "stfm"}),
    "STW": ("stw", {}),
}
PAPER_TOP1 = {"TSN": 19.7, "TWM only": 41.9, "TSM": 42.1, "STFM only": 42.6, "STW": 46.3}


@dataclasses.dataclass
class Config:
    """One benchmark size: data, backbone, training budget and the models it runs."""

    size: int
    num_frames: int
    num_classes: int
    videos_per_class: int
    val_fraction: float
    depth: int
    base_width: int
    epochs: int
    batch_size: int
    learning_rate: float
    warmup_epochs: int
    mixed_precision: bool
    data_workers: int
    models: tuple[str, ...]
    seeds: tuple[int, ...]


# 2 CPU cores. Long enough that every temporal seed has left the steep part of its
# learning curve: at 720 training videos and 8 epochs at lr 0.05 the seeds of one model
# were up to 28 points apart, and at these videos and 4 epochs STW's mean moved 7.6
# points between oneDNN off and on (README, "What varies from CPU to CPU").
SMALL = Config(
    size=32,
    num_frames=8,
    num_classes=12,
    videos_per_class=180,
    val_fraction=0.25,
    depth=26,
    base_width=8,
    epochs=6,
    batch_size=16,
    learning_rate=0.02,
    warmup_epochs=1,
    mixed_precision=False,
    data_workers=1,
    models=("TSN", "TSM", "STW"),
    seeds=(0, 1, 2),
)
# ResNet-50 at 224 for GPUs: scripts/temporal_benchmark_2gpus.sh runs it as two processes,
# one a GPU. On H200s (JAX, bf16) writing and reading the data took about 34 s, a model's
# first seed 80 to 110 s (with compilation) and each further seed 55 to 65 s
# (benchmarks/results/temporal_benchmark_full_h200/run5_1200_videos/): about 11 minutes
# for the 15 runs on two GPUs. 150 videos a class, a third for validation: 600 training
# videos left the seeds 5 to 7.5 points apart (run3), 2,400 took TSM to 97.8% (run4).
FULL = Config(
    size=224,
    num_frames=8,
    num_classes=12,
    videos_per_class=150,
    val_fraction=1 / 3,
    depth=50,
    base_width=64,
    epochs=20,
    batch_size=16,
    learning_rate=0.005,
    warmup_epochs=1,
    mixed_precision=True,
    data_workers=8,
    models=tuple(MODELS),
    seeds=(0, 1, 2),
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="ResNet-50 at 224, bf16 (GPU).")
    parser.add_argument("--output-dir", default="runs/temporal_benchmark")
    parser.add_argument("--models", nargs="+", choices=list(MODELS))
    parser.add_argument("--seeds", nargs="+", type=int, help="Initialization / order seeds.")
    parser.add_argument("--shard", help="k/n: run the k-th (0-based) of n slices of the runs.")
    parser.add_argument("--combine", nargs="+", metavar="DIR", help="Merge these runs.")
    parser.add_argument("--size", type=int, help="Frame height and width.")
    parser.add_argument("--num-frames", type=int)
    parser.add_argument("--num-classes", type=int, help="Even, 2 to 12.")
    parser.add_argument("--videos-per-class", type=int, help="Train and validation.")
    parser.add_argument("--val-fraction", type=float)
    parser.add_argument("--depth", type=int, help="ResNet depth (26 needs KerasCV).")
    parser.add_argument("--base-width", type=int, help="First-stage filters (KerasCV).")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--warmup-epochs", type=int, help="Linear warm-up from 0.")
    parser.add_argument("--data-workers", type=int, help="Processes writing the videos.")
    parser.add_argument("--backbone", choices=("keras_cv", "keras"), help="Default: auto.")
    parser.add_argument("--data-seed", type=int, default=0, help="Seed of the dataset.")
    return parser.parse_args(argv)


def make_config(args) -> Config:
    base = FULL if args.full else SMALL
    changes = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(Config)
        if getattr(args, field.name, None) is not None
    }
    for name in ("models", "seeds"):
        if name in changes:
            changes[name] = tuple(changes[name])
    config = dataclasses.replace(base, **changes)
    if not 0 <= config.warmup_epochs < config.epochs:
        raise ValueError(
            "`--warmup-epochs` must be from 0 to `--epochs` - 1. Received: "
            f"warmup_epochs={config.warmup_epochs}, epochs={config.epochs}"
        )
    return config


def shard_runs(runs: list, shard: str | None) -> list:
    """The `k`-th of `n` consecutive slices of `runs` (`shard="k/n"`), sizes within 1.

    Consecutive, so that one process runs the seeds of a model one after the other.
    """
    if shard is None:
        return runs
    k, n = (int(part) for part in shard.split("/"))
    if not 0 <= k < n:
        raise ValueError(f"`--shard` must be k/n with 0 <= k < n. Received: {shard}")
    bounds = np.linspace(0, len(runs), n + 1).round().astype(int)
    return runs[bounds[k] : bounds[k + 1]]


def default_backbone() -> str:
    """KerasCV (narrow, shallow ResNets) needs TensorFlow; Keras Applications does not."""
    has_tf = importlib.util.find_spec("tensorflow") and importlib.util.find_spec("keras_cv")
    return "keras_cv" if has_tf else "keras"


def load_arrays(dataset: data.SyntheticDataset, subset: str, num_frames: int):
    """Decodes a split into uint8 clips `(N, T, H, W, 3)` and int labels, TF-free."""
    records, _ = dataset.read(subset)
    clips = [
        data.load_clip(r.path, num_frames=num_frames, training=False, total=r.total_frames)
        for r in records
    ]
    return np.stack(clips), np.array([r.label for r in records], "int32")


def build_model(name: str, config: Config, backbone: str) -> keras.Model:
    family, options = MODELS[name]
    (model_name,) = keras_stw.list_models(family=family, depth=config.depth)
    return keras_stw.create_model(
        model_name,
        num_frames=config.num_frames,
        num_classes=config.num_classes,
        image_shape=(config.size, config.size, 3),
        backbone=backbone,
        base_width=config.base_width,
        dropout=0.0,
        **options,
    )


def within_pair_accuracy(predicted, labels, classes) -> float:
    """Among videos of `classes` whose pair is right: is the class within it right?"""
    chosen = np.isin(labels, classes) & (predicted // 2 == labels // 2)
    return float(np.mean(predicted[chosen] == labels[chosen])) if chosen.any() else 0.0


def train_and_score(name, config, backbone, train, val, seed, reversal_pairs) -> dict:
    """Trains one model from scratch with `seed` and measures it on the validation split."""
    keras.utils.set_random_seed(seed)
    model = build_model(name, config, backbone)
    steps_per_epoch = -(-len(train[0]) // config.batch_size)
    # Linear warm-up, then cosine decay: the same smooth schedule for every model.
    warmup_steps = config.warmup_epochs * steps_per_epoch
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0,
        config.epochs * steps_per_epoch - warmup_steps,
        warmup_target=config.learning_rate,
        warmup_steps=warmup_steps,
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
    # The moving statistics of batch norm lag the weights; with TWM's gates they can
    # describe a different network and inference collapses to one class (README).
    # Shuffled, as in training: the arrays are sorted by class. At most 50 batches: the
    # averages have settled by then, and training-mode calls run eagerly (slow).
    order = np.random.default_rng(seed).permutation(len(train[0]))[: 50 * config.batch_size]
    training.recalibrate_batch_norm(model, train[0][order], config.batch_size)
    train_seconds = time.perf_counter() - start
    scores = model.predict(val[0], batch_size=config.batch_size, verbose=0)
    predicted = scores.argmax(-1)
    labels = val[1]
    classes = np.arange(config.num_classes)
    return {
        "model": name,
        "seed": seed,
        "top1": float(np.mean(predicted == labels)),
        "pair_accuracy": float(np.mean(predicted // 2 == labels // 2)),
        "order_accuracy": within_pair_accuracy(predicted, labels, classes[: 2 * reversal_pairs]),
        "tempo_accuracy": within_pair_accuracy(predicted, labels, classes[2 * reversal_pairs :]),
        "class_accuracy": [float(np.mean(predicted[labels == c] == c)) for c in classes],
        "gflops": keras_stw.count_flops(model) / 1e9,
        "params": int(model.count_params()),
        "train_seconds": train_seconds,
    }


METRICS = ("top1", "order_accuracy", "tempo_accuracy", "pair_accuracy")


def summarize(runs: list[dict]) -> list[dict]:
    """One row per model, in Table 6's order: mean and sample std (ddof=1) over seeds."""
    rows = []
    for name in MODELS:
        mine = [r for r in runs if r["model"] == name]
        if not mine:
            continue
        row = {"model": name, "seeds": [r["seed"] for r in mine]}
        for metric in (*METRICS, "train_seconds"):
            values = np.array([r[metric] for r in mine])
            row[metric] = float(values.mean())
            row[f"{metric}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
            row[f"{metric}_per_seed"] = values.tolist()
        row["gflops"], row["params"] = mine[0]["gflops"], mine[0]["params"]
        rows.append(row)
    return rows


def orderings(rows: list[dict]) -> list[str]:
    """For each two models: which is ahead in top-1, and whether mean +- std separate them.

    "separated" means the two intervals mean +- std do not overlap; compared with the
    order of the paper's Table 6 (SSv1 top-1).
    """
    lines = []
    for i, low in enumerate(rows):
        for high in rows[i + 1 :]:
            ahead, behind = (high, low) if high["top1"] >= low["top1"] else (low, high)
            gap = ahead["top1"] - behind["top1"]
            separated = gap > ahead["top1_std"] + behind["top1_std"]
            paper = PAPER_TOP1[ahead["model"]] > PAPER_TOP1[behind["model"]]
            lines.append(
                f"- {ahead['model']} > {behind['model']}: +{100 * gap:.1f} points, "
                f"{'separated' if separated else 'not separated'}; Table 6 "
                f"{'agrees' if paper else 'has the reverse'} "
                f"({PAPER_TOP1[ahead['model']]} vs {PAPER_TOP1[behind['model']]})"
            )
    return lines


def markdown_table(rows, header) -> str:
    def cell(row, metric):
        return f"{100 * row[metric]:.1f} ± {100 * row[f'{metric}_std']:.1f}"

    lines = [
        header,
        "",
        "| model | top-1 (%) | order acc. (%) | tempo acc. (%) | pair acc. (%) | top-1 per "
        "seed | GFLOPs | params | train time (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        per_seed = " / ".join(f"{100 * v:.1f}" for v in r["top1_per_seed"])
        lines.append(
            f"| {r['model']} | {' | '.join(cell(r, m) for m in METRICS)} | {per_seed} | "
            f"{r['gflops']:.3f} | {r['params']:,} | {r['train_seconds']:.0f} |"
        )
    lines += ["", "Orderings (top-1, mean ± std over seeds):", "", *orderings(rows)]
    return "\n".join(lines) + "\n"


def save_results(output_dir, runs, meta):
    rows = summarize(runs)
    with open(os.path.join(output_dir, "results.json"), "w", encoding="utf-8") as file:
        json.dump({"config": meta, "summary": rows, "runs": runs}, file, indent=2)
    header = (
        f"Temporal benchmark ({meta['backend']} backend, {meta['backbone']} ResNet-"
        f"{meta['depth']}, {meta['size']}x{meta['size']}, {meta['num_frames']} frames, "
        f"{meta['num_classes']} classes, {meta['train_videos']} train / "
        f"{meta['val_videos']} val videos, {meta['epochs']} epochs). Mean ± sample std "
        f"over seeds. Chance: top-1 {100 / meta['num_classes']:.1f}%, order and tempo "
        f"50%.\n\nCommand: {' then '.join(f'`{c}`' for c in meta['commands'])}"
    )
    table = markdown_table(rows, header)
    with open(os.path.join(output_dir, "results.md"), "w", encoding="utf-8") as file:
        file.write(table)
    return table


def save_chart(output_dir, runs, num_classes):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    rows = summarize(runs)
    positions = np.arange(len(rows))
    figure, axis = plt.subplots(figsize=(8, 4))
    for offset, metric, label in ((-0.2, "top1", "top-1"), (0.2, "order_accuracy", "order")):
        means = [100 * r[metric] for r in rows]
        stds = [100 * r[f"{metric}_std"] for r in rows]
        axis.bar(positions + offset, means, 0.4, yerr=stds, capsize=3, label=label)
        for position, row in enumerate(rows):
            values = 100 * np.array(row[f"{metric}_per_seed"])
            # Spread sideways, so that equal values stay visible one by one.
            axis.scatter(
                position + offset + np.linspace(-0.1, 0.1, len(values)),
                values,
                s=12,
                color="black",
                zorder=3,
                label="one seed" if position == 0 and offset > 0 else None,
            )
    axis.axhline(100 / num_classes, color="gray", linestyle=":", label="top-1 chance")
    axis.axhline(50, color="black", linestyle="--", label="order chance")
    axis.set_xticks(positions, [r["model"] for r in rows])
    axis.set_ylabel("validation accuracy (%)")
    axis.set_ylim(0, 100)
    axis.set_title("Temporal benchmark: mean ± std over seeds, dots = seeds")
    axis.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    path = os.path.join(output_dir, "results.png")
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def combine(directories, output_dir):
    """Merges the `results.json` of several runs (e.g. one per GPU) into `output_dir`."""
    runs, meta = [], None
    for directory in directories:
        with open(os.path.join(directory, "results.json"), encoding="utf-8") as file:
            saved = json.load(file)
        runs += saved["runs"]
        if meta is None:
            meta = {**saved["config"], "commands": [], "wall_seconds": []}
        meta["commands"] += saved["config"]["commands"]
        meta["wall_seconds"].append(saved["config"].get("wall_seconds"))
    os.makedirs(output_dir, exist_ok=True)
    return publish(output_dir, runs, meta)


def publish(output_dir, runs, meta) -> list[dict]:
    """Writes the final table, JSON and chart, prints the table; returns the summary."""
    table = save_results(output_dir, runs, meta)
    chart = save_chart(output_dir, runs, meta["num_classes"])
    print("\n" + table)
    print(f"Saved {output_dir}/results.md, results.json and {chart}")
    return summarize(runs)


def main(argv=None):
    args = parse_args(argv)
    if args.combine:
        return combine(args.combine, args.output_dir)
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
        task="temporal",
        num_classes=config.num_classes,
        videos_per_class=config.videos_per_class,
        total_frames=config.num_frames,
        size=config.size,
        val_fraction=config.val_fraction,
        seed=args.data_seed,
        workers=config.data_workers,
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
        "data_seed": args.data_seed,
        "train_videos": len(train[0]),
        "val_videos": len(val[0]),
        "commands": [
            "python examples/temporal_benchmark.py" + (" " + " ".join(argv) if argv else "")
        ],
    }
    jobs = shard_runs([(m, s) for m in config.models for s in config.seeds], args.shard)
    runs = []
    for name, seed in jobs:
        print(f"\n=== {name}, seed {seed} ===", flush=True)
        runs.append(
            train_and_score(name, config, backbone, train, val, seed, dataset.reversal_pairs)
        )
        save_results(args.output_dir, runs, meta)
        print(
            f"{name} seed {seed}: top-1 {100 * runs[-1]['top1']:.1f}%, order "
            f"{100 * runs[-1]['order_accuracy']:.1f}%, tempo "
            f"{100 * runs[-1]['tempo_accuracy']:.1f}% "
            f"({time.perf_counter() - wall_start:.0f}s elapsed)",
            flush=True,
        )
    meta["wall_seconds"] = time.perf_counter() - wall_start
    rows = publish(args.output_dir, runs, meta)
    print(f"Total wall time: {meta['wall_seconds']:.0f}s")
    return rows


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
