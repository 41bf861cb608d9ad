"""Times the start of one residual branch in variants (JAX backend only).

The unit timed is what a temporal block changes in the network: the block input is
produced (`x = relu(a + b)`, the previous block's residual add), the temporal block runs,
and the branch's first 1x1 convolution consumes it; `x` is returned too, as the shortcut
needs it. Variants differ in the temporal block, in how the convolution is written and in
whether block and convolution are rematerialized together. The variants that computed
TWM's taps in other ways (`stw_taps*`, `stw_tapsconv`, `stw_taps_reduce`) lost and were
dropped from this script; `results/speed_h200.md` keeps what they measured.

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


def make_variants(args):
    t = args.num_frames
    policy = "mixed_bfloat16"
    shape = (args.frames, args.size, args.size, args.channels)
    stw = keras_stw.STWBlock(t, dtype=policy)
    stw.build(shape)
    temporal = {"tsn": lambda x: x, "tsm": keras_stw.TemporalShift(t, dtype=policy), "stw": stw}

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
            mapping = list(zip(stw.trainable_variables, params[2:], strict=True))
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
    return variants, stw


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
        default=["tsn", "tsm", "stw", "stw+remat"],
        help="any of tsn, tsm, stw; a '+matmul' suffix writes the conv as a matrix product, "
        "'+remat' rematerializes block and conv together",
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
