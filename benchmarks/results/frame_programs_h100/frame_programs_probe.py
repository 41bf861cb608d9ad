"""Probe: the STW block's forward kernel with one program per frame, against the package's.

The package's forward kernel (`keras_stw.kernels.pallas_temporal_block`) runs one program
per (clip, pixel tile) that walks the clip's frames, reading each frame once. At stages 3
to 5 that leaves few programs with a long chain of dependent frames, and the block ran
1.2x to 1.35x a plain copy of `x`. This probe times a layout with one program per
(clip, pixel tile, frame): each program reads its frame and both neighbours (the hope:
the two extra reads from L2) and writes its frame of `y`. Forward only, no gate output.
The same for the residual trio (`residual_block`, inference): each program makes its three
frames of `x` from the sum's two terms and writes its own frame of `x` and of `y`.

    KERAS_BACKEND=jax python benchmarks/results/frame_programs_h100/frame_programs_probe.py

It lost at every stage (README.md here). It runs from the checkout's root, on a GPU.
"""

import functools
import sys

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as pallas_triton

import keras_stw
from keras_stw.kernels import pallas_temporal_block as ptb

sys.path.insert(0, "benchmarks")
from entry_speed import time_fn  # noqa: E402

STAGES = [(56, 256), (28, 512), (14, 1024), (7, 2048)]
TILINGS = [(1024, 2), (1024, 4), (2048, 4), (2048, 8), (4096, 8), (512, 1), (512, 2)]


def frame_programs(x, params, spec, elements, warps, terms=None):
    """The block's `y` (with `terms`, `(term0, term1, affine)`, the trio's `(x, y)`)."""
    if terms is not None:
        x = terms[0]
    clips, num_frames, num_pixels, channels = x.shape
    pixels = ptb.tile_pixels(num_pixels, channels, elements)
    programs = pl.cdiv(num_pixels, pixels)
    masked = num_pixels % pixels != 0

    def kernel(*refs):
        if terms is None:
            x_ref, params_ref, y_ref = refs
        else:
            term0_ref, term1_ref, affine_ref, params_ref, x_out_ref, y_ref = refs
        t = pl.program_id(2)
        start = pl.program_id(1) * pixels
        rows = pl.ds(start, pixels)
        mask = None
        if masked:
            mask = jax.lax.broadcasted_iota(jnp.int32, (pixels, channels), 0) + start < num_pixels

        def read(ref, index):
            frame = ref.at[index, rows]
            if mask is None:
                return frame[...].astype(jnp.float32)
            return pallas_triton.load(frame, mask=mask, other=0.0).astype(jnp.float32)

        def load(index):
            if terms is None:
                return read(x_ref, index)
            scale0, shift0, scale1, shift1 = ptb._rows(affine_ref, 4)
            total = read(term0_ref, index) * scale0 + shift0
            total = total + read(term1_ref, index) * scale1 + shift1
            return jnp.maximum(total, 0.0).astype(x.dtype).astype(jnp.float32)

        def store(ref, value):
            value = value.astype(ref.dtype)
            if mask is None:
                ref[0, rows] = value
            else:
                pallas_triton.store(ref.at[jnp.int32(0), rows], value, mask=mask)

        previous = load(jnp.maximum(t - 1, 0))
        following = load(jnp.minimum(t + 1, num_frames - 1))
        if spec.padding == "zeros":
            previous = jnp.where(t > 0, previous, 0.0)
            following = jnp.where(t < num_frames - 1, following, 0.0)
        current = load(t)
        scale, tap_previous, tap_same, tap_next, bias = ptb._weights(params_ref)
        tile = ptb._Tile(spec, pixels, num_pixels, channels, start)
        y = tile.select(previous, current, following)
        if spec.scale:
            y = y * scale
        if spec.gate:
            taps = (tap_previous, tap_same, tap_next)
            logits = ptb._gate_logits(previous, current, following, *taps)
            y = y + current * jax.nn.sigmoid(-(logits + bias))
        if terms is not None:
            store(x_out_ref, current)
        store(y_ref, y)

    clip = pl.BlockSpec((None, num_frames, num_pixels, channels), lambda n, j, t: (n, 0, 0, 0))
    frame = pl.BlockSpec((None, 1, num_pixels, channels), lambda n, j, t: (n, t, 0, 0))
    params_spec = pl.BlockSpec(params.shape, lambda n, j, t: (0, 0))
    if terms is None:
        inputs, in_specs, outputs = (x,), [clip, params_spec], 1
    else:
        affine_spec = pl.BlockSpec(terms[2].shape, lambda n, j, t: (0, 0))
        inputs, in_specs, outputs = terms, [clip, clip, affine_spec, params_spec], 2
    result = pl.pallas_call(
        kernel,
        out_shape=[jax.ShapeDtypeStruct(x.shape, x.dtype)] * outputs,
        grid=(clips, programs, num_frames),
        in_specs=in_specs,
        out_specs=[frame] * outputs,
        compiler_params=pallas_triton.CompilerParams(num_warps=warps, num_stages=1),
    )(*inputs, params)
    return result if terms is not None else result[0]


def sweep(name, floor, package, probe, args):
    """Times `package(*args)` and `probe(*args, elements, warps)` over `TILINGS`; prints a
    row with each against `floor` (ms) and the largest relative error to the package."""
    expected = [a.astype(jnp.float32) for a in jax.tree.leaves(package(*args))]
    package_ms = time_fn(package, *args, steps=50)
    cells, best, error = [], None, 0.0
    for elements, warps in TILINGS:
        fn = jax.jit(functools.partial(probe, elements=elements, warps=warps))
        for got, want in zip(jax.tree.leaves(fn(*args)), expected, strict=True):
            relative = jnp.max(jnp.abs(got.astype(jnp.float32) - want)) / jnp.max(jnp.abs(want))
            error = max(error, float(relative))
        ms = time_fn(fn, *args, steps=50)
        best = ms if best is None else min(best, ms)
        cells.append(f"{ms:.3f} ({elements}x{warps})")
    print(
        f"| {name} | {floor:.3f} | {package_ms:.3f} ({package_ms / floor:.2f}x) "
        f"| {', '.join(cells)} | {best:.3f} ({best / floor:.2f}x) | {error:.1e} |",
        flush=True,
    )


def time_stage(size, channels, clips, num_frames, key):
    """Prints the block's row and the trio's for one stage."""
    spec = keras_stw.layers.STWBlock(num_frames).fused_spec(channels)
    shape = (clips, num_frames, size * size, channels)
    keys = jax.random.split(key, 5)
    x = jax.random.normal(keys[0], shape, jnp.bfloat16)
    term1 = jax.random.normal(keys[1], shape, jnp.bfloat16)
    scale = 1 + 0.1 * jax.random.normal(keys[2], (channels,))
    taps = 0.05 * jax.random.normal(keys[3], (3, channels))
    bias = jnp.float32(0.1)
    affine = 1 + 0.1 * jax.random.normal(keys[4], (4, channels))
    params = ptb.pack_weights(scale, taps, bias)

    def block(x, **tiling):
        return frame_programs(x, params, spec, **tiling)

    def trio(a, b, **tiling):
        return frame_programs(None, params, spec, terms=(a, b, affine), **tiling)

    def xla_sum(a, b):
        total = a.astype(jnp.float32) * affine[0] + affine[1] + b * affine[2] + affine[3]
        return jnp.maximum(total, 0.0).astype(a.dtype)

    copy = time_fn(jax.jit(lambda x: x * 1), x, steps=50)
    package_block = jax.jit(lambda x: ptb.temporal_block(x, scale, taps, bias, spec))
    sweep(f"block {size}x{size}, {channels}", copy, package_block, block, (x,))
    summed = time_fn(jax.jit(xla_sum), x, term1, steps=50)
    package_trio = jax.jit(lambda a, b: ptb.residual_block((a, b), affine, scale, taps, bias, spec))
    sweep(f"trio {size}x{size}, {channels}", summed, package_trio, trio, (x, term1))


def main():
    print(f"jax {jax.__version__} on {jax.devices()[0].device_kind}")
    clips, num_frames = 64, 8
    print(f"{clips} clips x {num_frames} frames, bfloat16, parallel STW block, forward, ms.")
    print("Block: floor = a copy of x. Trio: floor = XLA's relu(bn(a) + bn(b)), TSN's own cost.")
    print("| stage | floor | package kernel | frame programs (elements x warps) | best | error |")
    print("| --- | --- | --- | --- | --- | --- |")
    for size, channels in STAGES:
        time_stage(size, channels, clips, num_frames, jax.random.PRNGKey(size))


if __name__ == "__main__":
    main()
