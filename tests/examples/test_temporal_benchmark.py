"""`examples/temporal_benchmark.py` at a tiny size: shards, combining, table, JSON, chart."""

import json

import pytest

from tests.examples.conftest import load_program

pytestmark = pytest.mark.slow


def test_temporal_benchmark_tiny_in_two_shards(tmp_path):
    program = load_program("temporal_benchmark")
    tiny = [
        *("--size", "16", "--num-classes", "4", "--videos-per-class", "2"),
        *("--epochs", "1", "--warmup-epochs", "0", "--base-width", "4", "--batch-size", "4"),
        *("--backbone", "keras_cv", "--models", "TSN", "STW", "--seeds", "3"),
    ]
    shards = [tmp_path / "shard0", tmp_path / "shard1"]
    for k, output in enumerate(shards):
        rows = program.main([*tiny, "--output-dir", str(output), "--shard", f"{k}/2"])
        assert [(r["model"], r["seeds"]) for r in rows] == [(["TSN", "STW"][k], [3])]
    rows = program.main(["--combine", *map(str, shards), "--output-dir", str(tmp_path)])

    assert [r["model"] for r in rows] == ["TSN", "STW"]
    saved = json.loads((tmp_path / "results.json").read_text())
    assert [(r["model"], r["seed"]) for r in saved["runs"]] == [("TSN", 3), ("STW", 3)]
    assert saved["config"]["train_videos"] == 4 and saved["config"]["val_videos"] == 4
    assert len(saved["config"]["commands"]) == 2
    for row in rows:
        assert 0 <= row["top1"] <= row["pair_accuracy"] <= 1 and row["params"] > 0
        assert row["top1_per_seed"] == [row["top1"]] and row["top1_std"] == 0
    assert rows[0]["gflops"] < rows[1]["gflops"] and rows[0]["params"] < rows[1]["params"]
    table = (tmp_path / "results.md").read_text()
    assert "| TSN |" in table and "| STW |" in table
    assert ("- STW > TSN" in table) != ("- TSN > STW" in table)
    assert (tmp_path / "results.png").stat().st_size > 1000


def test_summary_and_orderings():
    program = load_program("temporal_benchmark")
    runs = [
        {
            "model": model,
            "seed": seed,
            "top1": top1,
            "order_accuracy": 0.5,
            "tempo_accuracy": 0.5,
            "pair_accuracy": 1.0,
            "gflops": 1.0,
            "params": 1,
            "train_seconds": 1.0,
        }
        for model, values in (("STW", (0.75, 0.95)), ("TSM", (0.7, 0.72)), ("TSN", (0.3, 0.32)))
        for seed, top1 in enumerate(values)
    ]
    rows = program.summarize(runs)
    assert [r["model"] for r in rows] == ["TSN", "TSM", "STW"]
    assert rows[2]["top1"] == pytest.approx(0.85)
    assert rows[2]["top1_std"] == pytest.approx(0.1414214)
    lines = program.orderings(rows)
    assert lines[0].startswith("- TSM > TSN: +40.0 points, separated; Table 6 agrees")
    assert lines[2].startswith("- STW > TSM: +14.0 points, not separated; Table 6 agrees")


def test_warmup_must_leave_epochs_to_decay():
    program = load_program("temporal_benchmark")
    with pytest.raises(ValueError, match="warmup_epochs=2, epochs=2"):
        program.make_config(program.parse_args(["--epochs", "2", "--warmup-epochs", "2"]))


@pytest.mark.parametrize("shard, sizes", [("0/2", 2), ("1/2", 3), ("2/3", 2)])
def test_shards_cover_the_runs(shard, sizes):
    program = load_program("temporal_benchmark")
    runs = list(range(5))
    assert len(program.shard_runs(runs, shard)) == sizes
    count = int(shard.split("/")[1])
    joined = sum((program.shard_runs(runs, f"{k}/{count}") for k in range(count)), [])
    assert joined == runs
