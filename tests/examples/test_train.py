"""`examples/train.py`: a real kill mid-epoch and a restart replay the batches exactly.

Under JAX and PyTorch the program runs where `import tensorflow` fails (see
`conftest.program`), on the Grain engine; under TensorFlow, on tf.data.
"""

import pathlib
import shutil
import subprocess
import time

import keras
import numpy as np
import pytest

from keras_stw import cli, training
from tests.examples.conftest import TINY_MODEL, load_program, run

pytestmark = pytest.mark.slow


def train_args(synthetic, output, *extra):
    return [
        *("--train-annotations", synthetic.train_list, "--val-annotations", synthetic.val_list),
        *("--labels", synthetic.label_map, "--root", synthetic.directory, "--flip"),
        *("--num-frames", "4", "--image-size", "32", "--short-side", "32", *TINY_MODEL),
        *("--weights", "none", "--batch-size", "2", "--epochs", "2", "--steps-per-epoch", "4"),
        *("--save-freq", "2", "--verbose", "2", "--workers", "0", "--output-dir", output),
        *extra,
    ]


def test_a_killed_run_resumes_with_exactly_the_batches_it_would_have_seen(
    synthetic, program, tmp_path
):
    reference = tmp_path / "reference"
    run(program("train.py", *train_args(synthetic, reference)))

    output = tmp_path / "run"
    command, environment = program("train.py", *train_args(synthetic, output))
    checkpoint = training.TrainingCheckpoint(str(output / "backup"), steps_per_epoch=4)
    process = subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    while checkpoint.saved_position() is None and process.poll() is None:
        time.sleep(0.05)
    process.kill()
    first_output = process.communicate()[0].decode()
    saved = checkpoint.saved_position()
    assert saved is not None, first_output
    assert saved != (2, 0), "the run ended before the kill"
    assert not (output / "model.keras").exists()

    result = run((command, environment))
    assert f"Resuming from {output}/backup/backup.keras: epoch {saved[0] + 1}, step " in (
        result.stdout
    )
    assert checkpoint.saved_position() == (2, 0)
    model = keras.saving.load_model(output / "model.keras")
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 8
    # Same batches, same order, same crops and flips: the same weights, bit for bit.
    expected = keras.saving.load_model(reference / "model.keras")
    for a, b in zip(expected.weights, model.weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    log = (output / "log.csv").read_text().splitlines()
    assert log[0].split(",")[0] == "epoch" and "clips_per_second" in log[0]
    assert sorted({line.split(",")[0] for line in log[1:]}) == ["0", "1"]
    assert (output / "checkpoints" / "epoch_002.keras").exists()
    assert (output / "label_map.txt").read_text().split("\n")[:4] == synthetic.class_names


def test_a_run_with_other_settings_is_refused_not_resumed(synthetic, program, tmp_path):
    """Other model flags over a finished run must not silently give the old model."""
    output = tmp_path / "run"
    run(program("train.py", *train_args(synthetic, output, "--epochs", "1")))
    before = (output / "model.keras").stat().st_mtime_ns
    command, environment = program(
        "train.py", *train_args(synthetic, output, "--num-frames", "8", "--epochs", "1")
    )
    result = subprocess.run(command, capture_output=True, text=True, env=environment)
    assert result.returncode == 1
    assert "num_frames=4" in result.stderr and "num_frames=8" in result.stderr
    assert (output / "model.keras").stat().st_mtime_ns == before
    saved = training.TrainingCheckpoint(str(output / "backup"), steps_per_epoch=4)
    assert saved.saved_state()["config"]["num_frames"] == 4


def test_a_bad_video_ends_the_run_with_one_line_naming_file_and_line(synthetic, program, tmp_path):
    train_list = tmp_path / "train.txt"
    lines = open(synthetic.train_list).read().splitlines()
    train_list.write_text("\n".join([lines[0], "videos/missing.mp4 8 1", *lines[1:]]) + "\n")
    args = train_args(synthetic, tmp_path / "run", "--train-annotations", train_list)
    command, environment = program("train.py", *args)
    result = subprocess.run(command, capture_output=True, text=True, env=environment)
    # Status 1, not 134: the process is not aborted on its way out (SIGABRT).
    assert result.returncode == 1, result.stderr[-2000:]
    assert "terminate called" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "missing.mp4: no such video file" in last
    assert "train.txt:2" in last
    if keras.backend.backend() != "tensorflow":  # TensorFlow logs the error on its own.
        assert "Traceback" not in result.stderr


# A value no run can mean, for every numeric flag.
BAD_VALUES = {
    "--epochs": ["0"],
    "--batch-size": ["0"],
    "--steps-per-epoch": ["0"],
    "--validation-steps": ["-1"],
    "--save-freq": ["0"],
    "--num-frames": ["0"],
    "--image-size": ["0"],
    "--base-width": ["-8"],
    "--stages": ["2", "6"],
    "--ratios": ["4", "0", "4"],
    "--shift-div": ["1"],
    "--milestones": ["30", "0"],
    "--learning-rate": ["nan"],
    "--momentum": ["1"],
    "--weight-decay": ["-0.0001"],
    "--clipnorm": ["0"],
    "--dropout": ["1"],
    "--seed": ["-1"],
    "--verbose": ["3"],
    "--split": ["0"],
    "--short-side": ["0"],
    "--frame-interval": ["0"],
    "--workers": ["-1"],
    "--num-processes": ["0"],
    "--process-id": ["-1"],
}


def test_every_numeric_flag_is_checked():
    numeric = {
        action.option_strings[0]
        for action in load_program("train").make_parser()._actions
        if action.type in (int, float)
    }
    assert numeric == set(BAD_VALUES)


@pytest.mark.parametrize("flag", BAD_VALUES)
def test_a_value_no_run_can_mean_is_refused_by_flag_name(flag, tmp_path, capsys):
    train = load_program("train")
    output = tmp_path / "run"
    argv = [flag, *BAD_VALUES[flag], "--output-dir", str(output)]
    assert cli.run_program(train.main, argv) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"error: `{flag}` must be a number in ") and error.count("\n") == 1
    assert f"Received: {flag}=" in error
    assert not output.exists()


def test_launch_flags_that_contradict_each_other_are_refused(tmp_path, capsys):
    train = load_program("train")
    output = tmp_path / "run"
    launch = ["--coordinator-address", "127.0.0.1:1234", "--num-processes", "2"]
    argv = [*launch, "--process-id", "2", "--output-dir", str(output)]
    assert cli.run_program(train.main, argv) == 1
    error = capsys.readouterr().err
    expected = {
        "jax": "error: `process_id` must be below `num_processes` (2), from 0 to 1. Received: "
        "process_id=2",
        "tensorflow": "error: The coordinator address, process count and process id are for a "
        "multi-host run (multi_host=True) under the JAX backend",
    }
    assert error.startswith(expected.get(keras.backend.backend(), expected["tensorflow"]))
    assert error.count("\n") == 1
    assert not output.exists()


@pytest.mark.parametrize(
    "flag, value",
    [("--epochs", "0"), ("--steps-per-epoch", "0"), ("--learning-rate", "-0.01")],
)
def test_the_program_refuses_a_value_with_one_line(synthetic, program, tmp_path, flag, value):
    """The values that once trained (an untrained model, a silent full pass, ascent)."""
    output = tmp_path / "run"
    command, environment = program("train.py", *train_args(synthetic, output, flag, value))
    result = subprocess.run(command, capture_output=True, text=True, env=environment)
    assert result.returncode == 1, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: `{flag}` must be")
    assert "Traceback" not in result.stderr
    assert not output.exists()


@pytest.mark.parametrize(
    "damage, what",
    [
        (lambda path, model: path.write_bytes(b""), "not a .keras file"),
        (lambda path, model: path.write_bytes(pathlib.Path(model).read_bytes()[:5000]), "not a"),
        (lambda path, model: shutil.copy(model, path), "a .keras file but no run backup"),
    ],
    ids=["empty", "truncated", "a model"],
)
def test_a_damaged_backup_ends_the_run_with_one_line_naming_it(
    synthetic, saved_models, program, tmp_path, damage, what
):
    output = tmp_path / "run"
    backup = output / "backup" / "backup.keras"
    backup.parent.mkdir(parents=True)
    damage(backup, saved_models[0])
    damaged = backup.read_bytes()
    command, environment = program("train.py", *train_args(synthetic, output))
    result = subprocess.run(command, capture_output=True, text=True, env=environment)
    assert result.returncode == 1, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {backup} is {what}") and "Delete it" in last, last
    assert "Traceback" not in result.stderr
    # Neither trained from the start nor a result: the backup as it was, no model.
    assert backup.read_bytes() == damaged
    assert not (output / "model.keras").exists() and not (output / "log.csv").exists()
