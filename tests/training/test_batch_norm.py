"""`recalibrate_batch_norm`: moving statistics become the average of batch statistics."""

import keras
import numpy as np

from keras_stw.training import recalibrate_batch_norm


def test_moving_statistics_are_the_batch_average():
    inner = keras.Sequential([keras.Input((3,)), keras.layers.BatchNormalization()])
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3), inner])
    inner.layers[0].moving_mean.assign(np.full(3, 100.0, "float32"))
    inputs = np.random.default_rng(0).normal(2.0, 3.0, (24, 3)).astype("float32")
    features = keras.ops.convert_to_numpy(model.layers[0](inputs))

    assert recalibrate_batch_norm(model, inputs, batch_size=8) == 1

    batches = features.reshape(3, 8, 3)
    layer = inner.layers[0]
    np.testing.assert_allclose(layer.moving_mean, batches.mean(1).mean(0), atol=1e-5)
    np.testing.assert_allclose(layer.moving_variance, batches.var(1).mean(0), atol=1e-4)
    assert layer.momentum == 0.99
