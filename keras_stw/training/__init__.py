"""`keras_stw.training`: the paper's recipe, resumable training and data parallelism."""

from keras_stw.training.checkpoint import TrainingCheckpoint
from keras_stw.training.distribute import DataParallel, data_parallel
from keras_stw.training.loop import fit_resumable
from keras_stw.training.recipe import PRESETS, Recipe
from keras_stw.training.schedule import step_decay

__all__ = [
    "PRESETS",
    "DataParallel",
    "Recipe",
    "TrainingCheckpoint",
    "data_parallel",
    "fit_resumable",
    "step_decay",
]
