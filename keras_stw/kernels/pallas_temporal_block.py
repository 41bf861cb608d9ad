"""The temporal blocks as fused Pallas kernels for JAX on NVIDIA GPUs (Triton lowering).

One program owns one clip and a tile of pixels with all their channels, and walks the
clip's frames in order, so every frame of `x` is read once and every frame of `y` written
once: the memory traffic of a plain copy. The backward pass is a second kernel behind a
`jax.custom_vjp`. It keeps `x` and the gate's value at every pixel and frame (one float32,
which the forward kernel writes when gradients are taken: 1/128 of a bfloat16 `x` at 256
channels), so the block adds almost no activation memory of its own and the backward pass
need not recompute the gate's channel sums. The per-channel weight gradients are sums over
every pixel. A backward program walks several pixel tiles of its clip, adds each pixel's
terms into tile-shaped float32 sums, reduces them over its pixels once at the end and
writes one set of partial sums, which XLA adds up afterwards (deterministic, no atomics).
Few programs per clip keep those partial sums small: one set per tile would be 128 MiB for
every block of a batch of 64 clips, more than `x` itself at ResNet's last stage.
`block_forward` and `block_backward` are the two passes for a caller with its own
gradient: the block and the 1x1 convolution that reads it, recomputing, drop `y` after
the forward pass and have the backward kernel write it again (`output_again`).
`residual_block` (at inference) and `normalized_residual_block` (training) fold the
residual sum whose ReLU the block reads into the same two kernels: the forward kernel
makes each frame of `x` from the sum's two terms and writes it beside `y`, and the
backward kernel adds the gradient reaching `x` from its other readers and masks it by the
ReLU (`x_cotangent`); recomputing, the training one also runs the 1x1 convolution that
reads `y` and writes `y` again in the backward pass (`kernel`).

What is computed is defined by `TemporalBlockSpec` and by the layers' `keras.ops` code,
which stays the reference: the tests compare the two on the CPU through Pallas's
interpreter (`interpret=True`), forward and every gradient.

Triton wants every loaded or stored tile to have a power-of-two number of elements: the
pixel tile is a power of two (the last tile of a frame is masked) and the channel count must
be one (64 to 2048 in every ResNet); the dispatch sends other shapes to the reference.
"""

import functools
import os

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl

from keras_stw.kernels import pointwise
from keras_stw.kernels.spec import NEXT, PREVIOUS

try:  # The Triton-specific API (masked loads, launch options) moved between JAX releases.
    from jax.experimental.pallas import triton as pallas_triton
except ImportError:  # pragma: no cover - depends on the installed JAX
    pallas_triton = None

# Elements of one forward frame tile (pixels x channels) a program holds, a power of two,
# the warps that run it, Triton's pipeline stages, how many frames ahead of the ones a
# step reads a program issues its loads (`_FrameLoads`), and how many backward programs
# share a clip's pixels; `KERAS_STW_KERNEL_[BACKWARD_]TILE_ELEMENTS`, `..._NUM_WARPS`,
# `..._NUM_STAGES`, `..._PREFETCH_FRAMES` and `KERAS_STW_KERNEL_BACKWARD_PROGRAMS_PER_CLIP`
# override them (for tuning sweeps). The backward tile depends on the channels: see
# `backward_tiling`.
TILE_ELEMENTS = 2048
NUM_WARPS = 4
NUM_STAGES = 1
# One frame ahead made the block alone 4% to 12% faster forward on an H100. The residual
# trio's kernels (`residual_block`) issue none: its forward reads two terms a frame and
# two frames ahead made it 6% to 7% slower, and its backward was not timed with loads
# ahead (`benchmarks/results/loads_ahead_h100/`).
PREFETCH_FRAMES = 1
RESIDUAL_PREFETCH_FRAMES = 0
BACKWARD_PROGRAMS_PER_CLIP = 16
# Rows of the per-program weight-gradient partial sums: scale, the three taps, the bias.
GRAD_ROWS = 5


def backward_tiling(channels):
    """The backward tile's default elements, warps and frames loaded ahead for `channels`
    channels.

    The fastest per ResNet-50 stage on an H100 (`benchmarks/results/backward_tiles_h100/`,
    `benchmarks/results/loads_ahead_h100/`): 2048 elements and 8 warps up to 256 channels,
    1024 elements from 512 channels (one pixel from 1024 on), and 4 warps from 1024
    channels; loads issued one frame ahead at 256 channels, two at 512 and 1024, none at
    2048, where the extra registers lose (the block alone; the residual trio's backward
    pass issues none, `RESIDUAL_PREFETCH_FRAMES`).

    Args:
        channels: int. The block's channel count.

    Returns:
        `(elements, warps, ahead)`, before `KERAS_STW_KERNEL_BACKWARD_TILE_ELEMENTS`,
        `..._NUM_WARPS` and `..._PREFETCH_FRAMES` override them.

    Example:
    >>> backward_tiling(256), backward_tiling(1024)
    ((2048, 8, 1), (1024, 4, 2))
    """
    elements = 2048 if channels <= 256 else 1024
    warps = 8 if channels <= 512 else 4
    ahead = 1 if channels <= 256 else 2 if channels <= 1024 else 0
    return elements, warps, ahead


def _tuning(name, default):
    return int(os.environ.get(f"KERAS_STW_KERNEL_{name}", default))


def tile_pixels(num_pixels, channels, elements):
    """Pixels per tile of about `elements` elements: a power of two, at least one, at most
    the frame's pixel count rounded up."""
    pixels = max(1, elements // channels)
    return min(pixels, 1 << max(0, (num_pixels - 1).bit_length()))


def tiles_per_program(num_pixels, pixels):
    """Pixel tiles one backward program walks: a power of two, so that its block of
    pixels is one too, and enough of them that a clip has about
    `BACKWARD_PROGRAMS_PER_CLIP` programs."""
    programs = max(1, _tuning("BACKWARD_PROGRAMS_PER_CLIP", BACKWARD_PROGRAMS_PER_CLIP))
    tiles = pl.cdiv(pl.cdiv(num_pixels, pixels), programs)
    return 1 << max(0, (tiles - 1).bit_length())


def temporal_block(x, scale, taps, bias, spec, interpret=False):
    """Applies the block of `spec` to `x` of shape `(clips, num_frames, pixels, channels)`.

    Args:
        x: array `(clips, num_frames, pixels, channels)`, float32, bfloat16 or float16.
        scale: array `(channels,)`, the shift's per-channel scale (ignored without one).
        taps: array `(3, channels)`, the gate's temporal taps (ignored without a gate).
        bias: scalar array, the gate's bias (ignored without a gate).
        spec: `TemporalBlockSpec`.
        interpret: bool. Run through Pallas's interpreter (any device; for tests).

    Returns:
        An array like `x`.
    """
    return _temporal_block(x, scale, taps, bias, spec, interpret)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5))
def _temporal_block(x, scale, taps, bias, spec, interpret):
    params = pack_weights(scale, taps, bias)
    (y,) = _launch(_forward_kernel, {"x": x}, ("y",), params, spec, interpret)
    return y


def _temporal_block_fwd(x, scale, taps, bias, spec, interpret):
    y, saved = block_forward(x, scale, taps, bias, spec, interpret)
    return y, (saved, scale, taps, bias)


def _temporal_block_bwd(spec, interpret, residuals, dy):
    saved, scale, taps, bias = residuals
    dx, grads, _ = block_backward(saved, dy, scale, taps, bias, spec, interpret)
    return dx, *grads


_temporal_block.defvjp(_temporal_block_fwd, _temporal_block_bwd)


def block_forward(x, scale, taps, bias, spec, interpret=False, output_again=False):
    """The block's output, and what `block_backward` reads.

    Args:
        x: array `(clips, num_frames, pixels, channels)`.
        scale, taps, bias: the block's weights, as `temporal_block` takes them.
        spec: `TemporalBlockSpec`.
        interpret: bool. Run through Pallas's interpreter (any device; for tests).
        output_again: bool. Whether `block_backward` will write the output again (then
            it reads `x` whatever the block).

    Returns:
        `(y, saved)`: `saved` holds `x` where the backward pass reads it (a block with
        weights, or `output_again`) and the gate's values for a block with a gate (one
        float32 per pixel and frame, which the kernel writes beside `y`); a plain shift
        (TSM) needs nothing but the upstream gradient.

    Example:
    >>> spec = keras_stw.STWBlock(8).fused_spec(64)
    >>> weights = (jnp.ones(64), jnp.zeros((3, 64)), jnp.zeros(()))
    >>> x = jnp.ones((2, 8, 49, 64), "bfloat16")
    >>> y, saved = block_forward(x, *weights, spec, interpret=True, output_again=True)
    >>> sorted(saved)
    ['gates', 'x']
    """
    params = pack_weights(scale, taps, bias)
    outputs = ("y", "gates") if spec.gate else ("y",)
    y, *gates = _launch(_forward_kernel, {"x": x}, outputs, params, spec, interpret)
    saved = {"x": x} if spec.weighted or output_again else {}
    if spec.gate:
        saved["gates"] = gates[0]
    return y, saved


def block_backward(
    saved, dy, scale, taps, bias, spec, interpret=False, output_again=False, x_cotangent=None
):
    """The block's gradients, in one pass over `dy` and what `block_forward` saved.

    With `output_again`, the same pass writes the block's output once more, from the `x`
    and gate values it reads anyway: a caller that dropped `y` after the forward pass
    (the block and the convolution that reads it, recomputing) gets it back for the
    convolution's weight gradient for one more write, instead of a second forward pass
    (a read of `x` and a write of `y`).

    Args:
        saved: dict, `block_forward`'s (with the same `output_again`).
        dy: array like `x`, the upstream gradient.
        scale, taps, bias: the block's weights, as `temporal_block` takes them.
        spec: `TemporalBlockSpec`.
        interpret: bool. Run through Pallas's interpreter (any device; for tests).
        output_again: bool. Whether to write the block's output too.
        x_cotangent: array like `x`, or `None`. For an `x` that is a ReLU's output
            (`residual_block`; `saved` must hold `x`): the gradient reaching `x` from its
            other readers. The pass then adds it to the block's and writes the gradient of
            the ReLU's input, `(dx + x_cotangent) * (x > 0)`, in place of `dx`.

    Returns:
        `(dx, (dscale, dtaps, dbias), y)`, with `y` `None` unless `output_again`.

    Example:
    >>> # `spec`, `weights`, `x`, `y` and `saved` as in `block_forward`'s example.
    >>> dx, _, y_again = block_backward(
    ...     saved, jnp.ones_like(x), *weights, spec, interpret=True, output_again=True
    ... )
    >>> bool(jnp.allclose(y_again, y))
    True
    """
    params = pack_weights(scale, taps, bias)
    outputs = ("dx",) + (("y",) if output_again else ()) + (("partials",) if spec.weighted else ())
    arrays = {**saved, "dy": dy}
    if x_cotangent is not None:
        arrays["x_cotangent"] = x_cotangent
    launched = _launch(_backward_kernel, arrays, outputs, params, spec, interpret)
    results = dict(zip(outputs, launched, strict=True))
    if spec.weighted:
        grads = jnp.sum(results["partials"], axis=(0, 1))
        weight_grads = (
            grads[0].astype(scale.dtype),
            grads[1:4].astype(taps.dtype),
            grads[4, 0].astype(bias.dtype),
        )
    else:
        weight_grads = (jnp.zeros_like(scale), jnp.zeros_like(taps), jnp.zeros_like(bias))
    return results["dx"], weight_grads, results.get("y")


def residual_block(terms, affine, scale, taps, bias, spec, interpret=False):
    """A residual sum's ReLU and the temporal block that reads it, in one pass: `(x, y)`.

    `x = relu(terms[0] * affine[0] + affine[1] + terms[1] * affine[2] + affine[3])` is the
    residual block's output (each term's batch normalization as a per-channel scale and
    shift; `1` and `0` for a term without one) and `y` the temporal block applied to `x`.
    The kernel reads the two terms and writes `x` and `y`, where the sum's own fusion and
    the block's kernel read the terms, write `x`, read it again and write `y`. Its
    gradient is one pass of the block's backward kernel, which also adds the gradient
    reaching `x` from its other readers and masks the sum by the ReLU, so that it writes
    the sum's gradient instead of the block's input's; it keeps `x`, the gate's values
    and the two terms (which a batch normalization keeps for its own gradient anyway).

    Args:
        terms: pair of arrays `(clips, num_frames, pixels, channels)` of one dtype: the
            residual branch's last convolution's output and the shortcut's value.
        affine: float32 array `(4, channels)`: the first term's scale and shift, then the
            second's.
        scale, taps, bias: the block's weights, as `temporal_block` takes them.
        spec: `TemporalBlockSpec`.
        interpret: bool. Run through Pallas's interpreter (any device; for tests).

    Returns:
        `(x, y)`, arrays like `terms[0]`.

    Example:
    >>> spec = keras_stw.STWBlock(8).fused_spec(64)
    >>> weights = (jnp.ones(64), jnp.zeros((3, 64)), jnp.zeros(()))
    >>> terms = jnp.ones((2, 8, 49, 64), "bfloat16"), -jnp.ones((2, 8, 49, 64), "bfloat16")
    >>> affine = jnp.array([[2.0], [0.0], [1.0], [0.5]]) * jnp.ones((4, 64))
    >>> x, y = residual_block(terms, affine, *weights, spec, interpret=True)
    >>> float(x[0, 0, 0, 0]), x.shape == y.shape
    (1.5, True)
    """
    return _residual_block(tuple(terms), affine, scale, taps, bias, spec, interpret)


@functools.partial(jax.custom_vjp, nondiff_argnums=(5, 6))
def _residual_block(terms, affine, scale, taps, bias, spec, interpret):
    x, y, _ = _residual_forward(terms, affine, scale, taps, bias, spec, interpret, gates=False)
    return x, y


def _residual_forward(terms, affine, scale, taps, bias, spec, interpret, gates):
    """`x`, `y` and, with `gates`, what the backward pass reads: `x` and, for a block with
    a gate, the gate's values (else `None`)."""
    arrays = {"term0": terms[0], "term1": terms[1], "affine": affine.astype(jnp.float32)}
    outputs = ("x", "y", "gates") if gates and spec.gate else ("x", "y")
    x, y, *gate_values = _launch(
        _forward_kernel, arrays, outputs, pack_weights(scale, taps, bias), spec, interpret
    )
    if not gates:
        return x, y, None
    return x, y, {"x": x, "gates": gate_values[0]} if gate_values else {"x": x}


def _sum_gradient(saved, dx, dy, scale, taps, bias, spec, interpret, output_again=False):
    """The float32 gradient of the residual sum (before its ReLU), the block's weight
    gradients and, with `output_again`, the block's output, from one pass of the backward
    kernel."""
    total, weight_grads, y = block_backward(
        saved, dy, scale, taps, bias, spec, interpret, output_again, x_cotangent=dx
    )
    return total.astype(jnp.float32), weight_grads, y


def _residual_block_fwd(terms, affine, scale, taps, bias, spec, interpret):
    x, y, saved = _residual_forward(terms, affine, scale, taps, bias, spec, interpret, True)
    return (x, y), (saved, terms, affine, scale, taps, bias)


def _residual_block_bwd(spec, interpret, residuals, cotangents):
    saved, terms, affine, scale, taps, bias = residuals
    dx, dy = cotangents
    total, weight_grads, _ = _sum_gradient(saved, dx, dy, scale, taps, bias, spec, interpret)
    pixels = (0, 1, 2)
    dterms, daffine = [], []
    for index, term in enumerate(terms):
        dterms.append((total * affine[2 * index]).astype(term.dtype))
        daffine += [jnp.sum(total * term.astype(jnp.float32), pixels), jnp.sum(total, pixels)]
    return tuple(dterms), jnp.stack(daffine), *weight_grads


_residual_block.defvjp(_residual_block_fwd, _residual_block_bwd)


def normalized_residual_block(
    terms, norms, scale, taps, bias, spec, interpret=False, kernel=None, stride=1, frame_width=None
):
    """`residual_block` while training: each batch-normalized term by its batch's statistics.

    The statistics are per channel over every frame and pixel, as a `BatchNormalization`
    layer computes them when training. The backward pass runs the same kernel as
    `residual_block`'s, then each batch normalization's whole gradient (through its
    statistics too) in float32, rounding a term's gradient once, as the layer's own
    gradient does: a bfloat16 term's gradient added up from a bfloat16 scale-and-shift
    part and a part through the statistics would lose the two parts' cancellation.

    With `kernel`, the 1x1 convolution that alone reads the temporal block's output runs
    here too, as XLA's matrix product (`pointwise.matmul`), and its output takes `y`'s
    place. `y` is then not kept for the product's kernel gradient: the backward kernel,
    which reads `x` anyway, writes it again (`block_backward`'s `output_again`) once the
    product's input gradient has arrived. That saves a block's output of memory for one
    more write of it, as the recomputing pair of `pallas_block_conv` does for a block
    alone. A strided convolution reads every `stride`-th row and column of `y`
    (`pointwise.strided`).

    Args:
        terms: pair of arrays `(clips, num_frames, pixels, channels)` of one dtype.
        norms: pair, for each term `(gamma, beta, epsilon)` of its batch normalization
            (`gamma` and `beta` `(channels,)` arrays, `epsilon` a float), or `None` for
            a term added as it is.
        scale, taps, bias: the block's weights, as `temporal_block` takes them.
        spec: `TemporalBlockSpec`.
        interpret: bool. Run through Pallas's interpreter (any device; for tests).
        kernel: array `(channels, outputs)` like the terms' dtype, or `None`: the kernel of
            the 1x1 convolution that reads `y`, to run it here and recompute `y`.
        stride: int. That convolution's stride along both sides.
        frame_width: int. The frames' width (for a `stride` above 1).

    Returns:
        `(x, y, statistics)`, or with `kernel` `(x, z, statistics)`, where `z` is the
        convolution's output `(clips, num_frames, strided pixels, outputs)`:
        `statistics` holds, for each normalized term, its batch's float32
        `(mean, variance)` (for the moving averages; no gradient flows back through
        them), and `None` for the others.
    """
    epsilons = tuple(None if norm is None else float(norm[2]) for norm in norms)
    weights = tuple(None if norm is None else tuple(norm[:2]) for norm in norms)
    sampling = (frame_width, stride)
    return _normalized_residual_block(
        tuple(terms), weights, scale, taps, bias, kernel, spec, interpret, epsilons, sampling
    )


@functools.partial(jax.custom_vjp, nondiff_argnums=(6, 7, 8, 9))
def _normalized_residual_block(
    terms, weights, scale, taps, bias, kernel, spec, interpret, epsilons, sampling
):
    outputs, _ = _normalized_fwd(
        terms, weights, scale, taps, bias, kernel, spec, interpret, epsilons, sampling
    )
    return outputs


def _normalized_fwd(terms, weights, scale, taps, bias, kernel, spec, interpret, epsilons, sampling):
    statistics, rows = [], []
    for term, weight, epsilon in zip(terms, weights, epsilons, strict=True):
        if weight is None:
            statistics.append(None)
            rows += [jnp.ones(term.shape[-1]), jnp.zeros(term.shape[-1])]
            continue
        values = term.astype(jnp.float32)
        mean, variance = jnp.mean(values, (0, 1, 2)), jnp.var(values, (0, 1, 2))
        statistics.append((mean, variance))
        term_scale = weight[0].astype(jnp.float32) * jax.lax.rsqrt(variance + epsilon)
        rows += [term_scale, weight[1].astype(jnp.float32) - mean * term_scale]
    x, y, saved = _residual_forward(
        terms, jnp.stack(rows), scale, taps, bias, spec, interpret, gates=True
    )
    if kernel is not None:  # `y` itself is dropped here, and written again.
        y = pointwise.matmul(pointwise.strided(y, *sampling), kernel)
    residuals = (saved, terms, weights, tuple(statistics), scale, taps, bias, kernel)
    return (x, y, tuple(statistics)), residuals


def _normalized_bwd(spec, interpret, epsilons, sampling, residuals, cotangents):
    saved, terms, weights, statistics, scale, taps, bias, kernel = residuals
    dx, upstream, _ = cotangents  # The statistics feed only the moving averages.
    dy = upstream
    if kernel is not None:
        dy = pointwise.input_gradient(upstream, kernel)
        dy = pointwise.spread(dy, saved["x"].shape, *sampling)
    total, weight_grads, y = _sum_gradient(
        saved, dx, dy, scale, taps, bias, spec, interpret, output_again=kernel is not None
    )
    dkernel = None
    if kernel is not None:
        dkernel = pointwise.kernel_gradient(pointwise.strided(y, *sampling), upstream)
    pixels = (0, 1, 2)
    dterms, dweights = [], []
    for term, weight, stats, epsilon in zip(terms, weights, statistics, epsilons, strict=True):
        if weight is None:
            dterms.append(total.astype(term.dtype))
            dweights.append(None)
            continue
        mean, inverse = stats[0], jax.lax.rsqrt(stats[1] + epsilon)
        normalized = (term.astype(jnp.float32) - mean) * inverse
        dbeta, dgamma = jnp.sum(total, pixels), jnp.sum(total * normalized, pixels)
        count = total.size // total.shape[-1]
        dterm = weight[0].astype(jnp.float32) * inverse
        dterm = dterm * (total - (dbeta + normalized * dgamma) / count)
        dterms.append(dterm.astype(term.dtype))
        dweights.append((dgamma.astype(weight[0].dtype), dbeta.astype(weight[1].dtype)))
    return tuple(dterms), tuple(dweights), *weight_grads, dkernel


_normalized_residual_block.defvjp(_normalized_fwd, _normalized_bwd)


def pack_weights(scale, taps, bias):
    """The weights as one float32 `(5, C)` array: scale, three taps, bias (broadcast)."""
    channels = scale.shape[0]
    rows = [scale[None], taps, jnp.broadcast_to(bias, (1, channels))]
    return jnp.concatenate([row.astype(jnp.float32) for row in rows], axis=0)


def _launch(kernel, inputs, outputs, params, spec, interpret):
    """Runs `kernel` over (clip, pixel tile) programs.

    Args:
        kernel: `_forward_kernel` or `_backward_kernel`.
        inputs: dict of the arrays it reads by name: `"x"`, `"dy"`, `"x_cotangent"`,
            `"term0"` and `"term1"` (frame-shaped, like `x`), `"gates"`
            (`(clips, num_frames, pixels, 1)` float32) and `"affine"` (`(4, channels)`
            float32, `residual_block`'s).
        outputs: tuple of the names of the arrays it writes, in order: `"x"`, `"y"` and
            `"dx"` (frame-shaped), `"gates"`, and `"partials"` (the per-program
            weight-gradient partial sums, `(clips, programs, GRAD_ROWS, channels)` float32).
        params: the `pack_weights` array.

    Returns:
        The list of `outputs`.
    """
    pass_name = "BACKWARD_" if kernel is _backward_kernel else ""
    frames = next(inputs[name] for name in ("dy", "x", "term0") if name in inputs)
    shape, dtype = frames.shape, jnp.dtype(frames.dtype)
    defaults = (TILE_ELEMENTS, NUM_WARPS, PREFETCH_FRAMES)
    elements, warps, ahead = backward_tiling(shape[3]) if pass_name else defaults
    if "term0" in inputs or "x_cotangent" in inputs:  # The residual trio's two passes.
        ahead = RESIDUAL_PREFETCH_FRAMES
    elements = _tuning(f"{pass_name}TILE_ELEMENTS", elements)
    pixels = tile_pixels(shape[2], shape[3], elements)
    tiles = tiles_per_program(shape[2], pixels) if "partials" in outputs else 1
    warps = _tuning(f"{pass_name}NUM_WARPS", warps)
    stages = _tuning(f"{pass_name}NUM_STAGES", NUM_STAGES)
    ahead = _tuning(f"{pass_name}PREFETCH_FRAMES", ahead)
    tiling = (pixels, tiles, warps, stages, ahead)
    names = (*inputs, "params")
    call = _compiled(kernel, shape, dtype, names, outputs, spec, interpret, tiling)
    return call(*inputs.values(), params)


@functools.cache
def _compiled(kernel, shape, dtype, inputs, outputs, spec, interpret, tiling):
    """One jitted `pallas_call` per configuration: eager calls (batch-norm re-estimation,
    `predict` outside `jit`) reuse its compiled kernel instead of building a new one.

    `inputs` and `outputs` name the arrays as `_launch` does (`"params"` last among the
    inputs). `tiling` is `(pixels, tiles, warps, stages, ahead)`: a program walks `tiles`
    tiles of `pixels` pixels each, run by `warps` warps, with Triton's loop pipelined over
    `stages` stages, issuing its loads `ahead` frames before a step reads them."""
    clips, num_frames, num_pixels, channels = shape
    pixels, tiles, warps, stages, ahead = tiling
    programs = pl.cdiv(num_pixels, pixels * tiles)
    # Each array's shape, dtype, and the block one program sees.
    frames = (shape, dtype, (None, num_frames, pixels * tiles, channels), lambda n, j: (n, 0, j, 0))
    arrays = {
        "gates": (
            (clips, num_frames, num_pixels, 1),
            jnp.float32,
            (None, num_frames, pixels * tiles, 1),
            lambda n, j: (n, 0, j, 0),
        ),
        "partials": (
            (clips, programs, GRAD_ROWS, channels),
            jnp.float32,
            (None, None, GRAD_ROWS, channels),
            lambda n, j: (n, j, 0, 0),
        ),
        "params": ((GRAD_ROWS, channels), jnp.float32, (GRAD_ROWS, channels), lambda n, j: (0, 0)),
        "affine": ((4, channels), jnp.float32, (4, channels), lambda n, j: (0, 0)),
    }
    arrays.update(dict.fromkeys(("x", "dy", "y", "dx", "term0", "term1", "x_cotangent"), frames))

    def blocks(names):
        return [pl.BlockSpec(*arrays[name][2:]) for name in names]

    options = {}
    if not interpret and pallas_triton is not None:
        params = pallas_triton.CompilerParams(num_warps=warps, num_stages=stages)
        options["compiler_params"] = params
    body = functools.partial(
        _named_refs,
        kernel,
        inputs + outputs,
        spec=spec,
        pixels=pixels,
        num_pixels=num_pixels,
        tiles=tiles,
        ahead=ahead,
    )
    return jax.jit(
        pl.pallas_call(
            body,
            out_shape=[jax.ShapeDtypeStruct(*arrays[name][:2]) for name in outputs],
            grid=(clips, programs),
            in_specs=blocks(inputs),
            out_specs=blocks(outputs),
            interpret=interpret,
            **options,
        )
    )


def _named_refs(kernel, names, *refs, **options):
    """Calls `kernel` with its refs as a dict by the names `_launch` gave them."""
    return kernel(dict(zip(names, refs, strict=True)), **options)


class _Tile:
    """One tile of the current program's clip: masked frame loads and stores, the padding.

    The program's block holds `tiles` tiles of `pixels` pixels and starts at the clip's
    pixel `block_start`; this is its `index`-th tile (a traced loop index in the backward
    pass). Both are computed outside any loop: Pallas's interpreter does not look for
    `program_id` inside one."""

    def __init__(self, spec, pixels, num_pixels, channels, block_start, tiles=1, index=0):
        self.spec = spec
        self.shape = (pixels, channels)
        self.rows = pl.ds(index * pixels, pixels)
        # The masks of a frame tile and of a gate column, by their last dimension.
        self.masks = None
        if num_pixels % (pixels * tiles):
            self.masks = {
                width: jax.lax.broadcasted_iota(jnp.int32, (pixels, width), 0)
                + block_start
                + index * pixels
                < num_pixels
                for width in {channels, 1}
            }
        self.channel = jax.lax.broadcasted_iota(jnp.int32, self.shape, 1)

    def load(self, ref, t):
        """Frame `t` of `ref` on this tile, in `ref`'s dtype (zeros past the last pixel)."""
        if self.masks is None:
            return ref[t, self.rows]
        # An array frame index: the interpreter's masked load wants one.
        frame = ref.at[jnp.int32(t), self.rows]
        mask = self.masks[ref.shape[-1]]
        return pallas_triton.load(frame, mask=mask, other=0.0)

    def store(self, ref, t, value):
        value = value.astype(ref.dtype)
        if self.masks is None:
            ref[t, self.rows] = value
        else:
            mask = self.masks[ref.shape[-1]]
            pallas_triton.store(ref.at[jnp.int32(t), self.rows], value, mask=mask)

    def neighbour(self, t):
        """The frame index standing in for `t`, or `None` for zeros outside the clip."""
        if 0 <= t < self.spec.num_frames:
            return t
        if self.spec.padding == "zeros":
            return None
        return min(max(t, 0), self.spec.num_frames - 1)

    def select(self, previous, same, following):
        """Each channel from the frame its segment names (the shift's gather)."""
        result = same
        for start, stop, source in self.spec.segments:
            if source == PREVIOUS or source == NEXT:
                inside = (self.channel >= start) & (self.channel < stop)
                result = jnp.where(inside, previous if source == PREVIOUS else following, result)
        return result


class _FrameLoads:
    """A tile's frame loads, each issued `ahead` frames before the step that reads it.

    A program walks its frames in order, storing as it goes. Issued where its value is
    first read, each frame's load would come after the previous frame's stores in the
    program, so a program would have one frame's loads in flight at a time; issuing the
    next frames' loads first keeps more of them in flight.

    Args:
        tile: `_Tile`.
        refs: dict of the frame-shaped (or gate-shaped) refs to read, by name.
        ahead: int. Frames beyond the ones a step reads whose loads it issues.
        reads: dict. For each name, how many frames past its own the step of frame `t`
            reads (1 where it needs the next frame, as a gate or a shift does); 1 if
            left out.
    """

    def __init__(self, tile, refs, ahead, reads=None):
        self.tile, self.refs, self.ahead = tile, refs, ahead
        self.reads = reads or {}
        self.issued = {}
        self.next_frame = dict.fromkeys(refs, 0)

    def issue(self, step):
        """Issues the loads of the frames the step of frame `step` reads, and of `ahead`
        frames more, not issued yet."""
        for name in self.refs:
            self._issue(name, step + self.reads.get(name, 1) + self.ahead)

    def take(self, name, t):
        """Frame `t` of `name` as float32 (read once: the caller keeps it)."""
        self._issue(name, t)
        return self.issued.pop((name, t)).astype(jnp.float32)

    def _issue(self, name, last):
        stop = min(last + 1, self.tile.spec.num_frames)
        for t in range(self.next_frame[name], stop):
            self.issued[name, t] = self.tile.load(self.refs[name], t)
        self.next_frame[name] = max(self.next_frame[name], stop)


def _rows(ref, count):
    """The first `count` rows of a `(rows, C)` ref, each as a `(1, C)` row."""
    return [ref[pl.ds(row, 1), :] for row in range(count)]


def _weights(params_ref):
    """The scale and the three taps as `(1, C)` rows, and the bias as a scalar."""
    return (*_rows(params_ref, 4), params_ref[4, 0])


def _forward_kernel(refs, *, spec, pixels, num_pixels, tiles, ahead):
    """Writes `y`, and the gate's values if `refs` has `"gates"` (for the backward pass).

    With `"term0"` and `"term1"` in `refs` (`residual_block`), each frame of `x` is
    first made from them and written, as the block reads it."""
    if tiles != 1:  # `_launch` gives the forward pass one tile a program.
        raise ValueError(f"The forward kernel runs one pixel tile a program, not {tiles}.")
    tile = _Tile(spec, pixels, num_pixels, refs["x"].shape[-1], pl.program_id(1) * pixels)
    scale, tap_previous, tap_same, tap_next, bias = _weights(refs["params"])
    zeros = jnp.zeros(tile.shape, jnp.float32)
    residual = "term0" in refs
    names = ("term0", "term1") if residual else ("x",)
    loads = _FrameLoads(tile, {name: refs[name] for name in names}, ahead)
    load = _residual_loader(refs, tile, loads) if residual else functools.partial(loads.take, "x")
    frames = {}

    def frame(t):
        index = tile.neighbour(t)
        if index is None:
            return zeros
        if index not in frames:
            frames[index] = load(index)
        return frames[index]

    for t in range(spec.num_frames):
        loads.issue(t)  # Before this step's stores.
        frame(t)  # In frame order, so that a residual block writes `x` in order too.
        gate = None
        if spec.gate:
            logits = _gate_logits(
                frame(t - 1), frame(t), frame(t + 1), tap_previous, tap_same, tap_next
            )
            gate = jax.nn.sigmoid(-(logits + bias))
            if "gates" in refs:
                tile.store(refs["gates"], t, gate)
        tile.store(refs["y"], t, _output(tile, frame, t, scale, gate))


def _residual_loader(refs, tile, loads):
    """Frame `t` of `x` made from `residual_block`'s two terms (`_FrameLoads`), written to
    `refs["x"]` and returned as written (rounded to its dtype)."""
    scale0, shift0, scale1, shift1 = _rows(refs["affine"], 4)

    def load(t):
        total = loads.take("term0", t) * scale0 + shift0
        total = total + loads.take("term1", t) * scale1 + shift1
        x = jnp.maximum(total, 0.0).astype(refs["x"].dtype)
        tile.store(refs["x"], t, x)
        return x.astype(jnp.float32)

    return load


def _output(tile, frame, t, scale, gate):
    """`y` at frame `t` from the frames (`frame(t)` loads one, or zeros past the clip's
    ends) and the gate's value at `t` (`None` without a gate)."""
    y = jnp.zeros(tile.shape, jnp.float32)
    if tile.spec.shift:
        y = tile.select(frame(t - 1), frame(t), frame(t + 1))
        if tile.spec.scale:
            y = y * scale
    if gate is not None:
        y = y + frame(t) * gate
    return y


def _gate_logits(previous, current, following, tap_previous, tap_same, tap_next):
    """`u` without its bias, one value per pixel as a `(pixels, 1)` column."""
    return jnp.sum(
        previous * tap_previous + current * tap_same + following * tap_next,
        axis=1,
        keepdims=True,
    )


def _backward_kernel(refs, *, spec, pixels, num_pixels, tiles, ahead):
    """Writes `dx`, the weights' partial sums if `refs` has `"partials"`, and the block's
    output again if it has `"y"` (`x` and the gate's values are in `refs` where the block
    needs them). With `"x_cotangent"`, `dx` is `(dx + x_cotangent) * (x > 0)`, the
    gradient of the sum whose ReLU `x` is (`block_backward`)."""
    channels = refs["dy"].shape[-1]
    weights = _weights(refs["params"])
    block_start = pl.program_id(1) * tiles * pixels
    # The loop stops at the clip's last pixel: the program holding it may have fewer tiles.
    remaining = pl.cdiv(num_pixels - block_start, pixels)

    def tile_backward(index, sums):
        tile = _Tile(spec, pixels, num_pixels, channels, block_start, tiles, index)
        return _backward_tile(tile, refs, weights, sums, ahead)

    # Scale, the three taps, then the bias, summed per pixel and channel: each tile adds
    # its pixels' terms, and the pixels are reduced once at the end.
    sums = [jnp.zeros((pixels, channels), jnp.float32) for _ in range(GRAD_ROWS - 1)]
    sums.append(jnp.zeros((pixels, 1), jnp.float32))
    sums = jax.lax.fori_loop(0, jnp.minimum(tiles, remaining), tile_backward, sums)
    if "partials" in refs:
        partials_ref = refs["partials"]
        for row, value in enumerate(sums[:-1]):
            partials_ref[row] = jnp.sum(value, axis=0)
        partials_ref[GRAD_ROWS - 1] = jnp.zeros((channels,), jnp.float32) + jnp.sum(sums[-1])


def _backward_tile(tile, refs, weights, sums, ahead):
    """Writes one tile's `dx` (and `y`, if asked) and returns `sums` with its
    weight-gradient terms added."""
    spec = tile.spec
    names = [name for name in ("x", "dy", "gates", "x_cotangent") if name in refs]
    # Frame `t`'s step reads the next frame's `x`, `dy` and gate, and its own cotangent.
    loads = _FrameLoads(tile, {name: refs[name] for name in names}, ahead, {"x_cotangent": 0})
    scale, tap_previous, tap_same, tap_next, _ = weights
    zeros = jnp.zeros(tile.shape, jnp.float32)
    num_frames = spec.num_frames
    cache = {}

    def cached(kind, t, make):
        if (kind, t) not in cache:
            cache[kind, t] = make()
        return cache[kind, t]

    def frame(t):
        index = tile.neighbour(t)
        if index is None:
            return zeros
        return cached("x", index, lambda: loads.take("x", index))

    def upstream(t):
        return cached("dy", t, lambda: loads.take("dy", t))

    def gate(t):
        """`s = sigmoid(-u)` at frame `t`, `(pixels, 1)`, as the forward pass wrote it."""
        return cached("s", t, lambda: loads.take("gates", t))

    def logits_grad(t):
        """dL/du at frame `t`: -s (1 - s) sum_c dy x, `(pixels, 1)`."""

        def make():
            s = gate(t)
            return -s * (1.0 - s) * jnp.sum(upstream(t) * frame(t), axis=1, keepdims=True)

        return cached("du", t, make)

    def readers(t, offset):
        """Frames whose `t + offset` neighbour stands for frame `t` (padding included)."""
        return [r for r in range(num_frames) if tile.neighbour(r + offset) == t]

    sums = list(sums)
    for t in range(num_frames):
        loads.issue(t)  # Before this step's stores.
        dx = zeros
        if spec.shift:
            from_previous = sum((upstream(r) for r in readers(t, -1)), zeros)
            from_next = sum((upstream(r) for r in readers(t, 1)), zeros)
            shifted = tile.select(from_previous, upstream(t), from_next)
            dx = dx + (shifted * scale if spec.scale else shifted)
            if spec.scale:
                sums[0] += upstream(t) * tile.select(frame(t - 1), frame(t), frame(t + 1))
        if spec.gate:
            du = logits_grad(t)
            dx = dx + upstream(t) * gate(t) + du * tap_same
            dx = dx + sum((logits_grad(r) for r in readers(t, -1)), zeros) * tap_previous
            dx = dx + sum((logits_grad(r) for r in readers(t, 1)), zeros) * tap_next
            sums[1] += du * frame(t - 1)
            sums[2] += du * frame(t)
            sums[3] += du * frame(t + 1)
            sums[4] += du
        if "x_cotangent" in refs:
            dx = jnp.where(frame(t) > 0, dx + loads.take("x_cotangent", t), 0.0)
        tile.store(refs["dx"], t, dx)
        if "y" in refs:
            tile.store(refs["y"], t, _output(tile, frame, t, scale, gate(t) if spec.gate else None))
    return sums
