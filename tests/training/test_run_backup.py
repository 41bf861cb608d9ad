"""`TrainingCheckpoint`: a damaged backup is refused naming the file, never started over."""

import zipfile

import keras
import numpy as np
import pytest

from keras_stw import training
from keras_stw.training.run_backup import STATE_FILE


def build():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile("sgd", "mse")
    return model


def batches(step):
    while True:
        yield np.ones((2, 4), "float32"), np.ones((2, 3), "float32")


@pytest.fixture(scope="module")
def backup(tmp_path_factory):
    """The bytes of a finished one-epoch run's `backup.keras`."""
    directory = tmp_path_factory.mktemp("run")
    training.fit_resumable(build, batches, directory=str(directory), epochs=1, steps_per_epoch=2)
    return (directory / "backup.keras").read_bytes()


def rewritten(good: bytes, path, member: str, change):
    """Writes `good` to `path` with `member` replaced by `change(content)` (`None`: left out)."""
    path.write_bytes(good)
    with zipfile.ZipFile(path) as source:
        contents = {item: source.read(item.filename) for item in source.infolist()}
    with zipfile.ZipFile(path, "w") as target:
        for item, content in contents.items():
            if item.filename == member:
                content = change(content)
            if content is not None:
                target.writestr(item, content)


def truncated_weights(good, path):
    rewritten(good, path, "model.weights.h5", lambda content: content[: len(content) // 2])


DAMAGES = [
    pytest.param(lambda good, path: path.write_bytes(b""), "not a .keras file", id="empty"),
    pytest.param(
        lambda good, path: path.write_bytes(good[: len(good) // 2]),
        "not a .keras file",
        id="truncated",
    ),
    pytest.param(
        lambda good, path: build().save(path), "a .keras file but no run backup", id="foreign"
    ),
    pytest.param(
        lambda good, path: rewritten(good, path, STATE_FILE, lambda content: content[:10]),
        f"{STATE_FILE} is damaged",
        id="state-not-json",
    ),
    pytest.param(
        lambda good, path: rewritten(good, path, STATE_FILE, lambda content: b'{"epoch": 1}'),
        f"{STATE_FILE} is incomplete",
        id="state-incomplete",
    ),
    pytest.param(truncated_weights, "model cannot be loaded (", id="weights-truncated"),
]


@pytest.mark.parametrize("damage, message", DAMAGES)
def test_a_damaged_backup_is_refused_naming_the_file(backup, tmp_path, damage, message):
    path = tmp_path / "backup.keras"
    damage(backup, path)
    damaged = path.read_bytes()
    with pytest.raises(ValueError) as raised:
        training.fit_resumable(
            build, batches, directory=str(tmp_path), epochs=2, steps_per_epoch=2, verbose=0
        )
    error = str(raised.value)
    assert error.startswith(f"{path} is ") and message in error, error
    assert "Delete it to train from the start" in error and "\n" not in error
    # Not started over: the backup is as it was.
    assert path.read_bytes() == damaged


def test_a_sound_backup_resumes(backup, tmp_path):
    """The damages above are what the refusals are about: the backup itself resumes."""
    (tmp_path / "backup.keras").write_bytes(backup)
    model = training.fit_resumable(
        build, batches, directory=str(tmp_path), epochs=2, steps_per_epoch=2, verbose=0
    )
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 4


@pytest.mark.parametrize(
    "arguments, name",
    [
        ({"epochs": 0, "steps_per_epoch": 2}, "epochs"),
        ({"epochs": 1, "steps_per_epoch": 0}, "steps_per_epoch"),
        ({"epochs": 1, "steps_per_epoch": 2, "validation_steps": 0}, "validation_steps"),
        ({"epochs": 1, "steps_per_epoch": 2, "save_freq": -1}, "save_freq"),
    ],
)
def test_counts_that_no_run_can_mean_are_refused(tmp_path, arguments, name):
    with pytest.raises(ValueError, match=f"`{name}` must be a positive integer"):
        training.fit_resumable(build, batches, directory=str(tmp_path), **arguments)
    assert not list(tmp_path.iterdir())


def test_epoch_checkpoints_are_written_for_each_epoch(tmp_path):
    model = build()
    path = str(tmp_path / "checkpoints" / "epoch_{epoch:03d}.keras")
    model.fit(batches(0), epochs=2, steps_per_epoch=1, callbacks=[training.EpochCheckpoints(path)])
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "epoch_001.keras",
        "epoch_002.keras",
    ]
    saved = keras.saving.load_model(tmp_path / "checkpoints" / "epoch_002.keras")
    assert int(keras.ops.convert_to_numpy(saved.optimizer.iterations)) == 2


@pytest.mark.parametrize("path", ["epoch.keras", "epoch_{epoch}.h5"])
def test_epoch_checkpoints_need_a_keras_name_with_the_epoch(path):
    with pytest.raises(ValueError, match=f"Received: path='{path}'"):
        training.EpochCheckpoints(path)
