"""Loader benchmark: clips/s of 8 x 224 x 224 training clips from videos and frame folders.

Default mode times `keras_stw.data.video_dataset` (tf.data, parallel decode, crop,
batch, prefetch). `--no-tf` times the TF-free path alone (`clips.load_clip`: count,
sample, decode with OpenCV, plus a crop and resize in OpenCV) in a thread or process
pool, for machines without TensorFlow.

    python benchmarks/loader.py                      # tf.data, this machine
    python benchmarks/loader.py --no-tf --workers 16 # TF-free, e.g. a GPU host
"""

import argparse
import concurrent.futures
import importlib
import os
import shutil
import sys
import tempfile
import time
import types

import cv2
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def import_tf_free():
    """Imports `keras_stw.data.clips` without running `keras_stw/__init__.py`.

    The package's `__init__` imports Keras; `keras_stw.data` itself loads its tf.data
    parts lazily, so with the top-level package stubbed nothing but NumPy and OpenCV is
    needed.
    """
    if "keras_stw" not in sys.modules:
        package = types.ModuleType("keras_stw")
        package.__path__ = [os.path.join(REPO, "keras_stw")]
        sys.modules["keras_stw"] = package
    return importlib.import_module("keras_stw.data.clips")


def make_media(directory, media, copies, clips):
    """`copies` video files (real H.264 demo.mp4) and frame folders of it, 340x256."""
    demo = os.path.join(media, "demo.mp4")
    videos, folders = [], []
    frames = clips.decode.read_video_frames(demo, range(clips.decode.count_frames(demo)))
    for i in range(copies):
        video = os.path.join(directory, f"video_{i}.mp4")
        shutil.copy(demo, video)
        videos.append(video)
    # Frame folders cost disk: write one and link the rest to it.
    first = os.path.join(directory, "frames_0")
    os.makedirs(first)
    for t, frame in enumerate(frames):
        cv2.imwrite(os.path.join(first, f"img_{t + 1:05d}.jpg"), frame[..., ::-1])
    folders.append(first)
    for i in range(1, copies):
        folder = os.path.join(directory, f"frames_{i}")
        os.symlink(first, folder)
        folders.append(folder)
    return videos, folders


def load_and_crop(args):
    path, seed, size = args
    clips = import_tf_free()
    rng = np.random.default_rng(seed)
    frames = clips.load_clip(path, num_frames=8, training=True, rng=rng)
    height, width = frames.shape[1:3]
    side = min(height, width)
    y, x = (height - side) // 2, (width - side) // 2
    return np.stack([cv2.resize(f[y : y + side, x : x + side], (size, size)) for f in frames])


def bench_no_tf(paths, clips_count, workers, processes, size):
    pool_class = (
        concurrent.futures.ProcessPoolExecutor
        if processes
        else concurrent.futures.ThreadPoolExecutor
    )
    jobs = [(paths[i % len(paths)], i, size) for i in range(clips_count)]
    with pool_class(workers) as pool:
        list(pool.map(load_and_crop, jobs[:workers]))  # warm-up
        start = time.perf_counter()
        for clip in pool.map(load_and_crop, jobs, chunksize=4 if processes else 1):
            assert clip.shape == (8, size, size, 3)
        return clips_count / (time.perf_counter() - start)


def bench_tf(paths, clips_count, size, batch_size):
    import keras_stw.data

    records = [(path, 0) for path in paths]
    ds = keras_stw.data.video_dataset(
        records,
        training=True,
        num_frames=8,
        batch_size=batch_size,
        image_size=size,
        seed=0,
        repeat=True,
    )
    iterator = iter(ds)
    next(iterator)  # warm-up: graph tracing, pool start
    batches = max(clips_count // batch_size, 1)
    start = time.perf_counter()
    for _ in range(batches):
        clips, _ = next(iterator)
        assert clips.shape[1:] == (8, size, size, 3)
    return batches * batch_size / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", default=os.path.join(REPO, "..", "shared", "testdata", "real"))
    parser.add_argument("--clips", type=int, default=96, help="clips timed per source")
    parser.add_argument("--copies", type=int, default=16, help="distinct files per source")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--no-tf", action="store_true", help="TF-free decode in a pool")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--processes", action="store_true", help="process pool (--no-tf)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        if args.no_tf:
            clips = import_tf_free()
        else:
            clips = importlib.import_module("keras_stw.data.clips")
        videos, folders = make_media(directory, args.media, args.copies, clips)
        if args.no_tf:
            pool = "processes" if args.processes else "threads"
            mode = f"TF-free load_clip + cv2 crop, {args.workers} {pool}"
        else:
            mode = f"tf.data video_dataset, batch {args.batch_size}"
        print(f"| source | mode | cores | clips/s ({args.size}px, 8 frames) |")
        print("| --- | --- | --- | --- |")
        for source, paths in (("mp4 H.264 340x256", videos), ("JPEG folders 340x256", folders)):
            if args.no_tf:
                rate = bench_no_tf(paths, args.clips, args.workers, args.processes, args.size)
            else:
                rate = bench_tf(paths, args.clips, args.size, args.batch_size)
            print(f"| {source} | {mode} | {os.cpu_count()} | {rate:.1f} |", flush=True)


if __name__ == "__main__":
    main()
