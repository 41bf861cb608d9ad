"""Presets: a model as a folder of `config.json`, `model.weights.h5` and `metadata.json`.

The layout is KerasHub's (`Backbone.save_to_preset`): the Keras serialized config, the
weights and what they are, so a trained model can be shared as a folder (Kaggle, Hugging
Face) and loads with keras_stw alone, without the code that built it.
"""

import datetime
import hashlib
import json
import os

import keras

from keras_stw.version import __version__

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"


def save_to_preset(model: keras.Model, preset_dir, provenance: dict | None = None) -> str:
    """Saves `model` as a preset folder: its config, its weights and their provenance.

    Writes `config.json` (`keras.saving.serialize_keras_object(model)`),
    `model.weights.h5` and `metadata.json`: the keras_stw and Keras versions, the
    backend, the parameter count, the weights file's SHA-256 (checked on load) and
    `provenance`, where the weights come from. Files already in the folder are replaced;
    each is written under a temporary name first, so none is left half-written.

    Args:
        model: a `keras.Model` whose config round-trips, e.g. a `keras_stw.VideoResNet`.
        preset_dir: str or `os.PathLike`. The folder; made if missing.
        provenance: dict or `None`. Where the weights come from, e.g.
            `{"source": "trained by examples/train.py", "data": "..."}` or a
            checkpoint's `{"url": ..., "sha256": ...}`. Defaults to `None`, recorded as
            `{"source": "not recorded"}`.

    Returns:
        The folder's path, as a str.

    Example:
    >>> model = keras_stw.create_model("tsm_resnet50", num_classes=10)
    >>> keras_stw.save_to_preset(model, "my_tsm", {"source": "trained on my data"})
    'my_tsm'
    >>> keras_stw.from_preset("my_tsm").num_classes
    10
    """
    preset_dir = os.fspath(preset_dir)
    if provenance is not None and not isinstance(provenance, dict):
        raise ValueError(
            f"`provenance` must be a dict or None. Received: provenance={provenance!r}"
        )
    os.makedirs(preset_dir, exist_ok=True)
    weights_path = os.path.join(preset_dir, WEIGHTS_FILE)
    partial = weights_path + ".partial.weights.h5"
    model.save_weights(partial)
    os.replace(partial, weights_path)
    _write_json(preset_dir, CONFIG_FILE, keras.saving.serialize_keras_object(model))
    metadata = {
        "keras_stw_version": __version__,
        "keras_version": keras.__version__,
        "backend": keras.backend.backend(),
        "parameter_count": model.count_params(),
        "date_saved": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "weights_sha256": sha256(weights_path),
        "provenance": dict(provenance or {"source": "not recorded"}),
    }
    _write_json(preset_dir, METADATA_FILE, metadata)
    return preset_dir


def from_preset(preset_dir) -> keras.Model:
    """Loads the model of a preset folder written by `save_to_preset`.

    The model is rebuilt from `config.json` (its classes are keras_stw's, registered
    when keras_stw is imported) and gets the weights of `model.weights.h5`, after their
    SHA-256 is checked against `metadata.json`. Nothing is downloaded.

    Args:
        preset_dir: str or `os.PathLike`. The preset folder.

    Returns:
        The model, e.g. a `keras_stw.VideoResNet`.

    Raises:
        ValueError: the folder or one of its files is missing or damaged; the message
            names the path.

    Example:
    >>> model = keras_stw.from_preset("my_tsm")
    >>> model.num_frames, model.num_classes
    (8, 10)
    """
    preset_dir = os.fspath(preset_dir)
    if not os.path.isdir(preset_dir):
        raise ValueError(
            f"`preset_dir` must be a preset folder ({CONFIG_FILE}, {WEIGHTS_FILE}, "
            f"{METADATA_FILE}), as save_to_preset writes. Received: "
            f"preset_dir={preset_dir!r} (no such folder)"
        )
    config = _read_json(preset_dir, CONFIG_FILE)
    metadata = _read_json(preset_dir, METADATA_FILE)
    weights_path = os.path.join(preset_dir, WEIGHTS_FILE)
    if not os.path.isfile(weights_path):
        raise ValueError(f"{weights_path}: no such file; the preset folder has no weights.")
    expected = metadata.get("weights_sha256")
    if expected is not None and sha256(weights_path) != expected:
        raise ValueError(
            f"{weights_path}: damaged: its SHA-256 is not the {expected} that "
            f"{METADATA_FILE} records."
        )
    try:
        model = keras.saving.deserialize_keras_object(config)
    except Exception as error:  # Keras raises TypeError, ValueError, ... on a bad config.
        raise ValueError(
            f"{os.path.join(preset_dir, CONFIG_FILE)}: cannot rebuild the model it "
            f"describes: {error}"
        ) from error
    try:
        model.load_weights(weights_path)
    except Exception as error:  # h5py raises OSError, Keras ValueError.
        raise ValueError(
            f"{weights_path}: cannot load it into the model of {CONFIG_FILE}: {error}"
        ) from error
    return model


def sha256(path) -> str:
    """The hex SHA-256 of the file at `path`, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_json(preset_dir, name, content):
    path = os.path.join(preset_dir, name)
    with open(path + ".partial", "w") as file:
        json.dump(content, file, indent=2)
    os.replace(path + ".partial", path)


def _read_json(preset_dir, name):
    path = os.path.join(preset_dir, name)
    try:
        with open(path) as file:
            content = json.load(file)
    except FileNotFoundError as error:
        raise ValueError(f"{path}: no such file; is {preset_dir} a preset folder?") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: damaged: not JSON ({error}).") from error
    if not isinstance(content, dict):
        raise ValueError(f"{path}: damaged: holds a {type(content).__name__}, not an object.")
    return content
