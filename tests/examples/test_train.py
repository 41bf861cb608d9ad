"""`examples/train.py`: a real kill mid-epoch and a restart replay the batches exactly.

Under JAX and PyTorch the program runs where `import tensorflow` fails (see
`conftest.program`), on the Grain engine; under TensorFlow, on tf.data.
"""

import subprocess
import time

import keras
import numpy as np
import pytest

from keras_stw import training
from tests.examples.conftest import TINY_MODEL, run

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
