"""Times the start of one residual branch in variants (JAX backend only).

The unit timed is what a temporal block changes in the network: the block input is
produced (`x = relu(a + b)`, the previous block's residual add), the temporal block runs,
and the branch's first 1x1 convolution consumes it; `x` is returned too, as the shortcut
needs it. Variants differ in how the temporal block and the convolution are written and
in whether block and convolution are rematerialized together:

    KERAS_BACKEND=jax python benchmarks/entry_speed.py --frames 512 --size 56 --channels 256
"""

import argparse
import time

import jax
import jax.numpy as jnp
import keras
import numpy as np
from keras import ops

import keras_stw


def taps_by_matmul(columns):
    """TWM taps as a matrix product whose kernel is padded to `columns` columns."""

    def taps(x, kernel):
        kernel = ops.pad(kernel, ((0, columns - 3), (0, 0)))
        return ops.matmul(x, ops.transpose(kernel))[..., :3]

    return taps


def taps_by_grouped_matmul(group):
    """TWM taps with `group` neighbouring pixels in one row of a block-diagonal product.

    `(M, C) @ (C, 3)` becomes `(M / group, group * C) @ (group * C, 3 * group)`: the
    same values (the off-diagonal blocks are zeros), `group` times the multiply-adds, and
    a product shape that fills the matrix units.
    """

    def taps(x, kernel):
        frames, height, width, channels = x.shape
        rows = ops.reshape(x, (-1, group * channels))
        block_diagonal = ops.kron(ops.eye(group, dtype=kernel.dtype), ops.transpose(kernel))
        return ops.reshape(ops.matmul(rows, block_diagonal), (-1, height, width, 3))

    return taps


def taps_by_conv(x, kernel):
    """TWM taps as a 1x1 convolution with three output channels."""
    return ops.conv(x, ops.reshape(ops.transpose(kernel), (1, 1, -1, 3)))


def taps_by_reductions(x, kernel):
    """TWM taps as three multiply-and-sum reductions over channels."""
    return ops.concatenate(
        [ops.sum(x * kernel[k], axis=-1, keepdims=True) for k in range(3)], axis=-1
    )


TAPS = {
    "stw_taps_grouped8": taps_by_grouped_matmul(8),
    "stw_taps_grouped16": taps_by_grouped_matmul(16),
    "stw_taps8": taps_by_matmul(8),
    "stw_taps16": taps_by_matmul(16),
    "stw_tapsconv": taps_by_conv,
    "stw_taps_reduce": taps_by_reductions,
}


def use_taps(twm, taps_fn):
    """Makes `twm` compute its taps with `taps_fn(x, kernel)`; the rest of TWM stays."""
    twm._taps = lambda x: ops.cast(taps_fn(x, ops.cast(twm.kernel, x.dtype)), x.dtype)


def make_variants(args):
    t = args.num_frames
    policy = "mixed_bfloat16"
    shape = (args.frames, args.size, args.size, args.channels)
    blocks = {name: keras_stw.STWBlock(t, dtype=policy) for name in ["stw", *TAPS]}
    for name, block in blocks.items():
        block.build(shape)
        if name in TAPS:
            use_taps(block.twm, TAPS[name])
    temporal = {"tsn": lambda x: x, "tsm": keras_stw.TemporalShift(t, dtype=policy), **blocks}

    def conv(z, w, b):
        return ops.conv(z, ops.reshape(w, (1, 1, *w.shape)), padding="valid") + b

    def matmul(z, w, b):
        return ops.matmul(z, w) + b

    def variant(block, first_conv, remat):
        def fn(params, a, b):
            # A fresh function per trace: jax.checkpoint caches traces by function, and
            # this one closes over the traced weights.
            def entry(x, w, b):
                return first_conv(block(x), w.astype(x.dtype), b.astype(x.dtype))

            if remat:
                entry = keras.remat(entry)
            mapping = [
                (variable, value)
                for stw in blocks.values()
                for variable, value in zip(stw.trainable_variables, params[2:], strict=True)
            ]
            with keras.StatelessScope(state_mapping=mapping):
                x = ops.relu(a + b)
                return entry(x, *params[:2]), x

        return fn

    variants = {}
    for name in args.variants:
        parts = name.split("+")
        variants[name] = variant(
            temporal[parts[0]], matmul if "matmul" in parts else conv, "remat" in parts
        )
    return variants, blocks["stw"]


def time_fn(fn, *args, steps=20):
    jax.block_until_ready(fn(*args))
    jax.block_until_ready(fn(*args))
    start = time.perf_counter()
    for _ in range(steps):
        out = fn(*args)
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / steps * 1e3


def entry_kernels(compiled, *args):
    """The fusions and library calls of the optimized HLO's entry computation."""
    text = compiled.lower(*args).compile().as_text()
    entry = text[text.index("ENTRY") :].splitlines()
    kernels = []
    for line in entry:
        for op in (" fusion(", " custom-call(", " convolution(", " dot("):
            if op in line:
                kind = line.split("kind=")[1].split(",")[0] if "kind=" in line else op.strip(" (")
                kernels.append(f"{line.split('=')[0].strip()} [{kind}]")
    return kernels


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=512)
    parser.add_argument("--size", type=int, default=56)
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--filters", type=int, default=64)
    parser.add_argument("--num-frames", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["tsn", "tsm", "stw", "stw+remat", *TAPS],
        help=f"any of tsn, tsm, stw, {', '.join(TAPS)}; a '+matmul' suffix writes the conv "
        "as a matrix product, '+remat' rematerializes block and conv together",
    )
    parser.add_argument("--show", nargs="*", default=[], help="variants whose kernels to list")
    args = parser.parse_args()
    shape = (args.frames, args.size, args.size, args.channels)
    rng = np.random.default_rng(0)
    a = jnp.asarray(rng.standard_normal(shape), jnp.bfloat16)
    b = jnp.asarray(rng.standard_normal(shape), jnp.bfloat16)
    params = [
        jnp.asarray(rng.standard_normal((args.channels, args.filters)) * 0.05, jnp.float32),
        jnp.zeros((args.filters,), jnp.float32),
    ]
    variants, stw = make_variants(args)
    params += [
        jnp.asarray(rng.standard_normal(w.shape) * 0.1, jnp.float32)
        for w in stw.trainable_variables
    ]
    reference = reference_grads = None
    print(f"activation {shape} bf16 = {a.size * 2 / 1e9:.2f} GB; conv to {args.filters}")
    print(
        "| variant | fwd ms | fwd kernels | fwd+bwd ms | fwd+bwd kernels | bwd temp GB "
        "| max diff: output / each gradient relative to float32 |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, fn in variants.items():
        forward = jax.jit(fn)
        out = np.asarray(forward(params, a, b)[0], "float32")
        if name.startswith("stw"):
            reference = out if reference is None else reference
            diff = f"{np.abs(out - reference).max():.3g}"
        else:
            diff = "-"

        def loss(params, a, b, fn=fn):
            out, x = fn(params, a, b)
            return jnp.sum(out.astype(jnp.float32)) + jnp.sum(x.astype(jnp.float32))

        backward = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))
        memory = backward.lower(params, a, b).compile().memory_analysis()
        if name.startswith("stw"):
            grads = [np.asarray(g, "float32") for g in jax.tree.leaves(backward(params, a, b))]
            if reference_grads is None:  # the first STW variant, in float32
                a32, b32 = (v.astype(jnp.float32) for v in (a, b))
                reference_grads = [
                    np.asarray(g) for g in jax.tree.leaves(backward(params, a32, b32))
                ]
            diff += " / " + ", ".join(
                f"{np.abs(g - r).max() / (np.abs(r).max() + 1e-12):.2g}"
                for g, r in zip(grads, reference_grads, strict=True)
            )
        row = [name]
        for compiled in (forward, backward):
            row.append(f"{time_fn(compiled, params, a, b, steps=args.steps):.3f}")
            row.append(str(len(entry_kernels(compiled, params, a, b))))
        row += [f"{memory.temp_size_in_bytes / 1e9:.2f}", diff]
        print("| " + " | ".join(row) + " |", flush=True)
        if name in args.show:
            print("   forward:", "; ".join(entry_kernels(forward, params, a, b)))
            print("   fwd+bwd:", "; ".join(entry_kernels(backward, params, a, b)))


if __name__ == "__main__":
    main()
