"""Runs a residual block's sum and ReLU and the temporal block that reads it as one kernel.

In a video ResNet each temporal block reads a residual block's output
`x = relu(bn(branch) + shortcut)` (the shortcut itself batch-normalized at a stage's
first block). Run layer by layer, XLA's fusion reads the two terms and writes `x`, then
the temporal block's kernel reads `x` again and writes its output `y`. Folded
(`keras_stw.kernels.pallas_temporal_block.residual_block`), one kernel reads the two
terms, applies each one's batch normalization as a per-channel scale and shift (from the
moving statistics at inference, from the batch's when training, which also updates the
moving statistics as the layer does), and writes `x` (which the next shortcut reads) and
`y`: one read of `x` less per block. Its backward kernel adds the gradient reaching `x`
from the next shortcut to the block's and masks it by the ReLU in the same pass. With
`KERAS_STW_RECOMPUTE_BLOCKS=on`, a training trio also runs the 1x1 convolution that reads
the temporal block, and its backward kernel writes the block's output again for the
convolution's gradient instead of the step keeping it.
`keras_stw.models.folding.call_folded` runs it for every `ResidualFold` of a model on JAX
(`keras_stw.kernels.residual_fold_reason`). Layers, weights and saved files do not
change.
"""

import dataclasses

import keras
from keras import ops

from keras_stw import graph
from keras_stw.kernels import dispatch


@dataclasses.dataclass(frozen=True)
class ResidualFold:
    """A residual sum, its ReLU and the temporal layer that reads the ReLU's output.

    Args:
        norms: tuple with, for each of the `Add`'s two inputs, the `BatchNormalization`
            that produces it and that only the `Add` reads (folded into the kernel), or
            `None` (the input is taken as it is).
        add: the `keras.layers.Add`.
        relu: the plain ReLU layer that reads the sum.
        block: the temporal layer that reads the ReLU's output.
        input_shape: the temporal layer's symbolic input shape.
    """

    norms: tuple
    add: keras.layers.Layer
    relu: keras.layers.Layer
    block: keras.layers.Layer
    input_shape: tuple


def residual_folds(model):
    """The residual sums of a functional model whose ReLU feeds a temporal layer.

    Args:
        model: a functional `keras.Model`; its nested functional models are searched too.

    Returns:
        A list of `ResidualFold` in graph order, cached on the model.

    Example:
    >>> model = keras_stw.models.STWResNet50(num_frames=8)
    >>> fold = keras_stw.models.residual_folds(model)[0]
    >>> fold.relu.name, fold.block.name, [norm.name for norm in fold.norms][1]
    ('v2_stack_0_block1_out', 'stage2_block2_temporal', 'v2_stack_0_block1_3_bn')
    """
    return graph.found_in_graph(model, "_keras_stw_residual_folds", _residual_fold)


def applicable_folds(model):
    """`residual_folds(model)` whose trio runs as one kernel for the shape the model was
    built for (`keras_stw.kernels.residual_fold_reason`)."""
    return [
        fold
        for fold in residual_folds(model)
        if not dispatch.residual_fold_reason(fold.block, fold.input_shape)
    ]


def is_plain_relu(operation):
    """Whether `operation` is a plain ReLU layer (`Activation("relu")`, `ReLU()`)."""
    if isinstance(operation, keras.layers.ReLU):
        config = operation.get_config()
        return not (config["max_value"] or config["negative_slope"] or config["threshold"])
    return (
        isinstance(operation, keras.layers.Activation)
        and operation.activation is keras.activations.relu
    )


def _residual_fold(layer, model):
    """The `ResidualFold` whose temporal layer is `layer`, or `None`."""
    if not hasattr(layer, "fused_weights"):
        return None
    (inputs,) = graph.layer_node(layer, model).input_tensors
    relu_node = graph.producer_in(inputs, model)
    if relu_node is None or not is_plain_relu(relu_node.operation):
        return None
    add_node = graph.producer_in(relu_node.input_tensors[0], model)
    if (
        add_node is None
        or type(add_node.operation) is not keras.layers.Add
        or len(add_node.input_tensors) != 2
        or _only_reader(add_node.outputs[0], model) is not relu_node
    ):
        return None
    norms = tuple(_folded_norm(term, add_node, model) for term in add_node.input_tensors)
    return ResidualFold(norms, add_node.operation, relu_node.operation, layer, tuple(inputs.shape))


def _only_reader(tensor, model):
    """The one node of `model` that reads `tensor`, or `None` (also where `tensor` is one
    of the model's outputs)."""
    readers = graph.consumer_nodes(tensor, model)
    if len(readers) != 1 or any(tensor is output for output in model.outputs):
        return None
    return readers[0]


def _folded_norm(term, add_node, model):
    """The channels-last `BatchNormalization` without renormalization that produces `term`
    for the sum alone, or `None`."""
    node = graph.producer_in(term, model)
    norm = node and node.operation
    if type(norm) is not keras.layers.BatchNormalization:
        return None
    if norm.axis not in (-1, len(term.shape) - 1) or norm.renorm:
        return None
    return norm if _only_reader(term, model) is add_node else None


def inference_affine(norm):
    """A `BatchNormalization`'s inference transform as float32 `(scale, shift)`, the way
    `keras.ops.batch_normalization` computes it: `x * scale + shift`."""
    moving = (ops.cast(norm.moving_mean, "float32"), ops.cast(norm.moving_variance, "float32"))
    return _affine(norm, *moving)


def update_moving_statistics(norm, mean, variance):
    """Moves a `BatchNormalization`'s moving statistics towards a batch's, as the layer's
    own training call does."""
    for moving, batch in ((norm.moving_mean, mean), (norm.moving_variance, variance)):
        moving.assign(ops.cast(moving, "float32") * norm.momentum + batch * (1.0 - norm.momentum))


def _batch_norm_weights(norm):
    """`(gamma, beta, epsilon)` of a `BatchNormalization` (1 and 0 where it has none)."""
    channels = norm.moving_mean.shape[0]
    gamma = ops.cast(norm.gamma, "float32") if norm.scale else ops.ones((channels,))
    beta = ops.cast(norm.beta, "float32") if norm.center else ops.zeros((channels,))
    return gamma, beta, norm.epsilon


def _affine(norm, mean, variance):
    scale = ops.rsqrt(variance + norm.epsilon)
    if norm.scale:
        scale = scale * ops.cast(norm.gamma, "float32")
    shift = -mean * scale
    if norm.center:
        shift = shift + ops.cast(norm.beta, "float32")
    return scale, shift


def run_relu(fold, deferred_sum, relu_call, ready, training=False, conv=None):
    """The ReLU's output for `fold`, from the `graph.Deferred` sum (whose terms are
    deferred batch normalizations or tensors), with the temporal block's output put in
    `ready` under `id(fold.block)` where the kernel runs. A training call normalizes by
    the batch's statistics and updates the moving ones, as the layers do (or, where one of
    the batch normalizations is frozen, runs the layers). A training call with `conv`, the
    1x1 convolution that alone reads the block's output, runs it in the kernel's gradient
    too, recomputing the block's output in the backward pass
    (`dispatch.batch_normalized_residual_block`), and puts the convolution's output in
    `ready` under `id(conv)` instead."""
    norms = [
        term.layer if isinstance(term, graph.Deferred) else None for term in deferred_sum.inputs
    ]
    terms = [
        ops.cast(term.inputs if norm else term, fold.relu.compute_dtype)
        for term, norm in zip(deferred_sum.inputs, norms, strict=True)
    ]
    outputs = None
    with keras.name_scope(fold.relu.name):  # traces and profiles name the kernel by the ReLU
        if not training:
            affines = [inference_affine(norm) if norm else None for norm in norms]
            outputs = dispatch.residual_block(terms, affines, fold.block)
        elif all(norm is None or norm.trainable for norm in norms):
            weights = [_batch_norm_weights(norm) if norm else None for norm in norms]
            outputs = dispatch.batch_normalized_residual_block(terms, weights, fold.block, conv)
            if outputs is not None:
                for norm, statistics in zip(norms, outputs[2], strict=True):
                    if norm is not None:
                        update_moving_statistics(norm, *statistics)
    if outputs is None:
        values = [t.value() if isinstance(t, graph.Deferred) else t for t in deferred_sum.inputs]
        return relu_call(deferred_sum.call(values))
    reader = conv if training and conv is not None else fold.block
    ready[id(reader)] = ops.cast(outputs[1], reader.compute_dtype)
    return outputs[0]
