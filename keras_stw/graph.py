"""Read-only helpers for walking a functional Keras graph."""

import keras
from keras.src.models.functional import Functional


def check_functional(model):
    """Raises a `ValueError` unless `model` is a functional `keras.Model`."""
    if isinstance(model, keras.Sequential) or not isinstance(model, Functional):
        raise ValueError(
            "This needs a functional keras.Model (built from keras.Input). "
            f"Received: model of type {type(model).__name__}"
        )


def layer_node(layer, model):
    """Returns the node where `layer` is called inside `model`'s own graph.

    A layer shared by two models (as after `insert_temporal_blocks`) has a node in
    each; this picks `model`'s.
    """
    nodes = {id(node) for depth in model._nodes_by_depth.values() for node in depth}
    for node in layer._inbound_nodes:
        if id(node) in nodes:
            return node
    raise ValueError(f"Layer '{layer.name}' is not called inside model '{model.name}'.")


def producer_node(tensor):
    """Returns the node that produced a symbolic `tensor`."""
    history = tensor._keras_history
    return history.operation._inbound_nodes[history.node_index]
