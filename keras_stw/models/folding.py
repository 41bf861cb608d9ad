"""Runs a video model with each temporal block and the convolution that reads it as a pair.

A temporal block at the start of a residual branch feeds only the branch's first 1x1
convolution, which keeps the block's output for its gradient through the whole training
step. `call_folded` runs the model's functional graph as Keras does, except that such a
block hands its input on instead of running, and the convolution runs the pair so that
the block's output is not kept:
- folded (`KERAS_STW_FOLD_CONVOLUTIONS=on`): `conv(block(x))` as one kernel
  (`keras_stw.kernels.dispatch.folded_convolution`) that never writes the block's output
  (JAX on a GPU; `keras_stw.kernels.fold_reason`);
- recomputed (`KERAS_STW_RECOMPUTE_BLOCKS=on`, when the model trains): where the block's
  kernel runs, the block's kernel and XLA's product behind one gradient that keeps `x`
  and the gates, and whose backward kernel writes the block's output again for the
  product's gradient; elsewhere (any backend, the `keras.ops` path) the two layers under
  `keras.remat`.
Whenever a model trains under JAX, whether or not its pairs do either, `call_folded` also
runs the ReLU after each residual sum so that its gradient reads its output
(`keras_stw.kernels.output_relu`): XLA then keeps a residual block's output alone for the
backward pass, not its sum before the ReLU as well (2.3 to 2.4 GiB of STW-ResNet-50's training
step at batch 64 on an H100). The other ReLUs keep `jax.nn.relu`: where XLA would rather
recompute a ReLU's output than keep it (the stem's, before the max pool), the output-masked
ReLU made it keep 0.76 GiB more.
Under JAX, a residual sum, its ReLU and the temporal block that reads it run as one kernel
where it runs (`keras_stw.models.residual_folding`), on by default; recomputing, that
kernel's gradient runs the pair's convolution as well and writes the block's output again.
The model's layers, weights and saved files are unchanged; where a pair does neither, both
layers run as usual.
"""

import keras
from keras.src.models.functional import Functional, operation_fn

from keras_stw import graph
from keras_stw.kernels import dispatch
from keras_stw.models import residual_folding


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
    return graph.found_in_graph(model, "_keras_stw_folding_pairs", _folding_pair)


def residual_relus(model):
    """The plain ReLU layers of a functional model that read a residual sum (an `Add`).

    Under JAX, a training step runs these with a gradient that reads their output
    (`keras_stw.kernels.output_relu`).

    Args:
        model: a functional `keras.Model`; its nested functional models are searched too.

    Returns:
        A list of the ReLU layers in graph order, cached on the model.

    Example:
    >>> model = keras_stw.models.STWResNet50(num_frames=8)
    >>> [layer.name for layer in keras_stw.models.residual_relus(model)][:2]
    ['v2_stack_0_block1_out', 'v2_stack_0_block2_out']
    """
    return graph.found_in_graph(model, "_keras_stw_residual_relus", _residual_relu)


def _folding_pair(layer, model):
    """`(layer, conv)` if `layer` is a temporal layer whose output only `conv`, a `Conv2D`,
    reads in `model`; else `None`."""
    if not hasattr(layer, "fused_weights"):
        return None
    consumers = graph.consumer_nodes(graph.layer_node(layer, model).outputs[0], model)
    if len(consumers) == 1 and isinstance(consumers[0].operation, keras.layers.Conv2D):
        return layer, consumers[0].operation
    return None


def _residual_relu(layer, model):
    """`layer` if it is a plain ReLU layer that reads an `Add`'s output in `model`; else
    `None`."""
    if not residual_folding.is_plain_relu(layer):
        return None
    (inputs,) = graph.layer_node(layer, model).input_tensors
    return layer if isinstance(graph.producer_node(inputs).operation, keras.layers.Add) else None


def call_folded(model, inputs, training=None):
    """`model(inputs)` with each temporal block and the convolution that reads it run as one
    pair, under JAX each residual sum and the temporal block that reads it run as one
    kernel and, when the model trains under JAX, its other residual ReLUs' gradient read
    from their output (`residual_relus`); `None` where none of this applies, and Keras runs
    the model.

    A pair folds into one kernel where `keras_stw.kernels.fold_reason` allows it (JAX on a
    GPU, with `KERAS_STW_FOLD_CONVOLUTIONS=on`). Otherwise, when the model trains with
    `KERAS_STW_RECOMPUTE_BLOCKS=on`, the pair's backward pass computes the block's output
    again from the block's input instead of keeping it: through the kernels where they
    run, under `keras.remat` elsewhere. Both are off by default. A residual sum folds
    (`keras_stw.models.residual_folding`) where `keras_stw.kernels.residual_fold_reason`
    allows it, by default on a GPU, unless the pair of its temporal block and the
    convolution that reads it takes the block alone (folded into one kernel, or
    recomputing where the trio cannot run the convolution too). A recomputing pair runs
    its convolution in the trio's kernel where `keras_stw.kernels.trio_conv_reason`
    allows it, a strided one included (`dispatch.batch_normalized_residual_block`)."""
    on_jax = keras.backend.backend() == "jax"
    fold = on_jax and dispatch.get_fused_kernels() != "off" and dispatch.folding_enabled()
    recompute = bool(training) and dispatch.recompute_enabled()
    pairs = folding_pairs(model) if fold or recompute else []
    blocks = {id(block) for block, _ in pairs}
    convs = {id(conv) for _, conv in pairs}
    trios = folded_trios(model, recompute) if on_jax else []
    folds = [trio for trio, _ in trios]
    conv_of_relu = {id(trio.relu): conv for trio, conv in trios if conv is not None}
    fold_of_relu = {id(trio.relu): trio for trio in folds}
    relus = set()
    if on_jax and training:
        relus = {id(relu) for relu in residual_relus(model) if id(relu) not in fold_of_relu}
    if not (pairs or relus or folds):
        return None
    deferred = {id(layer) for trio in folds for layer in (trio.add, *trio.norms) if layer}
    deferred |= blocks
    folded_blocks = {id(trio.block) for trio in folds}
    rerouted = deferred | folded_blocks | convs
    ready = {}  # a folded block's or convolution's output, by its id, from the trio's ReLU

    def run(operation):
        key = id(operation)
        if key in relus:
            return lambda inputs, **kwargs: _output_relu(operation, inputs)
        if isinstance(operation, Functional) and (relus or folds or folding_pairs(operation)):
            return lambda inputs, **kwargs: graph.run_graph(operation, inputs, run)
        call = operation_fn(operation, training=training)
        if key in fold_of_relu:
            trio, conv = fold_of_relu[key], conv_of_relu.get(key)
            return lambda inputs, **kwargs: residual_folding.run_relu(
                trio, inputs, call, ready, bool(training), conv
            )
        if key not in rerouted:
            return call

        def run_or_defer(inputs, **kwargs):
            if key in ready:  # run with a trio before it
                return ready.pop(key)
            if key in deferred:  # run with the operation that reads it
                return graph.Deferred(operation, call, inputs)
            if isinstance(inputs, graph.Deferred):  # a pair's convolution
                return _run_pair(inputs, operation, call, fold, recompute)
            return call(inputs, **kwargs)

        return run_or_defer

    return graph.run_graph(model, inputs, run)


def folded_trios(model, recompute=False):
    """The residual sums of `model` that `call_folded` runs as one kernel with their ReLU
    and the temporal block that reads them, under JAX, each with the convolution that
    the kernel's gradient runs as well when recomputing.

    A trio is left out where its block's pair takes the block alone (folded into the
    Triton product, or recomputing where the trio cannot run the convolution too:
    `keras_stw.kernels.trio_conv_reason`).

    Args:
        model: a functional `keras.Model`, built.
        recompute: bool. Whether the model trains with `KERAS_STW_RECOMPUTE_BLOCKS=on`.
            Defaults to `False`.

    Returns:
        A list of `(ResidualFold, conv)` in graph order; `conv` is the `Conv2D` the
        trio's kernel runs, or `None`.

    Example:
    >>> model = keras_stw.models.STWResNet50(num_frames=8)  # under JAX, on a GPU
    >>> trio, conv = keras_stw.models.folded_trios(model, recompute=True)[0]
    >>> trio.block.name, conv.name
    ('stage2_block2_temporal', 'v2_stack_0_block2_1_conv')
    """
    conv_of_block = {id(block): conv for block, conv in folding_pairs(model)}
    trios = []
    for trio in residual_folding.applicable_folds(model):
        conv = conv_of_block.get(id(trio.block))
        if conv is not None and _pair_takes_the_block(trio, conv, recompute):
            continue
        trios.append((trio, conv if recompute else None))
    return trios


def _pair_takes_the_block(trio, conv, recompute):
    """Whether the pair of `trio`'s block and `conv` runs the block without the trio:
    folded into the Triton product, or recomputing where the trio cannot run `conv` too
    (`dispatch.trio_conv_reason`). Otherwise a recomputing pair runs inside the trio's
    kernel."""
    shape = trio.input_shape
    if not dispatch.fold_reason(trio.block, conv, shape, product="triton"):
        return True
    return recompute and bool(dispatch.trio_conv_reason(trio.block, conv, shape))


def _output_relu(layer, inputs):
    """`layer(inputs)` for a plain ReLU layer, with a gradient that reads its output."""
    from keras_stw.kernels import output_relu

    with keras.name_scope(layer.name):  # traces and profiles name it by the layer
        return output_relu.relu(keras.ops.cast(inputs, layer.compute_dtype))


def _run_pair(block, conv, conv_call, fold, recompute):
    """`conv(block)`, keeping only the block's input for the backward pass where `fold`
    or `recompute` asks for it: folded into one kernel, or the block's kernel and XLA's
    product (`keras_stw.kernels.fold_reason`), or else under `keras.remat`."""
    inputs = keras.ops.cast(block.inputs, block.layer.compute_dtype)
    for product, wanted in (("triton", fold), ("xla", recompute)):
        if wanted and not dispatch.fold_reason(
            block.layer, conv, inputs.shape, inputs.dtype, product
        ):
            with keras.name_scope(conv.name):  # traces and profiles name the pair by it
                return dispatch.folded_convolution(inputs, block.layer, conv, product)

    def pair(inputs):
        return conv_call(block.call(inputs))

    return keras.remat(pair)(block.inputs) if recompute else pair(block.inputs)
