"""A resumable run backup: model, optimizer and run state in one `.keras` file."""

import json
import os
import tempfile
import zipfile

import keras

from keras_stw.training.distribute import process_index
from keras_stw.validation import check_positive_int

# The run's state, a file of its own inside the `.keras` zip, beside Keras's.
STATE_FILE = "keras_stw_training_state.json"
_STATE_KEYS = {"epoch", "step", "steps_per_epoch", "config", "seed_states", "torch_generators"}


class TrainingCheckpoint(keras.callbacks.Callback):
    """Saves the whole training state every `save_freq` steps and at every epoch's end.

    Keras's `BackupAndRestore` restores the epoch but replays a whole interrupted epoch;
    this callback keeps everything a run needs in one `.keras` file, replaced
    atomically: the weights, the optimizer's slots and step counter, and the run's
    state beside them (`keras_stw_training_state.json` in the zip): its position, its
    settings and the state of the random generators that dropout draws from (the
    model's seed generators, which Keras's own loading resets, and under PyTorch the
    global generator). `restore` + `position` tell exactly where training stopped,
    so `fit_resumable` can finish the interrupted epoch with the steps it had left,
    with the same dropout masks. The position is the optimizer's step counter, so it
    is always consistent with the saved weights; with a batch factory (see
    `fit_resumable`) it is also the data's position.

    A run can name its settings in `config` (the model, the data, the optimizer):
    they are saved with the state, and `restore` refuses to continue a run saved
    with other settings, naming both, instead of silently training the old model.

    Args:
        directory: str. Folder of `backup.keras` (created).
        steps_per_epoch: int. Steps per epoch; a resumed run must use the same.
        save_freq: int or `None`. Also save every this many steps within an epoch.
            Defaults to `None`: at epoch ends only.
        config: dict. JSON-serializable settings of the run, which a resumed run
            must repeat. Defaults to `None`: not checked.

    Example:
    >>> checkpoint = TrainingCheckpoint("runs/x/backup", steps_per_epoch=100, save_freq=20)
    >>> model = checkpoint.restore() or build_and_compile()
    >>> model.fit(ds, epochs=5, steps_per_epoch=100, callbacks=[checkpoint])
    """

    def __init__(
        self,
        directory: str,
        steps_per_epoch: int,
        save_freq: int | None = None,
        config: dict | None = None,
    ):
        super().__init__()
        check_positive_int("steps_per_epoch", steps_per_epoch)
        if save_freq is not None:
            check_positive_int("save_freq", save_freq)
        self.directory = directory
        self.steps_per_epoch = steps_per_epoch
        self.save_freq = save_freq
        # Compared with the saved settings as JSON gives them back (lists, not tuples).
        self.config = None if config is None else json.loads(json.dumps(config))
        self.path = os.path.join(directory, "backup.keras")
        # Steps of the current epoch done before this `fit` call (set on resume).
        self.step_offset = 0
        # PyTorch generator states to set at the next `fit` call's first step.
        self._torch_generators = None

    def restore(self) -> keras.Model | None:
        """Loads the saved model, compiled with its optimizer state, or `None`.

        Raises:
            ValueError: the saved run used other `steps_per_epoch` or `config`, or
                the backup is damaged (see `saved_state`).
        """
        state = self.saved_state()
        if state is None:
            return None
        if state["steps_per_epoch"] != self.steps_per_epoch:
            raise ValueError(
                f"{self.path} was saved with steps_per_epoch={state['steps_per_epoch']}; "
                f"resuming needs the same. Received: steps_per_epoch={self.steps_per_epoch}"
            )
        _check_same_settings(self.directory, state["config"], self.config)
        try:
            model = keras.saving.load_model(self.path)
            for variable, value in zip(_seed_states(model), state["seed_states"], strict=True):
                variable.assign(keras.ops.convert_to_tensor(value, variable.dtype))
        except Exception as error:  # Its settings matched this run's: the file is to blame.
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
            raise self._damaged(f"a run backup whose model cannot be loaded ({reason})") from error
        self._torch_generators = state["torch_generators"]
        return model

    def position(self, model: keras.Model) -> tuple[int, int]:
        """Returns `(epoch, step)`: the epoch in progress and its completed steps."""
        steps = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
        return divmod(steps, self.steps_per_epoch)

    def saved_state(self) -> dict | None:
        """The run state of the last save, or `None` when nothing was saved.

        Returns:
            A dict: `epoch` and `step` (the position), `steps_per_epoch`, `config`,
            `seed_states` and `torch_generators`.

        Raises:
            ValueError: `backup.keras` is damaged: empty, truncated, or a `.keras`
                file that is no run backup. The message names the file.

        Example:
        >>> TrainingCheckpoint("runs/x/backup", steps_per_epoch=100).saved_state()["step"]
        40
        """
        if not os.path.exists(self.path):
            return None
        try:
            with zipfile.ZipFile(self.path) as archive:
                state = json.loads(archive.read(STATE_FILE))
        except (zipfile.BadZipFile, EOFError, IsADirectoryError) as error:
            raise self._damaged("not a .keras file (empty or truncated?)") from error
        except KeyError as error:
            raise self._damaged(f"a .keras file but no run backup (no {STATE_FILE})") from error
        except ValueError as error:  # Not JSON, or not UTF-8.
            raise self._damaged(f"a run backup whose {STATE_FILE} is damaged") from error
        if not isinstance(state, dict) or not _STATE_KEYS <= set(state):
            raise self._damaged(f"a run backup whose {STATE_FILE} is incomplete")
        return state

    def _damaged(self, what: str) -> ValueError:
        # Never silently started over: the interrupted run's steps would be lost.
        return ValueError(
            f"{self.path} is {what}; the run cannot resume from it. Delete it to train "
            "from the start, or train into another directory."
        )

    def saved_position(self) -> tuple[int, int] | None:
        """`(epoch, step)` of the last save, or `None`.

        Example:
        >>> TrainingCheckpoint("runs/x/backup", steps_per_epoch=100).saved_position()
        (3, 40)
        """
        state = self.saved_state()
        return (state["epoch"], state["step"]) if state else None

    def on_train_batch_begin(self, batch, logs=None):
        # Set at the first step, after `fit` has started its data iterator: PyTorch's
        # `DataLoader` draws from the global generator when it starts one, and an
        # uninterrupted run, one `fit` call, starts one iterator less.
        if self._torch_generators is not None:
            _set_torch_generators(self._torch_generators)
            self._torch_generators = None
        # Saved before a step, between steps in the training loop, rather than after
        # the one before: with no `on_train_batch_end`, this callback lets Keras
        # dispatch each step without waiting for the previous one, so the next batch
        # is read and copied to the devices while the current step runs. Step 0 of an
        # epoch was saved at the end of the one before.
        step = self.step_offset + batch
        if self.save_freq and batch > 0 and step % self.save_freq == 0:
            self.save()

    def on_train_end(self, logs=None):
        self._torch_generators = _torch_generators()

    def on_epoch_end(self, epoch, logs=None):
        self.save()

    def save(self):
        """Writes model, optimizer and run state; a kill mid-write keeps the old file.

        In a multi-process run, process 0 alone writes the file (see `save_model`),
        and every process resumes from it: the backup folder must be one that every
        host reads, such as a shared file system.
        """
        if hasattr(self.model, "jax_state_sync"):
            self.model.jax_state_sync()
        epoch, step = self.position(self.model)
        state = {
            "epoch": epoch,
            "step": step,
            "steps_per_epoch": self.steps_per_epoch,
            "config": self.config,
            "seed_states": [
                keras.ops.convert_to_numpy(v).tolist() for v in _seed_states(self.model)
            ],
            "torch_generators": _torch_generators(),
        }
        save_model(self.model, self.path, extra_files={STATE_FILE: json.dumps(state)})


def save_model(model: keras.Model, path: str, extra_files: dict | None = None) -> str:
    """Saves a `.keras` file atomically: a kill mid-write leaves the old file, or none.

    The model is written to a temporary file beside `path`, which then replaces
    `path` in one step (`os.replace`), so a reader never sees a half-written file.

    In a multi-process run, every process must call it, at the same point: Keras
    makes distributed variables while it saves, which the processes create
    together. Process 0 writes `path`; the others write to a temporary folder,
    deleted at once.

    Args:
        model: `keras.Model`. The model to save, with its optimizer if compiled.
        path: str. A `.keras` file; its folder is created.
        extra_files: dict. Names and texts of files to add to the zip, which Keras's
            loading ignores. Defaults to `None`.

    Returns:
        `path`.

    Example:
    >>> save_model(model, "runs/x/model.keras")
    'runs/x/model.keras'
    """
    path = str(path)
    if not path.endswith(".keras"):
        raise ValueError(f"`path` must end in '.keras'. Received: path={path!r}")
    if process_index() != 0:
        with tempfile.TemporaryDirectory() as folder:
            model.save(os.path.join(folder, "model.keras"))
        return path
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    temporary = f"{path[: -len('.keras')]}.tmp.keras"
    model.save(temporary)
    with zipfile.ZipFile(temporary, "a") as archive:
        for name, text in (extra_files or {}).items():
            archive.writestr(name, text)
    os.replace(temporary, path)
    return path


class EpochCheckpoints(keras.callbacks.Callback):
    """Saves the model at every epoch's end, with `save_model`: atomically, and by
    process 0 alone in a multi-process run (every process must use it).

    Args:
        path: str. A `.keras` file name with an `{epoch}` field, the epoch from 1,
            e.g. `"runs/x/checkpoints/epoch_{epoch:03d}.keras"`.

    Example:
    >>> model.fit(ds, epochs=3, callbacks=[EpochCheckpoints("ckpt/epoch_{epoch:03d}.keras")])
    """

    # It saves at epoch ends only: Keras may dispatch steps without waiting for it.
    async_safe = True

    def __init__(self, path: str):
        super().__init__()
        if not str(path).endswith(".keras") or "{epoch" not in str(path):
            raise ValueError(
                "`path` must be a .keras file name with an {epoch} field, e.g. "
                f"'epoch_{{epoch:03d}}.keras'. Received: path={path!r}"
            )
        self.path = str(path)

    def on_epoch_end(self, epoch, logs=None):
        save_model(self.model, self.path.format(epoch=epoch + 1))


def _seed_states(model):
    """The state variables of the model's random generators, in a fixed order."""
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def _torch_generators():
    """PyTorch's global generator states: Keras's unseeded dropout draws from them."""
    if keras.backend.backend() != "torch":
        return None
    import torch

    devices = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return {"cpu": torch.get_rng_state().tolist(), "cuda": [d.tolist() for d in devices]}


def _set_torch_generators(states):
    if states is None or keras.backend.backend() != "torch":
        return
    import torch

    torch.set_rng_state(torch.tensor(states["cpu"], dtype=torch.uint8))
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in states["cuda"]])


def _check_same_settings(directory, saved, requested):
    if saved is None or requested is None or saved == requested:
        return
    changed = sorted(k for k in {*saved, *requested} if saved.get(k) != requested.get(k))
    raise ValueError(
        f"{directory} holds a run saved with "
        + ", ".join(f"{k}={saved.get(k)!r}" for k in changed)
        + "; this run asks for "
        + ", ".join(f"{k}={requested.get(k)!r}" for k in changed)
        + ". Resuming would continue the saved run: use another directory, or the saved "
        "settings."
    )
