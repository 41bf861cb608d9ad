"""Times one temporal block, forward and forward+backward, in variants (JAX backend only).

Used to choose how STW's block is written: each variant computes the same function and is
compiled with `jax.jit`, on a stage-2 activation of a batch of 64 clips of 8 frames:

    KERAS_BACKEND=jax python benchmarks/block_speed.py --frames 512 --size 56 --channels 256
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from keras import ops

import keras_stw
from keras_stw.layers import temporal_ops


def stw_masked_sum(x, stfm_kernel, twm_kernel, twm_bias, num_frames):
    """STW as one expression: STFM as per-channel weights on the three shifted frames."""
    channels = x.shape[-1]
    quarter = channels // 4
    position = np.arange(channels)
    weights = ops.reshape(stfm_kernel, (-1,))
    w_prev = weights * (position < quarter)
    w_next = weights * (position >= 3 * quarter)
    w_cur = weights - w_prev - w_next
    clips = temporal_ops.fold_frames(x, num_frames)
    prev = temporal_ops.unfold_frames(temporal_ops.shift_frames(clips, 1, "zeros"))
    nxt = temporal_ops.unfold_frames(temporal_ops.shift_frames(clips, -1, "zeros"))
    taps = ops.matmul(x, ops.transpose(twm_kernel))
    taps = temporal_ops.fold_frames(taps, num_frames)
    logits = (
        temporal_ops.shift_frames(taps[..., 0:1], 1, "zeros")
        + taps[..., 1:2]
        + temporal_ops.shift_frames(taps[..., 2:3], -1, "zeros")
    )
    gate = ops.sigmoid(-(temporal_ops.unfold_frames(logits) + twm_bias))
    return (
        prev * w_prev.astype(x.dtype)
        + x * w_cur.astype(x.dtype)
        + nxt * w_next.astype(x.dtype)
        + x * gate
    )


def time_fn(fn, *args, steps=20):
    jax.block_until_ready(fn(*args))
    start = time.perf_counter()
    for _ in range(steps):
        out = fn(*args)
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / steps * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=512)
    parser.add_argument("--size", type=int, default=56)
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--num-frames", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--show-hlo", action="store_true", help="Print STW's forward HLO.")
    args = parser.parse_args()
    shape = (args.frames, args.size, args.size, args.channels)
    x = jnp.asarray(np.random.default_rng(0).standard_normal(shape), jnp.bfloat16)
    t = args.num_frames
    stw = keras_stw.STWBlock(t, dtype="mixed_bfloat16")
    stw.build(shape)
    rng = np.random.default_rng(1)
    for w in stw.weights:
        w.assign(rng.standard_normal(w.shape).astype("float32") * 0.1)
    stfm_k, twm_k, twm_b = (
        jnp.asarray(w.value) for w in (stw.stfm.kernel, stw.twm.kernel, stw.twm.bias)
    )
    tsm = keras_stw.TemporalShift(t, dtype="mixed_bfloat16")

    stw_params = [w.value for w in stw.trainable_variables]

    def package_stw(params, x):
        return stw.stateless_call(params, [], x)[0]

    def masked(params, x):
        return stw_masked_sum(x, *(p.astype(x.dtype) for p in params[:2]), params[2], t)

    variants = {
        "copy (x * 2)": ([], lambda params, x: x * 2),
        "tsm": ([], lambda params, x: tsm(x)),
        "stw (package)": (stw_params, package_stw),
        "stw masked sum": ([stfm_k, twm_k, twm_b], masked),
    }
    reference = np.asarray(jax.jit(package_stw)(stw_params, x), "float32")
    other = np.asarray(jax.jit(masked)([stfm_k, twm_k, twm_b], x), "float32")
    print("max |package - masked sum|:", float(np.abs(reference - other).max()))
    print(f"activation {shape} bf16 = {x.size * 2 / 1e9:.2f} GB")
    print("| variant | forward ms | fwd kernels | forward+backward ms | fwd+bwd kernels |")
    print("| --- | --- | --- | --- | --- |")
    for name, (params, fn) in variants.items():
        forward = jax.jit(fn)
        loss = lambda params, x, fn=fn: jnp.sum(fn(params, x).astype(jnp.float32))  # noqa: E731
        backward = jax.jit(jax.grad(loss, argnums=(0, 1)))
        row = [name]
        for compiled in (forward, backward):
            row.append(f"{time_fn(compiled, params, x, steps=args.steps):.3f}")
            row.append(str(count_kernels(compiled, params, x)))
        print("| " + " | ".join(row) + " |", flush=True)
    if args.show_hlo:
        text = jax.jit(package_stw).lower(stw_params, x).compile().as_text()
        print(text[text.index("ENTRY") :])


def count_kernels(compiled, *args):
    """Fusions and library calls in the optimized HLO's entry computation."""
    text = compiled.lower(*args).compile().as_text()
    entry = text[text.index("ENTRY") :]
    return sum(entry.count(op) for op in (" fusion(", " custom-call(", " convolution(", " dot("))


if __name__ == "__main__":
    main()
