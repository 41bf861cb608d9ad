"""`keras_stw.data`: annotated videos to batches of clips for `model.fit`, on any backend.

The data path reads in one direction: annotations (`annotations.py`, chosen by format
in `formats.py`) -> the order of a
pass and the seeds (`batches.py`) -> per video: sample (`sampling.py`), decode
(`decode.py`), crop and flip (`augment.py`), described by `ClipSpec` (`clips.py`) ->
batch -> an engine: `tf.data` (`tf_pipeline.py`) or Grain (`grain_pipeline.py`), chosen
by `video_dataset` (`dataset.py`). `errors.py` holds the data errors, the `on_error`
policy and the count of skipped videos; `synthetic.py` writes a time-reversal benchmark.

Everything but the `tf.data` engine is NumPy and OpenCV, so this package works without
TensorFlow (JAX or PyTorch machines, with Grain); TensorFlow is imported only when the
`tf.data` engine is used.
"""

from keras_stw.data.annotations import (
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
    crop_and_resize,
    flip_label_map_from_names,
    multi_view_crops,
    train_augment,
)
from keras_stw.data.batches import ClipBatches
from keras_stw.data.clips import ClipSpec, load_clip
from keras_stw.data.dataset import ENGINES, resolve_engine, video_dataset
from keras_stw.data.decode import (
    FRAME_TEMPLATE,
    count_frames,
    read_folder_frames,
    read_frames,
    read_video_frames,
)
from keras_stw.data.errors import (
    ON_ERROR,
    AnnotationError,
    DecodeError,
    SkippedVideos,
    original_errors,
)
from keras_stw.data.formats import (
    FORMATS,
    AnnotationFormat,
    annotation_format,
    frame_template_of,
    read_annotations,
)
from keras_stw.data.sampling import SAMPLINGS, dense_indices, sample_indices, segment_indices
from keras_stw.data.synthetic import (
    PAIRS,
    TEMPORAL_PAIRS,
    SyntheticDataset,
    render_temporal_pair,
    render_video,
    write_synthetic_dataset,
)

__all__ = [
    "ENGINES",
    "FORMATS",
    "FRAME_TEMPLATE",
    "ON_ERROR",
    "PAIRS",
    "SAMPLINGS",
    "TEMPORAL_PAIRS",
    "TSN_SCALES",
    "AnnotationError",
    "AnnotationFormat",
    "Annotations",
    "ClipBatches",
    "ClipSpec",
    "DecodeError",
    "SkippedVideos",
    "SyntheticDataset",
    "VideoRecord",
    "annotation_format",
    "count_frames",
    "crop_and_resize",
    "dense_indices",
    "flip_label_map_from_names",
    "frame_template_of",
    "load_clip",
    "multi_view_crops",
    "original_errors",
    "read_folder_frames",
    "read_frames",
    "read_hmdb51",
    "read_kinetics_csv",
    "read_label_map",
    "read_annotations",
    "read_list",
    "read_something_v1",
    "read_something_v2",
    "read_ucf101",
    "read_video_frames",
    "render_temporal_pair",
    "render_video",
    "resolve_engine",
    "sample_indices",
    "segment_indices",
    "train_augment",
    "video_dataset",
    "write_synthetic_dataset",
]
