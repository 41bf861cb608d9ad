"""Training from video files against training from memory, in one run: is the GPU fed?

Writes `--videos` JPEG frame folders (or mp4 copies) of a real video, then trains the
same model twice, each in a fresh process, for two epochs of `--steps` steps:

1. from memory: `model.fit` on uint8 clips already decoded into a NumPy array (no
   decoding at all: the rate the model trains at);
2. from files: `examples/train.py` on the frame folders, clips made by
   `keras_stw.data.video_dataset` (Grain under JAX).

Both log `keras_stw.training.ClipsPerSecond` (compilation and the first steps of an
epoch left out); the table gives the second epoch's rates and their ratio. While each
trains, a line every `--cpu-interval` seconds gives the CPU use of its main process, of
its other processes (the loader's workers) and of the whole host (Linux `/proc`), to
tell a loader short of cores from a main process that cannot keep up.

    KERAS_BACKEND=jax python benchmarks/train_from_files.py              # one GPU
    KERAS_BACKEND=jax python benchmarks/train_from_files.py --distribute # all GPUs
"""

import argparse
import contextlib
import csv
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import cv2
import numpy as np

# Beside this script, so on sys.path when it runs.
from media import REPO, TEST_MEDIA

from keras_stw import data

DEMO = os.path.join(TEST_MEDIA, "demo.mp4")
NUM_CLASSES = 8


def write_media(directory, demo, videos, source):
    """A `path num_frames label` list of `videos` copies of `demo` (folders or mp4)."""
    total = data.count_frames(demo)
    first = os.path.join(directory, "video_0")
    if source == "jpeg":
        os.makedirs(first)
        for t, frame in enumerate(data.read_video_frames(demo, range(total))):
            cv2.imwrite(os.path.join(first, data.FRAME_TEMPLATE.format(t + 1)), frame[..., ::-1])
    else:
        first = shutil.copy(demo, first + ".mp4")
    lines = []
    for i in range(videos):
        path = first.replace("video_0", f"video_{i}")
        if i:
            (shutil.copytree if source == "jpeg" else shutil.copy)(first, path)
        lines.append(f"{os.path.basename(path)} {total} {i % NUM_CLASSES}")
    list_file = os.path.join(directory, "train.txt")
    with open(list_file, "w", encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")
    return list_file


def read_stat(path):
    """(parent pid, CPU ticks: user + system) from a `/proc/.../stat` file, or `None`."""
    try:
        with open(path, encoding="utf-8") as file:
            # The fields after the command name, which may hold spaces: state, ppid, ...
            fields = file.read().rsplit(")", 1)[1].split()
    except OSError:  # It ended meanwhile.
        return None
    return int(fields[1]), int(fields[11]) + int(fields[12])


def read_cpu_ticks(root_pid):
    """CPU ticks of `root_pid`, of its main thread and of its descendants; their count."""
    stats = {int(n): read_stat(f"/proc/{n}/stat") for n in os.listdir("/proc") if n.isdigit()}
    stats = {pid: stat for pid, stat in stats.items() if stat}
    descendants, frontier = set(), {root_pid}
    while frontier:
        frontier = {pid for pid, (parent, _) in stats.items() if parent in frontier}
        descendants |= frontier
    process = stats.get(root_pid, (0, 0))[1]
    thread = (read_stat(f"/proc/{root_pid}/task/{root_pid}/stat") or (0, 0))[1]
    return process, thread, sum(stats[pid][1] for pid in descendants), len(descendants)


def read_host_ticks():
    """(busy, total) CPU ticks of the host since boot."""
    with open("/proc/stat", encoding="utf-8") as file:
        values = [int(v) for v in file.readline().split()[1:]]
    idle = values[3] + values[4]  # idle and iowait
    return sum(values) - idle, sum(values)


@contextlib.contextmanager
def cpu_use(pid, label, interval):
    """Prints the CPU use of `pid`, its descendants and the host every `interval` s."""
    stop = threading.Event()
    hertz = os.sysconf("SC_CLK_TCK")

    def sample():
        start = clock = time.perf_counter()
        *ticks, _ = read_cpu_ticks(pid)
        host = read_host_ticks()
        while not stop.wait(interval):
            now = time.perf_counter()
            *new_ticks, count = read_cpu_ticks(pid)
            new_host = read_host_ticks()
            elapsed_ticks = (now - clock) * hertz
            main, main_thread, others = (
                100 * max(new - old, 0) / elapsed_ticks
                for old, new in zip(ticks, new_ticks, strict=True)
            )
            busy = 100 * (new_host[0] - host[0]) / max(new_host[1] - host[1], 1)
            print(
                f"[cpu {label} {now - start:5.0f}s] main process {main:.0f}% (its main "
                f"thread {main_thread:.0f}%), {count} other processes {others:.0f}%, host "
                f"{busy:.0f}% busy",
                flush=True,
            )
            clock, ticks, host = now, new_ticks, new_host

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def in_memory_rate(list_file, args, results):
    """Trains on decoded clips held in memory; puts the second epoch's clips/s."""
    import keras

    import keras_stw
    from keras_stw import training

    parallel = training.data_parallel() if args.distribute else None
    records, _ = data.read_list(list_file, root=os.path.dirname(list_file))
    spec = data.ClipSpec(num_frames=args.num_frames, training=True, image_size=args.image_size)
    distinct = data.ClipBatches(records, spec, batch_size=args.batch_size, seed=0)[0]
    repeats = args.steps  # one distinct batch, repeated: every step a full batch
    clips = np.concatenate([distinct["clips"]] * repeats)
    labels = np.concatenate([distinct["labels"]] * repeats)
    recipe = training.PRESETS["paper"].replace(batch_size=args.batch_size)
    with parallel.scope if parallel else contextlib.nullcontext():
        model = keras_stw.create_model(
            "stw_resnet50",
            num_frames=args.num_frames,
            num_classes=NUM_CLASSES,
            image_shape=(args.image_size, args.image_size, 3),
            backbone="keras",
            dtype="mixed_bfloat16",
        )
        model.compile(
            optimizer=recipe.optimizer(args.steps),
            loss="sparse_categorical_crossentropy",
            metrics=[
                keras.metrics.SparseCategoricalAccuracy(name="top1"),
                keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5"),
            ],
        )
        speed = training.ClipsPerSecond(args.batch_size)
        history = model.fit(
            clips,
            labels,
            batch_size=args.batch_size,
            epochs=2,
            steps_per_epoch=args.steps,
            shuffle=False,
            callbacks=[speed],
            verbose=2,
        )
    results.put(history.history["clips_per_second"][-1])


def from_files_rate(list_file, args, workers, output_dir):
    """Runs `examples/train.py` on the files; returns the second epoch's clips/s."""
    command = [
        sys.executable,
        os.path.join(REPO, "examples", "train.py"),
        *("--train-annotations", list_file, "--root", os.path.dirname(list_file)),
        *("--num-frames", str(args.num_frames), "--image-size", str(args.image_size)),
        *("--backbone", "keras", "--weights", "none"),
        *("--batch-size", str(args.batch_size), "--epochs", "2"),
        *("--steps-per-epoch", str(args.steps), "--save-freq", str(10 * args.steps)),
        *("--mixed-precision", "--verbose", "2", "--output-dir", output_dir),
    ]
    command += ["--workers", str(workers)] + (["--distribute"] if args.distribute else [])
    process = subprocess.Popen(command)
    with cpu_use(process.pid, f"files, {workers} workers", args.cpu_interval):
        if process.wait():
            raise subprocess.CalledProcessError(process.returncode, command)
    with open(os.path.join(output_dir, "log.csv"), encoding="utf-8") as file:
        return float(list(csv.DictReader(file))[-1]["clips_per_second"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", default=DEMO, help="The video to copy.")
    parser.add_argument("--source", choices=("jpeg", "mp4"), default="jpeg")
    parser.add_argument("--videos", type=int, default=256)
    parser.add_argument("--num-frames", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=64, help="Global batch.")
    parser.add_argument("--steps", type=int, default=40, help="Steps per epoch.")
    parser.add_argument("--distribute", action="store_true", help="All local devices.")
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[0], help="Loader processes; 0: cores."
    )
    parser.add_argument(
        "--cpu-interval", type=float, default=5.0, help="Seconds between CPU-use lines."
    )
    args = parser.parse_args()
    worker_counts = [workers or os.cpu_count() for workers in args.workers]

    with tempfile.TemporaryDirectory() as directory:
        list_file = write_media(directory, args.demo, args.videos, args.source)
        results = multiprocessing.get_context("spawn").Queue()
        process = multiprocessing.get_context("spawn").Process(
            target=in_memory_rate, args=(list_file, args, results)
        )
        process.start()
        with cpu_use(process.pid, "memory", args.cpu_interval):
            memory = results.get()
        process.join()
        rates = [
            from_files_rate(list_file, args, workers, os.path.join(directory, str(run)))
            for run, workers in enumerate(worker_counts)
        ]
    rows = "".join(
        f"| {args.source} files, `examples/train.py`, {workers} loader "
        f"processes | {rate:.1f} | {rate / memory:.1%} |\n"
        for workers, rate in zip(worker_counts, rates, strict=True)
    )
    print(
        f"\nSTW-ResNet-50 (keras backbone), {args.num_frames} x {args.image_size} x "
        f"{args.image_size}, bf16, global batch "
        f"{args.batch_size}, {'all devices' if args.distribute else 'one device'}, "
        f"{os.cpu_count()} cores, {args.videos} {args.source} videos\n\n"
        "| input | clips/s (epoch 2) | of in-memory |\n| --- | --- | --- |\n"
        f"| uint8 clips in host memory, `model.fit` | {memory:.1f} | 100% |\n{rows}"
    )


if __name__ == "__main__":
    main()
