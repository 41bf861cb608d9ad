"""The temporal blocks alone, fused kernel vs `keras.ops`, at every stage of ResNet-50.

For each stage's block input (64 clips x 8 frames by default), times a plain copy of `x`
(the one-pass floor), then TSM's shift and the STW block on both paths
(`keras_stw.kernels` modes `"on"` and `"off"`), forward and forward + backward, and checks
on the device that the fused kernel gives the reference's output and gradients:

    KERAS_BACKEND=jax python benchmarks/block_speed.py

JAX only (the kernels are JAX's). `KERAS_STW_KERNEL_TILE_ELEMENTS` and
`KERAS_STW_KERNEL_NUM_WARPS` (and `..._BACKWARD_...`, and
`KERAS_STW_KERNEL_BACKWARD_PROGRAMS_PER_CLIP` and `..._NUM_STAGES`) set the kernel's tiles;
`--tiles` times several. `KERAS_STW_KERNEL_[BACKWARD_]PREFETCH_FRAMES` sets how many frames
ahead the kernels issue their loads. Run it with JAX's default memory preallocation: with
`XLA_PYTHON_CLIENT_PREALLOCATE=false`, two of its forward + backward timings at stage 2
came out several times slower (`benchmarks/README.md`); the header line says which
setting ran.
"""

import argparse
import os

import numpy as np

# Beside this script, so on sys.path when it runs; JAX only, as this script is.
from entry_speed import time_fn
from speed import jax_preallocation

# height = width, channels of the residual branches' input, stages 2 to 5.
STAGES = ["56x256", "28x512", "14x1024", "7x2048"]
# What a setting's fields set, in order, forward and backward.
FIELDS = ("TILE_ELEMENTS", "NUM_WARPS")
BACKWARD_FIELDS = (
    "BACKWARD_TILE_ELEMENTS",
    "BACKWARD_NUM_WARPS",
    "BACKWARD_PROGRAMS_PER_CLIP",
    "BACKWARD_NUM_STAGES",
)


def stage_parser(description, dtype):
    """The options of a script that times blocks at ResNet-50's stages; `dtype` is the
    default of `--dtype`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--num-frames", type=int, default=8)
    parser.add_argument("--dtype", default=dtype)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--stages", nargs="+", default=STAGES, help="SIZExCHANNELS each")
    parser.add_argument(
        "--fused-mode", default="on", help='"on" on a GPU; "interpret" for a CPU dry run'
    )
    return parser


def print_header(header):
    """Prints a markdown table's header line and its rule."""
    print(header)
    print("|" + " --- |" * (header.count("|") - 1))


def device_line():
    """The JAX and Keras versions, the device, and whether JAX preallocates its memory."""
    import jax
    import keras

    return (
        f"jax {jax.__version__} on {jax.devices()[0].device_kind}, keras {keras.__version__}, "
        f"{jax_preallocation()}"
    )


def stage_shapes(args):
    """`(size, channels, frames_shape)` of each of `--stages`."""
    for stage in args.stages:
        size, channels = map(int, stage.split("x"))
        yield size, channels, (args.clips * args.num_frames, size, size, channels)


def parse_args():
    parser = stage_parser(__doc__.splitlines()[0], "bfloat16")
    parser.add_argument(
        "--tiles",
        nargs="+",
        default=["default"],
        help="forward and backward tiles as ELEMENTSxWARPS,"
        "ELEMENTSxWARPS[xPROGRAMS_PER_CLIP[xSTAGES]], e.g. 2048x4,4096x8x16x2 (a field left "
        "out takes the package's default), or default for the package's own",
    )
    return parser.parse_args()


def apply_setting(pass_name, setting):
    """Sets the kernel's tuning variables for one pass from `ELEMENTSxWARPS[x...]`; a
    field left out (all of them for `default`) goes back to the package's default."""
    names = BACKWARD_FIELDS if pass_name else FIELDS
    fields = [] if setting == "default" else setting.split("x")
    if len(fields) > len(names) or len(fields) == 1:
        raise SystemExit(f"--tiles: {setting!r} is not ELEMENTSxWARPS[x...] or default")
    for index, name in enumerate(names):
        if index < len(fields):
            os.environ[f"KERAS_STW_KERNEL_{name}"] = fields[index]
        else:
            os.environ.pop(f"KERAS_STW_KERNEL_{name}", None)


def compiled_block(layer, mode):
    """Jitted forward, and forward + backward (`vjp` with a cotangent like the output)."""
    import jax

    import keras_stw

    weights = [w.value for w in layer.trainable_weights]

    def forward(values, x):
        with keras_stw.kernels.fused_kernels(mode):
            return layer.stateless_call(values, [], x)[0]

    def backward(values, x, upstream):
        outputs, pullback = jax.vjp(forward, values, x)
        return outputs, pullback(upstream)

    return jax.jit(forward), jax.jit(backward), weights


def evaluate(forward, grad, weights, x, upstream):
    """The output, the input's gradient and each weight's gradient."""
    outputs, (weight_grads, input_grad) = grad(weights, x, upstream.astype(x.dtype))
    return [outputs, input_grad, *weight_grads]


def relative_errors(fused, reference):
    """max |a - b| / max |b|, output first, then each gradient."""
    pairs = zip(fused, reference, strict=True)
    return [
        float(np.abs(np.float32(a) - np.float32(b)).max() / (np.abs(np.float32(b)).max() + 1e-12))
        for a, b in pairs
    ]


def measure(layer, mode, x, upstream, steps):
    """Forward ms, forward + backward ms, and the values (output, then every gradient)."""
    forward, grad, weights = compiled_block(layer, mode)
    times = (
        time_fn(forward, weights, x, steps=steps),
        time_fn(grad, weights, x, upstream.astype(x.dtype), steps=steps),
    )
    return times, evaluate(forward, grad, weights, x, upstream)


def stage_blocks(keras_stw, args, shape, rng):
    """TSM's shift and the STW block with random weights, and a float32 copy of each."""
    blocks = []
    for layer_class in (keras_stw.TemporalShift, keras_stw.STWBlock):
        layer = layer_class(args.num_frames, dtype=args.dtype)
        layer.build(shape)
        for weight in layer.trainable_weights:
            weight.assign(rng.standard_normal(weight.shape) * 0.1 + 1.0)
        exact = layer_class(args.num_frames, dtype="float32")
        exact.build(shape)
        exact.set_weights(layer.get_weights())
        blocks.append((layer, exact))
    return blocks


def main():
    args = parse_args()
    import jax
    import jax.numpy as jnp

    import keras_stw

    print(device_line())
    print(f"{args.clips} clips x {args.num_frames} frames, {args.dtype}, {args.steps} steps")
    print("times in ms; errors: max |a - b| / max |b| against float32 keras.ops\n")
    header = (
        "| stage (HxW, C) | tile | copy | TSM ops fwd | TSM fused fwd | STW ops fwd | "
        "STW fused fwd | STW fused / copy | TSM ops fwd+bwd | TSM fused fwd+bwd | "
        "STW ops fwd+bwd | STW fused fwd+bwd | STW error, fused (y, dx, dweights) | "
        "STW error, ops |"
    )
    print_header(header)
    copy = jax.jit(lambda a: a * jnp.asarray(1.5, a.dtype))
    for size, channels, shape in stage_shapes(args):
        rng = np.random.default_rng(0)
        x = jnp.asarray(rng.standard_normal(shape), args.dtype)
        upstream = jnp.asarray(rng.standard_normal(shape), "float32")
        ms_copy = time_fn(copy, x, steps=args.steps)
        blocks = stage_blocks(keras_stw, args, shape, rng)
        reference = [measure(layer, "off", x, upstream, args.steps) for layer, _ in blocks]
        exact = [measure(layer, "off", x.astype("float32"), upstream, 1)[1] for _, layer in blocks]
        for tile in args.tiles:
            settings = ["default"] * 2 if tile == "default" else tile.split(",")
            for pass_name, setting in zip(("", "BACKWARD_"), settings, strict=True):
                apply_setting(pass_name, setting)
            fused = [
                measure(layer, args.fused_mode, x, upstream, args.steps) for layer, _ in blocks
            ]
            (tsm_ops, _), (stw_ops, stw_ops_values) = reference
            (tsm_fused, tsm_values), (stw_fused, stw_values) = fused
            tsm_error = max(relative_errors(tsm_values, exact[0]))
            cells = [tsm_ops[0], tsm_fused[0], stw_ops[0], stw_fused[0]]
            cells = [f"{ms:.3f}" for ms in cells] + [f"{stw_fused[0] / ms_copy:.2f}"]
            cells += [f"{ms:.3f}" for ms in (tsm_ops[1], tsm_fused[1], stw_ops[1], stw_fused[1])]
            for values in (stw_values, stw_ops_values):
                cells.append(", ".join(f"{e:.1e}" for e in relative_errors(values, exact[1])))
            print(
                f"| {size}x{size}, {channels} | {tile} | {ms_copy:.3f} | "
                + " | ".join(cells)
                + " |",
                flush=True,
            )
            print(f"  (TSM fused: max error {tsm_error:.1e})", flush=True)


if __name__ == "__main__":
    main()
