"""The one place that decides whether a temporal layer runs a fused kernel or `keras.ops`.

As Keras does for flash attention, the choice is automatic by default: the fused kernel
runs where it can (the JAX backend on an NVIDIA GPU, with a shape the kernel covers) and the
layer's `keras.ops` code everywhere else. A switch forces either path. Nothing here changes
a layer's weights or config, so weights and `.keras` files are the same whichever path ran.
"""

import contextlib
import os

import keras
from keras import ops

from keras_stw.kernels.spec import PRODUCTS

MODES = ("auto", "on", "off", "interpret")
_MODE_VARIABLE = "KERAS_STW_FUSED_KERNELS"
_FOLD_VARIABLE = "KERAS_STW_FOLD_CONVOLUTIONS"
_RECOMPUTE_VARIABLE = "KERAS_STW_RECOMPUTE_BLOCKS"
_RESIDUAL_VARIABLE = "KERAS_STW_FOLD_RESIDUALS"
# Under "auto", folding covers what the whole network was measured with on an H100
# (benchmarks/results/fused_conv_h100/): ResNet-50's stages 2 and 3, up to 128 outputs.
# Per block, forward, the folded kernel took 0.89x the block's kernel and cuDNN's
# convolution at stage 2 (64 outputs), 1.6x at stage 3 (128) and 3.3x at stage 4 (256).
AUTO_FOLD_MAX_OUTPUTS = 128
_FLOAT_DTYPES = ("float32", "bfloat16", "float16")
_state = {}


def _check_mode(mode, source="mode"):
    if mode not in MODES:
        raise ValueError(f"`{source}` must be one of {MODES}. Received: {source}={mode!r}")
    return mode


def get_fused_kernels():
    """Returns the fused-kernel mode: `"auto"`, `"on"`, `"off"` or `"interpret"`.

    The mode starts as the environment variable `KERAS_STW_FUSED_KERNELS`, else `"auto"`.

    Example:
    >>> keras_stw.kernels.get_fused_kernels()
    'auto'
    """
    if "mode" not in _state:
        _state["mode"] = _check_mode(os.environ.get(_MODE_VARIABLE, "auto"), _MODE_VARIABLE)
    return _state["mode"]


def set_fused_kernels(mode):
    """Chooses how temporal layers run from now on (in this process).

    Args:
        mode: str. `"auto"` (default): the fused kernel wherever it can run, `keras.ops`
            elsewhere. `"on"`: the fused kernel, and an error naming the reason where it
            cannot run. `"off"`: always `keras.ops`. `"interpret"`: the fused kernel
            through Pallas's interpreter on any device (slow; for parity tests).

    Example:
    >>> keras_stw.kernels.set_fused_kernels("off")
    >>> keras_stw.kernels.set_fused_kernels("auto")
    """
    _state["mode"] = _check_mode(mode)


@contextlib.contextmanager
def fused_kernels(mode):
    """A `with` block in which temporal layers run in `mode` (see `set_fused_kernels`).

    Layers choose their path when a function is traced, so call or compile the model
    inside the block.

    Example:
    >>> with keras_stw.kernels.fused_kernels("off"):
    ...     outputs = keras_stw.layers.STWBlock(num_frames=2)(np.ones((4, 3, 3, 8)))
    """
    previous = get_fused_kernels()
    set_fused_kernels(mode)
    try:
        yield
    finally:
        _state["mode"] = previous


def kernel_path(layer, input_shape, dtype=None):
    """Which path `layer` takes for inputs of `input_shape`, and why.

    Args:
        layer: a temporal layer of `keras_stw.layers` (STWBlock, STFM, TWM, TemporalShift).
        input_shape: tuple. The frame features' shape, `(batch * num_frames, H, W, C)`.
        dtype: str. The inputs' dtype. Defaults to the layer's compute dtype.

    Returns:
        `("fused", "")`, or `("reference", reason)` where the `keras.ops` code runs.

    Example:
    >>> block = keras_stw.layers.STWBlock(num_frames=8)
    >>> keras_stw.kernels.kernel_path(block, (16, 56, 56, 256))[0]
    'reference'
    """
    mode = get_fused_kernels()
    if mode == "off":
        return ("reference", "the fused kernels are switched off (mode 'off')")
    reason = _unsupported_reason(
        layer.fused_spec(input_shape[-1]),
        input_shape,
        dtype or layer.compute_dtype,
        mode,
    )
    return ("reference", reason) if reason else ("fused", "")


def temporal_block(inputs, spec, scale=None, taps=None, bias=None):
    """Runs the fused kernel of `spec` on `inputs`, or returns `None` for the reference.

    Args:
        inputs: frame features `(batch * num_frames, H, W, C)`.
        spec: `TemporalBlockSpec` of the calling layer, or a `str` saying why the layer's
            options have no kernel.
        scale: `(C,)` weights of the shift, if it has a scale.
        taps: `(3, C)` temporal taps of the gate, if there is one.
        bias: the gate's scalar bias, if there is one.

    Returns:
        The block's output, or `None` where the caller must run its `keras.ops` code.
    """
    mode = get_fused_kernels()
    if mode == "off":
        return None
    reason = _unsupported_reason(spec, inputs.shape, inputs.dtype, mode)
    if reason:
        if mode == "auto":
            return None
        raise RuntimeError(
            f"The fused temporal kernels are forced on (mode={mode!r}) but cannot run: "
            f"{reason}. Call keras_stw.kernels.set_fused_kernels('auto') to fall back."
        )
    from keras_stw.kernels import pallas_temporal_block

    outputs = pallas_temporal_block.temporal_block(
        _clips(inputs, spec),
        *_kernel_weights(inputs.shape[-1], scale, taps, bias),
        spec,
        interpret=mode == "interpret",
    )
    return ops.reshape(outputs, inputs.shape)


def _clips(frames, spec):
    """`(batch * T, H, W, C)` frames as the kernels' `(batch, T, H * W, C)` clips."""
    shape = frames.shape
    return ops.reshape(frames, (-1, spec.num_frames, shape[1] * shape[2], shape[3]))


def _kernel_weights(channels, scale=None, taps=None, bias=None):
    """The kernels' `(scale, taps, bias)`, with the neutral value for a missing one."""
    return (
        ops.ones((channels,)) if scale is None else ops.reshape(scale, (channels,)),
        ops.zeros((3, channels)) if taps is None else ops.convert_to_tensor(taps),
        ops.zeros(()) if bias is None else ops.convert_to_tensor(bias),
    )


def _layer_weights(layer, channels):
    """`_kernel_weights` of a layer's fused weights, in its compute dtype (as its own call
    sees them) for a caller outside the layer's call."""
    weights = layer.fused_weights().items()
    return _kernel_weights(
        channels, **{name: ops.cast(value, layer.compute_dtype) for name, value in weights}
    )


def _switch(variable, default="off"):
    """Whether the on/off environment `variable` is `"on"` (`default` where it is unset)."""
    setting = os.environ.get(variable, default)
    if setting not in ("on", "off"):
        raise ValueError(f"{variable} must be 'on' or 'off'. Received: {setting!r}")
    return setting == "on"


def folding_enabled():
    """Whether `KERAS_STW_FOLD_CONVOLUTIONS` is `"on"` (it is `"off"` by default)."""
    return _switch(_FOLD_VARIABLE)


def recompute_enabled():
    """Whether `KERAS_STW_RECOMPUTE_BLOCKS` is `"on"` (it is `"off"` by default).

    When it is, a video model that trains runs each temporal block and the convolution
    that reads it so that the pair keeps only the block's input for the backward pass and
    computes the block's output again there, instead of keeping it through the whole
    step: as a folded pair with XLA's product where the block's kernel runs
    (`fold_reason(..., product="xla")`), under `keras.remat` elsewhere (any backend; see
    `keras_stw.models.folding`).
    """
    return _switch(_RECOMPUTE_VARIABLE)


def residual_folding_enabled():
    """Whether `KERAS_STW_FOLD_RESIDUALS` is `"on"` (it is by default).

    When it is, a video model on JAX runs the ReLU after each residual sum and the
    temporal block that reads it as one kernel (`residual_fold_reason`).
    """
    return _switch(_RESIDUAL_VARIABLE, "on")


def residual_fold_reason(layer, input_shape, dtype=None):
    """Why the residual sum's ReLU and `layer`, which reads it, cannot run as one kernel.

    That kernel (`keras_stw.kernels.pallas_temporal_block.residual_block`) reads the
    sum's two terms (before their batch normalization, which it applies) and writes the
    residual block's output and the temporal block's, in one pass; its backward kernel
    writes the gradient of the sum. A video model on JAX folds each such trio
    (`keras_stw.models.residual_folds`), training and at inference, where this returns
    `""`: the layer's own kernel runs for this shape, as one kernel, and
    `KERAS_STW_FOLD_RESIDUALS` is not `"off"`. Under `"auto"`, TSM's plain shift runs
    its kernel only folded this way, where it trains and serves faster than XLA's own
    fusion of the shift (README, Speed).

    Args:
        layer: a temporal layer of `keras_stw.layers`.
        input_shape: tuple. The temporal layer's input shape, `(batch * T, H, W, C)`.
        dtype: str. The inputs' dtype. Defaults to the layer's compute dtype.

    Returns:
        `""` where the trio folds, else the reason.

    Example:
    >>> block = keras_stw.layers.STWBlock(num_frames=8)
    >>> block.build((16, 56, 56, 256))
    >>> keras_stw.kernels.residual_fold_reason(block, (16, 56, 56, 256))
    "JAX runs on 'cpu', and the kernels need an NVIDIA GPU"
    """
    mode = get_fused_kernels()
    if mode == "off":
        return "the fused kernels are switched off (mode 'off')"
    if not residual_folding_enabled():
        return f"folding residual sums is off ({_RESIDUAL_VARIABLE}=off)"
    return _whole_kernel_reason(layer, input_shape, dtype, mode, residual_fold=True)


def _whole_kernel_reason(layer, input_shape, dtype, mode, residual_fold=False):
    """Why built temporal `layer` does not run as one kernel for `input_shape`, or `""`
    (`residual_fold`: see `_unsupported_reason`)."""
    if not layer.built:
        return f"'{layer.name}' is not built"
    if getattr(layer, "fused_weights", lambda: None)() is None:
        return f"{type(layer).__name__} '{layer.name}' does not run as one kernel"
    spec = layer.fused_spec(input_shape[-1])
    dtype = dtype or layer.compute_dtype
    return _unsupported_reason(spec, input_shape, dtype, mode, residual_fold)


def residual_block(terms, affines, layer):
    """`relu(sum)` and `layer(relu(sum))` of a residual sum of two terms, as one kernel.

    Args:
        terms: the sum's two terms before their batch normalization, if any, each
            `(batch * num_frames, H, W, C)`.
        affines: a `(scale, shift)` pair of `(C,)` arrays for each term (its batch
            normalization at inference), or `None` for a term added as it is.
        layer: the temporal layer that reads the residual block's output.

    Returns:
        `(outputs, layer_outputs)`, each like `terms[0]`, or `None` where the trio cannot
        be folded (`residual_fold_reason`).
    """
    rows = []
    for affine in affines:
        channels = terms[0].shape[-1]
        scale, shift = (ops.ones((channels,)), ops.zeros((channels,))) if affine is None else affine
        rows += [ops.cast(scale, "float32"), ops.cast(shift, "float32")]
    outputs = _run_residual_kernel("residual_block", terms, layer, ops.stack(rows))
    return outputs and outputs[:2]


def batch_normalized_residual_block(terms, norms, layer, conv=None):
    """`residual_block` while training: each normalized term by its batch's statistics.

    Args:
        terms: the sum's two terms before their batch normalization, if any, each
            `(batch * num_frames, H, W, C)`.
        norms: for each term `(gamma, beta, epsilon)` of its batch normalization, or
            `None` for a term added as it is.
        layer: the temporal layer that reads the residual block's output.
        conv: the `keras.layers.Conv2D` that alone reads the layer's output, to run it
            too and recompute the layer's output in the backward pass instead of keeping
            it (`KERAS_STW_RECOMPUTE_BLOCKS=on`; `trio_conv_reason`), or `None`.

    Returns:
        `(outputs, layer_outputs, statistics)`, the first two like `terms[0]` (with
        `conv`, the convolution's output in place of the layer's) and `statistics` each
        normalized term's float32 `(mean, variance)` (`None` for the others), or `None`
        where the trio cannot be folded (`residual_fold_reason`) or `conv` cannot run
        with it (`trio_conv_reason`).
    """
    first = terms[0]
    if conv is not None and trio_conv_reason(layer, conv, first.shape, first.dtype):
        return None
    return _run_residual_kernel("normalized_residual_block", terms, layer, norms, conv)


def _run_residual_kernel(name, terms, layer, normalization, conv=None):
    """`pallas_temporal_block.<name>` on `terms` in the kernels' clip layout, with
    `normalization` (its second argument), `layer`'s weights and, if not `None`, the 1x1
    `conv` that reads the layer; `None` where the trio cannot be folded."""
    first = terms[0]
    if residual_fold_reason(layer, first.shape, first.dtype):
        return None
    from keras_stw.kernels import pallas_temporal_block

    channels = first.shape[-1]
    spec = layer.fused_spec(channels)
    product, read_shape = {}, first.shape
    if conv is not None:
        stride = conv.strides[0]
        product = {
            "kernel": _pointwise_kernel(conv, first.dtype),
            "stride": stride,
            "frame_width": first.shape[2],
        }
        sides = [-(-side // stride) for side in first.shape[1:3]]
        read_shape = (first.shape[0], *sides, conv.filters)
    x, y, *rest = getattr(pallas_temporal_block, name)(
        [_clips(ops.cast(term, first.dtype), spec) for term in terms],
        normalization,
        *_layer_weights(layer, channels),
        spec,
        interpret=get_fused_kernels() == "interpret",
        **product,
    )
    y = ops.reshape(y, read_shape)
    return (ops.reshape(x, first.shape), y if conv is None else _with_bias(y, conv), *rest)


def fold_reason(layer, conv, input_shape, dtype=None, product="triton"):
    """Why `conv(layer(x))` cannot run as one folded pair for `x` of `input_shape`.

    A folded pair keeps `x` instead of the block's output for the convolution's gradient
    and recomputes the block in the backward pass
    (`keras_stw.kernels.pallas_block_conv`). Its forward pass is either one kernel that
    never writes the block's output (`product="triton"`, with
    `KERAS_STW_FOLD_CONVOLUTIONS=on`), or the block's kernel and XLA's matrix product
    (`product="xla"`, with `KERAS_STW_RECOMPUTE_BLOCKS=on`, while the model trains). Both
    are off by default: on an H100, STW ResNet-50 trained at batch 64 in 26.4 GiB; in
    23.6 GiB and 2.5% slower with stages 2 and 3 folded into the Triton product, and in
    21.3 GiB and 6.6% slower with every pair recomputed. A pair folds wherever the layer's
    own kernel runs, for a parallel STW block, a lone STFM or TWM, or TSM's shift followed
    by a 1x1, stride-1, ungrouped, linear `Conv2D`; the Triton product also needs output
    channels that are a power of two from 16 and, under the kernels' `"auto"` mode, at
    most `AUTO_FOLD_MAX_OUTPUTS` of them.

    Args:
        layer: a temporal layer of `keras_stw.layers`.
        conv: the layer that reads the temporal layer's output.
        input_shape: tuple. The temporal layer's input shape, `(batch * T, H, W, C)`.
        dtype: str. The inputs' dtype. Defaults to the layer's compute dtype.
        product: str. `"triton"` or `"xla"`, the forward pass's matrix product.

    Returns:
        `""` where the pair folds, else the reason.

    Example:
    >>> block = keras_stw.layers.STWBlock(num_frames=8)
    >>> block.build((16, 56, 56, 256))
    >>> keras_stw.kernels.fold_reason(block, keras.layers.Conv2D(64, 1), (16, 56, 56, 256))
    'folding is off (the default; KERAS_STW_FOLD_CONVOLUTIONS=on folds, to save memory)'
    """
    if product not in PRODUCTS:
        raise ValueError(f"`product` must be one of {PRODUCTS}. Received: product={product!r}")
    return _pair_reason(layer, conv, input_shape, dtype, product)


def trio_conv_reason(layer, conv, input_shape, dtype=None):
    """Why a recomputing residual trio whose temporal `layer` folds
    (`residual_fold_reason`) cannot also run `conv`, which reads the layer.

    Such a trio's kernel runs the convolution as XLA's matrix product and writes the
    layer's output again in its backward pass instead of the training step keeping it
    (`keras_stw.models.residual_folding`). It needs `KERAS_STW_RECOMPUTE_BLOCKS=on` and a
    convolution that `fold_reason(..., product="xla")` allows, except that it may be
    strided (the same stride along both sides), as a ResNet's first convolution of a
    stage is, and that under `"auto"` TSM's plain shift joins its trio too, where it
    trains faster than with its pairs under `keras.remat` (README, Speed).

    Args:
        layer: a temporal layer of `keras_stw.layers`.
        conv: the layer that reads the temporal layer's output.
        input_shape: tuple. The temporal layer's input shape, `(batch * T, H, W, C)`.
        dtype: str. The inputs' dtype. Defaults to the layer's compute dtype.

    Returns:
        `""` where the trio runs `conv` too, else the reason.

    Example:
    >>> block = keras_stw.layers.STWBlock(num_frames=8)
    >>> block.build((16, 56, 56, 256))
    >>> conv = keras.layers.Conv2D(128, 1, strides=2)
    >>> keras_stw.kernels.trio_conv_reason(block, conv, (16, 56, 56, 256))
    'recomputing is off (the default; KERAS_STW_RECOMPUTE_BLOCKS=on recomputes)'
    """
    return _pair_reason(layer, conv, input_shape, dtype, "xla", trio=True)


def _pair_reason(layer, conv, input_shape, dtype, product, trio=False):
    """`fold_reason`, or with `trio` `trio_conv_reason`: a strided `conv` allowed, and the
    block folded into a residual sum (`_unsupported_reason`'s `residual_fold`)."""
    mode = get_fused_kernels()
    if mode == "off":
        return "the fused kernels are switched off (mode 'off')"
    if product == "triton" and not folding_enabled():
        return f"folding is off (the default; {_FOLD_VARIABLE}=on folds, to save memory)"
    if product == "xla" and not recompute_enabled():
        return f"recomputing is off (the default; {_RECOMPUTE_VARIABLE}=on recomputes)"
    reason = _whole_kernel_reason(layer, input_shape, dtype, mode, residual_fold=trio)
    channels = input_shape[-1]
    spec = layer.fused_spec(channels)
    return reason or _conv_reason(conv, spec, channels, mode, product, strided=trio)


def _conv_reason(conv, spec, channels, mode, product, strided=False):
    from keras_stw.kernels import pallas_block_conv

    if not isinstance(conv, keras.layers.Conv2D) or type(conv).call is not keras.layers.Conv2D.call:
        return f"'{conv.name}' is not a keras.layers.Conv2D"
    stride = conv.strides[0] if strided else 1
    shape = (conv.kernel_size, conv.strides, conv.dilation_rate)
    if shape != ((1, 1), (stride, stride), (1, 1)) or conv.groups != 1:
        kind = "equally strided" if strided else "stride-1"
        return f"'{conv.name}' is not a 1x1, {kind}, ungrouped, channels-last convolution"
    if conv.data_format != "channels_last":
        return f"'{conv.name}' is not a channels-last convolution"
    if conv.activation is not keras.activations.linear:
        return f"'{conv.name}' has an activation"
    if product == "xla":
        return ""
    outputs = conv.filters
    if outputs < pallas_block_conv.MIN_DOT_SIDE or outputs & (outputs - 1):
        return f"{outputs} output channels is not a power of two from 16"
    if pallas_block_conv.channel_chunk(spec, channels) < pallas_block_conv.MIN_DOT_SIDE:
        return "the block's channel groups are narrower than 16 channels"
    if mode == "auto" and outputs > AUTO_FOLD_MAX_OUTPUTS:
        return (
            f"{outputs} output channels: under 'auto' folding stops at "
            f"{AUTO_FOLD_MAX_OUTPUTS}, where the folded kernel already runs a block's "
            "forward pass 1.6x slower than the unfolded pair (3.3x at 256, on an H100); "
            "mode 'on' folds it anyway, to save memory"
        )
    return ""


def folded_convolution(inputs, layer, conv, product="triton"):
    """`conv(layer(inputs))` as one folded pair, or `None` where it cannot be folded.

    Args:
        inputs: the temporal layer's input, `(batch * num_frames, H, W, C)`.
        layer: a temporal layer of `keras_stw.layers`.
        conv: the `keras.layers.Conv2D` that reads the layer's output (see
            `fold_reason`).
        product: str. `"triton"` or `"xla"` (see `fold_reason`).

    Returns:
        The convolution's output `(batch * num_frames, H, W, filters)`, or `None`.
    """
    if fold_reason(layer, conv, inputs.shape, inputs.dtype, product):
        return None
    from keras_stw.kernels import pallas_block_conv

    channels = inputs.shape[-1]
    spec = layer.fused_spec(channels)
    outputs = pallas_block_conv.block_conv(
        _clips(inputs, spec),
        *_layer_weights(layer, channels),
        _pointwise_kernel(conv, inputs.dtype),
        spec,
        interpret=get_fused_kernels() == "interpret",
        product=product,
    )
    return _with_bias(ops.reshape(outputs, (*inputs.shape[:3], conv.filters)), conv)


def _pointwise_kernel(conv, dtype):
    """A 1x1 `Conv2D`'s kernel as a `(channels, filters)` matrix of `dtype`."""
    return ops.cast(ops.reshape(conv.kernel, (-1, conv.filters)), dtype)


def _with_bias(outputs, conv):
    """`outputs` plus `conv`'s bias, where it has one."""
    return outputs + ops.cast(conv.bias, outputs.dtype) if conv.use_bias else outputs


def _unsupported_reason(spec, input_shape, dtype, mode, residual_fold=False):
    """Why the fused kernel cannot or should not run here, or `""`. `residual_fold`:
    whether it would run folded into a residual sum (`residual_fold_reason`)."""
    if isinstance(spec, str):
        return spec
    if mode == "auto" and not spec.weighted and not residual_fold:
        # XLA fuses a plain shift into its neighbours: TSM trained 3% faster that way
        # than with the shift's own kernel (H200, benchmarks/results/fused_kernels_h200/).
        # Folded into the residual sum, the kernel is faster both ways on an H100: TSM
        # trained at 0.980x TSN against 0.939x (benchmarks/results/tsm_fold_h100/) and
        # served at 0.899x against 0.862x (residual_fold_h100/, recompute_h100/).
        return (
            "XLA's own fusion of a plain shift (TSM) is faster; under 'auto' the shift's "
            "kernel runs only folded into a residual sum, and mode 'on' forces it"
        )
    backend = keras.backend.backend()
    if backend != "jax":
        return f"the fused kernels are for the JAX backend; this is {backend!r}"
    try:
        import jax

        from keras_stw.kernels import pallas_temporal_block
    except ImportError as error:
        return f"JAX's Pallas cannot be imported ({error})"
    if pallas_temporal_block.pallas_triton is None:
        return "this JAX has no Pallas Triton lowering"
    if mode != "interpret" and jax.default_backend() != "gpu":
        return f"JAX runs on {jax.default_backend()!r}, and the kernels need an NVIDIA GPU"
    channels = input_shape[-1]
    if channels is None or channels & (channels - 1):
        return f"{channels} channels is not a power of two (Triton's tiles are)"
    if keras.backend.standardize_dtype(dtype) not in _FLOAT_DTYPES:
        return f"the kernels take {_FLOAT_DTYPES} inputs. Received: dtype={dtype}"
    if input_shape[0] is not None and input_shape[0] % spec.num_frames:
        return f"{input_shape[0]} frames is not a whole number of clips"
    return ""
