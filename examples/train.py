"""Trains an STW, TSM or TSN video model from video files with the paper's recipe, resumably.

Defaults are the paper's (TSN's) recipe: SGD with momentum 0.9, weight decay 5e-4,
batch 64 clips, 50 epochs, learning rate 0.01 divided by 10 at epochs 30, 40 and 45
(`--preset paper`), or 0.001 divided by 10 every 15 epochs (`--preset finetune`, for
UCF101 / HMDB51 from Kinetics); ImageNet-initialized backbone (`--weights none` to train
from scratch). Every hyperparameter has a flag.

Clips come from `keras_stw.data.video_dataset`: `tf.data` under the TensorFlow backend,
Grain worker processes under JAX and PyTorch (`--engine`), so TensorFlow is not needed.

Everything goes to `--output-dir`: `backup/backup.keras` (model + optimizer, saved every
`--save-freq` steps and every epoch), `checkpoints/epoch_NNN.keras`, `log.csv`,
`tensorboard/` (when TensorFlow and TensorBoard are installed), and `model.keras` +
`label_map.txt` at the end. The model carries its clip recipe (`--sampling`,
`--frame-interval`, `--short-side`, `--frame-template`, frames and size) and its class
names, so `python -m keras_stw predict` and `evaluate.py` read videos as it was trained.
Running the same command again after an interruption resumes from the last saved step
and sees exactly the batches the interrupted run would have seen; the clip recipe flags
may be left out then (they are read from the saved model), and a command with other
model, data or optimizer settings is refused.

Data parallelism (`--distribute`): `keras.distribution.DataParallel` over all local
devices on JAX, `tf.distribute.MirroredStrategy` on TensorFlow; `--batch-size` is the
global batch. Multi-host (`--multi-host`, which implies `--distribute`): on JAX, run
the same command on every host with `--coordinator-address HOST:PORT` (process 0's),
`--num-processes N` and `--process-id I` (or `JAX_COORDINATOR_ADDRESS`,
`JAX_NUM_PROCESSES`, `JAX_PROCESS_ID`; none of them under SLURM, Open MPI or
Kubernetes, which JAX detects). Each process loads only its slice of every global
batch; process 0 writes the files, and `--output-dir` must be a folder every host
shares. On TensorFlow, set `TF_CONFIG` on every worker (`MultiWorkerMirroredStrategy`).
PyTorch has no Keras distribution: `--distribute` is refused there.

Examples:
    python examples/train.py --format sthv1 --train-annotations sthv1/train.csv \\
        --val-annotations sthv1/validation.csv --labels sthv1/labels.csv \\
        --root sthv1/frames --model stw_resnet50 --num-frames 8 --output-dir runs/sthv1_stw8
    python examples/train.py --format ucf101 --splits-dir ucfTrainTestlist \\
        --root UCF-101 --preset finetune --weights kinetics_stw16.weights.h5 --num-frames 16
    KERAS_BACKEND=jax python examples/train.py ... --distribute --mixed-precision
"""

import argparse
import contextlib
import json
import os
import sys
import zipfile

import keras

import keras_stw
from keras_stw import cli, data, training

# Settings a resumed run may change; any other change is refused.
RESUMABLE_CHANGES = (
    "epochs",
    "save_freq",
    "verbose",
    "output_dir",
    "val_annotations",
    "validation_steps",
    "workers",
    "engine",
    "distribute",
    "multi_host",
    "coordinator_address",
    "num_processes",
    "process_id",
)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    cli.add_data_arguments(parser)
    group = parser.add_argument_group("training data")
    group.add_argument("--train-annotations", help="Train list / CSV / JSON.")
    group.add_argument("--val-annotations", help="Validation list / CSV / JSON.")
    group.add_argument("--image-size", type=int, default=224)
    group.add_argument("--flip", action="store_true", help="Flip, swapping left/right.")

    group = parser.add_argument_group("model")
    group.add_argument("--model", choices=keras_stw.list_models(), default="stw_resnet50")
    group.add_argument("--num-frames", type=int, default=8)
    group.add_argument("--backbone", choices=keras_stw.BACKBONES, default="keras_cv")
    group.add_argument("--base-width", type=int, default=64)
    group.add_argument("--weights", default="imagenet", help="imagenet, none or a file.")
    group.add_argument("--dropout", type=float, default=0.5)
    group.add_argument("--stages", type=int, nargs="+", default=[2, 3, 4, 5])
    group.add_argument("--combination", choices=keras_stw.STW_COMBINATIONS, help="STW only.")
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
    group.add_argument("--seed", type=int, default=0)
    group.add_argument("--output-dir", default="runs/train")
    group.add_argument("--verbose", type=int, default=1, help="1: progress bar.")
    cli.add_launch_arguments(parser)
    return parser


# The values each numeric flag allows, as `check_number`'s arguments; a flag of several
# values (`--stages 2 3`) has each one checked.
POSITIVE = {"low": 1}
FLAG_RANGES = {
    "epochs": POSITIVE,
    "batch_size": POSITIVE,
    "steps_per_epoch": POSITIVE,
    "validation_steps": POSITIVE,
    "save_freq": POSITIVE,
    "num_frames": POSITIVE,
    "image_size": POSITIVE,
    "base_width": POSITIVE,
    "stages": {"low": 2, "high": 5},
    "ratios": POSITIVE,
    "shift_div": {"low": 2},
    "milestones": POSITIVE,
    "learning_rate": {"low": 0, "open_low": True},
    "momentum": {"low": 0, "high": 1, "open_high": True},
    "weight_decay": {"low": 0},
    "clipnorm": {"low": 0, "open_low": True},
    "dropout": {"low": 0, "high": 1, "open_high": True},
    "seed": {"low": 0, "high": 2**32 - 1},  # NumPy's seeds
    "verbose": {"low": 0, "high": 2},
    **cli.LAUNCH_FLAG_RANGES,
    **cli.DATA_FLAG_RANGES,
}


def build_model(args, recipe, spec, class_names, steps_per_epoch) -> keras.Model:
    options = {"combination": args.combination, "shift_div": args.shift_div}
    options["ratios"] = tuple(args.ratios) if args.ratios else None
    model = keras_stw.create_model(
        args.model,
        num_frames=args.num_frames,
        num_classes=len(class_names),
        clip_spec=spec,
        class_names=class_names,
        weights=None if args.weights == "none" else args.weights,
        image_shape=(args.image_size, args.image_size, 3),
        stages=tuple(args.stages),
        backbone=args.backbone,
        base_width=args.base_width,
        dropout=args.dropout,
        dtype=f"mixed_{args.mixed_precision}" if args.mixed_precision else None,
        **{k: v for k, v in options.items() if v is not None},
    )
    model.compile(
        optimizer=recipe.optimizer(steps_per_epoch),
        loss="sparse_categorical_crossentropy",
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="top1"),
            keras.metrics.SparseTopKCategoricalAccuracy(k=min(5, len(class_names)), name="top5"),
        ],
    )
    return model


def saved_clip_spec(output_dir) -> data.ClipSpec | None:
    """The clip recipe of the model in the run's backup, which a resumed run reads.

    `None` when there is no backup, or none with a recipe: a damaged backup is
    reported by the resume itself, naming the file.
    """
    path = os.path.join(output_dir, "backup", "backup.keras")
    if not zipfile.is_zipfile(path):
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))["config"]["clip_spec"]
        return data.ClipSpec.from_config(config)
    except (KeyError, TypeError, ValueError):
        return None


def tensorboard_available() -> bool:
    """Keras's TensorBoard callback writes through TensorFlow's summary API."""
    try:
        import tensorboard  # noqa: F401
        import tensorflow  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv=None) -> keras.Model:
    args = make_parser().parse_args(argv)
    cli.check_flags(args, FLAG_RANGES)
    recipe = training.PRESETS[args.preset].replace(
        learning_rate=args.learning_rate,
        milestones=tuple(args.milestones) if args.milestones else None,
        epochs=args.epochs,
        batch_size=args.batch_size,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        clipnorm=args.clipnorm,
    )
    multi_host, launch = cli.launch_settings(args)
    distribute = args.distribute or multi_host
    parallel = training.data_parallel(multi_host, **launch) if distribute else None
    if parallel:
        print(parallel.description)
    # Process 0 writes the run's files; the others train and log to their terminal only.
    writer = parallel is None or parallel.process_index == 0
    keras.utils.set_random_seed(args.seed)

    train, class_names = cli.read_split(args, "train", args.train_annotations)
    val = cli.read_split(args, "val", args.val_annotations)
    spec = cli.clip_spec(
        args,
        saved_clip_spec(args.output_dir),
        num_frames=args.num_frames,
        training=True,
        image_size=args.image_size,
        flip=args.flip,
        flip_label_map=data.flip_label_map_from_names(class_names) if args.flip else None,
    )
    loader = {"batch_size": recipe.batch_size, "on_error": args.on_error}
    loader.update(engine=args.engine, workers=args.workers)
    if parallel:
        # Each process makes its slice of every global batch.
        loader.update(parallel.shard)

    def feed(dataset):
        return parallel.feed(dataset, recipe.batch_size) if parallel else dataset

    def train_data(initial_step):
        return feed(
            data.video_dataset(
                train, spec, repeat=True, seed=args.seed, initial_step=initial_step, **loader
            )
        )

    val_spec = spec.for_testing()
    # Split over processes, a last incomplete batch would give them parts of unequal size.
    whole_batches = "shard_count" in loader
    val_ds = (
        feed(data.video_dataset(val.records, val_spec, drop_remainder=whole_batches, **loader))
        if val
        else None
    )
    validation_steps = -(-len(val.records) // recipe.batch_size) if val else None
    if val and whole_batches:
        validation_steps = len(val.records) // recipe.batch_size
        left_out = len(val.records) % recipe.batch_size
        print(f"Validation in whole global batches: {left_out} video(s) left out.")
    steps_per_epoch = args.steps_per_epoch or -(-len(train) // recipe.batch_size)
    print(
        f"{len(train)} training videos, {len(class_names)} classes, "
        f"{steps_per_epoch} steps x {recipe.epochs} epochs, recipe {recipe}"
    )

    os.makedirs(args.output_dir, exist_ok=True)
    callbacks = [
        training.ClipsPerSecond(recipe.batch_size),
        # Every process saves (process 0 alone writes): see `training.save_model`.
        training.EpochCheckpoints(
            os.path.join(args.output_dir, "checkpoints", "epoch_{epoch:03d}.keras")
        ),
    ]
    if writer:
        callbacks.append(
            keras.callbacks.CSVLogger(os.path.join(args.output_dir, "log.csv"), append=True)
        )
    if writer and tensorboard_available():
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(args.output_dir, "tensorboard")))
    elif writer:
        print("TensorBoard logs need `pip install tensorflow tensorboard`; writing log.csv only.")
    settings = {k: v for k, v in vars(args).items() if k not in RESUMABLE_CHANGES}
    # The recipe as the run resolved it: flags left out on resume take the saved one.
    settings = {k: v for k, v in settings.items() if k not in cli.RECIPE_FLAGS}
    settings["clip_spec"] = spec.get_config()
    with parallel.scope if parallel else contextlib.nullcontext():
        model = training.fit_resumable(
            lambda: build_model(args, recipe, spec, class_names, steps_per_epoch),
            train_data,
            directory=os.path.join(args.output_dir, "backup"),
            epochs=recipe.epochs,
            steps_per_epoch=steps_per_epoch,
            save_freq=args.save_freq,
            config=settings,
            callbacks=callbacks,
            validation_data=val_ds,
            # Known up front, so Keras need not run out of batches to learn it.
            validation_steps=args.validation_steps or validation_steps,
            verbose=args.verbose,
        )
    training.save_model(model, os.path.join(args.output_dir, "model.keras"))
    if not writer:
        return model
    with open(os.path.join(args.output_dir, "label_map.txt"), "w", encoding="utf-8") as file:
        file.write("\n".join(class_names) + "\n")
    print(f"Saved {args.output_dir}/model.keras and label_map.txt")
    return model


if __name__ == "__main__":
    sys.exit(cli.run_program(main))
