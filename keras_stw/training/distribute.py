"""Data-parallel training on the backend's own engine: Keras distribution or tf.distribute.

JAX: `keras.distribution.DataParallel` over all local devices; with several hosts,
call `data_parallel(multi_host=True)` on every host after setting JAX's coordinator
environment (`JAX_COORDINATOR_ADDRESS`, `JAX_NUM_PROCESSES`, `JAX_PROCESS_ID`, or a
cluster JAX detects such as SLURM): it runs `jax.distributed.initialize()` first, and
the device list then spans every host.

TensorFlow: `tf.distribute.MirroredStrategy` over the local GPUs, or
`MultiWorkerMirroredStrategy` with `multi_host=True` (configured by the `TF_CONFIG`
environment variable on every worker). Build, compile and restore the model inside
the returned scope.

In both cases the batch size given to the data pipeline is the global batch, split
across devices. On JAX with a single device (and one host) no distribution is set: a
one-device `DataParallel` mesh gives the model's variables single-device shardings
that the compiled train step's outputs then commit, so Keras compiled the step again
at its second call and after every epoch's metric reset (14 s each for STW-ResNet-50
on an H200); without a distribution it compiles once.
"""

import contextlib
import dataclasses

import keras


@dataclasses.dataclass
class DataParallel:
    """What `data_parallel` set up.

    Args:
        scope: context manager to build and compile the model in.
        num_replicas: int. Devices the batch is split over (all hosts).
        description: str. A line for the log.
    """

    scope: contextlib.AbstractContextManager
    num_replicas: int
    description: str


def data_parallel(multi_host: bool = False) -> DataParallel:
    """Sets up data-parallel training over all local (or all hosts') devices.

    Args:
        multi_host: bool. Initialize the multi-host runtime first
            (`jax.distributed.initialize` or `MultiWorkerMirroredStrategy`).
            Defaults to `False`.

    Returns:
        A `DataParallel` with the scope to build the model in.

    Raises:
        ValueError: on the torch backend, which has no engine-level data parallelism
            through Keras (use `torchrun` with your own DDP wrapper instead).

    Example:
    >>> parallel = data_parallel()
    >>> with parallel.scope:
    ...     model = keras_stw.STWResNet50(num_frames=8)
    ...     model.compile(...)
    """
    backend = keras.backend.backend()
    if backend == "jax":
        if multi_host:
            import jax

            jax.distributed.initialize()
        devices = keras.distribution.list_devices()
        if len(devices) == 1:
            return DataParallel(
                contextlib.nullcontext(), 1, f"one device, no distribution needed: {devices}"
            )
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        return DataParallel(
            contextlib.nullcontext(),
            len(devices),
            f"keras.distribution.DataParallel over {len(devices)} device(s): {devices}",
        )
    if backend == "tensorflow":
        import tensorflow as tf

        if multi_host:
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
        else:
            strategy = tf.distribute.MirroredStrategy()
        return DataParallel(
            strategy.scope(),
            strategy.num_replicas_in_sync,
            f"{type(strategy).__name__} over {strategy.num_replicas_in_sync} replica(s)",
        )
    raise ValueError(
        f"Data-parallel training needs backend 'jax' or 'tensorflow'. Received: backend={backend!r}"
    )
