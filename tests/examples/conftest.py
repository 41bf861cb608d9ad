"""What the program tests share: a tiny synthetic dataset and a Python without TensorFlow."""

import importlib.util
import os
import subprocess
import sys

import keras
import pytest

from tests.missing_packages import REPO, environment_without

# Under TensorFlow, KerasCV's narrow ResNet-26; elsewhere TensorFlow is blocked, and
# Keras Applications' ResNet-50, which needs no TensorFlow, is the small backbone.
TINY_MODEL = (
    ["--model", "stw_resnet26", "--base-width", "8", "--backbone", "keras_cv"]
    if keras.backend.backend() == "tensorflow"
    else ["--model", "stw_resnet50", "--backbone", "keras"]
)


@pytest.fixture(scope="session")
def program(tmp_path_factory):
    """`(name, *args) -> (command, environment)` to run `examples/<name>` as a user would.

    Under JAX and PyTorch, `import tensorflow` fails in that process, as on a machine
    without TensorFlow: the programs must not need it. Under TensorFlow they run as is.
    """
    environment = dict(os.environ)
    if keras.backend.backend() != "tensorflow":
        environment = environment_without(["tensorflow"], tmp_path_factory.mktemp("programs"))

    def command(name, *args):
        return [sys.executable, str(REPO / "examples" / name), *map(str, args)], environment

    return command


def run(command_and_environment):
    """Runs a program to its end; fails the test with its output if it fails."""
    command, environment = command_and_environment
    result = subprocess.run(command, capture_output=True, text=True, env=environment)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def load_program(name):
    """The module of `examples/<name>.py`, to call its functions in this process."""
    spec = importlib.util.spec_from_file_location(name, REPO / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
