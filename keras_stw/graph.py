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


def found_in_graph(model, cache_key, find):
    """What `find(layer, model)` returns for the layers of functional `model` and of its
    nested functional models, in graph order, leaving out `None`; cached on each model
    under `cache_key`."""
    if cache_key not in model.__dict__:
        found = []
        for layer in model.layers:
            if isinstance(layer, Functional):
                found += found_in_graph(layer, cache_key, find)
            elif (item := find(layer, model)) is not None:
                found.append(item)
        model.__dict__[cache_key] = found
    return model.__dict__[cache_key]


def producer_in(tensor, model):
    """The node of `model`'s own graph that produced the symbolic `tensor`, or `None` where
    it comes from outside that graph (an input, or a nested model's inside)."""
    node = producer_node(tensor)
    nodes = {id(node) for depth in model._nodes_by_depth.values() for node in depth}
    return node if id(node) in nodes else None


class Deferred:
    """A call of `layer` on `inputs` that a graph run has not made yet: a later operation
    that reads its output may run it together with its own (`call` makes it alone)."""

    def __init__(self, layer, call, inputs):
        self.layer = layer
        self.call = call
        self.inputs = inputs

    def value(self):
        return self.call(self.inputs)
