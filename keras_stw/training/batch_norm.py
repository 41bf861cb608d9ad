"""Precise batch-norm statistics: re-estimated with the final weights after training."""

import keras

from keras_stw.validation import check_positive_int


def recalibrate_batch_norm(model: keras.Model, inputs, batch_size: int = 16) -> int:
    """Re-estimates every `BatchNormalization` layer's moving statistics from `inputs`.

    During training, a batch-norm layer's moving mean and variance are exponential
    averages of batch statistics computed with earlier weights. When activations drift
    faster than that average follows, inference mode (which uses the moving statistics)
    no longer matches the trained network. This runs `inputs` through `model` in
    training mode, weights unchanged, and sets each moving statistic to the equal-weight
    average of the batch statistics ("PreciseBN", Wu and Johnson, "Rethinking 'Batch'
    in BatchNorm", 2021). The layers' `momentum` is restored afterwards.

    Args:
        model: `keras.Model`. Nested models and layers are searched too.
        inputs: array. Training inputs, batched along the first axis, in random
            order: batches of one class would make the variances too small.
        batch_size: int. Batch size of the passes; use the training batch size, since
            batch statistics depend on it. Defaults to `16`.

    Returns:
        int. The number of batch-norm layers recalibrated.

    Example:
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization()])
    >>> recalibrate_batch_norm(model, np.ones((32, 4)), batch_size=8)
    1
    """
    check_positive_int("batch_size", batch_size)
    if not len(inputs):
        raise ValueError("`inputs` must hold at least one example. Received: 0 examples")
    layers = [layer for layer in _walk(model) if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in layers]
    try:
        for k, start in enumerate(range(0, len(inputs), batch_size)):
            # Momentum k / (k + 1) at batch k makes the moving value the plain average.
            for layer in layers:
                layer.momentum = k / (k + 1)
            model(inputs[start : start + batch_size], training=True)
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
    return len(layers)


def _walk(layer):
    yield layer
    for child in getattr(layer, "layers", ()):
        yield from _walk(child)
