"""`keras_stw.data`: annotated videos to `tf.data` clips, and a synthetic benchmark.

The data path reads in one direction: annotations (`annotations.py`) -> decode
(`decode.py`, TF-free) -> sample (`sampling.py`, TF-free) -> augment (`augment.py`)
-> batch (`dataset.py`). `synthetic.py` writes a time-reversal benchmark.
"""

from keras_stw.data.annotations import (
    AnnotationError,
    Annotations,
    VideoRecord,
    read_hmdb51,
    read_kinetics_csv,
    read_label_map,
    read_list,
    read_something_v1,
    read_something_v2,
    read_ucf101,
)
from keras_stw.data.augment import (
    TSN_SCALES,
    flip_label_map_from_names,
    multi_view_crops,
    train_augment,
)
from keras_stw.data.clips import load_clip
from keras_stw.data.dataset import SkippedVideos, video_dataset
from keras_stw.data.decode import (
    DecodeError,
    count_frames,
    read_folder_frames,
    read_frames,
    read_video_frames,
)
from keras_stw.data.sampling import dense_indices, sample_indices, segment_indices
from keras_stw.data.synthetic import (
    PAIRS,
    SyntheticDataset,
    render_video,
    write_synthetic_dataset,
)

__all__ = [
    "PAIRS",
    "TSN_SCALES",
    "AnnotationError",
    "Annotations",
    "DecodeError",
    "SkippedVideos",
    "SyntheticDataset",
    "VideoRecord",
    "count_frames",
    "dense_indices",
    "flip_label_map_from_names",
    "load_clip",
    "read_folder_frames",
    "read_frames",
    "read_hmdb51",
    "read_kinetics_csv",
    "read_label_map",
    "read_list",
    "read_something_v1",
    "read_something_v2",
    "read_ucf101",
    "read_video_frames",
    "render_video",
    "sample_indices",
    "segment_indices",
    "multi_view_crops",
    "train_augment",
    "video_dataset",
    "write_synthetic_dataset",
]
