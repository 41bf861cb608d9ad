"""A temporal block folded into the first 1x1 convolution that reads it (issue 21, part 2),
against the same two layers unfolded, at every stage of ResNet-50.

For the STW block and TSM's shift (64 clips x 8 frames, `mixed_bfloat16` as the zoo
trains), it times the branch's first convolution alone (TSN's cost), the block's fused
kernel followed by the convolution (the network without folding) and
`keras_stw.kernels.folded_convolution`, forward and forward + backward (the gradients of
the frames and every weight), and checks the output and every gradient against the
float32 `keras.ops` layers on the device:

    KERAS_BACKEND=jax python benchmarks/fused_conv_speed.py

`--product xla` times the pair as `KERAS_STW_RECOMPUTE_BLOCKS=on` runs it instead: the
block's kernel and XLA's product forward, a backward pass that writes the block's output
again for the convolution's gradient.

`--tiles` times several `KERAS_STW_KERNEL_CONV_TILE` settings (PIXELSxCHUNKxOUTPUTSxWARPS).
`--kernels interpret` runs the kernels through Pallas's interpreter on any device (small
shapes, to check the script on a CPU): `--kernels interpret --clips 2 --stages 4x64x32`.
"""

import argparse
import os

import jax
import keras
import numpy as np

# Beside this script, so on sys.path when it runs; JAX only, as this script is.
from block_speed import device_line, relative_errors
from entry_speed import time_fn

import keras_stw

# height = width, input channels, output channels of each stage's first convolution.
STAGES = ["56x256x64", "28x512x128", "14x1024x256", "7x2048x512"]
BLOCKS = {"stw": keras_stw.STWBlock, "tsm": keras_stw.TemporalShift}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--num-frames", type=int, default=8)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--stages", nargs="+", default=STAGES, help="SIZExCINxCOUT each")
    parser.add_argument("--blocks", nargs="+", default=list(BLOCKS), choices=list(BLOCKS))
    parser.add_argument("--tiles", nargs="+", default=["32x64x128x4"])
    parser.add_argument("--kernels", default="on", help='"on" on a GPU, "interpret" elsewhere')
    parser.add_argument("--product", default="triton", choices=["triton", "xla"])
    return parser.parse_args()


def make_pair(block_name, args, frames_shape, outputs, dtype, rng=None, like=None):
    """A temporal layer and a 1x1 conv, random (`rng`) or with the weights of `like`."""
    layer = BLOCKS[block_name](args.num_frames, dtype=dtype)
    conv = keras.layers.Conv2D(outputs, 1, dtype=dtype)
    layer.build(frames_shape)
    conv.build(frames_shape)
    for index, weight in enumerate(layer.weights + conv.weights):
        if like is None:
            weight.assign(rng.standard_normal(weight.shape) * 0.1 + (weight.ndim < 4))
        else:
            weight.assign(like[index])
    return layer, conv


def pair_functions(layer, conv, mode, product="triton"):
    """Jitted forward and forward + backward of: the conv alone, both layers unfolded,
    and the pair folded with `product`; each takes `(weight values, frames[, upstream])`."""
    variables = layer.trainable_weights + conv.trainable_weights

    def stateless(function):
        def run(values, frames):
            mapping = list(zip(variables, values, strict=True))
            with keras.StatelessScope(state_mapping=mapping), keras_stw.kernels.fused_kernels(mode):
                return function(frames)

        return run

    def folded(frames):
        outputs = keras_stw.kernels.folded_convolution(frames, layer, conv, product)
        if outputs is None:
            raise RuntimeError(
                keras_stw.kernels.fold_reason(layer, conv, frames.shape, product=product)
            )
        return outputs

    functions = {"conv alone": conv, "unfolded": lambda x: conv(layer(x)), "folded": folded}
    compiled = {}
    for name, function in functions.items():
        forward = stateless(function)

        def backward(values, frames, upstream, forward=forward):
            outputs, pullback = jax.vjp(forward, values, frames)
            return outputs, pullback(upstream)

        compiled[name] = (jax.jit(forward), jax.jit(backward))
    return compiled, [v.value for v in variables]


def main():
    args = parse_args()
    switch = {"triton": "KERAS_STW_FOLD_CONVOLUTIONS", "xla": "KERAS_STW_RECOMPUTE_BLOCKS"}
    os.environ[switch[args.product]] = "on"
    print(device_line())
    print(f"{args.clips} clips x {args.num_frames} frames, mixed_bfloat16, {args.steps} steps")
    print(f"folded with product={args.product!r}")
    print(
        "times in ms; error: max |a - b| / max |b| against the float32 keras.ops layers, "
        "for the output, then the worst of the gradients\n"
    )
    header = (
        "| block | stage (HxW, C -> F) | tile | conv alone fwd | unfolded fwd | folded fwd | "
        "folded / unfolded fwd | conv alone fwd+bwd | unfolded fwd+bwd | folded fwd+bwd | "
        "folded / unfolded fwd+bwd | error, unfolded | error, folded | "
        "gradient error, unfolded | gradient error, folded |"
    )
    print(header)
    print("|" + " --- |" * (header.count("|") - 1))
    for block_name in args.blocks:
        for stage in args.stages:
            size, channels, outputs = map(int, stage.split("x"))
            frames_shape = (args.clips * args.num_frames, size, size, channels)
            rng = np.random.default_rng(0)
            layer, conv = make_pair(block_name, args, frames_shape, outputs, "mixed_bfloat16", rng)
            weights = [w.numpy() for w in layer.weights + conv.weights]
            exact = make_pair(block_name, args, frames_shape, outputs, "float32", like=weights)
            x32 = rng.standard_normal(frames_shape).astype("float32")
            x = keras.ops.cast(x32, "bfloat16")
            upstream = keras.ops.cast(rng.standard_normal((*frames_shape[:3], outputs)), "bfloat16")
            reference, reference_values = pair_functions(*exact, "off")
            want = np.float32(reference["unfolded"][0](reference_values, x32))
            upstream32 = keras.ops.cast(upstream, "float32")
            _, want_grads = reference["unfolded"][1](reference_values, x32, upstream32)

            def errors(
                forward, backward, values, x=x, dz=upstream, want=want, want_grads=want_grads
            ):
                _, grads = backward(values, x, dz)
                (output_error,) = relative_errors([forward(values, x)], [want])
                grads, want_grads = jax.tree.leaves(grads), jax.tree.leaves(want_grads)
                return output_error, max(relative_errors(grads, want_grads))

            for tile in args.tiles:
                os.environ["KERAS_STW_KERNEL_CONV_TILE"] = tile
                compiled, values = pair_functions(layer, conv, args.kernels, args.product)
                times = {
                    name: (
                        time_fn(forward, values, x, steps=args.steps),
                        time_fn(backward, values, x, upstream, steps=args.steps),
                    )
                    for name, (forward, backward) in compiled.items()
                }
                cells = []
                for index in (0, 1):
                    cells += [times[n][index] for n in ("conv alone", "unfolded", "folded")]
                    cells.append(times["folded"][index] / times["unfolded"][index])
                checks = [errors(*compiled[n], values) for n in ("unfolded", "folded")]
                print(
                    f"| {block_name} | {size}x{size}, {channels} -> {outputs} | {tile} | "
                    + " | ".join(f"{c:.3f}" for c in cells)
                    + " | "
                    + " | ".join(f"{check[i]:.1e}" for i in (0, 1) for check in checks)
                    + " |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
