"""Processes in which installed packages cannot be imported, as on machines without them.

A test runs a fresh interpreter with a directory of stand-in packages first on
`PYTHONPATH`: importing one raises `ImportError`, as it does for a user who does not have
the package. The repository comes next, so `keras_stw` is this clone's.
"""

import os
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[1]


def environment_without(packages, directory, **variables):
    """The environment of a process in which importing any of `packages` fails.

    Args:
        packages: list of top-level package names, e.g. `["tensorflow"]`.
        directory: a directory; the stand-in packages go into a new folder in it.
        **variables: more environment variables for the process.

    Returns:
        A dict: `os.environ` with `variables`, and `PYTHONPATH` set.

    Example:
    ```python
    environment = environment_without(["tensorflow"], tmp_path, KERAS_BACKEND="jax")
    subprocess.run([sys.executable, "-c", "import tensorflow"], env=environment)
    # ImportError: tensorflow is not installed on this machine (test).
    ```
    """
    directory = pathlib.Path(directory) / f"without_{'_'.join(packages)}"
    directory.mkdir()
    for package in packages:
        stand_in = directory / package
        stand_in.mkdir()
        (stand_in / "__init__.py").write_text(
            f'raise ImportError("{package} is not installed on this machine (test).")\n'
        )
    path = os.pathsep.join([str(directory), str(REPO)])
    return {**os.environ, **variables, "PYTHONPATH": path}
