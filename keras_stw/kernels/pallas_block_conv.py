"""A temporal block folded into the 1x1 convolution that reads it, as one Pallas kernel.

`z = block(x) @ kernel` without writing the block's output `y` to memory: a program owns
one clip, a tile of pixels and a tile of output channels, and walks the clip's frames.
Before frame `t` it reads frame `t + 1` once to reduce the gate's three per-pixel tap
products (`u[t]` needs frames `t - 1`, `t` and `t + 1`); then it builds `y[t]` chunk by
chunk of input channels (a shifted chunk comes from frame `t - 1` or `t + 1`, still in the
GPU's L2 cache) and multiplies each chunk into a float32 accumulator on the tensor cores.
Each frame of `x` comes from memory about once, and `y` never goes there: the block costs
the convolution little more than its own read of `x`.

Its backward pass keeps `x` (not `y`, which the convolution would otherwise keep for its
weight gradient): it recomputes `y` with the block's one-pass kernel and takes the
gradients of the block kernel and of the matrix product (XLA's).

With `product="xla"` the forward pass runs the block's own kernel (which also writes the
gate's value per pixel, as for the block alone) and XLA's matrix product (cuBLAS)
instead of the Triton product: `y` is written and read once, then dropped, so the pair
keeps only `x` and the gates. Its backward pass takes the product's input gradient
first; then the block's backward kernel, which reads `x` anyway, writes `y` again beside
`dx`, and `y` gives the product's kernel gradient. That is one more write of `y` instead
of a second forward pass (a read of `x` and a write of `y`), and it cannot run before the
upstream gradient exists, so XLA neither merges it with the forward pass nor runs it
early.

What is computed is `TemporalBlockSpec`'s block followed by a matrix product; the tests
compare it with the layers' `keras.ops` code and `keras.ops.conv` through Pallas's
interpreter on the CPU, forward and every gradient.
"""

import functools
import math
import os

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl

from keras_stw.kernels import pallas_temporal_block, pointwise
from keras_stw.kernels.spec import NEXT, PREVIOUS, PRODUCTS, SAME

# Pixels, input channels (a chunk) and output channels of one program's product, and its
# warps; `KERAS_STW_KERNEL_CONV_TILE=PIXELSxCHUNKxOUTPUTSxWARPS` overrides them.
# Measured on an H100 (benchmarks/results/fused_conv_h100/): 32x64x128x4 was the fastest
# of four at ResNet-50's stages 2 and 3.
CONV_TILE = (32, 64, 128, 4)
# Triton's matrix product wants every side of a tile at least this long.
MIN_DOT_SIDE = 16


def conv_tiling():
    """`(pixels, chunk, outputs, warps)`, from `KERAS_STW_KERNEL_CONV_TILE` if set."""
    setting = os.environ.get("KERAS_STW_KERNEL_CONV_TILE")
    return tuple(int(v) for v in setting.split("x")) if setting else CONV_TILE


def block_segments(spec, channels):
    """The spec's channel ranges, or one range of the frame itself for a gate alone."""
    return spec.segments or ((0, channels, SAME),)


def channel_chunk(spec, channels):
    """Input channels per product: a power of two that divides every segment boundary."""
    segments = block_segments(spec, channels)
    boundaries = [edge for start, stop, _ in segments for edge in (start, stop)]
    common = functools.reduce(math.gcd, boundaries)
    return min(conv_tiling()[1], common & -common)


def block_conv(x, scale, taps, bias, kernel, spec, interpret=False, product="triton"):
    """`matmul(block(x), kernel)` for `x` `(clips, num_frames, pixels, C)`, keeping only `x`
    for the backward pass.

    Args:
        x: array `(clips, num_frames, pixels, channels)`, float32, bfloat16 or float16.
        scale: array `(channels,)`, the shift's per-channel scale (ignored without one).
        taps: array `(3, channels)`, the gate's temporal taps (ignored without a gate).
        bias: scalar array, the gate's bias (ignored without a gate).
        kernel: array `(channels, outputs)`, the 1x1 convolution's kernel, like `x`'s dtype.
        spec: `TemporalBlockSpec`.
        interpret: bool. Run through Pallas's interpreter (any device; for tests).
        product: str. `"triton"`: one kernel that never writes `y`. `"xla"`: the block's
            kernel, then XLA's matrix product.

    Returns:
        An array `(clips, num_frames, pixels, outputs)` of `x`'s dtype (accumulated in
        float32).
    """
    if product not in PRODUCTS:
        raise ValueError(f"`product` must be one of {PRODUCTS}. Received: product={product!r}")
    return _block_conv(x, scale, taps, bias, kernel, spec, interpret, product)


@functools.partial(jax.custom_vjp, nondiff_argnums=(5, 6, 7))
def _block_conv(x, scale, taps, bias, kernel, spec, interpret, product):
    if product == "xla":
        y = pallas_temporal_block.temporal_block(x, scale, taps, bias, spec, interpret)
        return pointwise.matmul(y, kernel)
    params = pallas_temporal_block.pack_weights(scale, taps, bias)
    call = _compiled(x.shape, jnp.dtype(x.dtype), kernel.shape[1], spec, interpret, conv_tiling())
    return call(x, params, kernel)


def _block_conv_fwd(x, scale, taps, bias, kernel, spec, interpret, product):
    if product == "xla":
        y, saved = pallas_temporal_block.block_forward(
            x, scale, taps, bias, spec, interpret, output_again=True
        )
        return pointwise.matmul(y, kernel), (saved, scale, taps, bias, kernel)
    outputs = _block_conv(x, scale, taps, bias, kernel, spec, interpret, product)
    return outputs, ({"x": x}, scale, taps, bias, kernel)


def _block_conv_bwd(spec, interpret, product, residuals, upstream):
    saved, scale, taps, bias, kernel = residuals
    if product == "xla":
        # The product's input gradient first; then one pass of the block's backward
        # kernel writes both `dx` and `y` again, and `y` gives the kernel's gradient.
        dy = pointwise.input_gradient(upstream, kernel)
        dx, weight_grads, y = pallas_temporal_block.block_backward(
            saved, dy, scale, taps, bias, spec, interpret, output_again=True
        )
        return dx, *weight_grads, pointwise.kernel_gradient(y, upstream)

    def unfused(x, scale, taps, bias, kernel):
        y = pallas_temporal_block.temporal_block(x, scale, taps, bias, spec, interpret)
        return pointwise.matmul(y, kernel)

    # `y` is recomputed here, once the upstream gradient exists; the product's own
    # output is unused, and XLA drops it.
    residuals, upstream = jax.lax.optimization_barrier(
        ((saved["x"], scale, taps, bias, kernel), upstream)
    )
    _, pullback = jax.vjp(unfused, *residuals)
    return pullback(upstream)


_block_conv.defvjp(_block_conv_fwd, _block_conv_bwd)


@functools.cache
def _compiled(shape, dtype, outputs, spec, interpret, tiling):
    """One jitted `pallas_call` per configuration (eager calls reuse its kernel).

    `tiling` is `conv_tiling()`: `(pixels, chunk, outputs, warps)`."""
    clips, num_frames, num_pixels, channels = shape
    pixels, _, out_tile, warps = tiling
    pixels = max(MIN_DOT_SIDE, min(pixels, 1 << max(0, (num_pixels - 1).bit_length())))
    out_tile = min(out_tile, outputs)
    body = functools.partial(
        _kernel,
        spec=spec,
        pixels=pixels,
        num_pixels=num_pixels,
        chunk=min(tiling[1], channel_chunk(spec, channels)),
    )
    options = {}
    if not interpret:
        options["compiler_params"] = pallas_temporal_block.pallas_triton.CompilerParams(
            num_warps=warps, num_stages=2
        )
    frames_block = (None, num_frames, pixels, channels)
    return jax.jit(
        pl.pallas_call(
            body,
            out_shape=jax.ShapeDtypeStruct((clips, num_frames, num_pixels, outputs), dtype),
            grid=(clips, pl.cdiv(num_pixels, pixels), outputs // out_tile),
            in_specs=[
                pl.BlockSpec(frames_block, lambda n, p, f: (n, 0, p, 0)),
                pl.BlockSpec((pallas_temporal_block.GRAD_ROWS, channels), lambda n, p, f: (0, 0)),
                pl.BlockSpec((channels, out_tile), lambda n, p, f: (0, f)),
            ],
            out_specs=pl.BlockSpec(
                (None, num_frames, pixels, out_tile), lambda n, p, f: (n, 0, p, f)
            ),
            interpret=interpret,
            **options,
        )
    )


def _kernel(x_ref, params_ref, w_ref, z_ref, *, spec, pixels, num_pixels, chunk):
    channels, out_tile = w_ref.shape
    start = pl.program_id(1) * pixels
    load_mask = store_mask = None
    if num_pixels % pixels:
        rows = jax.lax.broadcasted_iota(jnp.int32, (pixels, chunk), 0)
        load_mask = rows + start < num_pixels
        rows = jax.lax.broadcasted_iota(jnp.int32, (pixels, out_tile), 0)
        store_mask = rows + start < num_pixels

    def neighbour(t):
        """The frame standing in for `t`, or `None` for zeros outside the clip."""
        if 0 <= t < spec.num_frames:
            return t
        return None if spec.padding == "zeros" else min(max(t, 0), spec.num_frames - 1)

    def columns(k):
        return pl.ds(pl.multiple_of(k * chunk, chunk), chunk)

    def load(t, k):
        if load_mask is None:
            return x_ref[t, :, columns(k)].astype(jnp.float32)
        view = x_ref.at[jnp.int32(t), pl.ds(0, pixels), columns(k)]
        return pallas_temporal_block.pallas_triton.load(view, mask=load_mask, other=0.0).astype(
            jnp.float32
        )

    def weight(row, k):
        return params_ref[pl.ds(row, 1), columns(k)]

    def tap_products(t):
        """Frame `t`'s products with the previous-, same- and next-frame taps."""

        def add_chunk(k, sums):
            frame = load(t, k)
            return tuple(
                total + jnp.sum(frame * weight(row, k), axis=1, keepdims=True)
                for row, total in zip((1, 2, 3), sums, strict=True)
            )

        zero = jnp.zeros((pixels, 1), jnp.float32)
        return jax.lax.fori_loop(0, channels // chunk, add_chunk, (zero, zero, zero))

    products = {}

    def product(t, which):
        index = neighbour(t)
        if index is None:
            return jnp.zeros((pixels, 1), jnp.float32)
        if index not in products:
            products[index] = tap_products(index)
        return products[index][which]

    for t in range(spec.num_frames):
        gate = None
        if spec.gate:
            logits = product(t - 1, 0) + product(t, 1) + product(t + 1, 2) + params_ref[4, 0]
            gate = jax.nn.sigmoid(-logits)
        total = jnp.zeros((pixels, out_tile), jnp.float32)
        for first, stop, source in block_segments(spec, channels):
            offset = -1 if source == PREVIOUS else 1 if source == NEXT else 0
            body = _chunk_product(
                spec, load, weight, w_ref, columns, t, neighbour(t + offset), gate
            )
            total = jax.lax.fori_loop(first // chunk, stop // chunk, body, total)
        value = total.astype(z_ref.dtype)
        if store_mask is None:
            z_ref[t] = value
        else:
            pallas_temporal_block.pallas_triton.store(
                z_ref.at[jnp.int32(t)], value, mask=store_mask
            )


def _chunk_product(spec, load, weight, w_ref, columns, t, shifted, gate):
    """The loop body adding one chunk's `y[t] @ kernel` to the running total."""

    def body(k, total):
        current = load(t, k)
        y = jnp.zeros_like(current)
        if spec.shift:
            moved = current if shifted == t else 0.0 if shifted is None else load(shifted, k)
            y = moved * weight(0, k) if spec.scale else y + moved
        if gate is not None:
            y = y + current * gate
        product = jnp.dot(
            y.astype(w_ref.dtype), w_ref[columns(k), :], preferred_element_type=jnp.float32
        )
        return total + product

    return body
