"""Trains an STW, TSM or TSN video model with the paper's recipe, resumably.

Defaults are the paper's (TSN's) recipe: SGD with momentum 0.9, weight decay 5e-4,
batch 64 clips, 50 epochs, learning rate 0.01 divided by 10 at epochs 30, 40 and 45
(`--preset paper`), or 0.001 divided by 10 every 15 epochs (`--preset finetune`, for
UCF101 / HMDB51 from Kinetics); ImageNet-initialized backbone (`--weights none` to train
from scratch). Every hyperparameter has a flag.

Everything goes to `--output-dir`: `backup/backup.keras` (model + optimizer, saved every
`--save-freq` steps and every epoch), `checkpoints/epoch_NNN.keras`, `log.csv`,
`tensorboard/` (when TensorFlow and TensorBoard are installed), and `model.keras` +
`label_map.txt` at the end. Running the same command again after an interruption
resumes from the last saved step: the interrupted epoch is finished with the steps it
had left.

Data parallelism (`--distribute`): `keras.distribution.DataParallel` over all local
devices on JAX, `tf.distribute.MirroredStrategy` on TensorFlow; `--batch-size` is the
global batch. Multi-host (`--multi-host`): on JAX, set `JAX_COORDINATOR_ADDRESS`,
`JAX_NUM_PROCESSES` and `JAX_PROCESS_ID` on every host (`jax.distributed.initialize()`
reads them); on TensorFlow, set `TF_CONFIG` on every worker
(`MultiWorkerMirroredStrategy`). Run the same command on every host.

Examples:
    python examples/train.py --format sthv1 --train-annotations sthv1/train.csv \\
        --val-annotations sthv1/validation.csv --labels sthv1/labels.csv \\
        --root sthv1/frames --model stw --num-frames 8 --output-dir runs/sthv1_stw8
    python examples/train.py --format ucf101 --splits-dir ucfTrainTestlist \\
        --root UCF-101 --preset finetune --weights kinetics_stw16.weights.h5 --num-frames 16
    KERAS_BACKEND=jax python examples/train.py ... --distribute --mixed-precision
"""

import argparse
import contextlib
import importlib.util
import json
import math
import os

import keras

import keras_stw
from keras_stw import data, training

FORMATS = ("list", "sthv1", "sthv2", "kinetics", "ucf101", "hmdb51")
BLOCKS = {"stw": "stw", "tsm": "tsm", "tsn": None}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    group = parser.add_argument_group("data")
    group.add_argument("--format", choices=FORMATS, default="list")
    group.add_argument("--train-annotations", help="Train list / CSV / JSON.")
    group.add_argument("--val-annotations", help="Validation list / CSV / JSON.")
    group.add_argument("--labels", help="Label map (list, sthv1, sthv2, kinetics).")
    group.add_argument("--root", default="", help="Folder the annotation paths are in.")
    group.add_argument("--splits-dir", help="UCF101 / HMDB51 split files.")
    group.add_argument("--split", type=int, default=1, help="UCF101 / HMDB51 split.")
    group.add_argument("--frame-template", default="img_{:05d}.jpg")
    group.add_argument("--image-size", type=int, default=224)
    group.add_argument("--short-side", type=int, default=256)
    group.add_argument("--flip", action="store_true", help="Flip, swapping left/right.")
    group.add_argument("--on-error", choices=("raise", "skip"), default="raise")

    group = parser.add_argument_group("model")
    group.add_argument("--model", choices=tuple(BLOCKS), default="stw")
    group.add_argument("--num-frames", type=int, default=8)
    group.add_argument("--depth", type=int, default=50)
    group.add_argument("--backbone", choices=("keras_cv", "keras"), default="keras_cv")
    group.add_argument("--base-width", type=int, default=64)
    group.add_argument("--weights", default="imagenet", help="imagenet, none or a file.")
    group.add_argument("--dropout", type=float, default=0.5)
    group.add_argument("--stages", type=int, nargs="+", default=[2, 3, 4, 5])
    group.add_argument(
        "--combination",
        choices=("parallel", "stfm_then_twm", "twm_then_stfm", "stfm", "twm"),
        help="STW only.",
    )
    group.add_argument("--ratios", type=int, nargs=3, help="STFM alpha beta gamma.")
    group.add_argument("--shift-div", type=int, help="TSM only.")

    group = parser.add_argument_group("training")
    group.add_argument("--preset", choices=tuple(training.PRESETS), default="paper")
    group.add_argument("--learning-rate", type=float)
    group.add_argument("--milestones", type=int, nargs="+", help="Epochs of the / 10.")
    group.add_argument("--epochs", type=int)
    group.add_argument("--batch-size", type=int, help="Global batch.")
    group.add_argument("--momentum", type=float)
    group.add_argument("--weight-decay", type=float)
    group.add_argument("--clipnorm", type=float)
    group.add_argument("--steps-per-epoch", type=int, help="Default: one pass.")
    group.add_argument("--validation-steps", type=int)
    group.add_argument("--save-freq", type=int, default=500, help="Backup every N steps.")
    group.add_argument(
        "--mixed-precision",
        nargs="?",
        const="bfloat16",
        choices=("bfloat16", "float16"),
        help="Mixed precision compute dtype (default bfloat16).",
    )
    group.add_argument("--distribute", action="store_true", help="All local devices.")
    group.add_argument("--multi-host", action="store_true", help="With --distribute.")
    group.add_argument("--seed", type=int, default=0)
    group.add_argument("--output-dir", default="runs/train")
    group.add_argument("--verbose", type=int, default=1, help="1: progress bar.")
    return parser.parse_args(argv)


def read_annotations(args, subset):
    """The split `subset` ("train" or "val") of the chosen dataset format."""
    annotations = args.train_annotations if subset == "train" else args.val_annotations
    if args.format in ("ucf101", "hmdb51"):
        reader = data.read_ucf101 if args.format == "ucf101" else data.read_hmdb51
        split_subset = "train" if subset == "train" else "test"
        return reader(args.splits_dir, args.root, split=args.split, subset=split_subset)
    if annotations is None:
        return None
    if args.format == "list":
        names = data.read_label_map(args.labels) if args.labels else None
        return data.read_list(annotations, root=args.root, class_names=names)
    if args.format == "sthv1":
        return data.read_something_v1(annotations, args.labels, args.root)
    if args.format == "sthv2":
        return data.read_something_v2(annotations, args.labels, args.root)
    names = data.read_label_map(args.labels) if args.labels else None
    return data.read_kinetics_csv(annotations, args.root, class_names=names)


def block_options(args) -> dict:
    options = {"combination": args.combination, "shift_div": args.shift_div}
    options["ratios"] = tuple(args.ratios) if args.ratios else None
    return {k: v for k, v in options.items() if v is not None}


def build_model(args, recipe, num_classes, steps_per_epoch) -> keras.Model:
    model = keras_stw.video_resnet(
        BLOCKS[args.model],
        num_frames=args.num_frames,
        num_classes=num_classes,
        weights=None if args.weights == "none" else args.weights,
        input_shape=(args.image_size, args.image_size, 3),
        stages=tuple(args.stages),
        depth=args.depth,
        backbone=args.backbone,
        base_width=args.base_width,
        dropout=args.dropout,
        **block_options(args),
    )
    model.compile(
        optimizer=recipe.optimizer(steps_per_epoch),
        loss="sparse_categorical_crossentropy",
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="top1"),
            keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5"),
        ],
    )
    return model


def main(argv=None) -> keras.Model:
    args = parse_args(argv)
    recipe = training.PRESETS[args.preset].replace(
        learning_rate=args.learning_rate,
        milestones=tuple(args.milestones) if args.milestones else None,
        epochs=args.epochs,
        batch_size=args.batch_size,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        clipnorm=args.clipnorm,
    )
    if args.mixed_precision:
        keras.mixed_precision.set_global_policy(f"mixed_{args.mixed_precision}")
    parallel = training.data_parallel(args.multi_host) if args.distribute else None
    if parallel:
        print(parallel.description)
    keras.utils.set_random_seed(args.seed)

    train_records, class_names = read_annotations(args, "train")
    val = read_annotations(args, "val")
    common = {
        "num_frames": args.num_frames,
        "batch_size": recipe.batch_size,
        "image_size": args.image_size,
        "short_side": args.short_side,
        "frame_template": args.frame_template,
        "on_error": args.on_error,
    }
    steps_per_epoch = args.steps_per_epoch or math.ceil(len(train_records) / recipe.batch_size)
    # Seeded by the run's progress, so a resumed run draws new clips, not a replay.
    backup = os.path.join(args.output_dir, "backup")
    resumed_step = _saved_step(backup)
    train_ds = data.video_dataset(
        train_records,
        training=True,
        repeat=True,
        seed=args.seed + resumed_step,
        flip=args.flip,
        flip_label_map=data.flip_label_map_from_names(class_names) if args.flip else None,
        **common,
    )
    val_ds = data.video_dataset(val.records, **common) if val else None
    print(
        f"{len(train_records)} training videos, {len(class_names)} classes, "
        f"{steps_per_epoch} steps x {recipe.epochs} epochs, recipe {recipe}"
    )

    os.makedirs(args.output_dir, exist_ok=True)
    callbacks = [
        keras.callbacks.CSVLogger(os.path.join(args.output_dir, "log.csv"), append=True),
        keras.callbacks.ModelCheckpoint(
            os.path.join(args.output_dir, "checkpoints", "epoch_{epoch:03d}.keras")
        ),
    ]
    if importlib.util.find_spec("tensorflow") and importlib.util.find_spec("tensorboard"):
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(args.output_dir, "tensorboard")))
    else:
        print("TensorBoard logs need `pip install tensorflow tensorboard`; writing log.csv only.")
    with parallel.scope if parallel else contextlib.nullcontext():
        model = training.fit_resumable(
            lambda: build_model(args, recipe, len(class_names), steps_per_epoch),
            train_ds,
            directory=backup,
            epochs=recipe.epochs,
            steps_per_epoch=steps_per_epoch,
            save_freq=args.save_freq,
            callbacks=callbacks,
            validation_data=val_ds,
            validation_steps=args.validation_steps,
            verbose=args.verbose,
        )
    model.save(os.path.join(args.output_dir, "model.keras"))
    with open(os.path.join(args.output_dir, "label_map.txt"), "w", encoding="utf-8") as file:
        file.write("\n".join(class_names) + "\n")
    print(f"Saved {args.output_dir}/model.keras and label_map.txt")
    return model


def _saved_step(backup_dir) -> int:
    state = os.path.join(backup_dir, "state.json")
    if not os.path.exists(state):
        return 0
    with open(state, encoding="utf-8") as file:
        saved = json.load(file)
    return saved["epoch"] * saved["steps_per_epoch"] + saved["step"]


if __name__ == "__main__":
    main()
