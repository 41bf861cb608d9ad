"""`data_parallel`: the backend's own data parallelism, compiled once."""

import contextlib
import logging

import keras
import numpy as np
import pytest

from keras_stw import training


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
    "process_count, splits_batches, shard",
    [
        (1, False, {}),
        (2, False, {"shard_index": 1, "shard_count": 2}),
        (2, True, {}),  # TensorFlow's workers: tf.distribute splits whole batches.
    ],
)
def test_a_process_makes_its_slice_unless_the_engine_splits_batches(
    process_count, splits_batches, shard
):
    parallel = training.DataParallel(
        contextlib.nullcontext(), 2, "", process_count - 1, process_count, splits_batches
    )
    assert parallel.shard == shard
