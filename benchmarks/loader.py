"""Loader benchmark: clips/s of training clips from videos and frame folders, per engine.

Times `keras_stw.data.video_dataset` alone (no model) with each engine it can run here
(`tf.data` threads when TensorFlow is installed, Grain processes), on copies of a real
H.264 video (`demo.mp4`, 340x256, 280 frames) and on JPEG frame folders of its frames.
In the same run it measures the limits that decoding sets:

- `decode limit` = cores x the clips one core decodes per second, where decoding a
  clip is `load_clip` (count, sample, decode; no crop) with one FFmpeg thread. For
  mp4 it is also given in frames: one core's full-video decode rate, and how many
  frames' worth of decoding one clip costs (the frames the decoder passes to reach
  its 8 sampled frames). This assumes every core decodes as fast as one core alone;
- `all cores decoding`: clips/s of one process per core doing nothing but decode
  clips, which is what the machine's cores really give together (shared caches,
  simultaneous multithreading and clock speeds under load included);
- one core's time per clip for each stage (decode; crop, resize and flip; batch), to
  show where the CPU time goes.

    python benchmarks/loader.py                            # both sources, both engines
    python benchmarks/loader.py --engines grain --workers 32 --clips 4096
"""

import argparse
import multiprocessing
import os
import shutil
import tempfile
import time

import cv2
import numpy as np

# Beside this script, so on sys.path when it runs.
from media import TEST_MEDIA

from keras_stw import data


def make_media(directory, demo, copies):
    """`copies` copies of `demo`, and as many JPEG frame folders of its frames."""
    frames = data.read_video_frames(demo, range(data.count_frames(demo)))
    videos, folders = [], []
    first = os.path.join(directory, "frames_0")
    os.makedirs(first)
    for t, frame in enumerate(frames):
        cv2.imwrite(os.path.join(first, data.FRAME_TEMPLATE.format(t + 1)), frame[..., ::-1])
    for i in range(copies):
        videos.append(shutil.copy(demo, os.path.join(directory, f"video_{i}.mp4")))
        folder = os.path.join(directory, f"frames_{i}")
        if i:
            shutil.copytree(first, folder)
        folders.append(folder)
    return {"mp4": ("mp4 H.264 340x256", videos), "jpeg": ("JPEG folders 340x256", folders)}


def stage_times(paths, spec, count):
    """One core's seconds per clip: decode (`load_clip`), crop and flip, batch."""
    cv2.setNumThreads(1)
    rng = np.random.default_rng(0)
    decode = augment = 0.0
    clips = []
    for i in range(count):
        start = time.perf_counter()
        frames = data.load_clip(
            paths[i % len(paths)], num_frames=spec.num_frames, training=True, rng=rng, threads=1
        )
        middle = time.perf_counter()
        clip, _ = data.train_augment(
            frames, 0, rng, image_size=spec.image_size, scales=spec.scales, flip=True
        )
        decode += middle - start
        augment += time.perf_counter() - middle
        clips.append(clip)
    start = time.perf_counter()
    np.stack(clips)
    batch = time.perf_counter() - start
    return decode / count, augment / count, batch / count


def full_decode_rate(video):
    """Frames per second one core decodes, reading every frame of `video`."""
    cv2.setNumThreads(1)
    total = data.count_frames(video)
    start = time.perf_counter()
    data.read_video_frames(video, range(total), threads=1)
    return total / (time.perf_counter() - start)


def decode_clip(job):
    """Decodes one training clip's frames (no crop) on one core."""
    path, num_frames, seed = job
    data.load_clip(
        path, num_frames=num_frames, training=True, rng=np.random.default_rng(seed), threads=1
    )


def all_cores_decode_rate(paths, num_frames, clips):
    """Clips/s of one process per core doing nothing but `decode_clip`."""
    cores = os.cpu_count()
    jobs = [(paths[i % len(paths)], num_frames, i) for i in range(clips)]
    with multiprocessing.get_context("spawn").Pool(
        cores, initializer=cv2.setNumThreads, initargs=(1,)
    ) as pool:
        pool.map(decode_clip, jobs[:cores], chunksize=1)  # warm-up: processes start
        start = time.perf_counter()
        pool.map(decode_clip, jobs, chunksize=2)
        return clips / (time.perf_counter() - start)


def engine_rate(paths, spec, engine, workers, clips, batch_size):
    """Clips per second of `video_dataset`, after the first batches (worker start)."""
    ds = data.video_dataset(
        [(path, 0) for path in paths],
        spec,
        batch_size=batch_size,
        repeat=True,
        seed=0,
        engine=engine,
        workers=workers,
    )
    iterator = iter(ds)
    for _ in range(max(2, workers or 1)):
        next(iterator)  # warm-up: workers start, each makes its first batch
    batches = max(clips // batch_size, 1)
    start = time.perf_counter()
    for _ in range(batches):
        x, _ = next(iterator)
        assert x.shape[1:] == spec.clip_shape
    rate = batches * batch_size / (time.perf_counter() - start)
    if hasattr(iterator, "close"):
        iterator.close()
    return rate


def available_engines(wanted):
    engines = []
    for engine in wanted:
        try:
            __import__("tensorflow" if engine == "tf" else "grain")
        except ImportError:
            print(f"engine {engine!r}: not installed here, not timed")
            continue
        engines.append(engine)
    return engines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", default=TEST_MEDIA, help="Folder holding demo.mp4.")
    parser.add_argument("--engines", nargs="+", choices=("tf", "grain"), default=["tf", "grain"])
    parser.add_argument("--sources", nargs="+", choices=("mp4", "jpeg"), default=["mp4", "jpeg"])
    parser.add_argument("--clips", type=int, default=128, help="Clips timed per row.")
    parser.add_argument("--copies", type=int, default=16, help="Distinct files per source.")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--num-frames", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--stage-clips", type=int, default=32, help="Clips of the stage timing.")
    parser.add_argument(
        "--decode-clips", type=int, default=256, help="Clips of all-cores decoding."
    )
    args = parser.parse_args()

    cores = os.cpu_count()
    spec = data.ClipSpec(num_frames=args.num_frames, training=True, image_size=args.size)
    engines = available_engines(args.engines)
    with tempfile.TemporaryDirectory() as directory:
        media = make_media(directory, os.path.join(args.media, "demo.mp4"), args.copies)
        print(f"\n{cores} cores, {args.num_frames} x {args.size} x {args.size} training clips")
        rows = []
        for name, paths in (media[source] for source in args.sources):
            decode, augment, batch = stage_times(paths, spec, args.stage_clips)
            limit = cores / decode
            measured_limit = all_cores_decode_rate(paths, spec.num_frames, args.decode_clips)
            line = (
                f"{name}: one core per clip: decode {1e3 * decode:.1f} ms, crop+resize+flip "
                f"{1e3 * augment:.2f} ms, batch {1e3 * batch:.2f} ms; decode limit "
                f"{cores} / {1e3 * decode:.1f} ms = {limit:.1f} clips/s; all cores decoding: "
                f"{measured_limit:.1f} clips/s"
            )
            if name.startswith("mp4"):
                rate = full_decode_rate(paths[0])
                line += (
                    f" (full decode {rate:.0f} frames/s on one core, so one clip costs "
                    f"{decode * rate:.0f} frames of decoding)"
                )
            print(line, flush=True)
            for engine in engines:
                workers = args.workers
                measured = engine_rate(paths, spec, engine, workers, args.clips, args.batch_size)
                rows.append((name, engine, workers, measured, limit, measured_limit))
                print(f"  {engine}: {measured:.1f} clips/s", flush=True)
        print(
            "\n| source | engine | workers | cores | clips/s | decode limit (cores x one "
            "core) | of it | all cores decoding | of it |\n"
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
        )
        for name, engine, workers, measured, limit, measured_limit in rows:
            print(
                f"| {name} | {engine} | {workers} | {cores} | {measured:.1f} | {limit:.1f} | "
                f"{measured / limit:.0%} | {measured_limit:.1f} | {measured / measured_limit:.0%} |"
            )


if __name__ == "__main__":
    main()
