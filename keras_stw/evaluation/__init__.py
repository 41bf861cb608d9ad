"""`keras_stw.evaluation`: test views, the 1x1 and 10x3 protocols, ensembles, metrics."""

from keras_stw.evaluation.metrics import classification_metrics, plot_confusion_matrix
from keras_stw.evaluation.prediction import predict_video
from keras_stw.evaluation.scores import (
    load_clip_model,
    model_clip_spec,
    model_frames,
    video_scores,
)
from keras_stw.evaluation.views import PROTOCOLS, video_views

__all__ = [
    "PROTOCOLS",
    "classification_metrics",
    "load_clip_model",
    "model_clip_spec",
    "model_frames",
    "plot_confusion_matrix",
    "predict_video",
    "video_scores",
    "video_views",
]
