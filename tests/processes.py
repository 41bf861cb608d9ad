"""What the multi-process tests share: a loopback coordinator and processes that must end."""

import socket
import subprocess

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
