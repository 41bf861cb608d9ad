"""`keras_stw.data`: annotated videos to `tf.data` clips, and a synthetic benchmark.

The data path reads in one direction: annotations (`annotations.py`) -> decode
(`decode.py`, TF-free) -> sample (`sampling.py`, TF-free) -> augment (`augment.py`)
-> batch (`dataset.py`). `synthetic.py` writes a time-reversal benchmark.

Reading, decoding, sampling and the synthetic benchmark need no TensorFlow; the `tf.data`
parts (`augment.py`, `dataset.py`) import it when first used, so this package also loads on
machines without TensorFlow (JAX or PyTorch GPU hosts).
"""

import importlib

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
from keras_stw.data.clips import load_clip
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

# Names whose modules import TensorFlow: loaded on first use (PEP 562).
_TENSORFLOW_EXPORTS = {
    "TSN_SCALES": "augment",
    "flip_label_map_from_names": "augment",
    "multi_view_crops": "augment",
    "train_augment": "augment",
    "SkippedVideos": "dataset",
    "video_dataset": "dataset",
}


def __getattr__(name):
    if name in _TENSORFLOW_EXPORTS:
        module = importlib.import_module(f"keras_stw.data.{_TENSORFLOW_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'keras_stw.data' has no attribute {name!r}")
