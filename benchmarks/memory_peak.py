"""What a model's training step keeps in device memory at its peak, layer by layer (JAX).

Compiles one training step of each model as `speed.py` builds and compiles it, with XLA's
dumps on, and reads from XLA's buffer live ranges which buffers are live at the step's
peak. Each buffer is named by the layer whose operation made it (from the HLO's
`op_name`) and by its pass: `forward` (an activation kept for the backward pass) or
`backward`. The table sums them by kind of layer (`conv2_block3_1_conv` counts as
`1_conv`), one column per model, so two models' peaks compare row by row:

    KERAS_BACKEND=jax python benchmarks/memory_peak.py --models tsn stw --recompute off on

The peak here is XLA's plan for the step's buffers, weights and optimizer state included.
Beside it: what XLA's buffer assignment allocates for the step (the plan plus what
packing the buffers wastes), and the measured peak (`peak_bytes_in_use` after the step,
as `speed.py` reports it). `--detail out temporal` lists those kinds' buffers one by one,
with their shapes. JAX only: the live ranges are XLA's. A folded or recomputed pair
(`keras_stw.models.folding`) counts as its convolution (`1_conv`).
"""

import argparse
import glob
import json
import os
import re
import sys
import tempfile

# Beside this script, so on sys.path when it runs.
import speed

# `  %name = shape opcode(...), calls=%f, metadata={op_name="..."}`: an HLO instruction.
INSTRUCTION = re.compile(r"^\s+(?:ROOT )?%?([\w.\-]+) = (.+?) [\w\-]+\(")
CALLS = re.compile(r"calls=%?([\w.\-]+)")
OP_NAME = re.compile(r'op_name="([^"]*)"')
# `    name{index}: 123 bytes (cumulative: ...)`: a buffer live at the peak.
LIVE_BUFFER = re.compile(r"^\s+([\w.\-]+)\{[\d,]*\}: (\d+) bytes")
# `allocation 3: size 123, preallocated-temp:`: one allocation of XLA's buffer assignment.
ALLOCATION = re.compile(r"^allocation \d+: size (\d+),.*")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["tsn", "stw"])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-frames", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--precision", default="mixed_bfloat16")
    parser.add_argument("--backbone", default="keras")
    flags = ("kernels", "fold", "recompute", "fold-residuals")
    for flag, default in zip(flags, speed.DEFAULT_SETTINGS, strict=True):
        parser.add_argument(f"--{flag}", nargs="+", default=[default], help="as speed.py's")
    parser.add_argument("--rows", type=int, default=25, help="kinds of layer to list")
    parser.add_argument("--detail", nargs="+", help="kinds of layer to list buffer by buffer")
    parser.add_argument("--out", help="also write the markdown tables to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def layer_and_pass(op_name, layer_names):
    """`("conv2_block1_1_conv", "forward")` from an `op_name` such as
    `jit(train_step)/jvp(backbone)/conv2_block1_1_conv/convolution`: the outermost scope
    that is one of `layer_names` (else the innermost scope: `sgd` for the optimizer's
    update), and `backward` under a `transpose(...)`. An argument of the step (weights,
    optimizer state, the batch) has no scope."""
    *scopes, _ = op_name.split("/")
    if not scopes:
        return "arguments (weights, optimizer state, batch)", "-"
    names = [re.sub(r"^(\w+\()*|\)*$", "", scope) for scope in scopes]
    innermost = next((name for name in reversed(names) if name), op_name)
    layer = next((name for name in names if name in layer_names), innermost)
    return layer, "backward" if any("transpose(" in scope for scope in scopes) else "forward"


def model_layer_names(model):
    """The names of `model`'s layers, those of nested models included (not the models')."""
    names = set()
    for layer in model.layers:
        names |= model_layer_names(layer) if hasattr(layer, "layers") else {layer.name}
    return names


def layer_kind(layer):
    """A ResNet layer's name without its stage and block: `conv2_block3_1_conv` ->
    `1_conv`, `stage2_block1_temporal` -> `temporal`, so every block's adds up."""
    return re.sub(r"^.*?_block\d+_", "", layer)


def instruction_origins(hlo_lines):
    """Each HLO instruction's `(op_name, shape)`; a fusion without an `op_name` takes its
    computation's, and has `None` where that has none either."""
    computations, instructions, computation = {}, {}, None
    for line in hlo_lines:
        if line[:1] not in (" ", "\n") and line.rstrip().endswith("{"):
            computation = line.split()[1 if line.startswith("ENTRY") else 0].lstrip("%")
            continue
        match = INSTRUCTION.match(line)
        if not match:
            continue
        op_name, calls = OP_NAME.search(line), CALLS.search(line)
        if op_name and (computation not in computations or "ROOT" in line[:12]):
            computations[computation] = op_name.group(1)
        shape = re.sub(r"\{[^}]*\}", "", match.group(2))
        instructions[match.group(1)] = (
            op_name and op_name.group(1),
            calls and calls.group(1),
            shape,
        )
    return {
        name: (op_name or computations.get(calls), shape)
        for name, (op_name, calls, shape) in instructions.items()
    }


def training_step_dump(dump_dir):
    """The file-name stem of the training step's module in `dump_dir` (its largest)."""
    ranges = glob.glob(os.path.join(dump_dir, "*train*after_optimizations-live-range.txt"))
    if not ranges:
        raise SystemExit(f"XLA wrote no live ranges of a training step to {dump_dir}")
    return max(ranges, key=os.path.getsize).removesuffix("-live-range.txt")


def peak_buffers(stem, layer_names):
    """`(bytes, layer, pass, shape)` of every buffer live at the peak of the module whose
    dump files start with `stem` (see `layer_and_pass`)."""
    with open(f"{stem}.txt") as hlo:
        origins = instruction_origins(hlo)
    buffers, at_peak = [], False
    with open(f"{stem}-live-range.txt") as lines:
        for line in lines:
            at_peak = at_peak or "(peak):" in line
            match = LIVE_BUFFER.match(line) if at_peak else None
            if match:
                name, size = match.group(1), int(match.group(2))
                op_name, shape = origins.get(name, (None, name))
                unnamed = (shape, "no op_name")
                layer, pass_name = layer_and_pass(op_name, layer_names) if op_name else unnamed
                buffers.append((size, layer, pass_name, shape))
    return buffers


def allocated_bytes(stem):
    """What XLA's buffer assignment allocates for the module: its peak plus whatever
    packing the buffers into allocations wastes (thread-local scratch not counted)."""
    with open(f"{stem}-buffer-assignment.txt") as lines:
        return sum(
            int(match.group(1))
            for match in map(ALLOCATION.match, lines)
            if match and "thread-local" not in match.group(0)
        )


def worker(args):
    import jax
    import numpy as np

    args.backbone = [args.backbone]  # as speed.py's workers take it
    model = speed.compiled_model(args.worker, args)
    clips, labels = speed.random_clips(args, args.batch_size, np.random.default_rng(0))
    model.train_on_batch(clips, labels)
    stats = jax.devices()[0].memory_stats() or {}
    measured = stats.get("peak_bytes_in_use")
    stem = training_step_dump(os.environ["KERAS_STW_MEMORY_DUMP"])
    buffers = peak_buffers(stem, model_layer_names(model))
    print(
        json.dumps({"buffers": buffers, "allocated": allocated_bytes(stem), "measured": measured})
    )


def run_worker(args, name, settings, dump_dir):
    argv = [sys.executable, os.path.abspath(__file__), "--worker", name]
    argv += [
        "--batch-size", str(args.batch_size), "--num-frames", str(args.num_frames),
        "--image-size", str(args.image_size), "--precision", args.precision,
        "--backbone", args.backbone,
    ]  # fmt: skip
    dumps = {
        "KERAS_STW_MEMORY_DUMP": dump_dir,
        "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} --xla_dump_to={dump_dir} "
        "--xla_dump_hlo_module_re=.*train.*",
    }
    return speed.run_json_worker(argv, settings, dumps)


def gib(size):
    return f"{size / 2**30:.2f}"


def table(first_column, columns, rows):
    """A markdown table: `first_column` and one column per model of `columns`."""
    lines = [
        f"| {first_column} | " + " | ".join(columns) + " |",
        "|" + " --- |" * (len(columns) + 1),
    ]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows])


def totals_table(columns):
    """XLA's peak, its allocations and the measured peak of every model."""
    measures = (
        ("live at the peak, XLA's plan", lambda r: sum(b[0] for b in r["buffers"])),
        ("allocated by XLA's buffer assignment", lambda r: r["allocated"]),
        ("measured peak (`peak_bytes_in_use`)", lambda r: r["measured"]),
    )
    rows = [
        [f"{label} (GiB)", *(gib(value(r)) if value(r) else "-" for r in columns.values())]
        for label, value in measures
    ]
    return table("", columns, rows)


def kinds_table(columns, limit):
    """GiB live at the peak by kind of layer and pass, the `limit` largest kinds."""
    sums = {name: {} for name in columns}
    for name, result in columns.items():
        for size, layer, pass_name, _ in result["buffers"]:
            key = (layer_kind(layer), pass_name)
            sums[name][key] = sums[name].get(key, 0) + size
    keys = sorted(
        {key for by_kind in sums.values() for key in by_kind},
        key=lambda key: -max(by_kind.get(key, 0) for by_kind in sums.values()),
    )[:limit]
    rows = [
        [f"{kind}, {pass_name}", *(gib(sums[n].get((kind, pass_name), 0)) for n in columns)]
        for kind, pass_name in keys
    ]
    rest = [sum(v for k, v in sums[n].items() if k not in keys) for n in columns]
    return table("kind of layer, pass", columns, [*rows, ["everything else", *map(gib, rest)]])


def detail_table(columns, kinds):
    """Every buffer of `kinds` of 1 MiB or more live at the peak: MiB, shape, layer and
    pass, per model."""
    rows = []
    for name, result in columns.items():
        for size, layer, pass_name, shape in sorted(result["buffers"], reverse=True):
            if layer_kind(layer) in kinds and size >= 2**20:
                rows.append([name, f"{size / 2**20:.1f}", shape, layer, pass_name])
    return table("model", ["MiB", "shape", "layer", "pass"], rows)


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    columns = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.models:
            for settings in speed.temporal_settings(name, args):
                dump_dir = os.path.join(scratch, f"{name}_{'_'.join(settings)}")
                label = name if name == "tsn" else f"{name} ({'/'.join(settings)})"
                columns[label] = run_worker(args, name, settings, dump_dir)
                print(f"# {label}: done", file=sys.stderr, flush=True)
    tables = totals_table(columns) + "\n\nGiB live at the peak, by kind of layer:\n\n"
    tables += kinds_table(columns, args.rows)
    if args.detail:
        tables += f"\n\nThe buffers of {', '.join(args.detail)} live at the peak (from 1 MiB):\n\n"
        tables += detail_table(columns, args.detail)
    speed.report(tables, args.out)


if __name__ == "__main__":
    main()
