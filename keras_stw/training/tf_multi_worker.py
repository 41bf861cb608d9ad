"""Keras 3's `fit` under `tf.distribute.MultiWorkerMirroredStrategy`: two fixes, in one place.

Keras 3.15's TensorFlow trainer fails with several workers (keras-team/keras#20585,
tensorflow/tensorflow#72388), at two calls that only the multi-worker strategy
(`CollectiveAllReduceStrategy`) reaches:
1. `fit` takes its first distributed batch to build the model's metrics and optimizer
   and averages it across replicas with `strategy.reduce("MEAN", (x, y))`, which the
   collective strategy cannot take as a structure: `ValueError: Attempt to convert a
   value (PerReplica: ...) ... to a Tensor`. Fixed: the build reads this worker's
   first replica's part of the batch, all it needs for the shapes.
2. Each step's logs (the scalar loss, metric results) are averaged with
   `strategy.reduce("MEAN", v, axis=0)`, which fails on a scalar: `Invalid reduction
   dimension 0 for input with 0 dimensions`. Fixed: averaged across replicas
   (`axis=None`), which is what the one-host strategies do.
Nothing else changes, and other strategies take Keras's own code. `install` is
idempotent, and a no-op on a Keras without these functions.
"""

import keras

_INSTALLED = []


def install() -> None:
    """Replaces the two calls for multi-worker strategies; other strategies are untouched.

    Example:
    >>> install()  # before `model.fit` under MultiWorkerMirroredStrategy
    """
    from keras.src.backend.tensorflow import trainer

    build = getattr(trainer.TensorFlowTrainer, "_maybe_symbolic_build", None)
    reduce = getattr(trainer, "reduce_per_replica", None)
    multi_worker = getattr(trainer, "_collective_all_reduce_multi_worker", None)
    if _INSTALLED or None in (build, reduce, multi_worker):
        return

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self.distribute_strategy
        if iterator is not None and multi_worker(strategy):
            for _, _, batches in iterator:
                batch = next(batches)
                data_batch = keras.tree.map_structure(
                    lambda v: strategy.experimental_local_results(v)[0], batch
                )
                break
            iterator = None
        return build(self, iterator=iterator, data_batch=data_batch)

    def reduce_per_replica(values, strategy, reduction):
        if multi_worker(strategy) and reduction in ("auto", "mean"):
            return keras.tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return reduce(values, strategy, reduction)

    trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    trainer.reduce_per_replica = reduce_per_replica
    _INSTALLED.append(True)
