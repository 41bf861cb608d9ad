"""Start-up benchmark: seconds from `model.fit` to the first training step, Grain engine.

Runs `model.fit(train, validation_data=val, epochs=3, steps_per_epoch=...)` on copies
of a real H.264 video (`demo.mp4`) with Grain worker processes, twice per round:

- `before`: the Grain pipeline as it was, a plain `grain.IterDataset` that every
  `iter()` starts anew (Keras's shape peek, the model build, each epoch of a dataset
  without `steps_per_epoch`, each validation);
- `after`: what `video_dataset` returns now, a `LiveStream` that every `iter()`
  continues.

For each it gives the seconds from the `fit` call to the end of the first training
step, the seconds of the whole `fit`, and the worker processes started (process ids new
to `multiprocessing.active_children()`, sampled every 10 ms; a Grain worker lives
for seconds at least, as it imports the pipeline first).

    KERAS_BACKEND=jax python benchmarks/startup.py --workers 2 --rounds 2
"""

import argparse
import gc
import multiprocessing
import os
import shutil
import tempfile
import threading
import time

import keras

# Beside this script, so on sys.path when it runs.
from media import TEST_MEDIA

import keras_stw
from keras_stw import data


class WorkerCounter:
    """The distinct child processes started while it runs."""

    def __init__(self):
        self.pids = set()
        self.present = set()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)

    def __enter__(self):
        self.present = {child.pid for child in multiprocessing.active_children()}
        self.thread.start()
        return self

    def __exit__(self, *error):
        self.done.set()
        self.thread.join()

    def sample(self):
        while not self.done.wait(0.01):
            children = {child.pid for child in multiprocessing.active_children()}
            self.pids.update(children - self.present)


class FirstStep(keras.callbacks.Callback):
    """Seconds from `start` to the end of the first training step."""

    def __init__(self, start):
        super().__init__()
        self.start = start
        self.seconds = None

    def on_train_batch_end(self, batch, logs=None):
        if self.seconds is None:
            self.seconds = time.perf_counter() - self.start


def fit(mode, train_records, val_records, args):
    # The previous run's datasets and model are in reference cycles: their workers
    # stop when the cycles are collected, not to be counted or to compete here.
    gc.collect()
    common = {"num_frames": 8, "image_size": args.image_size, "engine": "grain"}
    common.update(batch_size=args.batch_size, workers=args.workers)
    train = data.video_dataset(train_records, training=True, seed=0, repeat=True, **common)
    val = data.video_dataset(val_records, **common)
    if mode == "before":
        # The parent of the `LiveStream` (under the filter of empty batches) is the
        # plain Grain stream it serves: the pipeline before it.
        train, val = (ds.parents[0].parents[0] for ds in (train, val))
    keras.utils.set_random_seed(0)
    model = keras_stw.video_resnet(
        "stw",
        num_frames=8,
        num_classes=2,
        image_shape=(args.image_size, args.image_size, 3),
        base_width=args.base_width,
        depth=args.depth,
        backbone=args.backbone,
    )
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    with WorkerCounter() as workers:
        start = time.perf_counter()
        first = FirstStep(start)
        model.fit(
            train,
            validation_data=val,
            epochs=args.epochs,
            steps_per_epoch=args.steps,
            callbacks=[first],
            verbose=0,
        )
        total = time.perf_counter() - start
    return first.seconds, total, len(workers.pids)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    modes = ["before", "after"]
    parser.add_argument("--modes", nargs="+", default=modes, choices=modes)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=4, help="steps_per_epoch")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--videos", type=int, default=8, help="videos per split")
    # KerasCV's narrow ResNets need TensorFlow; where it is absent (a JAX GPU host), take
    # `--backbone keras --depth 50 --base-width 64`.
    parser.add_argument("--backbone", default="keras_cv")
    parser.add_argument("--depth", type=int, default=26)
    parser.add_argument("--base-width", type=int, default=8)
    args = parser.parse_args()
    directory = tempfile.mkdtemp()
    try:
        demo = os.path.join(TEST_MEDIA, "demo.mp4")
        paths = [
            shutil.copy(demo, os.path.join(directory, f"video_{i}.mp4"))
            for i in range(2 * args.videos)
        ]
        records = [(path, i % 2) for i, path in enumerate(paths)]
        train, val = records[: args.videos], records[args.videos :]
        print(
            f"backend {keras.backend.backend()}, {os.cpu_count()} cores, "
            f"{args.workers} workers, {args.epochs} epochs x {args.steps} steps, "
            f"batch {args.batch_size}, {args.image_size} px, {args.videos} videos per split, "
            f"STW ResNet-{args.depth} (base width {args.base_width}, {args.backbone})"
        )
        print("| round | pipeline | first step (s) | whole fit (s) | workers started |")
        print("|---|---|---|---|---|")
        for round_ in range(args.rounds):
            for mode in args.modes:
                first, total, started = fit(mode, train, val, args)
                print(f"| {round_} | {mode} | {first:.1f} | {total:.1f} | {started} |", flush=True)
    finally:
        shutil.rmtree(directory)


if __name__ == "__main__":
    main()
