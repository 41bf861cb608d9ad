"""Probe: does XLA build the STW block's output inside the 1x1 convolution's GEMM operand?

Given `x` and the gate's value per pixel (what the folded residual trio could write instead
of `y`), times at each ResNet-50 stage (64 clips x 8 frames, bfloat16) a copy of `x`, the
1x1 convolution of `x` (cuDNN, and XLA's dot), the write of `y`, `y` written and then
multiplied, and `y`'s expression handed to the dot in one jitted function (three ways of
writing the shift), and lists the kernels of each compiled entry computation: whether XLA
fused `y` into the product's operand. Standalone JAX, no Keras:

    python3 benchmarks/results/loads_ahead_h100/gemm_operand_probe.py [56x256 ...]
"""

import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

T = 8
CLIPS = 64


def time_fn(fn, *args, steps=30):
    jax.block_until_ready(fn(*args))
    jax.block_until_ready(fn(*args))
    best = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(steps):
            out = fn(*args)
        jax.block_until_ready(out)
        best.append((time.perf_counter() - start) / steps * 1e3)
    return min(best)


def kinds(fn, *args):
    text = fn.lower(*args).compile().as_text()
    entry = text[text.index("ENTRY") :]
    found = []
    for key in (
        "__triton_gemm",
        "__triton",
        "__cublas$gemm",
        "__cublas$lt",
        "cudnn$conv",
        "kind=kLoop",
        "kind=kInput",
        "kind=kCustom",
        "kind=kOutput",
    ):
        n = entry.count(key)
        if n:
            found.append(f"{key}x{n}")
    return " ".join(found)


def stage(size, channels):
    q = channels // 4
    pixels = size * size
    outs = channels // 4
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((CLIPS, T, pixels, channels)), jnp.bfloat16)
    xp = jnp.pad(x, ((0, 0), (1, 1), (0, 0), (0, 0)))
    g = jnp.asarray(rng.uniform(size=(CLIPS, T, pixels)), jnp.float32)
    w = jnp.asarray(rng.standard_normal((channels, outs)) * 0.05, jnp.bfloat16)
    scale = jnp.asarray(rng.standard_normal(channels), jnp.float32)
    lane = jnp.arange(channels)
    s_prev = jnp.where(lane < q, scale, 0.0)
    s_same = jnp.where((lane >= q) & (lane < 3 * q), scale, 0.0)
    s_next = jnp.where(lane >= 3 * q, scale, 0.0)

    def build_concat(x, g):
        prev = jnp.pad(x[:, :-1, :, :q], ((0, 0), (1, 0), (0, 0), (0, 0)))
        nxt = jnp.pad(x[:, 1:, :, 3 * q :], ((0, 0), (0, 1), (0, 0), (0, 0)))
        mid = x[:, :, :, q : 3 * q]

        def f(a, s):
            return a.astype(jnp.float32) * s

        shift = jnp.concatenate(
            [f(prev, scale[:q]), f(mid, scale[q : 3 * q]), f(nxt, scale[3 * q :])], -1
        )
        return (shift + x.astype(jnp.float32) * g[..., None]).astype(x.dtype)

    def build_masks(x, g):
        prev = jnp.pad(x[:, :-1], ((0, 0), (1, 0), (0, 0), (0, 0))).astype(jnp.float32)
        nxt = jnp.pad(x[:, 1:], ((0, 0), (0, 1), (0, 0), (0, 0))).astype(jnp.float32)
        cur = x.astype(jnp.float32)
        return (prev * s_prev + cur * (s_same + g[..., None]) + nxt * s_next).astype(x.dtype)

    def build_padded(xp, g):
        prev, cur, nxt = (xp[:, i : i + T].astype(jnp.float32) for i in range(3))
        return (prev * s_prev + cur * (s_same + g[..., None]) + nxt * s_next).astype(xp.dtype)

    def dot(y):
        return jnp.einsum("ntpc,cf->ntpf", y, w)

    frames = x.reshape(CLIPS * T, size, size, channels)
    kernel = w.reshape(1, 1, channels, outs)

    variants = {
        "copy x": (jax.jit(lambda x: -x), (x,)),
        "cudnn conv(x)": (
            jax.jit(
                lambda f: jax.lax.conv_general_dilated(
                    f, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
                )
            ),
            (frames,),
        ),
        "dot(x)": (jax.jit(dot), (x,)),
        "y write (masks)": (jax.jit(build_masks), (x, g)),
        "y, barrier, dot": (
            jax.jit(lambda x, g: dot(jax.lax.optimization_barrier(build_masks(x, g)))),
            (x, g),
        ),
        "dot(y) concat": (jax.jit(lambda x, g: dot(build_concat(x, g))), (x, g)),
        "dot(y) masks": (jax.jit(lambda x, g: dot(build_masks(x, g))), (x, g)),
        "dot(y) padded x": (jax.jit(lambda xp, g: dot(build_padded(xp, g))), (xp, g)),
        "dot(x*g) no shift": (
            jax.jit(lambda x, g: dot((x.astype(jnp.float32) * g[..., None]).astype(x.dtype))),
            (x, g),
        ),
    }
    ref = build_masks(x, g)
    ref_out = dot(jax.lax.optimization_barrier(ref))
    for name, (fn, args) in variants.items():
        ms = time_fn(fn, *args)
        note = ""
        if name.startswith("dot(y)"):
            out = fn(*args)
            err = float(
                jnp.max(jnp.abs(out.astype(jnp.float32) - ref_out.astype(jnp.float32)))
                / jnp.max(jnp.abs(ref_out.astype(jnp.float32)))
            )
            note = f"err {err:.1e}"
        print(
            f"| {size}x{channels} | {name} | {ms:.3f} | {kinds(fn, *args)} | {note} |", flush=True
        )


def main():
    print(
        f"jax {jax.__version__} on {jax.devices()[0].device_kind}; "
        f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}"
    )
    print("| stage | variant | ms | entry kernels | |")
    print("| --- | --- | --- | --- | --- |")
    for spec in sys.argv[1:] or ["56x256", "28x512", "14x1024", "7x2048"]:
        stage(*map(int, spec.split("x")))


if __name__ == "__main__":
    main()
