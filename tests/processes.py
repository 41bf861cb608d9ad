"""What the multi-process tests share: a loopback coordinator and processes that must end."""

import json
import socket
import subprocess

import keras
import pytest

# A run that hangs (a process waiting for a dead peer) fails the test, not the suite.
LIMIT_SECONDS = 300


def loopback_address() -> str:
    """`127.0.0.1:PORT` with a port free now, for a coordinator (or a worker) to listen on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


def launch_flags(address, index, count=2):
    """The launch flags of process `index` of `count` joined through `address`."""
    return ["--coordinator-address", address, "--num-processes", count, "--process-id", index]


def worker_environments(count=2):
    """The `TF_CONFIG` of each of `count` TensorFlow workers on loopback ports."""
    cluster = {"worker": [loopback_address() for _ in range(count)]}
    return [
        {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})}
        for i in range(count)
    ]


def joined(count=2):
    """`(flags, environment)` of each of `count` processes of one run, on this backend.

    JAX: the launch flags, with a coordinator on a loopback port. TensorFlow:
    `--multi-host`, with the `TF_CONFIG` of each worker.
    """
    if keras.backend.backend() == "tensorflow":
        return [(["--multi-host"], environment) for environment in worker_environments(count)]
    address = loopback_address()
    return [(launch_flags(address, index, count), {}) for index in range(count)]


def finish(process):
    """Waits for a process; returns its exit status and output."""
    try:
        output = process.communicate(timeout=LIMIT_SECONDS)[0].decode()
    except subprocess.TimeoutExpired:
        process.kill()
        output = process.communicate()[0].decode()
        pytest.fail(f"a process ran for over {LIMIT_SECONDS} s:\n{output[-3000:]}")
    return process.returncode, output


def succeed(*processes):
    """Waits for every process; fails the test with the output of one that failed."""
    outputs = []
    for process in processes:
        status, output = finish(process)
        assert status == 0, output[-3000:]
        outputs.append(output)
    return outputs
