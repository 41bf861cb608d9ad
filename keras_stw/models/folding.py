"""Runs a video model with each temporal block and the convolution that reads it as a pair.

A temporal block at the start of a residual branch feeds only the branch's first 1x1
convolution, which keeps the block's output for its gradient through the whole training
step. `call_folded` runs the model's functional graph as Keras does, except that such a
block hands its input on instead of running, and the convolution runs the pair so that
the block's output is not kept:
- folded: `conv(block(x))` as one kernel (`keras_stw.kernels.dispatch.folded_convolution`)
  that never writes the block's output (JAX on a GPU; `keras_stw.kernels.fold_reason`);
- recomputed: the two layers under `keras.remat`, which keeps `x` and runs the block
  again in the backward pass (any backend, when the model trains).
The model's layers, weights and saved files are unchanged; where a pair does neither, both
layers run as usual.
"""

import keras
from keras.src.models.functional import Functional, operation_fn

from keras_stw import graph
from keras_stw.kernels import dispatch


class _Unrun:
    """A temporal block's input, standing for its output until the convolution that reads
    it runs the pair."""

    def __init__(self, layer, call, inputs):
        self.layer = layer
        self.call = call
        self.inputs = inputs


def folding_pairs(model):
    """The temporal layers of a functional model whose output only a `Conv2D` reads.

    These are the pairs `keras_stw.kernels.folded_convolution` may run as one kernel
    (`keras_stw.kernels.fold_reason` says whether each does, for an input shape).

    Args:
        model: a functional `keras.Model`; its nested functional models are searched too.

    Returns:
        A list of `(temporal_layer, conv)` in graph order, cached on the model.

    Example:
    >>> model = keras_stw.models.STWResNet50(num_frames=8)
    >>> block, conv = keras_stw.models.folding_pairs(model)[0]
    >>> block.name, conv.name
    ('stage2_block1_temporal', 'v2_stack_0_block1_1_conv')
    """
    if "_keras_stw_folding_pairs" not in model.__dict__:
        pairs = []
        for layer in model.layers:
            if isinstance(layer, Functional):
                pairs += folding_pairs(layer)
            elif hasattr(layer, "fused_weights"):
                node = graph.layer_node(layer, model)
                consumers = graph.consumer_nodes(node.outputs[0], model)
                if len(consumers) == 1 and isinstance(consumers[0].operation, keras.layers.Conv2D):
                    pairs.append((layer, consumers[0].operation))
        model.__dict__["_keras_stw_folding_pairs"] = pairs
    return model.__dict__["_keras_stw_folding_pairs"]


def call_folded(model, inputs, training=None):
    """`model(inputs)` with each temporal block and the convolution that reads it run as one
    pair, or `None` where neither way of pairing them is switched on.

    A pair folds into one kernel where `keras_stw.kernels.fold_reason` allows it (JAX on a
    GPU, with `KERAS_STW_FOLD_CONVOLUTIONS=on`). Otherwise, when the model trains with
    `KERAS_STW_RECOMPUTE_BLOCKS=on`, the pair runs under `keras.remat` on any backend:
    its backward pass computes the block's output again from the block's input instead of
    keeping it. Both are off by default."""
    fold = (
        keras.backend.backend() == "jax"
        and dispatch.get_fused_kernels() != "off"
        and dispatch.folding_enabled()
    )
    recompute = bool(training) and dispatch.recompute_enabled()
    pairs = folding_pairs(model)
    if not (fold or recompute) or not pairs:
        return None
    blocks = {id(block) for block, _ in pairs}
    convs = {id(conv) for _, conv in pairs}

    def run(operation):
        call = operation_fn(operation, training=training)
        if isinstance(operation, Functional) and folding_pairs(operation):
            return lambda inputs, **kwargs: graph.run_graph(operation, inputs, run)
        if id(operation) in blocks:
            return lambda inputs, **kwargs: _Unrun(operation, call, inputs)
        if id(operation) in convs:
            return lambda inputs, **kwargs: (
                _run_pair(inputs, operation, call, fold, recompute)
                if isinstance(inputs, _Unrun)
                else call(inputs, **kwargs)
            )
        return call

    return graph.run_graph(model, inputs, run)


def _run_pair(block, conv, conv_call, fold, recompute):
    """`conv(block)`: folded into one kernel where it can be, else recomputed in the
    backward pass if `recompute`, else as the two layers."""
    if fold:
        inputs = keras.ops.cast(block.inputs, block.layer.compute_dtype)
        if not dispatch.fold_reason(block.layer, conv, inputs.shape, inputs.dtype):
            return dispatch.folded_convolution(inputs, block.layer, conv)

    def pair(inputs):
        return conv_call(block.call(inputs))

    return keras.remat(pair)(block.inputs) if recompute else pair(block.inputs)
