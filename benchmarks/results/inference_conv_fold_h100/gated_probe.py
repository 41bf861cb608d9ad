"""Probe: z = y @ W where y = scale * shift(x) + x * g, with g (one float per pixel) given.

The loader builds y on the fly; y never goes to memory. Compared with XLA's product of x
(TSN's convolution) and with the block kernel writing y then XLA's product. The record of
call 1 (`README.md`): run from the repository root at commit f8d0aec,
`python3 benchmarks/results/inference_conv_fold_h100/gated_probe.py [cpu]` (`cpu`: check
both program layouts against the reference through Pallas's interpreter). Lint-only edits
since the run (index maps and baselines as functions).
"""

import sys
import time

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as plt

T = 8


def segments(c):
    return ((0, c // 4, -1), (c // 4, 3 * c // 4, 0), (3 * c // 4, c, 1))


def reference(x, g, scale, w):
    c = x.shape[-1]
    z = jnp.zeros_like(x[:, :1])
    prev = jnp.concatenate([z, x[:, :-1]], 1)
    nxt = jnp.concatenate([x[:, 1:], z], 1)
    sel = jnp.concatenate(
        [prev[..., : c // 4], x[..., c // 4 : 3 * c // 4], nxt[..., 3 * c // 4 :]], -1
    )
    y = sel.astype(jnp.float32) * scale + x.astype(jnp.float32) * g
    return jnp.einsum(
        "ntpc,cf->ntpf", y.astype(x.dtype), w, preferred_element_type=jnp.float32
    ).astype(x.dtype)


def make(
    shape, outputs, dtype, pixels, chunk, out_tile, warps, stages, frame_grid, interpret=False
):
    clips, num_frames, num_pixels, channels = shape
    pixels = min(pixels, max(16, 1 << (num_pixels - 1).bit_length()))
    out_tile = min(out_tile, outputs)
    segs = segments(channels)
    masked = num_pixels % pixels != 0

    def body(x_ref, g_ref, s_ref, w_ref, z_ref):
        start = pl.program_id(1) * pixels
        if masked:
            rows = jax.lax.broadcasted_iota(jnp.int32, (pixels, chunk), 0)
            lmask = rows + start < num_pixels
            gmask = jax.lax.broadcasted_iota(jnp.int32, (pixels, 1), 0) + start < num_pixels
            smask = jax.lax.broadcasted_iota(jnp.int32, (pixels, out_tile), 0) + start < num_pixels

        def cols(k):
            return pl.ds(pl.multiple_of(k * chunk, chunk), chunk)

        def load(t, k):
            if not masked:
                return x_ref[t, :, cols(k)].astype(jnp.float32)
            view = x_ref.at[jnp.int32(t) if isinstance(t, int) else t, pl.ds(0, pixels), cols(k)]
            return plt.load(view, mask=lmask, other=0.0).astype(jnp.float32)

        def one_frame(t, static_t):
            ta = jnp.int32(t) if isinstance(t, int) else t
            if masked:
                gate = plt.load(g_ref.at[ta, pl.ds(0, pixels), pl.ds(0, 1)], mask=gmask, other=0.0)
            else:
                gate = g_ref[t, :, :]
            total = jnp.zeros((pixels, out_tile), jnp.float32)
            for first, stop, src in segs:

                def chunk_body(k, total, src=src):
                    cur = load(t, k)
                    if src == 0:
                        moved = cur
                    else:
                        if static_t is not None:
                            n = static_t + src
                            moved = load(n, k) if 0 <= n < num_frames else 0.0
                        else:
                            n = t + src
                            inside = (n >= 0) & (n < num_frames)
                            moved = load(jnp.clip(n, 0, num_frames - 1), k) * inside.astype(
                                jnp.float32
                            )
                    y = moved * s_ref[pl.ds(0, 1), cols(k)] + cur * gate
                    return total + jnp.dot(
                        y.astype(w_ref.dtype), w_ref[cols(k), :], preferred_element_type=jnp.float32
                    )

                total = jax.lax.fori_loop(first // chunk, stop // chunk, chunk_body, total)
            value = total.astype(z_ref.dtype)
            if masked:
                plt.store(z_ref.at[ta], value, mask=smask)
            else:
                z_ref[t] = value

        if frame_grid:
            one_frame(pl.program_id(3), None)
        else:
            for t in range(num_frames):
                one_frame(t, t)

    grid = (clips, pl.cdiv(num_pixels, pixels), outputs // out_tile)
    grid += (num_frames,) if frame_grid else ()

    def frames_index(n, p, f, *frame):
        return (n, 0, p, 0)

    def scale_index(n, p, f, *frame):
        return (0, 0)

    def weights_index(n, p, f, *frame):
        return (0, f)

    def output_index(n, p, f, *frame):
        return (n, 0, p, f)

    options = {}
    if not interpret:
        options["compiler_params"] = plt.CompilerParams(num_warps=warps, num_stages=stages)
    return jax.jit(
        pl.pallas_call(
            body,
            out_shape=jax.ShapeDtypeStruct((clips, num_frames, num_pixels, outputs), dtype),
            grid=grid,
            in_specs=[
                pl.BlockSpec((None, num_frames, pixels, channels), frames_index),
                pl.BlockSpec((None, num_frames, pixels, 1), frames_index),
                pl.BlockSpec((1, channels), scale_index),
                pl.BlockSpec((channels, out_tile), weights_index),
            ],
            out_specs=pl.BlockSpec((None, num_frames, pixels, out_tile), output_index),
            interpret=interpret,
            **options,
        )
    )


def inputs(shape, outputs, dtype, seed=0):
    keys = jax.random.split(jax.random.key(seed), 4)
    x = jax.random.normal(keys[0], shape, jnp.float32).astype(dtype)
    g = jax.nn.sigmoid(jax.random.normal(keys[1], shape[:3] + (1,), jnp.float32))
    scale = 1.0 + 0.1 * jax.random.normal(keys[2], (1, shape[3]), jnp.float32)
    w = (jax.random.normal(keys[3], (shape[3], outputs), jnp.float32) / shape[3] ** 0.5).astype(
        dtype
    )
    return x, g, scale, w


def timed(fn, *args, steps=30):
    jax.block_until_ready(fn(*args))
    jax.block_until_ready(fn(*args))
    best = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(steps):
            out = fn(*args)
        jax.block_until_ready(out)
        best.append((time.perf_counter() - start) / steps * 1e3)
    return sorted(best)[1]


def rel(a, b):
    a, b = a.astype(jnp.float32), b.astype(jnp.float32)
    return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))


def cpu_check():
    for shape, outputs, pixels in [((2, 4, 20, 64), 16, 16), ((1, 4, 32, 128), 32, 16)]:
        for frame_grid in (False, True):
            args = inputs(shape, outputs, jnp.float32)
            fn = make(shape, outputs, jnp.float32, pixels, 16, 16, 4, 2, frame_grid, interpret=True)
            print("cpu", shape, frame_grid, rel(fn(*args), reference(*args)))


def gpu():
    sys.path.insert(0, ".")
    from keras_stw.kernels import pallas_temporal_block as ptb
    from keras_stw.kernels.spec import TemporalBlockSpec, split_segments

    print(jax.devices())
    tilings = [
        (64, 64, 128, 4, 2, False),
        (128, 64, 128, 4, 2, False),
        (128, 64, 128, 8, 3, False),
        (64, 64, 128, 4, 2, True),
        (128, 64, 128, 4, 3, True),
        (128, 64, 128, 8, 3, True),
        (128, 32, 128, 4, 3, True),
        (256, 64, 128, 8, 3, True),
        (64, 128, 128, 4, 2, True),
    ]
    for hw, c in [(3136, 256), (784, 512), (196, 1024), (49, 2048)]:
        shape, outputs = (64, T, hw, c), c // 4
        x, g, scale, w = inputs(shape, outputs, jnp.bfloat16)
        ref = jax.jit(reference)(x, g, scale, w)
        side = 56 if hw == 3136 else int(hw**0.5)
        spec = TemporalBlockSpec(
            T, split_segments((c // 4, c // 2, c // 4), (-1, 0, 1)), "zeros", True, True
        )
        params = (scale[0], jnp.zeros((3, c)), jnp.zeros(()))

        def tsn(x, w):
            return jnp.einsum("ntpc,cf->ntpf", x, w)

        def conv(x, w, side=side, c=c):
            x = x.reshape(-1, side, side, c)
            numbers = ("NHWC", "HWIO", "NHWC")
            return jax.lax.conv_general_dilated(
                x, w[None, None], (1, 1), "VALID", dimension_numbers=numbers
            )

        def copy(x):
            return x * 1

        def blockconv(x, w, params=params, spec=spec):
            return jnp.einsum("ntpc,cf->ntpf", ptb.temporal_block(x, *params, spec), w)

        tsn, conv, copy, blockconv = map(jax.jit, (tsn, conv, copy, blockconv))
        print(
            f"stage {hw}x{c}->{outputs}: copy {timed(copy, x):.3f} dot(x) {timed(tsn, x, w):.3f} "
            f"conv(x) {timed(conv, x, w):.3f} block+dot {timed(blockconv, x, w):.3f}",
            flush=True,
        )
        for tiling in tilings:
            try:
                fn = make(shape, outputs, jnp.bfloat16, *tiling)
                err = rel(fn(x, g, scale, w), ref)
                print(
                    f"   gated {tiling}: {timed(fn, x, g, scale, w):.3f} ms err {err:.1e}",
                    flush=True,
                )
            except Exception as e:  # noqa
                print(f"   gated {tiling}: FAILED {type(e).__name__}: {str(e)[:200]}", flush=True)


if __name__ == "__main__":
    cpu_check() if sys.argv[1:] == ["cpu"] else gpu()
