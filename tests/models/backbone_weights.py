"""What the model tests share: backbones with random weights, and comparing them."""

import numpy as np


def randomize(backbone, seed=0):
    """Gives every weight of `backbone` random values (not its initial ones); returns it."""
    rng = np.random.default_rng(seed)
    for variable in backbone.weights:
        variable.assign(rng.standard_normal(variable.shape).astype("float32"))
    return backbone


def assert_has_weights_of(test, model, source):
    """Each layer of `source` has its weights in `model`'s backbone, by layer name."""
    backbone = model.get_layer("backbone")
    for layer in source.layers[1:]:
        for expected, actual in zip(
            layer.weights, backbone.get_layer(layer.name).weights, strict=True
        ):
            test.assertAllClose(expected, actual)
