"""Several processes on one machine: two processes train as one process with two devices.

Each run is `data_parallel_worker.py` in fresh processes on the CPU: one process with
two CPU devices, or two processes with one each, joined through the loopback
interface. JAX: a coordinator; each of the two loads only its half of every global
batch. TensorFlow: two workers of `TF_CONFIG` under `MultiWorkerMirroredStrategy`,
against `MirroredStrategy` over two logical CPU devices.
"""

import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from tests.processes import finish, joined, succeed

REPO = pathlib.Path(__file__).resolve().parents[2]


def start(output, synthetic, devices, *flags, environment=None):
    """Starts one worker process on `devices` CPU devices, on this test's backend."""
    environment = {
        **os.environ,
        "KERAS_BACKEND": keras.backend.backend(),
        "JAX_PLATFORMS": "cpu",
        "JAX_NUM_CPU_DEVICES": str(devices),
        "PYTHONPATH": str(REPO),
        **(environment or {}),
    }
    command = [sys.executable, "-m", "tests.training.data_parallel_worker", str(output)]
    command += [synthetic.train_list, synthetic.directory, "--cpu-devices", str(devices)]
    command += map(str, flags)
    return subprocess.Popen(
        command, cwd=REPO, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def start_two(output, synthetic, *flags):
    """Starts the two processes of a run (JAX: a coordinator; TF: `TF_CONFIG` workers)."""
    return [
        start(output, synthetic, 1, *joined_flags, *flags, environment=environment)
        for joined_flags, environment in joined()
    ]


def weights(path):
    model = keras.saving.load_model(path)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 6
    return [keras.ops.convert_to_numpy(w) for w in model.weights]


def assert_same_weights(path, expected_path):
    for a, b in zip(weights(expected_path), weights(path), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


# The distribution of the one-process reference: two local devices.
ONE_PROCESS = {
    "jax": "DataParallel over 2 device(s), this is process 0",
    "tensorflow": "MirroredStrategy over 2 replica(s)",
}
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(keras.backend.backend() == "torch", reason="no torch distribution"),
]


@pytest.fixture(scope="module")
def one_process(synthetic, tmp_path_factory):
    """The reference: one process, two devices, the whole global batch."""
    output = tmp_path_factory.mktemp("one_process")
    (log,) = succeed(start(output, synthetic, 2))
    assert ONE_PROCESS[keras.backend.backend()] in log
    return output / "model.keras"


def test_two_processes_train_as_one_process_with_two_devices(one_process, synthetic, tmp_path):
    logs = succeed(*start_two(tmp_path, synthetic))
    for index, log in enumerate(logs):
        assert "in 2 processes" in log and f"this is process {index}" in log
    # Process 0 alone wrote: no temporary file of process 1 is left beside the model.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup", "model.keras"]
    assert_same_weights(tmp_path / "model.keras", one_process)


@pytest.mark.parametrize("restart", ["two processes", "one process with two devices"])
def test_a_killed_process_and_a_restart_resume_at_one_step(
    restart, one_process, synthetic, tmp_path
):
    processes = start_two(tmp_path, synthetic, "--exit-after-steps", 4)
    status, output = finish(processes[1])
    assert status == 3, output[-3000:]  # Died after its 4th step of 6.
    # Its peer waits for it in the next step: a host lost, the job is restarted.
    processes[0].kill()
    finish(processes[0])
    assert not (tmp_path / "model.keras").exists()

    # The global batch of a step is the same whatever the number of processes: the
    # run can come back as another number of processes.
    if restart == "two processes":
        logs = succeed(*start_two(tmp_path, synthetic))
    else:
        logs = succeed(start(tmp_path, synthetic, 2))
    resumed = [[line for line in log.splitlines() if line.startswith("Resuming")] for log in logs]
    assert all(lines == resumed[0] for lines in resumed) and len(resumed[0]) == 1, logs
    # The same steps on the same global batches: the weights of an uninterrupted run.
    assert_same_weights(tmp_path / "model.keras", one_process)
