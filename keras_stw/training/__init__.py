"""`keras_stw.training`: the paper's recipe, resumable training, data parallelism, speed."""

from keras_stw.training.batch_norm import recalibrate_batch_norm
from keras_stw.training.distribute import DataParallel, data_parallel
from keras_stw.training.loop import fit_resumable
from keras_stw.training.recipe import PRESETS, Recipe
from keras_stw.training.run_backup import TrainingCheckpoint, save_model
from keras_stw.training.schedule import step_decay
from keras_stw.training.throughput import ClipsPerSecond

__all__ = [
    "PRESETS",
    "ClipsPerSecond",
    "DataParallel",
    "Recipe",
    "TrainingCheckpoint",
    "data_parallel",
    "fit_resumable",
    "recalibrate_batch_norm",
    "save_model",
    "step_decay",
]
