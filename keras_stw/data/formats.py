"""`read_annotations`: one split of a dataset, by the name of its annotation format.

The programs (`examples/train.py`, `examples/evaluate.py`) and anyone who takes a format
on a command line pick the reader here, so every format one program reads the other
reads too. A new dataset format is a reader in `annotations.py` plus a line here.
"""

from keras_stw.data import annotations
from keras_stw.data.annotations import AnnotationError, Annotations
from keras_stw.data.decode import FRAME_TEMPLATE

FORMATS = ("list", "sthv1", "sthv2", "kinetics", "ucf101", "hmdb51")
SUBSETS = ("train", "val")
# Frame file names of the formats that come as JPEG frame folders, when not mmaction2's.
_FRAME_TEMPLATES = {"sthv1": "{:05d}.jpg"}


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
    if format not in FORMATS:
        raise ValueError(f"`format` must be one of {FORMATS}. Received: format={format!r}")
    if subset not in SUBSETS:
        raise ValueError(f"`subset` must be one of {SUBSETS}. Received: subset={subset!r}")
    if format in ("ucf101", "hmdb51"):
        if splits_dir is None:
            raise AnnotationError(f"The {format} format needs its split folder (`splits_dir`).")
        reader = annotations.read_ucf101 if format == "ucf101" else annotations.read_hmdb51
        split_subset = "train" if subset == "train" else "test"
        return reader(splits_dir, root, split=split, subset=split_subset, on_error=on_error)
    if annotation_file is None:
        raise AnnotationError(f"The {format} format needs the {subset} annotation file.")
    if format in ("sthv1", "sthv2") and labels is None:
        raise AnnotationError(f"The {format} format needs its label file (`labels`).")
    if format == "sthv1":
        return annotations.read_something_v1(annotation_file, labels, root, on_error)
    if format == "sthv2":
        return annotations.read_something_v2(annotation_file, labels, root, on_error=on_error)
    class_names = annotations.read_label_map(labels) if labels else None
    if format == "list":
        return annotations.read_list(annotation_file, root, class_names, on_error)
    return annotations.read_kinetics_csv(
        annotation_file, root, class_names=class_names, on_error=on_error
    )


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
    return _FRAME_TEMPLATES.get(format, FRAME_TEMPLATE)
