"""`fit_resumable`: `model.fit` that continues an interrupted run where it stopped."""

from collections.abc import Callable

import keras

from keras_stw.training.distribute import check_same_on_every_process
from keras_stw.training.run_backup import TrainingCheckpoint
from keras_stw.validation import check_positive_int


def fit_resumable(
    build: Callable[[], keras.Model],
    data,
    *,
    directory: str,
    epochs: int,
    steps_per_epoch: int,
    save_freq: int | None = None,
    config: dict | None = None,
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
    repeated.

    For the batches to be replayed exactly, pass `data` as a function of the number
    of batches already trained, e.g. `lambda step: keras_stw.data.video_dataset(...,
    repeat=True, seed=0, initial_step=step)`: the run's data position is then its
    optimizer's step counter, saved in the same file as the weights, and a resumed run
    sees exactly the batches an uninterrupted one would have seen. Any other `data`
    (a repeated `tf.data.Dataset`, a generator) starts again from its beginning when
    the run resumes.

    Args:
        build: callable returning a new compiled `keras.Model`.
        data: training batches without end, as `model.fit` takes them, or a callable
            `initial_step -> batches` (see above).
        directory: str. Folder of the resumable state.
        epochs: int. Total epochs.
        steps_per_epoch: int. Steps per epoch.
        save_freq: int or `None`. Also save every this many steps within an epoch.
            Defaults to `None`.
        config: dict. The run's settings; resuming a run saved with other settings
            is refused (see `TrainingCheckpoint`). Defaults to `None`.
        callbacks: sequence of `keras.callbacks.Callback`. Logging and more; a
            `CSVLogger` should use `append=True`.
        validation_data: passed to `model.fit`. Defaults to `None`.
        validation_steps: int. Passed to `model.fit`. Defaults to `None`.
        verbose: passed to `model.fit`. Defaults to `"auto"`.

    Returns:
        The trained `keras.Model`.

    Raises:
        ValueError: `epochs`, `steps_per_epoch`, `save_freq` or `validation_steps` is
            not a positive integer; `directory` holds a run saved with other settings,
            or a damaged backup (named; never silently started over).

    Example:
    >>> model = fit_resumable(compiled_model, lambda step: video_dataset(
    ...     train, training=True, repeat=True, seed=0, initial_step=step),
    ...     directory="runs/a", epochs=50, steps_per_epoch=1000, save_freq=200)
    """
    check_positive_int("epochs", epochs)
    if validation_steps is not None:
        check_positive_int("validation_steps", validation_steps)
    checkpoint = TrainingCheckpoint(directory, steps_per_epoch, save_freq, config)
    model = checkpoint.restore()
    if model is None:
        model = build()
        epoch, step = 0, 0
    else:
        epoch, step = checkpoint.position(model)
        print(f"Resuming from {checkpoint.path}: epoch {epoch + 1}, step {step}.")
    # Every process of a multi-process run must start from the same step.
    check_same_on_every_process("step to start from", epoch * steps_per_epoch + step)

    def batches_from(epoch, step):
        return data(epoch * steps_per_epoch + step) if callable(data) else data

    fit_args = {
        # The batches come in their own order (a dataset or a batch factory): Keras cannot
        # shuffle them, and warns on every fit of a Grain dataset when asked to.
        "shuffle": False,
        # The backup comes last: when it records an epoch as done, the other callbacks
        # have written that epoch's log row and checkpoint.
        "callbacks": [*callbacks, checkpoint],
        "validation_data": validation_data,
        "validation_steps": validation_steps,
        "verbose": verbose,
    }
    if step and epoch < epochs:
        checkpoint.step_offset = step
        model.fit(
            batches_from(epoch, step),
            initial_epoch=epoch,
            epochs=epoch + 1,
            steps_per_epoch=steps_per_epoch - step,
            **fit_args,
        )
        checkpoint.step_offset = 0
        epoch += 1
    if epoch < epochs:
        model.fit(
            batches_from(epoch, 0),
            initial_epoch=epoch,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            **fit_args,
        )
    return model
