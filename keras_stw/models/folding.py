"""Runs a video model with each temporal block folded into the convolution that reads it.

A temporal block at the start of a residual branch feeds only the branch's first 1x1
convolution. `call_folded` runs the model's functional graph as Keras does, except that
such a block hands its input on instead of running, and the convolution then computes
`conv(block(x))` as one kernel (`keras_stw.kernels.dispatch.folded_convolution`) that never
writes the block's output. The model's layers, weights and saved files are unchanged;
where a pair cannot fold (`keras_stw.kernels.fold_reason`: other backends, the CPU,
shapes the kernel does not cover) both layers run as usual.
"""

import keras
from keras.src.models.functional import Functional, operation_fn

from keras_stw import graph
from keras_stw.kernels import dispatch


class _Unrun:
    """A temporal block's input, standing for its output until its convolution folds it."""

    def __init__(self, layer, inputs):
        self.layer = layer
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
    """`model(inputs)` with its temporal blocks folded into their convolutions, or `None`
    where nothing can fold (another backend, the kernels switched off, folding off: the
    default, `KERAS_STW_FOLD_CONVOLUTIONS=on` turns it on)."""
    if keras.backend.backend() != "jax" or dispatch.get_fused_kernels() == "off":
        return None
    if not dispatch.folding_enabled():
        return None
    pairs = {id(block): (block, conv) for block, conv in folding_pairs(model)}
    if not pairs:
        return None
    convs = {id(conv) for _, conv in pairs.values()}

    def run(operation):
        call = operation_fn(operation, training=training)
        if isinstance(operation, Functional) and folding_pairs(operation):
            return lambda inputs, **kwargs: graph.run_graph(operation, inputs, run)
        if id(operation) in pairs:
            conv = pairs[id(operation)][1]

            def block(inputs, **kwargs):
                inputs = keras.ops.cast(inputs, operation.compute_dtype)
                if dispatch.fold_reason(operation, conv, inputs.shape, inputs.dtype):
                    return call(inputs, **kwargs)
                return _Unrun(operation, inputs)

            return block
        if id(operation) in convs:

            def convolution(inputs, **kwargs):
                if isinstance(inputs, _Unrun):
                    return dispatch.folded_convolution(inputs.inputs, inputs.layer, operation)
                return call(inputs, **kwargs)

            return convolution
        return call

    return graph.run_graph(model, inputs, run)
