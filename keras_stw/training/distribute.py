"""Data-parallel training on the backend's own engine: Keras distribution or tf.distribute.

JAX: `keras.distribution.DataParallel` over all local devices; with several hosts,
call `data_parallel(multi_host=True, ...)` first on every host, with the coordinator's
address, the process count and this process's id (or `JAX_COORDINATOR_ADDRESS`,
`JAX_NUM_PROCESSES`, `JAX_PROCESS_ID`, or a cluster JAX detects such as SLURM; see
`start_multi_host`). The device list then spans every host, ordered by process, and
each process feeds only its own slice of every global batch: process `p` of `P`
holds rows `p * B / P` to `(p + 1) * B / P` of a global batch of `B` (pass
`shard_index=process_index, shard_count=process_count` to `video_dataset`), which
Keras assembles into the global batch (`jax.make_array_from_process_local_data`).

TensorFlow: `tf.distribute.MirroredStrategy` over the local GPUs (else the CPU's
logical devices), or `MultiWorkerMirroredStrategy` with `multi_host=True` (configured
by the `TF_CONFIG` environment variable on every worker; two calls of Keras's `fit`
that fail under it are replaced, see `tf_multi_worker`). Each worker makes its slice of
every global batch, as on JAX, and `DataParallel.feed` hands it to the worker's replicas.
Build, compile and restore the model inside the returned scope.

In both cases the batch size given to the data pipeline is the global batch, split
across devices. On JAX with a single device (and one host) no distribution is set: a
one-device `DataParallel` mesh gives the model's variables single-device shardings
that the compiled train step's outputs then commit, so Keras compiled the step again
at its second call and after every epoch's metric reset (14 s each for STW-ResNet-50
on an H200); without a distribution it compiles once.
"""

import contextlib
import dataclasses
import json
import os

import keras
import numpy as np

from keras_stw.training.multi_host import start_multi_host


@dataclasses.dataclass
class DataParallel:
    """What `data_parallel` set up.

    Args:
        num_replicas: int. Devices the batch is split over (all hosts).
        description: str. A line for the log.
        process_index: int. This process; process `0` writes the run's files.
            Defaults to `0`.
        process_count: int. Processes of the run. Defaults to `1`.
        strategy: the `tf.distribute` strategy to build the model in and `feed`
            prepares the data for; `None` on JAX.
    """

    num_replicas: int
    description: str
    process_index: int = 0
    process_count: int = 1
    strategy: object = None

    @property
    def scope(self) -> contextlib.AbstractContextManager:
        """The context to build, compile and restore the model in: the strategy's scope,
        or nothing to enter on JAX.

        Example:
        >>> with parallel.scope:
        ...     model = keras_stw.STWResNet50(num_frames=8)
        """
        return contextlib.nullcontext() if self.strategy is None else self.strategy.scope()

    def feed(self, dataset, batch_size: int):
        """`dataset`, this process's slice of every global batch, as `fit` takes it.

        On JAX `dataset` itself: Keras splits it. Among TensorFlow's workers,
        `tf.distribute` would take each worker's dataset for whole global batches and
        split them again, so the slices go to the worker's replicas through
        `distribute_datasets_from_function`, cut into replica batches where a worker has
        several devices. Under any `tf.distribute` strategy the dataset repeats (so give
        `fit` its `steps_per_epoch` and `validation_steps`): before each validation pass
        Keras takes one batch of the validation iterator it keeps from the last pass, and
        a dataset read to its end there stops `fit` with `StopIteration`.

        Args:
            dataset: this process's batches (`video_dataset(..., **parallel.shard)`).
            batch_size: int. The global batch size.

        Example:
        >>> model.fit(parallel.feed(video_dataset(train, spec, batch_size=64,
        ...     **parallel.shard), 64))
        """
        if self.strategy is None:
            return dataset
        dataset = dataset.repeat()
        if self.process_count == 1:
            return dataset
        return distribute_slices(self.strategy, dataset, batch_size // self.num_replicas)

    @property
    def shard(self) -> dict:
        """`video_dataset`'s arguments that make this process's slice of each global batch.

        Empty in one process.

        Example:
        >>> parallel = data_parallel(multi_host=True)  # process 1 of 2, JAX
        >>> parallel.shard
        {'shard_index': 1, 'shard_count': 2}
        """
        if self.process_count == 1:
            return {}
        return {"shard_index": self.process_index, "shard_count": self.process_count}


def data_parallel(
    multi_host: bool = False,
    *,
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> DataParallel:
    """Sets up data-parallel training over all local (or all hosts') devices.

    Args:
        multi_host: bool. Initialize the multi-host runtime first
            (`start_multi_host` on JAX, `MultiWorkerMirroredStrategy` on
            TensorFlow). Defaults to `False`.
        coordinator_address: str. JAX only: `host:port` of process 0. Defaults to
            `None`: `JAX_COORDINATOR_ADDRESS` or the cluster's.
        num_processes: int. JAX only: processes in the run. Defaults to `None`:
            `JAX_NUM_PROCESSES` or the cluster's.
        process_id: int. JAX only: this process. Defaults to `None`:
            `JAX_PROCESS_ID` or the cluster's.

    Returns:
        A `DataParallel` with the scope to build the model in.

    Raises:
        ValueError: on the torch backend, which has no engine-level data parallelism
            through Keras (use `torchrun` with your own DDP wrapper instead); bad
            multi-host settings (see `start_multi_host`).

    Example:
    >>> parallel = data_parallel()
    >>> with parallel.scope:
    ...     model = keras_stw.STWResNet50(num_frames=8)
    ...     model.compile(...)
    """
    backend = keras.backend.backend()
    launch = {
        "coordinator_address": coordinator_address,
        "num_processes": num_processes,
        "process_id": process_id,
    }
    given = {name: value for name, value in launch.items() if value is not None}
    if given and not (multi_host and backend == "jax"):
        raise ValueError(
            "The coordinator address, process count and process id are for a multi-host "
            "run (multi_host=True) under the JAX backend; TensorFlow's workers read "
            "`TF_CONFIG`, and PyTorch has no Keras distribution. Received: "
            f"multi_host={multi_host}, backend={backend!r}, "
            + ", ".join(f"{name}={value!r}" for name, value in given.items())
        )
    if backend == "jax":
        if multi_host:
            start_multi_host(**launch)
        import jax

        # Ordered by process, so that process `p` holds rows `p * B / P` to
        # `(p + 1) * B / P` of each global batch: the slice its dataset makes.
        devices = sorted(jax.devices(), key=lambda d: (d.process_index, d.id))
        names = [f"{d.platform}:{d.id}" for d in devices]
        processes = f" in {jax.process_count()} processes" if multi_host else ""
        if len(devices) == 1:
            return DataParallel(1, f"one device, no distribution needed: {names}")
        # Each process feeds its own slice of every batch: Keras must not shard it again.
        keras.distribution.set_distribution(
            keras.distribution.DataParallel(devices=names, auto_shard_dataset=False)
        )
        return DataParallel(
            len(devices),
            f"keras.distribution.DataParallel over {len(devices)} device(s){processes}, "
            f"this is process {jax.process_index()}: {names}",
            jax.process_index(),
            jax.process_count(),
        )
    if backend == "tensorflow":
        import tensorflow as tf

        workers, name = 1, "MirroredStrategy"
        if multi_host:
            from keras_stw.training import tf_multi_worker

            strategy = tf.distribute.MultiWorkerMirroredStrategy()
            tf_multi_worker.install()  # Keras's `fit` fails without it.
            # The chief and the workers of `TF_CONFIG`; without it, this process alone.
            cluster = strategy.cluster_resolver.cluster_spec()
            jobs = [job for job in ("chief", "worker") if job in cluster.jobs]
            workers = max(1, sum(cluster.num_tasks(job) for job in jobs))
            name = f"MultiWorkerMirroredStrategy in {workers} processes"
        else:
            # The GPUs, else the CPU's logical devices (one unless configured otherwise).
            gpus = tf.config.list_logical_devices("GPU")
            devices = gpus or tf.config.list_logical_devices("CPU")
            strategy = tf.distribute.MirroredStrategy([d.name for d in devices])
        # Each worker makes its slice of every global batch and feeds it to its own
        # replicas (`DataParallel.feed`); in one process tf.distribute splits the batch.
        return DataParallel(
            strategy.num_replicas_in_sync,
            f"{name} over {strategy.num_replicas_in_sync} replica(s), "
            f"this is process {process_index()}",
            process_index(),
            workers,
            strategy=strategy,
        )
    raise ValueError(
        "Data-parallel training needs backend 'jax' or 'tensorflow': Keras has no "
        "distribution for PyTorch, and this package does not run one silently on a single "
        f"device. Received: backend={backend!r}"
    )


def distribute_slices(strategy, dataset, replica_batch_size: int):
    """A `tf.distribute` dataset whose replicas take, in turn, `replica_batch_size` clips
    of each of `dataset`'s batches: the first clips to the worker's first replica.

    Args:
        strategy: a `tf.distribute.Strategy`.
        dataset: `tf.data.Dataset` of this worker's batches.
        replica_batch_size: int. Clips each replica takes from a batch.

    Returns:
        A distributed dataset for `fit`, `distribute_datasets_from_function`'s.

    Example:
    >>> strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    >>> batches = tf.data.Dataset.range(8).batch(4)
    >>> [strategy.experimental_local_results(b) for b in distribute_slices(strategy, batches, 2)]
    [(<tf.Tensor: [0, 1]>, <tf.Tensor: [2, 3]>), (<tf.Tensor: [4, 5]>, <tf.Tensor: [6, 7]>)]
    """
    local_replicas = strategy.extended.worker_devices
    if len(local_replicas) > 1:
        dataset = dataset.rebatch(replica_batch_size)
    return strategy.distribute_datasets_from_function(lambda context: dataset)


def process_index() -> int:
    """This process's index in a multi-process run; `0` alone writes the run's files.

    JAX: `jax.process_index()`. TensorFlow: the worker's place in `TF_CONFIG` (the
    chief, or worker 0 where there is no chief, is `0`). Otherwise `0`.

    Returns:
        int.

    Example:
    >>> if process_index() == 0:
    ...     training.save_model(model, "runs/x/model.keras")
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.process_index()
    if backend == "tensorflow" and os.environ.get("TF_CONFIG"):
        config = json.loads(os.environ["TF_CONFIG"])
        task = config.get("task", {})
        if task.get("type") == "chief":
            return 0
        has_chief = "chief" in config.get("cluster", {})
        return int(task.get("index", 0)) + (1 if has_chief else 0)
    return 0


def check_same_on_every_process(
    name: str,
    value: int,
    remedy: str = "A multi-host run resumes from one backup, which every host must read "
    "(a shared --output-dir).",
) -> int:
    """Returns `value` if every process of the run has the same; raises otherwise.

    A no-op in a single-process run. In a multi-process run (JAX; TensorFlow inside the
    scope of `data_parallel(multi_host=True)`) the processes exchange their values
    (`gather_rows`): processes that resume from different steps (a backup folder that not
    every host shares, say) would train on different batches and hang or diverge; they
    stop at once instead, all of them.

    Args:
        name: str. What the value is, for the message.
        value: int. This process's value.
        remedy: str. What makes the values agree, for the message. Defaults to
            the advice for a resumed run: a shared output folder.

    Returns:
        `value`.

    Raises:
        ValueError: the processes' values differ; the message lists them.

    Example:
    >>> check_same_on_every_process("resumed step", 120)
    120
    """
    values = gather_rows(np.array([value], np.int64)).tolist()
    if len(set(values)) > 1:
        raise ValueError(
            f"The processes of the run disagree on the {name}: process i has item i of "
            f"{values}. {remedy} Received: {name}={value} on process {process_index()}"
        )
    return value


def gather_rows(rows: np.ndarray) -> np.ndarray:
    """Every process's rows, in process order, on every process; `rows` alone in one.

    Each process calls it with its own rows, any number of them (the same trailing
    shape and dtype on all), so that no file needs to pass between the hosts. A
    multi-process JAX run pads them to the longest part, gathers the parts
    (`jax.experimental.multihost_utils.process_allgather`) and drops the padding.
    On TensorFlow, inside the scope of `data_parallel(multi_host=True)`, the
    workers' `MultiWorkerMirroredStrategy` gathers them (`strategy.gather`, which
    takes parts of unequal length).

    Args:
        rows: array `(n, ...)`. This process's rows.

    Returns:
        array `(n_0 + n_1 + ..., ...)`: process 0's rows, then process 1's, and so on.

    Example:
    >>> # Process 0 holds 3 rows, process 1 holds 2: both get the 5.
    >>> gather_rows(scores_of_my_videos).shape
    (5, 400)
    """
    rows = np.asarray(rows)
    if keras.backend.backend() == "tensorflow":
        return _gather_workers_rows(rows)
    if _process_count() == 1:
        return rows
    counts = _allgather(np.int64(len(rows))).ravel().tolist()
    padded = np.zeros((max(counts), *rows.shape[1:]), rows.dtype)
    padded[: len(rows)] = rows
    parts = _allgather(padded)
    return np.concatenate([part[:count] for part, count in zip(parts, counts, strict=True)])


def _gather_workers_rows(rows: np.ndarray) -> np.ndarray:
    """`gather_rows` under the scope of TensorFlow's multi-worker strategy."""
    import tensorflow as tf

    strategy = tf.distribute.get_strategy()
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return rows
    # Gathered in replica order, so each worker's rows go on its first local replica.
    parts = [rows] + [rows[:0]] * (strategy.num_replicas_in_sync - 1)
    values = strategy.experimental_distribute_values_from_function(
        lambda _: tf.constant(parts.pop(0))
    )
    return strategy.gather(values, axis=0).numpy()


def _process_count() -> int:
    """Processes of the run: JAX's count, else `1` (TensorFlow's workers gather nothing)."""
    if keras.backend.backend() != "jax":
        return 1
    import jax

    return jax.process_count()


def _allgather(value) -> np.ndarray:
    """`value` of every process, stacked along a new first axis in process order."""
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(value))
