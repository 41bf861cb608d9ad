"""`examples/export.py` and `python -m keras_stw.export`: bad input first, in one line."""

import os
import subprocess
import sys

import keras
import pytest

from tests.examples.conftest import REPO

pytestmark = pytest.mark.slow


def bad_inputs(tmp_path, model):
    empty = tmp_path / "empty.keras"
    empty.write_bytes(b"")
    return {
        f"error: {empty}: not a .keras file": ["--model", empty],
        "error: `--version` must be a positive integer. Received: --version=0": [
            *("--model", model, "--version", "0")
        ],
        "error: `--top-k` must be a positive integer. Received: --top-k=-1": [
            *("--model", model, "--top-k", "-1")
        ],
    }


def test_the_export_program_refuses_bad_input_before_writing(saved_models, program, tmp_path):
    out = tmp_path / "out"
    for message, args in bad_inputs(tmp_path, saved_models[0]).items():
        command, environment = program("export.py", *args, "--out", out)
        result = subprocess.run(command, capture_output=True, text=True, env=environment)
        assert result.returncode == 1, result.stderr[-2000:]
        assert result.stderr.strip().splitlines()[-1].startswith(message), result.stderr[-500:]
        assert "Traceback" not in result.stderr and not out.exists()


@pytest.mark.tf_only
def test_the_exporter_refuses_bad_input_before_writing(saved_models, tmp_path):
    assert keras.backend.backend() == "tensorflow"
    out = tmp_path / "out"
    missing = tmp_path / "none.txt"
    cases = bad_inputs(tmp_path, saved_models[0])
    cases[f"error: {missing}: cannot open"] = [saved_models[0], "--class-names", missing]
    environment = dict(os.environ, PYTHONPATH=str(REPO))
    for message, args in cases.items():
        args = [a for a in args if a != "--model"]
        command = [sys.executable, "-m", "keras_stw.export", args[0], out, *args[1:]]
        result = subprocess.run(command, capture_output=True, text=True, env=environment)
        assert result.returncode == 1, result.stderr[-2000:]
        assert result.stderr.strip().splitlines()[-1].startswith(message), result.stderr[-500:]
        assert "Traceback" not in result.stderr and not out.exists()
