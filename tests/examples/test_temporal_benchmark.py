"""`examples/temporal_benchmark.py` at a tiny size: the table, the JSON and the chart."""

import importlib.util
import json

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def load_program(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_temporal_benchmark_tiny(tmp_path):
    output = tmp_path / "bench"
    rows = load_program("temporal_benchmark").main(
        [
            *("--output-dir", str(output), "--size", "16", "--num-classes", "4"),
            *("--videos-per-class", "3", "--epochs", "1", "--base-width", "4"),
            *("--batch-size", "4", "--backbone", "keras_cv", "--models", "TSN", "STW"),
        ]
    )
    names = ["TSN", "STW"]
    assert [r["model"] for r in rows] == names
    saved = json.loads((output / "results.json").read_text())
    assert [r["model"] for r in saved["results"]] == names
    assert saved["config"]["train_videos"] == 8 and saved["config"]["val_videos"] == 4
    for row in rows:
        assert 0 <= row["top1"] <= row["pair_accuracy"] <= 1 and row["params"] > 0
    assert rows[0]["gflops"] < rows[1]["gflops"] and rows[0]["params"] < rows[1]["params"]
    table = (output / "results.md").read_text()
    assert all(f"| {name} |" in table for name in names)
    assert (output / "results.png").stat().st_size > 1000
