"""Annotation readers: Something-Something v1/v2, Kinetics-400, UCF101, HMDB51, lists.

Every reader returns an `Annotations(records, class_names)` pair. A record holds a
video's path (file or frame folder), its label index, its frame count when the
annotation gives one, and its origin (`file:line`) so a later decoding error can name
the annotation line. Malformed lines raise `AnnotationError` naming file and line, or,
with `on_error="skip"`, are skipped and counted in one logged warning.
"""

import codecs
import csv
import dataclasses
import functools
import inspect
import io
import json
import logging
import os
import warnings
from typing import NamedTuple

from keras_stw.data.errors import AnnotationError, check_on_error

logger = logging.getLogger(__name__)


def num_frames_alias(function):
    """Accepts `num_frames=`, keras-stw 0.1.0's name of a video's length, as `total_frames=`.

    `num_frames` is a clip's length `T` everywhere else (`ClipSpec.num_frames`); where
    0.1.0 used it for a video's length, the decorated function still takes it, with a
    `DeprecationWarning`, and refuses it when `total_frames` is given too.

    Example:
    >>> @num_frames_alias
    ... def video_length(path, total_frames=None):
    ...     return total_frames
    >>> video_length("a.mp4", num_frames=12)  # DeprecationWarning
    12
    """
    signature = inspect.signature(function)

    @functools.wraps(function)
    def wrapper(*args, num_frames=None, **kwargs):
        if num_frames is None:
            return function(*args, **kwargs)
        bound = signature.bind_partial(*args, **kwargs)
        total_frames = bound.arguments.get("total_frames")
        if total_frames is not None:
            raise ValueError(
                "Pass the video's length once, as `total_frames`; `num_frames` is its "
                f"deprecated name. Received: total_frames={total_frames!r}, "
                f"num_frames={num_frames!r}"
            )
        _warn_num_frames()
        bound.arguments["total_frames"] = num_frames
        return function(*bound.args, **bound.kwargs)

    return wrapper


def _warn_num_frames():
    # Level 3: the caller of the property or of the decorated function.
    warnings.warn(
        "`num_frames` is deprecated as a video's length: it is `total_frames` "
        "(`num_frames` is a clip's length, `ClipSpec.num_frames`).",
        DeprecationWarning,
        stacklevel=3,
    )


@dataclasses.dataclass(frozen=True, init=False)
class VideoRecord:
    """One annotated video.

    Args:
        path: str. Video file or JPEG frame folder.
        label: int. Class index; `-1` when the annotation has no label (test sets).
        total_frames: int or `None`. The video's length, its frame count from the
            annotation, or `None` to count the frames when the video is read.
            Defaults to `None`.
        origin: str. Where the record comes from, `"file:line"`. Defaults to `""`.
        num_frames: deprecated name of `total_frames`, from keras-stw 0.1.0 (a clip's
            length `T` is `ClipSpec.num_frames`; a video's is `total_frames`).

    Example:
    >>> VideoRecord("a.mp4", 3, total_frames=120).total_frames
    120
    """

    path: str
    label: int
    total_frames: int | None = None
    origin: str = ""

    @num_frames_alias
    def __init__(self, path, label, total_frames=None, origin=""):
        # Frozen: set as the generated `__init__` would.
        for name, value in zip(
            ("path", "label", "total_frames", "origin"),
            (path, label, total_frames, origin),
            strict=True,
        ):
            object.__setattr__(self, name, value)

    @property
    def num_frames(self) -> int | None:
        """Deprecated name of `total_frames`."""
        _warn_num_frames()
        return self.total_frames


class Annotations(NamedTuple):
    """The records of a split and the class names their labels index."""

    records: list[VideoRecord]
    class_names: list[str]


def read_label_map(path: str) -> list[str]:
    """Reads class names, one a line, in class-index order (e.g. `label_map_k400.txt`).

    Args:
        path: str. Text file; blank lines are ignored.

    Returns:
        The class names.

    Raises:
        AnnotationError: the file is empty or names a class twice.

    Example:
    >>> read_label_map("label_map_k400.txt")[:2]
    ['abseiling', 'air drumming']
    """
    names = [line.strip() for line in _read_lines(path) if line.strip()]
    _check_names(names, path)
    return names


def read_list(
    path: str,
    root: str = "",
    class_names: list[str] | None = None,
    on_error: str = "raise",
) -> Annotations:
    """Reads a generic list: `path label` or `path total_frames label` per line.

    Paths may contain spaces: the label (and frame count) are the last fields.

    Args:
        path: str. The list file.
        root: str. Folder the listed paths are relative to. Defaults to `""`.
        class_names: list of str. Class names; labels must index them. Defaults to
            `None`: names `"0"`, `"1"`, ... up to the largest label.
        on_error: str. `"raise"` or `"skip"` malformed lines. Defaults to `"raise"`.

    Returns:
        `Annotations`.

    Example:
    >>> records, names = read_list("train.txt", root="videos")
    """

    def parse(line):
        fields = line.split()
        if len(fields) >= 3 and fields[-2].isdigit():
            name, frames, label = line.rsplit(maxsplit=2)
            frames = _positive_int(frames, "frame count")
        else:
            name, label = line.rsplit(maxsplit=1)
            frames = None
        return os.path.join(root, name), _label_index(label, class_names), frames

    records = _parse_lines(path, parse, on_error)
    if class_names is None:
        class_names = [str(i) for i in range(max(r.label for r in records) + 1)]
    return Annotations(records, list(class_names))


def read_something_v1(
    annotation_file: str,
    label_file: str,
    frames_root: str,
    on_error: str = "raise",
) -> Annotations:
    """Reads Something-Something v1: `id;label` lines and a label list.

    Each video is a JPEG frame folder `frames_root/id` with frames `00001.jpg`, ...
    (pass `frame_template="{:05d}.jpg"` to `video_dataset`).

    Args:
        annotation_file: str. `something-something-v1-train.csv` or `-validation.csv`.
        label_file: str. `something-something-v1-labels.csv`, one class a line.
        frames_root: str. Folder holding one frame folder per video id.
        on_error: str. `"raise"` or `"skip"` malformed lines. Defaults to `"raise"`.

    Returns:
        `Annotations`.

    Example:
    >>> records, names = read_something_v1("train.csv", "labels.csv", "frames")
    """
    class_names = read_label_map(label_file)

    def parse(line):
        video_id, sep, label = line.partition(";")
        if not sep or not video_id.strip():
            raise ValueError("expected `id;label`")
        return (
            os.path.join(frames_root, video_id.strip()),
            _class_index(label.strip(), class_names),
            None,
        )

    return Annotations(_parse_lines(annotation_file, parse, on_error), class_names)


def read_something_v2(
    annotation_file: str,
    labels_file: str,
    videos_root: str,
    extension: str = ".webm",
    on_error: str = "raise",
) -> Annotations:
    """Reads Something-Something v2: a JSON list of videos and a JSON label map.

    A video's class is its `template` with the brackets removed
    (`"Pushing [something] from left to right"`); test entries without a template get
    label `-1`. The "line" of an error is the entry's position in the list, from 1.

    Args:
        annotation_file: str. `something-something-v2-train.json` (or validation, test).
        labels_file: str. `something-something-v2-labels.json`, `{name: "index"}`.
        videos_root: str. Folder of the `{id}.webm` videos.
        extension: str. Video file extension. Defaults to `".webm"`.
        on_error: str. `"raise"` or `"skip"` malformed entries. Defaults to `"raise"`.

    Returns:
        `Annotations`.

    Example:
    >>> records, names = read_something_v2("train.json", "labels.json", "videos")
    """
    labels = _load_json(labels_file)
    if not isinstance(labels, dict) or not labels:
        raise AnnotationError(f"{labels_file}: expected a non-empty `{{name: index}}` map.")
    class_names = [name for name, _ in sorted(labels.items(), key=lambda kv: int(kv[1]))]
    _check_names(class_names, labels_file)

    def parse(entry):
        video_id = str(entry["id"])
        if "template" in entry:
            name = entry["template"].replace("[", "").replace("]", "")
            label = _class_index(name, class_names)
        else:
            label = -1
        return os.path.join(videos_root, video_id + extension), label, None

    entries = _load_json(annotation_file)
    if not isinstance(entries, list):
        raise AnnotationError(f"{annotation_file}: expected a JSON list of videos.")
    return Annotations(_parse_items(annotation_file, entries, parse, on_error), class_names)


def read_kinetics_csv(
    csv_file: str,
    videos_root: str,
    class_names: list[str] | None = None,
    path_format: str = "{label}/{youtube_id}_{time_start:06d}_{time_end:06d}.mp4",
    on_error: str = "raise",
) -> Annotations:
    """Reads a Kinetics CSV (`label,youtube_id,time_start,time_end,split`).

    Args:
        csv_file: str. `train.csv`, `validate.csv` or `test.csv` of Kinetics-400.
        videos_root: str. Folder the formatted paths are relative to.
        class_names: list of str. Class names (e.g. `read_label_map(
            "label_map_k400.txt")`). Defaults to `None`: the CSV's labels, sorted.
        path_format: str. A video's path, formatted with the CSV's columns
            (`time_start`/`time_end` as ints). Defaults to the
            `label/youtubeid_000010_000020.mp4` layout of the common downloaders.
        on_error: str. `"raise"` or `"skip"` malformed rows. Defaults to `"raise"`.

    Returns:
        `Annotations`.

    Example:
    >>> records, names = read_kinetics_csv("train.csv", "k400/train")
    """
    rows = list(csv.DictReader(io.StringIO(_read_text(csv_file), newline="")))
    if not rows:
        raise AnnotationError(f"{csv_file}: the annotation file has no rows.")
    missing = {"youtube_id", "time_start", "time_end"} - set(rows[0])
    if missing:
        raise AnnotationError(f"{csv_file}:1: missing column(s) {sorted(missing)}.")
    if class_names is None:
        class_names = sorted({row["label"] for row in rows if row.get("label")})

    def parse(row):
        fields = dict(row, time_start=int(row["time_start"]), time_end=int(row["time_end"]))
        label = row.get("label")
        index = _class_index(label, class_names) if label else -1
        return os.path.join(videos_root, path_format.format(**fields)), index, None

    # Row i of the data is line i + 1 of the file: the header is line 1.
    records = _parse_items(csv_file, rows, parse, on_error, first_line=2)
    return Annotations(records, list(class_names))


def read_ucf101(
    splits_dir: str,
    videos_root: str,
    *,
    split: int = 1,
    subset: str = "train",
    on_error: str = "raise",
) -> Annotations:
    """Reads a UCF101 split: `classInd.txt` and `trainlist0N.txt` / `testlist0N.txt`.

    Train lists give `Class/v_Class_g08_c01.avi index` (1-based); test lists give the
    path only, and the class is the path's folder.

    Args:
        splits_dir: str. The `ucfTrainTestlist` folder.
        videos_root: str. Folder holding the class folders of videos.
        split: int. 1, 2 or 3. Defaults to `1`.
        subset: str. `"train"` or `"test"`. Defaults to `"train"`.
        on_error: str. `"raise"` or `"skip"` malformed lines. Defaults to `"raise"`.

    Returns:
        `Annotations`.

    Example:
    >>> records, names = read_ucf101("ucfTrainTestlist", "UCF-101", split=1)
    """
    _check_split(split, subset)
    class_file = os.path.join(splits_dir, "classInd.txt")
    numbered = [line.split() for line in _read_lines(class_file) if line.strip()]
    class_names = [fields[-1] for fields in sorted(numbered, key=lambda f: int(f[0]))]
    _check_names(class_names, class_file)

    def parse(line):
        name = line.split()[0]
        label = _class_index(name.replace("\\", "/").split("/")[0], class_names)
        return os.path.join(videos_root, name), label, None

    list_file = os.path.join(splits_dir, f"{subset}list{split:02d}.txt")
    return Annotations(_parse_lines(list_file, parse, on_error), class_names)


def read_hmdb51(
    splits_dir: str,
    videos_root: str,
    *,
    split: int = 1,
    subset: str = "train",
    class_names: list[str] | None = None,
    on_error: str = "raise",
) -> Annotations:
    """Reads an HMDB51 split from the `{class}_test_split{N}.txt` files.

    Each line is `video.avi tag` with tag 1 for train, 2 for test and 0 for unused.

    Args:
        splits_dir: str. The `testTrainMulti_7030_splits` folder.
        videos_root: str. Folder holding the class folders of videos.
        split: int. 1, 2 or 3. Defaults to `1`.
        subset: str. `"train"` or `"test"`. Defaults to `"train"`.
        class_names: list of str. Class order. Defaults to `None`: the classes of
            the split files, sorted (the order of `label_map_hmdb51.txt`).
        on_error: str. `"raise"` or `"skip"` malformed lines. Defaults to `"raise"`.

    Returns:
        `Annotations`.

    Example:
    >>> records, names = read_hmdb51("splits", "hmdb51", split=1, subset="test")
    """
    _check_split(split, subset)
    suffix = f"_test_split{split}.txt"
    files = sorted(f for f in os.listdir(splits_dir) if f.endswith(suffix))
    if not files:
        raise AnnotationError(f"{splits_dir}: no `*{suffix}` split file.")
    found = [f[: -len(suffix)] for f in files]
    class_names = list(class_names) if class_names is not None else found
    wanted_tag = "1" if subset == "train" else "2"
    records = []
    for file, name in zip(files, found, strict=True):
        path = os.path.join(splits_dir, file)
        try:
            label = _class_index(name, class_names, where=path)
        except ValueError as error:
            raise AnnotationError(str(error)) from None

        def parse(line, label=label, name=name):
            video, tag = line.split()
            if tag not in ("0", "1", "2"):
                raise ValueError(f"tag must be 0, 1 or 2, got {tag!r}")
            if tag != wanted_tag:
                return None
            return os.path.join(videos_root, name, video), label, None

        records += _parse_lines(path, parse, on_error, allow_empty=True)
    if not records:
        raise AnnotationError(f"{splits_dir}: split {split} has no {subset} video.")
    return Annotations(records, class_names)


def _parse_lines(path, parse, on_error, allow_empty=False):
    lines = _read_lines(path)
    items = [(number, line.strip()) for number, line in enumerate(lines, 1)]
    items = [(number, line) for number, line in items if line]
    return _parse_numbered(path, items, parse, on_error, allow_empty)


def _parse_items(path, items, parse, on_error, first_line=1):
    numbered = list(enumerate(items, first_line))
    return _parse_numbered(path, numbered, parse, on_error, allow_empty=False)


def _parse_numbered(path, numbered, parse, on_error, allow_empty):
    check_on_error(on_error)
    if not numbered and not allow_empty:
        raise AnnotationError(f"{path}: the annotation file is empty.")
    records, skipped = [], 0
    for number, item in numbered:
        try:
            parsed = parse(item)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            message = f"{path}:{number}: {error} (in {item!r})"
            if on_error == "raise":
                raise AnnotationError(message) from error
            skipped += 1
            continue
        if parsed is not None:
            video, label, frames = parsed
            records.append(VideoRecord(video, label, frames, f"{path}:{number}"))
    if skipped:
        logger.warning("%s: skipped %d malformed annotation line(s).", path, skipped)
    if not records and not allow_empty:
        raise AnnotationError(f"{path}: no valid annotation line.")
    return records


def _class_index(name, class_names, where=None):
    try:
        return class_names.index(name)
    except ValueError:
        prefix = f"{where}: " if where else ""
        raise ValueError(f"{prefix}label {name!r} is not in the label list") from None


def _label_index(text, class_names):
    label = int(text)
    if label < 0 or (class_names is not None and label >= len(class_names)):
        count = "?" if class_names is None else len(class_names)
        raise ValueError(f"label {label} is not in the label list of {count} classes")
    return label


def _positive_int(text, what):
    value = int(text)
    if value < 1:
        raise ValueError(f"{what} must be positive, got {value}")
    return value


def _check_split(split, subset):
    if split not in (1, 2, 3):
        raise ValueError(f"`split` must be 1, 2 or 3. Received: split={split!r}")
    if subset not in ("train", "test"):
        raise ValueError(f"`subset` must be 'train' or 'test'. Received: subset={subset!r}")


def _check_names(names, path):
    if not names:
        raise AnnotationError(f"{path}: the label list is empty.")
    if len(set(names)) != len(names):
        raise AnnotationError(f"{path}: the label list names a class twice.")


def _read_text(path):
    """The file's text: UTF-8, or UTF-16 / UTF-8 with the byte-order mark Windows writes."""
    try:
        with open(path, "rb") as file:
            raw = file.read()
    except OSError as error:
        raise AnnotationError(f"{path}: cannot open the annotation file ({error}).") from None
    # Windows Notepad's "Unicode" is UTF-16 with a byte-order mark; "utf-16" reads either
    # byte order from it and drops it, "utf-8-sig" drops UTF-8's.
    encoding = "utf-16" if raw[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else "utf-8-sig"
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as error:
        if b"\0" not in raw:
            raise AnnotationError(
                f"{path}: not {encoding.upper().replace('-SIG', '')} text (byte {error.start}: "
                f"{error.reason}); save it as UTF-8."
            ) from None
        text = "\0"
    if "\0" in text:
        raise AnnotationError(
            f"{path}: holds NUL characters: not UTF-8, nor UTF-16 with a byte-order mark "
            "(UTF-16 without one, UTF-32, a binary file?); save it as UTF-8."
        )
    return text


def _read_lines(path):
    return _read_text(path).splitlines()


def _load_json(path):
    text = _read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise AnnotationError(f"{path}:{error.lineno}: invalid JSON ({error.msg}).") from None
