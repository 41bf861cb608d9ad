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


def consumer_nodes(tensor, model):
    """The nodes of `model`'s own graph that take the symbolic `tensor` as an input."""
    nodes = [node for depth in model._nodes_by_depth.values() for node in depth]
    return [node for node in nodes if any(x is tensor for x in node.input_tensors)]


def run_graph(model, inputs, operation_fn):
    """Runs functional `model` on `inputs` as its `call` does, calling each operation
    through `operation_fn(operation)` (which returns the callable to run)."""
    from keras.src.models.functional import unpack_singleton

    inputs = model._standardize_inputs(inputs)
    return unpack_singleton(model._run_through_graph(inputs, operation_fn=operation_fn))
