"""`read_annotations`: one split of a dataset, by the name of its annotation format.

The programs (`examples/train.py`, `examples/evaluate.py`) and anyone who takes a format
on a command line pick the reader here, so every format one program reads the other
reads too. The formats are a table, name -> `AnnotationFormat`: a new dataset format is
a reader in `annotations.py` plus a row here.
"""

import dataclasses
from collections.abc import Callable

from keras_stw.data import annotations
from keras_stw.data.annotations import Annotations
from keras_stw.data.decode import FRAME_TEMPLATE
from keras_stw.data.errors import AnnotationError

SUBSETS = ("train", "val")


@dataclasses.dataclass(frozen=True)
class AnnotationFormat:
    """How a dataset format is read: one row of the table of `FORMATS`.

    Args:
        read: callable. `read(source, labels, root, subset, split, on_error)` ->
            `Annotations`, where `source` is the annotation file, or the split folder
            when `split_folder`.
        labels: str. `"required"` or `"optional"` label file.
        split_folder: bool. Splits come from a split folder (`splits_dir`, `split`)
            rather than one annotation file per split; `"val"` is the test list.
        frame_template: str. File names of the format's JPEG frame folders.
            Defaults to mmaction2's `"img_{:05d}.jpg"`.

    Example:
    >>> row = annotation_format("kinetics")
    >>> row.labels, row.split_folder
    ('optional', False)
    """

    read: Callable[..., Annotations]
    labels: str
    split_folder: bool = False
    frame_template: str = FRAME_TEMPLATE


def _label_map(labels):
    return annotations.read_label_map(labels) if labels else None


def _split_subset(subset):
    return "train" if subset == "train" else "test"


_TABLE = {
    "list": AnnotationFormat(
        lambda source, labels, root, subset, split, on_error: annotations.read_list(
            source, root, _label_map(labels), on_error
        ),
        labels="optional",
    ),
    "sthv1": AnnotationFormat(
        lambda source, labels, root, subset, split, on_error: annotations.read_something_v1(
            source, labels, root, on_error
        ),
        labels="required",
        frame_template="{:05d}.jpg",
    ),
    "sthv2": AnnotationFormat(
        lambda source, labels, root, subset, split, on_error: annotations.read_something_v2(
            source, labels, root, on_error=on_error
        ),
        labels="required",
    ),
    "kinetics": AnnotationFormat(
        lambda source, labels, root, subset, split, on_error: annotations.read_kinetics_csv(
            source, root, class_names=_label_map(labels), on_error=on_error
        ),
        labels="optional",
    ),
    "ucf101": AnnotationFormat(
        lambda source, labels, root, subset, split, on_error: annotations.read_ucf101(
            source, root, split=split, subset=_split_subset(subset), on_error=on_error
        ),
        labels="none",
        split_folder=True,
    ),
    "hmdb51": AnnotationFormat(
        lambda source, labels, root, subset, split, on_error: annotations.read_hmdb51(
            source, root, split=split, subset=_split_subset(subset), on_error=on_error
        ),
        labels="none",
        split_folder=True,
    ),
}
FORMATS = tuple(_TABLE)


def annotation_format(format: str) -> AnnotationFormat:
    """The table row of a format name: its reader, label file and frame file names.

    Args:
        format: str. One of `FORMATS`.

    Returns:
        `AnnotationFormat`.

    Raises:
        ValueError: `format` is not one of `FORMATS`.

    Example:
    >>> annotation_format("ucf101").split_folder
    True
    """
    if format not in _TABLE:
        raise ValueError(f"`format` must be one of {FORMATS}. Received: format={format!r}")
    return _TABLE[format]


def read_annotations(
    format: str,
    subset: str,
    *,
    annotation_file: str | None = None,
    labels: str | None = None,
    root: str = "",
    splits_dir: str | None = None,
    split: int = 1,
    on_error: str = "raise",
) -> Annotations:
    """Reads the `"train"` or `"val"` split of a dataset in a named format.

    | format | `annotation_file` | `labels` |
    | --- | --- | --- |
    | `"list"` | `path [num_frames] label` lines | optional label map |
    | `"sthv1"` | Something-Something v1 `id;label` CSV | labels CSV |
    | `"sthv2"` | Something-Something v2 JSON | labels JSON |
    | `"kinetics"` | Kinetics CSV | optional label map |
    | `"ucf101"`, `"hmdb51"` | none: `splits_dir` and `split` | none |

    UCF101 and HMDB51 have no validation split: `"val"` reads their test list.

    Args:
        format: str. One of `FORMATS`.
        subset: str. `"train"` or `"val"`.
        annotation_file: str. The split's annotation file (not for UCF101 / HMDB51).
        labels: str. The label file. Defaults to `None`.
        root: str. Folder the annotated videos or frame folders are in. Defaults to
            `""`.
        splits_dir: str. UCF101's `ucfTrainTestlist` or HMDB51's split folder.
        split: int. UCF101 / HMDB51 split, 1 to 3. Defaults to `1`.
        on_error: str. `"raise"` or `"skip"` malformed lines. Defaults to `"raise"`.

    Returns:
        `Annotations`.

    Raises:
        AnnotationError: a file the format needs is not given, or is malformed.

    Example:
    >>> train = read_annotations("sthv2", "train", annotation_file="train.json",
    ...     labels="labels.json", root="videos")
    """
    row = annotation_format(format)
    if subset not in SUBSETS:
        raise ValueError(f"`subset` must be one of {SUBSETS}. Received: subset={subset!r}")
    if row.split_folder:
        if splits_dir is None:
            raise AnnotationError(f"The {format} format needs its split folder (`splits_dir`).")
        return row.read(splits_dir, labels, root, subset, split, on_error)
    if annotation_file is None:
        raise AnnotationError(f"The {format} format needs the {subset} annotation file.")
    if row.labels == "required" and labels is None:
        raise AnnotationError(f"The {format} format needs its label file (`labels`).")
    return row.read(annotation_file, labels, root, subset, split, on_error)


def frame_template_of(format: str) -> str:
    """The frame file names of a format's frame folders.

    Args:
        format: str. One of `FORMATS`.

    Returns:
        `"{:05d}.jpg"` for Something-Something v1, mmaction2's `"img_{:05d}.jpg"`
        for the others.

    Example:
    >>> frame_template_of("sthv1")
    '{:05d}.jpg'
    """
    return _TABLE[format].frame_template if format in _TABLE else FRAME_TEMPLATE
