"""`fit_resumable`: `model.fit` that continues an interrupted run where it stopped."""

from collections.abc import Callable

import keras

from keras_stw.training.checkpoint import TrainingCheckpoint


def fit_resumable(
    build: Callable[[], keras.Model],
    data,
    *,
    directory: str,
    epochs: int,
    steps_per_epoch: int,
    save_freq: int | None = None,
    callbacks=(),
    validation_data=None,
    validation_steps: int | None = None,
    verbose="auto",
) -> keras.Model:
    """Trains a compiled model, resuming from the last saved state in `directory`.

    A first run calls `build()` (which returns a compiled model). Every `save_freq`
    steps and at each epoch's end, model and optimizer go to `directory/backup.keras`.
    A later run with the same arguments loads that file instead, finishes the
    interrupted epoch with the steps it had left (the learning-rate schedule follows
    the restored step counter), then trains the remaining epochs: no step is lost or
    repeated. A run that had finished returns the trained model at once.

    `data` must yield batches without end (a repeated `tf.data.Dataset`, a generator,
    a `keras.utils.PyDataset`); a resumed run draws fresh batches, so pass a data
    source seeded differently per run if exact batch replay matters.

    Args:
        build: callable returning a new compiled `keras.Model`.
        data: training batches, as `model.fit` takes them.
        directory: str. Folder of the resumable state.
        epochs: int. Total epochs.
        steps_per_epoch: int. Steps per epoch.
        save_freq: int or `None`. Also save every this many steps within an epoch.
            Defaults to `None`.
        callbacks: sequence of `keras.callbacks.Callback`. Logging and more; a
            `CSVLogger` should use `append=True`.
        validation_data: passed to `model.fit`. Defaults to `None`.
        validation_steps: int. Passed to `model.fit`. Defaults to `None`.
        verbose: passed to `model.fit`. Defaults to `"auto"`.

    Returns:
        The trained `keras.Model`.

    Example:
    >>> model = fit_resumable(lambda: compiled_model(), train_ds, directory="runs/a",
    ...     epochs=50, steps_per_epoch=1000, save_freq=200)
    """
    checkpoint = TrainingCheckpoint(directory, steps_per_epoch, save_freq)
    model = checkpoint.restore()
    if model is None:
        model = build()
        epoch, step = 0, 0
    else:
        epoch, step = checkpoint.position(model)
        print(f"Resuming from {checkpoint.path}: epoch {epoch + 1}, step {step}.")
    fit_args = {
        "callbacks": [checkpoint, *callbacks],
        "validation_data": validation_data,
        "validation_steps": validation_steps,
        "verbose": verbose,
    }
    if step and epoch < epochs:
        checkpoint.step_offset = step
        model.fit(
            data,
            initial_epoch=epoch,
            epochs=epoch + 1,
            steps_per_epoch=steps_per_epoch - step,
            **fit_args,
        )
        checkpoint.step_offset = 0
        epoch += 1
    if epoch < epochs:
        model.fit(
            data, initial_epoch=epoch, epochs=epochs, steps_per_epoch=steps_per_epoch, **fit_args
        )
    return model
