"""`data_parallel`: the backend's own data parallelism, compiled once."""

import logging
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_stw import training

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_data_parallel_over_the_local_devices(caplog):
    backend = keras.backend.backend()
    if backend == "torch":
        with pytest.raises(ValueError, match="jax.*tensorflow"):
            training.data_parallel()
        return
    parallel = training.data_parallel()
    if backend == "jax":
        # One device: no distribution. A one-device DataParallel mesh made Keras
        # compile the step again at its second call and after every metric reset.
        import jax

        assert parallel.num_replicas == 1 and keras.distribution.distribution() is None
        jax.config.update("jax_log_compiles", True)
    try:
        with parallel.scope, caplog.at_level(logging.WARNING):
            model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
            model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "mse", metrics=["mae"])
            model.fit(np.ones((64, 8)), np.zeros((64, 4)), batch_size=16, epochs=3, verbose=0)
        assert parallel.num_replicas >= 1
        assert model.predict(np.ones((2, 8)), verbose=0).shape == (2, 4)
    finally:
        if backend == "jax":
            jax.config.update("jax_log_compiles", False)
    if backend == "jax":
        assert caplog.text.count("Compiling jit(train_step)") == 1


@pytest.mark.parametrize(
    "process_count, shard", [(1, {}), (2, {"shard_index": 1, "shard_count": 2})]
)
def test_a_process_makes_its_slice_of_every_batch(process_count, shard):
    parallel = training.DataParallel(2, "", process_count - 1, process_count)
    assert parallel.shard == shard


# A fresh process: the CPU is split into two logical devices before TensorFlow starts.
_TWO_REPLICAS = """
import tensorflow as tf
from keras_stw import training

(cpu,) = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
batches = tf.data.Dataset.range(12).batch(4)  # this worker's slices of three batches
distributed = training.distribute_slices(strategy, batches, 2)
for batch in distributed:
    print([part.numpy().tolist() for part in strategy.experimental_local_results(batch)])
"""


@pytest.mark.tf_only
def test_a_worker_with_two_devices_gives_each_its_half_of_every_slice():
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-c", _TWO_REPLICAS]
    done = subprocess.run(command, capture_output=True, text=True, env=environment)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("\n")[:4] == [
        "[[0, 1], [2, 3]]",
        "[[4, 5], [6, 7]]",
        "[[8, 9], [10, 11]]",
        "",
    ]
