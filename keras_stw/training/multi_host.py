"""`start_multi_host`: join the processes of a multi-host JAX run, or say why not.

JAX's `jax.distributed.initialize()` reads only the coordinator's address from the
environment (`JAX_COORDINATOR_ADDRESS`); the process count and id must be passed to
it, unless it detects a cluster that tells them (SLURM, Open MPI, Kubernetes, Cloud
TPU). This module reads all three, from the arguments or from `JAX_COORDINATOR_ADDRESS`,
`JAX_NUM_PROCESSES` and `JAX_PROCESS_ID`, checks them against each other, and hands
them to `keras.distribution.initialize`; with none of them set, it lets JAX detect the
cluster.
"""

import dataclasses
import os
from collections.abc import Sequence

import keras

from keras_stw.data.batches import contiguous_part

# Where each setting is read from when its argument is not given.
ENVIRONMENT = {
    "coordinator_address": "JAX_COORDINATOR_ADDRESS",
    "num_processes": "JAX_NUM_PROCESSES",
    "process_id": "JAX_PROCESS_ID",
}
CLUSTERS = "SLURM, Open MPI, Kubernetes or Cloud TPU"


@dataclasses.dataclass(frozen=True)
class Processes:
    """The processes of a run, as JAX sees them after `start_multi_host`.

    Args:
        process_index: int. This process, `0` to `process_count - 1`; `0` writes files.
        process_count: int. Processes in the run.

    Example:
    >>> processes = start_multi_host("10.0.0.1:1234", num_processes=2, process_id=1)
    >>> processes.process_index, processes.process_count
    (1, 2)
    """

    process_index: int
    process_count: int

    def part(self, items: Sequence) -> Sequence:
        """This process's contiguous part of `items`, split as evenly as can be
        (`keras_stw.data.batches.contiguous_part`): the parts of the processes in order
        are `items` again.

        Args:
            items: a sequence, the same on every process.

        Returns:
            The slice of `items` this process handles.

        Example:
        >>> Processes(process_index=1, process_count=2).part([0, 1, 2, 3, 4])
        [2, 3, 4]
        """
        return contiguous_part(items, self.process_index, self.process_count)


def start_multi_host(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> Processes:
    """Joins this process to a multi-host JAX run; call it first, on every host.

    Each setting comes from its argument or, when that is `None`, from the
    environment (`JAX_COORDINATOR_ADDRESS`, `JAX_NUM_PROCESSES`, `JAX_PROCESS_ID`).
    Given the address, the count and the id are needed too (from a cluster JAX
    detects, if not set). With none set, JAX detects the cluster the process runs
    in (SLURM, Open MPI, Kubernetes, Cloud TPU) and learns all three from it.

    Args:
        coordinator_address: str. `host:port` of process 0, which every process can
            reach. Defaults to `None`: `JAX_COORDINATOR_ADDRESS` or the cluster's.
        num_processes: int. Processes in the run. Defaults to `None`:
            `JAX_NUM_PROCESSES` or the cluster's.
        process_id: int. This process, `0` to `num_processes - 1`. Defaults to
            `None`: `JAX_PROCESS_ID` or the cluster's.

    Returns:
        `Processes`: this process's index and the process count.

    Raises:
        ValueError: a setting is malformed or inconsistent (an id not below the
            count, an address without a port), or JAX found neither settings nor
            a cluster to complete them. The message names the
            setting and the argument or environment variable it came from.

    Example:
    >>> # On host 0 (host 1 passes process_id=1), before anything else runs on JAX:
    >>> start_multi_host("10.0.0.1:1234", num_processes=2, process_id=0)
    Processes(process_index=0, process_count=2)
    """
    if keras.backend.backend() != "jax":
        raise ValueError(
            "Multi-host settings (coordinator address, process count and id) are for the "
            "JAX backend; TensorFlow's workers read `TF_CONFIG`. Received: "
            f"backend={keras.backend.backend()!r}"
        )
    settings = resolve_settings(coordinator_address, num_processes, process_id)
    try:
        keras.distribution.initialize(
            settings["coordinator_address"], settings["num_processes"], settings["process_id"]
        )
    except ValueError as error:  # JAX's own: it found no cluster to complete the settings.
        raise ValueError(
            f"Multi-host JAX cannot start: {str(error).strip()} Set the coordinator address, "
            f"the process count and this process's id ({', '.join(ENVIRONMENT.values())}, "
            f"or the program's flags) on every process, or run under a cluster JAX detects "
            f"({CLUSTERS}). Received: "
            + ", ".join(f"{name}={value!r}" for name, value in settings.items())
        ) from error
    import jax

    return Processes(jax.process_index(), jax.process_count())


def resolve_settings(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> dict:
    """The three settings, from the arguments or the environment, checked.

    Args:
        coordinator_address: str or `None`: `JAX_COORDINATOR_ADDRESS`.
        num_processes: int or `None`: `JAX_NUM_PROCESSES`.
        process_id: int or `None`: `JAX_PROCESS_ID`.

    Returns:
        A dict of the three names to their values, `None` where neither the argument
        nor the environment sets one (for the cluster to fill in).

    Raises:
        ValueError: a value is malformed or the values contradict each other.

    Example:
    >>> resolve_settings("10.0.0.1:1234", 2, 1)
    {'coordinator_address': '10.0.0.1:1234', 'num_processes': 2, 'process_id': 1}
    """
    received = {
        "coordinator_address": coordinator_address,
        "num_processes": num_processes,
        "process_id": process_id,
    }
    settings, sources = {}, {}
    for name, value in received.items():
        variable = ENVIRONMENT[name]
        sources[name] = f"{name}={value!r}"
        if value is None and os.environ.get(variable, "").strip():
            value = os.environ[variable].strip()
            sources[name] = f"{variable}={value!r}"
            if name != "coordinator_address":
                value = int(value) if value.isdigit() else value
        settings[name] = value
    count, index = settings["num_processes"], settings["process_id"]
    for name, minimum in (("num_processes", 1), ("process_id", 0)):
        value = settings[name]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"`{name}` must be an integer. Received: {sources[name]}")
        if value is not None and value < minimum:
            raise ValueError(
                f"`{name}` must be an integer of at least {minimum}. Received: {sources[name]}"
            )
    if count is not None and index is not None and index >= count:
        raise ValueError(
            f"`process_id` must be below `num_processes` ({count}), from 0 to {count - 1}. "
            f"Received: {sources['process_id']} with {sources['num_processes']}"
        )
    address = settings["coordinator_address"]
    if address is not None:
        host, _, port = str(address).rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(
                "`coordinator_address` must be `host:port`, the address of process 0 that "
                f"every process can reach, e.g. '10.0.0.1:1234'. Received: "
                f"{sources['coordinator_address']}"
            )
    return settings
