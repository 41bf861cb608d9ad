"""Where a Keras-on-PyTorch training step spends its GPU time, against torchvision's.

Keras 3 on PyTorch trains the zoo's ResNet-50 TSN about 5x slower than Keras on JAX on
the same GPU, and so does a plain `keras.applications.ResNet50` (issue 21). This script
times one training step (8 x 224 x 224 clips, bf16, SGD) in several settings, each in
its own process, and profiles each one's GPU kernels (`torch.profiler`) into categories:

- `keras`, `keras_compiled`: the zoo's TSN on Keras-torch, `jit_compile=False` / `True`
  (`torch.compile` of Keras's train step); with `--models stw`, the same for STW;
- `torchvision`, `torchvision_compiled`: torchvision's ResNet-50 (channels-last, bf16
  autocast), eager and under `torch.compile`.

    KERAS_BACKEND=torch python benchmarks/torch_profile.py --batch-size 32

It prints the training rate, peak memory, graph breaks of `torch.compile` (counted from
`TORCH_LOGS=graph_breaks`) and the GPU
milliseconds per step by kernel category for every setting, then each setting's
heaviest kernels.
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import time

# Kernel name patterns, tried in order; the first that matches names the category.
CATEGORIES = [
    ("layout transpose (NCHW <-> NHWC)", r"nchwToNhwc|nhwcToNchw|transpose|permute"),
    ("convolution / matmul", r"conv|gemm|cutlass|xmma|sm\d\d_|wgrad|dgrad|fprop|winograd"),
    ("batch-norm kernels", r"batch_norm|batchnorm|welford|bn_fw|bn_bw"),
    ("copy or dtype cast", r"copy|cast|convert"),
    ("reduction", r"reduce"),
    ("optimizer (foreach)", r"foreach|multi_tensor"),
    ("triton (compiled fusion)", r"triton"),
    ("other elementwise", r"elementwise|vectorized|unrolled"),
]
SETTINGS = ("keras", "keras_compiled", "torchvision", "torchvision_compiled")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS)
    parser.add_argument("--models", nargs="+", default=["tsn"], help="zoo families: tsn, stw")
    parser.add_argument("--batch-size", type=int, default=32, help="clips")
    parser.add_argument("--num-frames", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--profile-steps", type=int, default=3)
    parser.add_argument("--timeout", type=int, default=300, help="seconds per setting")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def category(kernel_name):
    for name, pattern in CATEGORIES:
        if re.search(pattern, kernel_name, re.IGNORECASE):
            return name
    return "other"


def keras_step(family, compiled, args):
    """A Keras-torch training step of the zoo's `family` ResNet-50 on random clips."""
    import numpy as np

    # Beside this script, so on sys.path when it runs.
    from speed import compiled_model, random_clips

    settings = argparse.Namespace(
        precision="mixed_bfloat16",
        backbone=["keras"],
        num_frames=args.num_frames,
        image_size=args.image_size,
    )
    model = compiled_model(family, settings, jit_compile=compiled)
    clips, labels = random_clips(settings, args.batch_size, np.random.default_rng(0))
    # train_on_batch returns host values, so it waits for the device.
    return lambda: model.train_on_batch(clips, labels)


def torchvision_step(compiled, args):
    import torch
    from speed import torchvision_tsn

    step, _ = torchvision_tsn(
        argparse.Namespace(num_frames=args.num_frames, image_size=args.image_size),
        args.batch_size,
        compiled=compiled,
    )

    def waited():
        step()
        torch.cuda.synchronize()

    return waited


def kernel_table(step, steps):
    """GPU milliseconds per step by category, and the heaviest kernels, over `steps` calls."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    # On a machine without a GPU (a dry run), the CPU's operators stand in for kernels.
    gpu = torch.cuda.is_available()
    activity = ProfilerActivity.CUDA if gpu else ProfilerActivity.CPU
    device_type = torch.autograd.DeviceType.CUDA if gpu else torch.autograd.DeviceType.CPU
    with profile(activities=[activity]) as profiler:
        for _ in range(steps):
            step()
    by_category = collections.Counter()
    by_kernel = collections.Counter()
    for event in profiler.events():
        if event.device_type != device_type:
            continue
        milliseconds = event.time_range.elapsed_us() / 1e3 / steps
        by_category[category(event.name)] += milliseconds
        by_kernel[event.name[:110]] += milliseconds
    return dict(by_category), by_kernel.most_common(8)


def worker(setting, family, args):
    import torch
    from speed import time_calls

    torch.backends.cudnn.benchmark = True
    compiled = setting.endswith("_compiled")
    started = time.perf_counter()
    if setting.startswith("keras"):
        step = keras_step(family, compiled, args)
    else:
        step = torchvision_step(compiled, args)
    seconds = time_calls(step, args.warmup, args.steps)
    categories, kernels = kernel_table(step, args.profile_steps)
    return {
        "setting": setting,
        "model": family if setting.startswith("keras") else "tsn (torchvision)",
        "train_clips_s": args.batch_size / seconds,
        "step_ms": seconds * 1e3,
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else 0,
        "setup_s": time.perf_counter() - started,
        "categories": categories,
        "kernels": kernels,
    }


def graph_breaks(log):
    """The graph breaks `TORCH_LOGS=graph_breaks` reported, and their commonest reasons."""
    reasons = collections.Counter()
    tag = "[__graph_breaks]"
    lines = [line.split(tag, 1)[1] for line in log.splitlines() if tag in line]
    for index, line in enumerate(lines):
        if line.strip().startswith("Graph Break Reason:"):
            following = [text.strip() for text in lines[index + 1 : index + 4] if text.strip()]
            reasons[following[0] if following else line.strip()] += 1
    return sum(reasons.values()), reasons.most_common(3)


def run(setting, family, args):
    argv = [sys.executable, os.path.abspath(__file__), "--worker", setting, family]
    argv += ["--batch-size", str(args.batch_size), "--num-frames", str(args.num_frames)]
    argv += ["--image-size", str(args.image_size), "--warmup", str(args.warmup)]
    argv += ["--steps", str(args.steps), "--profile-steps", str(args.profile_steps)]
    try:
        # torch.compile's graph breaks, through its public logging switch.
        environment = {**os.environ, "TORCH_LOGS": "graph_breaks"}
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=args.timeout, env=environment
        )
    except subprocess.TimeoutExpired:
        print(f"{setting} {family}: over {args.timeout} s, stopped", file=sys.stderr)
        return None
    if done.returncode:
        print(done.stderr[-4000:], file=sys.stderr)
        return None
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["graph_breaks"], result["break_reasons"] = graph_breaks(done.stderr)
    return result


def format_tables(results, args):
    names = [name for name, _ in CATEGORIES] + ["other"]
    header = " | ".join(f"{r['setting']} ({r['model']})" for r in results)
    lines = [
        f"batch {args.batch_size} clips x {args.num_frames} frames x {args.image_size}^2, "
        f"bf16, {args.steps} timed steps after {args.warmup} warm-up",
        "",
        "| setting | model | train clips/s | step ms | peak GiB | graph breaks | "
        "set-up + timing s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r['setting']} | {r['model']} | {r['train_clips_s']:.1f} | {r['step_ms']:.1f} | "
            f"{r['peak_gib']:.2f} | {r['graph_breaks']} | {r['setup_s']:.0f} |"
        )
    lines += ["", f"GPU ms per step by kernel category | {header} |"]
    lines.append("| --- " * (len(results) + 1) + "|")
    for name in names + ["total"]:
        cells = [
            sum(r["categories"].values()) if name == "total" else r["categories"].get(name, 0.0)
            for r in results
        ]
        lines.append(f"| {name} | " + " | ".join(f"{c:.1f}" for c in cells) + " |")
    for r in results:
        lines += ["", f"Heaviest kernels, {r['setting']} ({r['model']}), ms per step:"]
        lines += [f"    {ms:8.2f}  {name}" for name, ms in r["kernels"]]
        if r["break_reasons"]:
            lines += ["  graph breaks of torch.compile, by reason:"]
            lines += [f"    {count:5d}  {reason}" for reason, count in r["break_reasons"]]
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(*args.worker, args)))
        return
    results = []
    for setting in args.settings:
        families = args.models if setting.startswith("keras") else ["tsn"]
        for family in families:
            result = run(setting, family, args)
            status = "failed" if result is None else f"{result['train_clips_s']:.1f} clips/s"
            print(f"# {setting} {family}: {status}", file=sys.stderr, flush=True)
            if result is not None:
                results.append(result)
    print(format_tables(results, args))


if __name__ == "__main__":
    main()
