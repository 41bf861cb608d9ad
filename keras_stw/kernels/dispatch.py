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

MODES = ("auto", "on", "off", "interpret")
_MODE_VARIABLE = "KERAS_STW_FUSED_KERNELS"
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

    num_frames, channels = spec.num_frames, inputs.shape[-1]
    clips = ops.reshape(inputs, (-1, num_frames, inputs.shape[1] * inputs.shape[2], channels))
    weights = (
        ops.ones((channels,)) if scale is None else ops.reshape(scale, (channels,)),
        ops.zeros((3, channels)) if taps is None else ops.convert_to_tensor(taps),
        ops.zeros(()) if bias is None else ops.convert_to_tensor(bias),
    )
    outputs = pallas_temporal_block.temporal_block(
        clips, *weights, spec, interpret=mode == "interpret"
    )
    return ops.reshape(outputs, inputs.shape)


def _unsupported_reason(spec, input_shape, dtype, mode):
    """Why the fused kernel cannot or should not run here, or `""`."""
    if isinstance(spec, str):
        return spec
    if mode == "auto" and not (spec.gate or spec.scale):
        # Measured on an H200 (benchmarks/results/fused_kernels_h200/): XLA fuses a plain
        # shift's backward into its neighbours, and TSM trained 3% faster that way.
        return "XLA's own fusion of a plain shift (TSM) is faster; mode 'on' forces the kernel"
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
