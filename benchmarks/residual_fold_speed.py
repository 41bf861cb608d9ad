"""A residual block's sum and ReLU with the temporal block that reads it, folded or not.

At inference (or, with `--training`, a training call and its gradients), for each stage
of ResNet-50 (64 clips x 8 frames by default), times the residual block's end as TSN runs
it (batch normalization of the branch, the sum with the shortcut, the ReLU: one XLA
fusion), then with TSM's shift and with the STW block after it, each run layer by layer
(XLA's fusion, then the block's kernel) and folded into one kernel
(`keras_stw.models.residual_folding`), with a plain copy of `x` beside them, and checks on
the device how far the folded and the layer-by-layer results are from the layers' in
float32. With `--recompute` (training), the bottleneck's first 1x1 convolution (a quarter
of the channels) reads the temporal block (TSN: `x`), and both STW and TSM run with
`KERAS_STW_RECOMPUTE_BLOCKS=on`: layer by layer, XLA's fusion and then the recomputing
pair of the block's kernel and XLA's product; folded, one kernel that also runs the
product and writes the block's output again in its backward pass:

    KERAS_BACKEND=jax python benchmarks/residual_fold_speed.py [--training [--recompute]]

JAX only (the kernels are JAX's). TSM's shift takes its kernel here (mode `"on"`).
"""

import os

import numpy as np

# Beside this script, so on sys.path when it runs; JAX only, as this script is.
from block_speed import device_line, print_header, relative_errors, stage_parser, stage_shapes
from entry_speed import time_fn


def parse_args():
    parser = stage_parser(__doc__.splitlines()[0], "mixed_bfloat16")
    parser.add_argument(
        "--training",
        action="store_true",
        help="time a training call and its gradients (batch statistics) instead",
    )
    parser.add_argument(
        "--recompute",
        action="store_true",
        help="with --training: a 1x1 convolution reads the block, and the block is recomputed",
    )
    args = parser.parse_args()
    if args.recompute and not args.training:
        parser.error("--recompute times training: add --training")
    return args


def residual_end(keras, shape, block, dtype, seed, filters=None):
    """`[branch, shortcut] -> relu(bn(branch) + shortcut)`, then `block` on it if given,
    then a 1x1 convolution of `filters` filters if given, as a functional model with
    random batch-normalization weights and statistics."""
    terms = [keras.Input(shape[1:], batch_size=shape[0]) for _ in range(2)]
    normalized = keras.layers.BatchNormalization(dtype=dtype)(terms[0])
    outputs = keras.layers.ReLU(dtype=dtype)(keras.layers.Add(dtype=dtype)([normalized, terms[1]]))
    read = block(outputs) if block else outputs
    if filters:
        read = keras.layers.Conv2D(filters, 1, dtype=dtype)(read)
    model = keras.Model(terms, [outputs, read] if block or filters else [outputs])
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        value = rng.standard_normal(weight.shape) * 0.2
        weight.assign(np.abs(value) + 0.8 if "variance" in weight.path else value + 0.5)
    return model


def compiled(model, terms, mode, fold, training=False, recompute="off"):
    """The model's call on `terms` (inference; or, `training`, a training call with its
    gradients for the terms and every variable, of the outputs' sum), jitted with its
    variables as arguments, in kernel `mode` with `KERAS_STW_FOLD_RESIDUALS=fold` and
    `KERAS_STW_RECOMPUTE_BLOCKS=recompute` (read when it is traced, here); exits if `fold`
    is `"on"` and the residual sum does not fold."""
    import jax
    import keras

    import keras_stw

    variables = model.weights

    def call(values, terms):
        with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
            outputs = keras_stw.models.call_folded(model, terms, training=training)
            return model(terms, training=training) if outputs is None else outputs

    def total(values, terms):
        outputs = call(values, terms)
        return sum(output.astype("float32").sum() for output in outputs), outputs

    def step(values, terms):
        (_, outputs), grads = jax.value_and_grad(total, (0, 1), has_aux=True)(values, terms)
        return [*outputs, *jax.tree.leaves(grads)]

    run = step if training else call

    values = [v.value for v in variables]
    os.environ["KERAS_STW_FOLD_RESIDUALS"] = fold
    os.environ["KERAS_STW_RECOMPUTE_BLOCKS"] = recompute
    with keras_stw.kernels.fused_kernels(mode):
        if fold == "on":
            (trio,) = keras_stw.models.residual_folds(model)
            reason = keras_stw.kernels.residual_fold_reason(trio.block, trio.input_shape)
            if recompute == "on" and not reason:
                ((block, conv),) = keras_stw.models.folding_pairs(model)
                reason = keras_stw.kernels.trio_conv_reason(block, conv, trio.input_shape)
            if reason:
                raise SystemExit(f"The residual sum does not fold: {reason}")
        function = jax.jit(run).lower(values, terms).compile()
    return lambda terms: function(values, terms)


def main():
    args = parse_args()
    import jax
    import jax.numpy as jnp
    import keras

    import keras_stw

    print(device_line())
    print(f"{args.clips} clips x {args.num_frames} frames, {args.dtype}, {args.steps} steps")
    if args.recompute:
        print("a 1x1 convolution to a quarter of the channels reads each block, recomputed")
    print(
        ("training call + gradients" if args.training else "inference")
        + ", times in ms; errors: max |a - b| / max |b| of the outputs (x, y)"
        + (" and every gradient" if args.training else "")
        + ", the worst, folded and layer by layer, against the layers in float32\n"
    )
    header = (
        "| stage (HxW, C) | copy of x | TSN: sum + ReLU | TSM layers | TSM folded | "
        "TSM folded / layers | STW layers | STW folded | STW folded / layers | "
        "STW over TSN, layers | STW over TSN, folded | error TSM (folded, layers) | "
        "error STW (folded, layers) |"
    )
    print_header(header)
    copy = jax.jit(lambda a: a * jnp.asarray(1.5, a.dtype))
    for size, channels, shape in stage_shapes(args):
        rng = np.random.default_rng(0)
        compute = keras.dtype_policies.get(args.dtype).compute_dtype
        terms = [jnp.asarray(rng.standard_normal(shape), compute) for _ in range(2)]
        ms_copy = time_fn(copy, terms[1], steps=args.steps)
        cells = [f"{ms_copy:.3f}"]
        filters = channels // 4 if args.recompute else None
        recompute = "on" if args.recompute else "off"
        tsn = residual_end(keras, shape, None, args.dtype, seed=1, filters=filters)
        tsn_call = compiled(tsn, terms, "off", "off", args.training)
        ms_tsn = time_fn(tsn_call, terms, steps=args.steps)
        cells.append(f"{ms_tsn:.3f}")
        exact_terms = [term.astype("float32") for term in terms]
        errors, overheads = [], []
        for block_class in (keras_stw.TemporalShift, keras_stw.STWBlock):
            model, exact = (
                residual_end(
                    keras, shape, block_class(args.num_frames, dtype=dtype), dtype, 2, filters
                )
                for dtype in (args.dtype, "float32")
            )
            layers_call, folded_call = (
                compiled(model, terms, args.fused_mode, fold, args.training, recompute)
                for fold in ("off", "on")
            )
            times = [time_fn(call, terms, steps=args.steps) for call in (layers_call, folded_call)]
            cells += [f"{times[0]:.3f}", f"{times[1]:.3f}", f"{times[1] / times[0]:.3f}"]
            overheads += [f"{times[0] - ms_tsn:.3f}", f"{times[1] - ms_tsn:.3f}"]
            want = compiled(exact, exact_terms, "off", "off", args.training)(exact_terms)
            worst = [max(relative_errors(call(terms), want)) for call in (folded_call, layers_call)]
            errors.append(", ".join(f"{error:.1e}" for error in worst))
        cells += overheads[2:] + errors
        print(f"| {size}x{size}, {channels} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
