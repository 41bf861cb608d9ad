"""A resumable training state: the model and its optimizer in one `.keras` file."""

import json
import os

import keras


class TrainingCheckpoint(keras.callbacks.Callback):
    """Saves model + optimizer every `save_freq` steps and at every epoch's end.

    Keras's `BackupAndRestore` restores the epoch but replays a whole interrupted epoch;
    this callback keeps the state in one `.keras` file (weights, optimizer slots and
    step counter), replaced atomically, and `restore` + `position` tell exactly where
    training stopped, so `fit_resumable` can finish the interrupted epoch with the
    steps it had left. The position is derived from the optimizer's step counter, so
    it is always consistent with the saved weights.

    Args:
        directory: str. Folder of `backup.keras` and `state.json` (created).
        steps_per_epoch: int. Steps per epoch; a resumed run must use the same.
        save_freq: int or `None`. Also save every this many steps within an epoch.
            Defaults to `None`: at epoch ends only.

    Example:
    >>> checkpoint = TrainingCheckpoint("runs/x/backup", steps_per_epoch=100, save_freq=20)
    >>> model = checkpoint.restore() or build_and_compile()
    >>> model.fit(ds, epochs=5, steps_per_epoch=100, callbacks=[checkpoint])
    """

    def __init__(self, directory: str, steps_per_epoch: int, save_freq: int | None = None):
        super().__init__()
        if save_freq is not None and save_freq < 1:
            raise ValueError(f"`save_freq` must be positive or None. Received: {save_freq}")
        self.directory = directory
        self.steps_per_epoch = steps_per_epoch
        self.save_freq = save_freq
        self.path = os.path.join(directory, "backup.keras")
        self._state_path = os.path.join(directory, "state.json")
        # Steps of the current epoch done before this `fit` call (set on resume).
        self.step_offset = 0

    def restore(self) -> keras.Model | None:
        """Loads the saved model, compiled with its optimizer state, or `None`."""
        if not os.path.exists(self.path):
            return None
        if os.path.exists(self._state_path):
            with open(self._state_path, encoding="utf-8") as file:
                saved = json.load(file)["steps_per_epoch"]
            if saved != self.steps_per_epoch:
                raise ValueError(
                    f"{self.path} was saved with steps_per_epoch={saved}; resuming needs "
                    f"the same. Received: steps_per_epoch={self.steps_per_epoch}"
                )
        return keras.saving.load_model(self.path)

    def position(self, model: keras.Model) -> tuple[int, int]:
        """Returns `(epoch, step)`: the epoch in progress and its completed steps."""
        steps = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
        return divmod(steps, self.steps_per_epoch)

    def on_train_batch_end(self, batch, logs=None):
        # Counted here rather than read from the optimizer: under JAX the model's
        # variables are stale between steps until synced.
        step = self.step_offset + batch + 1
        if self.save_freq and step % self.save_freq == 0 and step < self.steps_per_epoch:
            self.save()

    def on_epoch_end(self, epoch, logs=None):
        self.save()

    def save(self):
        """Writes the model and its optimizer; a kill mid-write keeps the old file."""
        os.makedirs(self.directory, exist_ok=True)
        if hasattr(self.model, "jax_state_sync"):
            self.model.jax_state_sync()
        temporary = os.path.join(self.directory, "backup.tmp.keras")
        self.model.save(temporary)
        os.replace(temporary, self.path)
        epoch, step = self.position(self.model)
        state = {"epoch": epoch, "step": step, "steps_per_epoch": self.steps_per_epoch}
        with open(self._state_path + ".tmp", "w", encoding="utf-8") as file:
            json.dump(state, file)
        os.replace(self._state_path + ".tmp", self._state_path)
