"""Training and inference throughput of TSN, TSM and STW, in one run, with ratios to TSN.

Each model is timed in its own subprocess (so peak device memory is its own) on whatever
backend (`KERAS_BACKEND`) and device it runs on, with clips already on the device:

    KERAS_BACKEND=jax python benchmarks/speed.py --models tsn stw tsm torch_tsn

with keras-stw installed (`pip install -e .`) or `PYTHONPATH=.` from the repository root.

`tsn`, `tsm` and `stw` are the registry's ResNet-50 of that family, each timed on every
`--backbone` (`keras_stw.BACKBONES`; e.g. `--backbone keras keras_hub` times ResNet-50 v1
and v1.5 in one call), with its ratios to TSN on the same backbone. `--models` may also include
`torch_tsn` (torchvision's ResNet-50 TSN under `torch.compile` and bf16 autocast, the
PyTorch peer of issue 6, needs a CUDA GPU) and `stw_naive` (the straightforward STW block
of `benchmarks/naive_stw.py`). `--kernels auto off` times each temporal model with its fused
kernels (`keras_stw.kernels`, JAX on a GPU) and with its `keras.ops` code, in one call;
`--fold on off` and `--recompute off on` time it with its blocks folded into their
convolutions or recomputed in the backward pass (`keras_stw.models.folding`), and without;
`--fold-residuals on off` with its residual sums and temporal blocks run as one kernel at
inference (`keras_stw.models.residual_folding`, on by default), and without.
`--repeats 3` times every model three times in interleaved rounds (each ratio to its
round's TSN) and adds each model's median and range: a single process's rate can move
by 5% to 10% between runs on the same GPU (`results/backward_tiles_h100/`).
`stw_grouped` (TWM's taps as a grouped block-diagonal product) lost and was dropped;
`results/speed_h200.md` keeps what it measured.
"""

import argparse
import functools
import itertools
import json
import os
import subprocess
import sys
import time

import numpy as np


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["tsn", "tsm", "stw"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[16, 64])
    parser.add_argument("--num-frames", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--precision", default="mixed_bfloat16")
    # Checked by the package (keras_stw.BACKBONES); keras_stw is imported in the workers only.
    parser.add_argument(
        "--backbone",
        nargs="+",
        default=["keras"],
        help="keras, keras_cv and/or keras_hub; a worker gets one",
    )
    parser.add_argument(
        "--kernels",
        nargs="+",
        default=["auto"],
        help="keras_stw.kernels modes to time the temporal models in, e.g. auto off",
    )
    parser.add_argument(
        "--fold",
        nargs="+",
        default=["off"],
        help="KERAS_STW_FOLD_CONVOLUTIONS settings to time the temporal models in, e.g. on off",
    )
    parser.add_argument(
        "--recompute",
        nargs="+",
        default=["off"],
        help="KERAS_STW_RECOMPUTE_BLOCKS settings to time the temporal models in, e.g. off on",
    )
    parser.add_argument(
        "--fold-residuals",
        nargs="+",
        default=["on"],
        help="KERAS_STW_FOLD_RESIDUALS settings to time the temporal models in, e.g. on off",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="time every model this many times, in interleaved rounds, each ratio to the "
        "same round's TSN, and add a table of medians and ranges",
    )
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", help="also write the markdown table to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def build_model(name, args):
    import keras

    import keras_stw

    keras.config.set_dtype_policy(args.precision)
    (backbone,) = args.backbone
    common = {
        "num_frames": args.num_frames,
        "image_shape": (args.image_size, args.image_size, 3),
        "backbone": backbone,
    }
    if name == "stw_naive":
        # Beside this script, so on sys.path when it runs.
        from naive_stw import NaiveSTWBlock

        return keras_stw.video_resnet(
            lambda layer_name: NaiveSTWBlock(args.num_frames, name=layer_name), **common
        )
    (model_name,) = keras_stw.list_models(family=name, depth=50)
    return keras_stw.create_model(model_name, **common)


def peak_memory_gib():
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        peak = stats.get("peak_bytes_in_use")
    elif backend == "torch":
        import torch

        peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None
    else:
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        peak = tf.config.experimental.get_memory_info("GPU:0")["peak"] if gpus else None
    return None if peak is None else peak / 2**30


def time_calls(call, warmup, steps, wait=lambda result: result, warmup_seconds=2.0):
    """Seconds per `call()`; `wait(result)` blocks until the device has finished it.

    At least `warmup` calls and `warmup_seconds` come first, so GPU clocks have ramped
    up after the idle time of compilation. Calls are queued back to back and waited for
    once at the end, as a serving loop or `fit` keeps the device busy.
    """
    start = time.perf_counter()
    calls = 0
    while calls < warmup or time.perf_counter() - start < warmup_seconds:
        wait(call())
        calls += 1
    start = time.perf_counter()
    for _ in range(steps):
        result = call()
    wait(result)
    return (time.perf_counter() - start) / steps


def inference_call(model, clips):
    """A compiled inference call that returns without waiting for the device."""
    import keras

    if keras.backend.backend() != "jax":
        return functools.partial(model.predict_on_batch, clips), lambda result: result
    import jax

    state = [[v.value for v in model.trainable_variables], model.non_trainable_variables]
    state[1] = [v.value for v in state[1]]
    forward = jax.jit(lambda t, n, x: model.stateless_call(t, n, x, training=False)[0])
    return functools.partial(forward, *state, clips), jax.block_until_ready


def kernels_used(model, clip_shape):
    """The path of the model's first temporal layer ("fused", or "ops" and why not),
    whether it is folded into the convolution that reads it and whether its pair is
    recomputed in the backward pass; then how many residual sums fold into the blocks,
    and with how many of their convolutions when recomputing."""
    import keras_stw

    pairs = keras_stw.models.folding_pairs(model)
    if not pairs:
        return "-"
    layer, conv = pairs[0]
    frames = (clip_shape[0] * clip_shape[1], 56, 56, 256)
    path, reason = keras_stw.kernels.kernel_path(layer, frames)
    used = f"ops ({reason})"
    if path == "fused":
        not_folded = keras_stw.kernels.fold_reason(layer, conv, frames)
        used = f"fused, not folded ({not_folded})" if not_folded else "fused, folded"
    used = f"first block: {used}"
    recompute = keras_stw.kernels.dispatch.recompute_enabled()
    if recompute:
        by_kernel = not keras_stw.kernels.fold_reason(layer, conv, frames, product="xla")
        used += ", recomputed " + ("by the pair's kernel" if by_kernel else "under keras.remat")
    trios = keras_stw.models.folded_trios(model, recompute)
    used += f"; {len(trios)} residual sums folded"
    if recompute:
        with_conv = sum(trio_conv is not None for _, trio_conv in trios)
        used += f" ({with_conv} with their convolution when training)"
    return used


def compiled_model(name, args, jit_compile=True):
    """`build_model`, compiled for training as every Keras worker times it."""
    import keras

    model = build_model(name, args)
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9, weight_decay=5e-4),
        loss="sparse_categorical_crossentropy",
        jit_compile=jit_compile,
    )
    return model


def random_clips(args, batch, rng):
    """`batch` random uint8 clips and labels, as device tensors."""
    import keras

    shape = (batch, args.num_frames, args.image_size, args.image_size, 3)
    clips = keras.ops.convert_to_tensor(rng.integers(0, 256, shape, dtype="uint8"))
    return clips, keras.ops.convert_to_tensor(rng.integers(0, 174, (batch,)), "int32")


def keras_worker(name, args):
    model = compiled_model(name, args)
    rng = np.random.default_rng(0)
    results = []
    for batch in args.batch_sizes:
        shape = (batch, args.num_frames, args.image_size, args.image_size, 3)
        clips, labels = random_clips(args, batch, rng)
        # train_on_batch returns host values, so each training step is waited for.
        train_step = functools.partial(model.train_on_batch, clips, labels)
        train = time_calls(train_step, args.warmup, args.steps)
        infer_step, wait = inference_call(model, clips)
        infer = time_calls(infer_step, args.warmup, args.steps, wait)
        results.append(
            {
                "model": name,
                "kernels": kernels_used(model, shape),
                "backbone": args.backbone[0],
                "batch": batch,
                "train_clips_s": batch / train,
                "infer_clips_s": batch / infer,
            }
        )
    results[-1]["peak_gib"] = peak_memory_gib()
    return results


def torchvision_tsn(args, batch, compiled=True):
    """torchvision's ResNet-50 TSN (channels-last, bf16 autocast, SGD) as a training step
    and an inference call on `batch` random clips on the GPU; `compiled` puts the model
    under `torch.compile`. Each returns without waiting for the device."""
    import torch
    import torchvision

    device = "cuda"
    model = torchvision.models.resnet50(num_classes=174).to(
        device, memory_format=torch.channels_last
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    network = torch.compile(model) if compiled else model
    frames = batch * args.num_frames
    x = torch.randn(frames, 3, args.image_size, args.image_size, device=device)
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 174, (batch,), device=device)

    def step():
        model.train()
        with torch.autocast(device, dtype=torch.bfloat16):
            logits = network(x).view(batch, args.num_frames, -1).mean(1)
            loss = torch.nn.functional.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    @torch.no_grad()
    def infer():
        model.eval()
        with torch.autocast(device, dtype=torch.bfloat16):
            return network(x).view(batch, args.num_frames, -1).mean(1).softmax(-1)

    return step, infer


def torch_peer_worker(args):
    import torch

    def wait(result):
        torch.cuda.synchronize()

    results = []
    for batch in args.batch_sizes:
        step, infer = torchvision_tsn(args, batch)
        # Waited for every step, as Keras's train_on_batch is (it returns host values).
        train = time_calls(lambda step=step: wait(step()), args.warmup, args.steps)
        inference = time_calls(infer, args.warmup, args.steps, wait)
        results.append(
            {
                "model": "torch_tsn",
                "kernels": "-",
                "backbone": "torchvision",
                "batch": batch,
                "train_clips_s": batch / train,
                "infer_clips_s": batch / inference,
            }
        )
    results[-1]["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return results


def check_naive_block_matches(args):
    """The naive baseline must compute what STWBlock computes (same initialization)."""
    import keras
    from naive_stw import NaiveSTWBlock

    import keras_stw

    frames = np.random.default_rng(0).standard_normal((2 * 4, 5, 5, 16)).astype("float32")
    fused = keras.ops.convert_to_numpy(keras_stw.STWBlock(4, dtype="float32")(frames))
    naive = keras.ops.convert_to_numpy(NaiveSTWBlock(4, dtype="float32")(frames))
    np.testing.assert_allclose(fused, naive, atol=1e-5)


def temporal_settings(name, args):
    """The `(kernels, fold, recompute, fold_residuals)` settings `name` is timed in: one
    for the models without temporal blocks, every combination of the flags for the
    others."""
    if name in ("tsn", "stw_naive"):
        return [DEFAULT_SETTINGS]
    flags = (args.kernels, args.fold, args.recompute, args.fold_residuals)
    settings = []
    for kernels, fold, recompute, residuals in itertools.product(*flags):
        if kernels == "off":  # nothing folds without the kernels
            fold = residuals = "off"
        settings.append((kernels, fold, recompute, residuals))
    return list(dict.fromkeys(settings))


# The environment variables of `temporal_settings`, and the package's defaults.
SETTING_VARIABLES = (
    "KERAS_STW_FUSED_KERNELS",
    "KERAS_STW_FOLD_CONVOLUTIONS",
    "KERAS_STW_RECOMPUTE_BLOCKS",
    "KERAS_STW_FOLD_RESIDUALS",
)
DEFAULT_SETTINGS = ("auto", "off", "off", "on")


def run_worker(worker, backbone, args, settings=DEFAULT_SETTINGS):
    argv = [sys.executable, os.path.abspath(__file__), "--worker", worker]
    for key in ("batch_sizes",):
        argv += ["--batch-sizes", *map(str, getattr(args, key))]
    argv += [
        "--num-frames", str(args.num_frames), "--image-size", str(args.image_size),
        "--precision", args.precision, "--backbone", backbone,
        "--warmup", str(args.warmup), "--steps", str(args.steps),
    ]  # fmt: skip
    started = time.perf_counter()
    rows = run_json_worker(argv, settings)
    elapsed = time.perf_counter() - started
    kernels, fold, recompute, residuals = settings
    print(
        f"# {worker} ({backbone}, kernels {kernels}, fold {fold}, recompute {recompute}, "
        f"fold residuals {residuals}): {elapsed:.0f} s: {rows}",
        file=sys.stderr,
        flush=True,
    )
    return rows


def run_json_worker(argv, settings, environment=None):
    """Runs the worker command `argv` with `temporal_settings`' settings as keras-stw's
    environment variables (and `environment` added), and returns the JSON of its last
    output line; a failed worker's output is printed and ends the run."""
    environment = {
        **os.environ,
        **dict(zip(SETTING_VARIABLES, settings, strict=True)),
        **(environment or {}),
    }
    done = subprocess.run(argv, capture_output=True, text=True, env=environment)
    if done.returncode:
        print(done.stdout[-3000:], done.stderr[-6000:], file=sys.stderr)
        raise SystemExit(f"worker {argv[3]} {settings} failed with exit code {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# What each row is timed as: the keys of a worker's results, their table headers and
# number formats.
MEASURES = (
    ("train_clips_s", "train clips/s", ".1f"),
    ("infer_clips_s", "inference clips/s", ".1f"),
    ("peak_gib", "peak memory GiB", ".2f"),
)


def add_ratios(rows, args):
    """Adds `<measure>_x_tsn` to every row: its ratio to TSN on the same backbone, batch
    and round (torch_tsn's to the first backbone's), or `None` without such a TSN."""
    tsn = {(r["backbone"], r["batch"], r["round"]): r for r in rows if r["model"] == "tsn"}
    for r in rows:
        backbone = args.backbone[0] if r["model"] == "torch_tsn" else r["backbone"]
        base = tsn.get((backbone, r["batch"], r["round"]), {})
        for key, _, _ in MEASURES:
            value, reference = r.get(key), base.get(key)
            r[f"{key}_x_tsn"] = value / reference if value and reference else None


def jax_preallocation():
    """`XLA_PYTHON_CLIENT_PREALLOCATE=...` as JAX reads it, for a log's header: some
    timings depend on it (`benchmarks/README.md`)."""
    return "XLA_PYTHON_CLIENT_PREALLOCATE=" + os.environ.get(
        "XLA_PYTHON_CLIENT_PREALLOCATE", "unset (true)"
    )


def format_table(rows, args):
    import keras

    backend = keras.backend.backend()
    repeated = args.repeats > 1
    lines = [
        f"backend={backend} precision={args.precision} "
        f"frames={args.num_frames} size={args.image_size} backbone={' '.join(args.backbone)} "
        f"steps={args.steps} (after {args.warmup} warm-up)"
        + (f", {args.repeats} interleaved rounds" if repeated else "")
        + (f", {jax_preallocation()}" if backend == "jax" else ""),
        "",
        *_header(["round"] if repeated else []),
    ]
    for r in rows:
        cells = [r["model"], r["kernels"], r["backbone"], r["batch"]]
        cells += [r["round"]] if repeated else []
        for key, _, spec in MEASURES:
            cells += [_number(r.get(key), spec), _number(r[f"{key}_x_tsn"], ".3f")]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def format_summary(rows):
    """Each model's median over the rounds, with the range, as a markdown table."""
    groups = {}
    for r in rows:
        groups.setdefault((r["model"], r["kernels"], r["backbone"], r["batch"]), []).append(r)
    lines = [
        "Median over the rounds (lowest to highest):",
        "",
        *_header(["rounds"]),
    ]
    for (model, kernels, backbone, batch), group in groups.items():
        cells = [model, kernels, backbone, batch, len(group)]
        for key, _, key_spec in MEASURES:
            for field, spec in ((key, key_spec), (f"{key}_x_tsn", ".3f")):
                values = [r.get(field) for r in group if r.get(field) is not None]
                cells.append(
                    f"{_number(np.median(values), spec)} ({_number(min(values), spec)} to "
                    f"{_number(max(values), spec)})"
                    if values
                    else "-"
                )
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def _header(extra_columns):
    """A table's header and rule lines: the model's columns, `extra_columns`, then each
    measure with its ratio to TSN."""
    columns = ["model", "temporal blocks", "backbone", "batch (clips)", *extra_columns]
    for _, header, _ in MEASURES:
        columns += [header, "x TSN"]
    return ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]


def _number(value, spec):
    return "-" if value is None else format(value, spec)


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        rows = (
            torch_peer_worker(args)
            if args.worker == "torch_tsn"
            else keras_worker(args.worker, args)
        )
        print(json.dumps(rows))
        return
    if "stw_naive" in args.models:
        check_naive_block_matches(args)
    if args.repeats < 1:
        raise SystemExit(f"--repeats must be at least 1. Received: --repeats={args.repeats}")
    rows = []
    for round_number in range(1, args.repeats + 1):
        timed = []
        for backbone in args.backbone:
            for name in args.models:
                for settings in temporal_settings(name, args) if name != "torch_tsn" else []:
                    timed += run_worker(name, backbone, args, settings)
        if "torch_tsn" in args.models:
            timed += run_worker("torch_tsn", args.backbone[0], args)  # its own backbone
        rows += [{**row, "round": round_number} for row in timed]
    add_ratios(rows, args)
    table = format_table(rows, args)
    if args.repeats > 1:
        table += "\n\n" + format_summary(rows)
    report(table, args.out)


def report(text, path=None):
    """Prints `text`, and writes it to `path` too if one is given."""
    print(text)
    if path:
        with open(path, "w") as handle:
            handle.write(text + "\n")


if __name__ == "__main__":
    main()
