"""Synthetic temporal benchmarks: mp4 videos whose classes differ only in time.

Two task families, each a list of class pairs; within a pair the frames, taken as a
set, look the same, so a model that ignores frame order (TSN) is at chance within the
pair, while a temporal model is not.

- `task="reversal"` (`PAIRS`): every video of the first class of a pair has a twin in
  the second class that is the same frames in reverse order (moving left to right /
  right to left, approaching / receding, ...). The direction of one motion decides.
- `task="temporal"` (`TEMPORAL_PAIRS`): finer temporal reasoning, in a textured
  background that pans and with two distractors in straight motion. Four pairs are
  time-reversal pairs as above (rotation direction, approach / recede, the order of two
  events, speeding up / slowing down along a random direction); in the two others the
  two classes are rendered independently with the same distribution of single frames:
  the same path at two speeds (one or two swings back and forth) and "there and back"
  vs "one way".

Shapes, textures, colours, positions, amplitudes, timings and distractors are random,
and everything is drawn from `seed`.
"""

import concurrent.futures
import dataclasses
import functools
import multiprocessing
import os

import cv2
import numpy as np

from keras_stw.data.annotations import Annotations, num_frames_alias, read_label_map, read_list

PAIRS = (
    ("moving left to right", "moving right to left"),
    ("moving top to bottom", "moving bottom to top"),
    ("approaching", "receding"),
    ("rotating clockwise", "rotating anticlockwise"),
    ("appearing", "disappearing"),
    ("filling", "emptying"),
    ("brightening", "darkening"),
    ("opening", "closing"),
)
# The first four pairs are time-reversal pairs: the second class is the first reversed.
TEMPORAL_PAIRS = (
    ("rotating clockwise", "rotating anticlockwise"),
    ("approaching", "receding"),
    ("square before circle", "circle before square"),
    ("speeding up", "slowing down"),
    ("swinging once", "swinging twice"),
    ("moving there and back", "moving one way"),
)
TASKS = {"reversal": (PAIRS, len(PAIRS)), "temporal": (TEMPORAL_PAIRS, 4)}
SHAPES = ("circle", "square", "triangle", "star", "kite")


@dataclasses.dataclass(frozen=True)
class SyntheticDataset:
    """Where `write_synthetic_dataset` put its files.

    Args:
        directory: str. The dataset's folder; list paths are relative to it.
        train_list: str. Generic list (`path total_frames label`) of the train split.
        val_list: str. Generic list of the validation split.
        label_map: str. Class names, one a line.
        class_names: list of str. The class names, in label order.
        reversal_pairs: int. The first `reversal_pairs` pairs (labels below
            `2 * reversal_pairs`) are time-reversal pairs: label `2k + 1`'s videos are
            label `2k`'s played backwards.
    """

    directory: str
    train_list: str
    val_list: str
    label_map: str
    class_names: list[str]
    reversal_pairs: int

    def read(self, subset: str = "train") -> Annotations:
        """Reads the `"train"` or `"val"` split as `Annotations`."""
        lists = {"train": self.train_list, "val": self.val_list}
        if subset not in lists:
            raise ValueError(f"`subset` must be 'train' or 'val'. Received: {subset!r}")
        return read_list(lists[subset], root=self.directory, class_names=self.class_names)


@num_frames_alias
def write_synthetic_dataset(
    directory: str,
    *,
    task: str = "reversal",
    num_classes: int = 8,
    videos_per_class: int = 40,
    total_frames: int = 16,
    size: int | tuple[int, int] = 64,
    val_fraction: float = 0.25,
    distractor: bool = True,
    fps: int = 8,
    seed: int = 0,
    workers: int = 1,
) -> SyntheticDataset:
    """Writes a synthetic temporal benchmark as mp4 files and list files.

    Args:
        directory: str. Output folder (created). Videos go to `directory/videos/`;
            `train.txt`, `val.txt` and `label_map.txt` beside them.
        task: str. `"reversal"` (classes from `PAIRS`) or `"temporal"` (classes from
            `TEMPORAL_PAIRS`, moving textured background). Defaults to `"reversal"`.
        num_classes: int. Even, at most twice the task's number of pairs (16 for
            `"reversal"`, 12 for `"temporal"`); the first pairs are taken.
            Defaults to `8`.
        videos_per_class: int. Videos per class, train and validation together.
            Defaults to `40`.
        total_frames: int. Frames per video. Defaults to `16`.
        size: int or `(height, width)`. Frame size. Defaults to `64`.
        val_fraction: float. Share of each class's videos in the validation split.
            Defaults to `0.25`.
        distractor: bool. Add objects in random straight motion (one for
            `"reversal"`, two for `"temporal"`). Defaults to `True`.
        fps: int. Frame rate written in the files. Defaults to `8`.
        seed: int. Seed of everything random. Defaults to `0`.
        workers: int. Processes that render and write the videos (started with
            "spawn", so safe after a GPU backend has started). Every video depends on
            `seed` alone, so the files are the same for any number. Defaults to `1`.
        num_frames: deprecated name of `total_frames`, from keras-stw 0.1.0.

    Returns:
        A `SyntheticDataset`.

    Example:
    >>> data = write_synthetic_dataset("/tmp/synth", num_classes=4, videos_per_class=8)
    >>> records, names = data.read("train")
    >>> names[:2]
    ['moving left to right', 'moving right to left']
    """
    if task not in TASKS:
        raise ValueError(f"`task` must be one of {sorted(TASKS)}. Received: task={task!r}")
    pairs, reversal_pairs = TASKS[task]
    if num_classes % 2 or not 2 <= num_classes <= 2 * len(pairs):
        raise ValueError(
            f"`num_classes` must be even, from 2 to {2 * len(pairs)} for task={task!r}. "
            f"Received: num_classes={num_classes}"
        )
    if videos_per_class < 1 or total_frames < 2:
        raise ValueError(
            "Need at least 1 video per class and 2 frames per video. Received: "
            f"videos_per_class={videos_per_class}, total_frames={total_frames}"
        )
    if workers < 1:
        raise ValueError(f"`workers` must be at least 1. Received: workers={workers}")
    height, width = (size, size) if isinstance(size, int) else size
    class_names = [name for pair in pairs[: num_classes // 2] for name in pair]
    os.makedirs(os.path.join(directory, "videos"), exist_ok=True)
    num_val = min(max(int(round(videos_per_class * val_fraction)), 1), videos_per_class - 1)
    jobs = [(pair, j) for pair in range(num_classes // 2) for j in range(videos_per_class)]
    write = functools.partial(
        _write_pair_videos,
        directory=directory,
        task=task,
        shape=(total_frames, height, width),
        distractor=distractor,
        fps=fps,
        seed=seed,
    )
    if workers == 1:
        written = list(map(write, jobs))
    else:
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            written = list(pool.map(write, jobs, chunksize=max(len(jobs) // (8 * workers), 1)))
    lines = {"train": [], "val": []}
    for (_, j), videos in zip(jobs, written, strict=True):
        subset = "val" if j >= videos_per_class - num_val else "train"
        lines[subset] += [f"{name} {total_frames} {label}" for name, label in videos]
    paths = {}
    for subset, content in (*lines.items(), ("label_map", class_names)):
        paths[subset] = os.path.join(directory, f"{subset}.txt")
        with open(paths[subset], "w", encoding="utf-8") as file:
            file.write("\n".join(content) + "\n")
    return SyntheticDataset(
        directory,
        paths["train"],
        paths["val"],
        paths["label_map"],
        read_label_map(paths["label_map"]),
        min(reversal_pairs, num_classes // 2),
    )


def _write_pair_videos(job, *, directory, task, shape, distractor, fps, seed):
    """Renders and writes video `j` of both classes of pair `pair`; their (path, label)."""
    pair, j = job
    rng = np.random.default_rng([seed, pair, j])
    if task == "reversal":
        frames = render_video(pair, rng, *shape, distractor)
        clips = (frames, frames[::-1])
    else:
        clips = render_temporal_pair(pair, rng, *shape, distractor)
    videos = [(f"videos/{label:02d}_{j:04d}.mp4", label) for label in (2 * pair, 2 * pair + 1)]
    for (name, _), clip in zip(videos, clips, strict=True):
        _write_mp4(os.path.join(directory, name), clip, fps)
    return videos


@num_frames_alias
def render_video(
    pair: int,
    rng: np.random.Generator,
    total_frames: int,
    height: int,
    width: int,
    distractor: bool = True,
) -> np.ndarray:
    """Renders a video of the first class of `PAIRS[pair]`; reversed, it is the second.

    Args:
        pair: int. Index into `PAIRS`.
        rng: `np.random.Generator`. Source of every random choice.
        total_frames: int. The video's length in frames.
        height: int. Frame height.
        width: int. Frame width.
        distractor: bool. Add a second object in straight motion. Defaults to `True`.
        num_frames: deprecated name of `total_frames`, from keras-stw 0.1.0.

    Returns:
        uint8 RGB array `(total_frames, height, width, 3)`.

    Example:
    >>> render_video(0, np.random.default_rng(0), 8, 32, 32).shape
    (8, 32, 32, 3)
    """
    short = min(height, width)
    background = _texture(rng, height, width, dark=True)
    texture = _texture(rng, height, width, dark=False)
    # Rotation needs a shape without rotational symmetry, or a turn could look like
    # its reverse; opening and closing need a round mouth.
    shape = {3: "kite", 7: "circle"}.get(pair) or SHAPES[rng.integers(len(SHAPES))]
    radius = rng.uniform(0.14, 0.22) * short
    center = np.array([rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height])
    # Motion happens in [start, start + duration] of the video: random start and speed.
    start = rng.uniform(0.0, 0.35)
    duration = rng.uniform(0.4, 1.0 - start)
    angle0 = rng.uniform(0, 360)
    turn = rng.uniform(90, 270)
    path_start = rng.uniform(0.15, 0.45)
    path_end = rng.uniform(path_start + 0.3, 0.9)
    other = _distractor(rng, height, width) if distractor else None
    frames = []
    for t in range(total_frames):
        p = float(np.clip((t / (total_frames - 1) - start) / duration, 0.0, 1.0))
        frame = background.astype(np.float32)
        pos, scale, angle, alpha, level, mouth = center.copy(), 1.0, angle0, 1.0, 1.0, 0.0
        if pair == 0:
            pos[0] = (path_start + p * (path_end - path_start)) * width
        elif pair == 1:
            pos[1] = (path_start + p * (path_end - path_start)) * height
        elif pair == 2:
            scale = 0.35 + 0.65 * p
        elif pair == 3:
            angle = angle0 + turn * p
        elif pair == 4:
            alpha = p
        elif pair == 5:
            level = p
        elif pair == 7:
            mouth = 20 + 140 * p
        mask = _shape_mask(shape, pos, radius * scale, angle, mouth, height, width)
        if pair == 5:
            mask = _fill_mask(pos, radius, level, height, width)
        if other is not None:
            other_mask = _shape_mask(
                "circle", other[0] + t * other[1], other[2], 0, 0, height, width
            )
            frame = frame * (1 - other_mask) + other_mask * other[3]
        frame = frame * (1 - alpha * mask) + texture * (alpha * mask)
        if pair == 5:
            outline = _outline_mask(pos, radius, height, width)
            frame = frame * (1 - outline) + 255 * outline
        if pair == 6:
            frame = frame * (0.3 + 0.7 * p)
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return np.stack(frames)


@num_frames_alias
def render_temporal_pair(
    pair: int,
    rng: np.random.Generator,
    total_frames: int,
    height: int,
    width: int,
    distractor: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Renders one video of each class of `TEMPORAL_PAIRS[pair]`.

    In a time-reversal pair (the first four) the second video is the first played
    backwards. In the others each class gets its own draw of the scene, from the same
    distributions, so that single frames do not tell the two classes apart.

    Args:
        pair: int. Index into `TEMPORAL_PAIRS`.
        rng: `np.random.Generator`. Source of every random choice.
        total_frames: int. The videos' length in frames.
        height: int. Frame height.
        width: int. Frame width.
        distractor: bool. Add two objects in straight motion. Defaults to `True`.
        num_frames: deprecated name of `total_frames`, from keras-stw 0.1.0.

    Returns:
        Two uint8 RGB arrays `(total_frames, height, width, 3)`: the first class's
        video and the second's.

    Example:
    >>> first, second = render_temporal_pair(0, np.random.default_rng(0), 8, 32, 32)
    >>> np.array_equal(first[::-1], second)
    True
    """
    names = TEMPORAL_PAIRS[pair]
    if pair < TASKS["temporal"][1]:
        frames = _render_temporal(names[0], rng, total_frames, height, width, distractor)
        return frames, frames[::-1]
    first, second = (
        _render_temporal(name, rng, total_frames, height, width, distractor) for name in names
    )
    return first, second


def _render_temporal(name, rng, total_frames, height, width, distractor):
    short = min(height, width)
    size = np.array([width, height], np.float32)
    # The background is a texture twice the frame's size, panned at constant speed.
    background = _texture(rng, 2 * height, 2 * width, dark=True)
    origin = rng.uniform(0.2, 0.8, 2) * size
    pan = rng.normal(0, 0.03, 2) * short
    others = [_moving_object(rng, height, width) for _ in range(2 * distractor)]
    textures = [_texture(rng, height, width, dark=False) for _ in range(2)]
    shape = "kite" if name == "rotating clockwise" else SHAPES[rng.integers(len(SHAPES))]
    radius = rng.uniform(0.13, 0.2) * short
    center = rng.uniform(0.3, 0.7, 2) * size
    heading = rng.uniform(0, 2 * np.pi)
    path = rng.uniform(0.35, 0.6) * short * np.array([np.cos(heading), np.sin(heading)])
    angle0 = rng.uniform(0, 360)
    turn = rng.uniform(60, 180)
    scale0 = rng.uniform(0.3, 0.6)
    phase = rng.uniform(0, 2 * np.pi)
    # Large frames need no supersampling for smooth motion, and it is the main cost.
    supersample = int(np.clip(128 // short, 1, 4))
    # The two events: each object is shown for `shown` of the clip, one after the other.
    shown = rng.uniform(0.2, 0.35)
    first_on = rng.uniform(0, 0.1)
    second_on = rng.uniform(first_on + shown + 0.05, 1 - shown)
    places = center + rng.choice([-1, 1], 2) * rng.uniform(0.12, 0.2, 2) * size
    frames = []
    for i in range(total_frames):
        t = i / (total_frames - 1)
        shift = origin + pan * i
        frame = cv2.warpAffine(
            background,
            np.float32([[1, 0, -shift[0]], [0, 1, -shift[1]]]),
            (width, height),
            borderMode=cv2.BORDER_REFLECT,
        )
        for other_shape, start, velocity, other_radius, spin, color in others:
            position = start + velocity * i
            mask = _shape_mask(
                other_shape, position, other_radius, spin * i, 0, height, width, supersample
            )
            frame = frame * (1 - mask) + mask * color
        # (shape, centre, radius, angle, texture) of what is drawn on top.
        drawn = []
        if name == "rotating clockwise":
            drawn.append((shape, center, radius, angle0 + turn * t, textures[0]))
        elif name == "approaching":
            drawn.append((shape, center, radius * (scale0 + (1 - scale0) * t), angle0, textures[0]))
        elif name == "square before circle":
            if first_on <= t <= first_on + shown:
                drawn.append(("square", center, radius, 45, textures[0]))
            if second_on <= t <= second_on + shown:
                drawn.append(("circle", places, radius, 0, textures[1]))
        else:
            progress = {
                "speeding up": t**2,
                "swinging once": 0.5 - 0.5 * np.cos(2 * np.pi * t + phase),
                "swinging twice": 0.5 - 0.5 * np.cos(4 * np.pi * t + phase),
                "moving there and back": 1 - abs(2 * t - 1),
                "moving one way": t,
            }[name]
            drawn.append((shape, center + (progress - 0.5) * path, radius, angle0, textures[0]))
        for drawn_shape, position, drawn_radius, angle, texture in drawn:
            mask = _shape_mask(
                drawn_shape, position, drawn_radius, angle, 0, height, width, supersample
            )
            frame = frame * (1 - mask) + texture * mask
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return np.stack(frames)


def _moving_object(rng, height, width):
    start = rng.uniform(0.1, 0.9, 2) * [width, height]
    velocity = rng.normal(0, 0.04, 2) * min(height, width)
    radius = rng.uniform(0.06, 0.1) * min(height, width)
    shape = SHAPES[rng.integers(len(SHAPES))]
    return shape, start, velocity, radius, rng.uniform(-30, 30), rng.uniform(60, 255, 3)


def _texture(rng, height, width, dark):
    colors = rng.uniform(0, 110, (2, 3)) if dark else rng.uniform(120, 255, (2, 3))
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    kind = rng.integers(3)
    period = rng.uniform(4, 12)
    if kind == 0:
        theta = rng.uniform(0, np.pi)
        weight = (x * np.cos(theta) + y * np.sin(theta)) / (height + width)
    elif kind == 1:
        theta = rng.uniform(0, np.pi)
        weight = (np.sin((x * np.cos(theta) + y * np.sin(theta)) / period * np.pi) > 0) * 1.0
    else:
        weight = ((x // period + y // period) % 2) * 1.0
    weight = np.clip(weight, 0, 1)[..., None]
    image = colors[0] * (1 - weight) + colors[1] * weight
    noise = rng.normal(0, 6, (height // 4 + 1, width // 4 + 1, 3))
    noise = cv2.resize(noise, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(image + noise, 0, 255).astype(np.float32)


def _distractor(rng, height, width):
    start = rng.uniform(0.1, 0.9, 2) * [width, height]
    velocity = rng.normal(0, 0.03, 2) * [width, height]
    radius = rng.uniform(0.05, 0.09) * min(height, width)
    color = rng.uniform(60, 255, 3)
    return start, velocity, radius, color


def _shape_mask(shape, center, radius, angle, mouth, height, width, supersample=4):
    # Drawn `supersample` times larger and shrunk: sub-pixel motion stays smooth at
    # small sizes.
    k = supersample
    canvas = np.zeros((height * k, width * k), np.uint8)
    c = np.asarray(center) * k
    r = max(radius * k, 1.0)
    if shape == "circle":
        start = angle + mouth / 2
        cv2.ellipse(canvas, _point(c), (int(r), int(r)), 0, start, start + 360 - mouth, 255, -1)
    else:
        corners = {"square": 4, "triangle": 3, "star": 10, "kite": 4}[shape]
        theta = np.deg2rad(angle) + np.arange(corners) * 2 * np.pi / corners
        radii = {
            "star": np.where(np.arange(corners) % 2, 0.45, 1.0),
            "kite": np.array([1.2, 0.45, 0.6, 0.45]),
        }.get(shape, 1.0)
        points = c + (r * radii * np.stack([np.cos(theta), np.sin(theta)])).T
        cv2.fillPoly(canvas, [np.round(points).astype(np.int32)], 255)
    small = cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA)
    return (small.astype(np.float32) / 255.0)[..., None]


def _fill_mask(center, radius, level, height, width):
    mask = np.zeros((height, width), np.float32)
    top = center[1] + radius - 2 * radius * level
    y0, y1 = int(round(top)), int(round(center[1] + radius))
    x0, x1 = int(round(center[0] - radius)), int(round(center[0] + radius))
    mask[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = 1.0
    return mask[..., None]


def _outline_mask(center, radius, height, width):
    canvas = np.zeros((height, width), np.uint8)
    corner = np.asarray(center) - radius - 1
    cv2.rectangle(canvas, _point(corner), _point(corner + 2 * radius + 2), 255, 1)
    return (canvas.astype(np.float32) / 255.0)[..., None]


def _point(xy):
    return int(round(xy[0])), int(round(xy[1]))


def _write_mp4(path, frames, fps):
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise OSError(f"{path}: OpenCV cannot write mp4v video here.")
    for frame in frames:
        writer.write(np.ascontiguousarray(frame[..., ::-1]))
    writer.release()
