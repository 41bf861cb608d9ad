"""`keras_stw.training`: the paper's recipe, resumable training, data parallelism, speed."""

from keras_stw.training.batch_norm import recalibrate_batch_norm
from keras_stw.training.distribute import (
    DataParallel,
    check_same_on_every_process,
    data_parallel,
    distribute_slices,
    gather_rows,
    process_index,
)
from keras_stw.training.loop import fit_resumable
from keras_stw.training.multi_host import Processes, start_multi_host
from keras_stw.training.recipe import PRESETS, Recipe
from keras_stw.training.run_backup import EpochCheckpoints, TrainingCheckpoint, save_model
from keras_stw.training.schedule import step_decay
from keras_stw.training.throughput import ClipsPerSecond

__all__ = [
    "PRESETS",
    "ClipsPerSecond",
    "DataParallel",
    "EpochCheckpoints",
    "Processes",
    "Recipe",
    "TrainingCheckpoint",
    "check_same_on_every_process",
    "data_parallel",
    "distribute_slices",
    "fit_resumable",
    "gather_rows",
    "process_index",
    "recalibrate_batch_norm",
    "save_model",
    "start_multi_host",
    "step_decay",
]
