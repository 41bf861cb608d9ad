"""Presets: `save_to_preset` and `from_preset`, KerasHub's folder layout, on every backend."""

import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_stw
from tests.conftest import REPO
from tests.test_case import TestCase

TINY = {"num_frames": 2, "num_classes": 3, "image_shape": (32, 32, 3), "backbone": "keras_hub"}
PROVENANCE = {"source": "trained by a test", "steps": 0}


def tiny_model(temporal_block="tsm"):
    keras.utils.set_random_seed(1)
    return keras_stw.video_resnet(temporal_block, depth=26, **TINY)


class PresetTest(TestCase):
    def saved(self, model=None):
        directory = os.path.join(self.get_temp_dir(), "preset")
        model = model or tiny_model()
        self.assertEqual(keras_stw.save_to_preset(model, directory, PROVENANCE), directory)
        return model, directory

    def test_a_preset_folder_round_trips(self):
        model, directory = self.saved()
        self.assertEqual(
            sorted(os.listdir(directory)), ["config.json", "metadata.json", "model.weights.h5"]
        )
        with open(os.path.join(directory, "metadata.json")) as file:
            metadata = json.load(file)
        self.assertEqual(metadata["keras_stw_version"], keras_stw.__version__)
        self.assertEqual(metadata["keras_version"], keras.__version__)
        self.assertEqual(metadata["provenance"], PROVENANCE)
        self.assertEqual(metadata["parameter_count"], model.count_params())
        restored = keras_stw.from_preset(directory)
        self.assertIsInstance(restored, keras_stw.VideoResNet)
        self.assertEqual(restored.get_config(), model.get_config())
        self.assert_same_outputs(restored, model, self.random_clips(num_frames=2))

    def test_the_method_writes_the_same_folder(self):
        model = tiny_model(None)
        directory = os.path.join(self.get_temp_dir(), "tsn")
        model.save_to_preset(directory)
        with open(os.path.join(directory, "metadata.json")) as file:
            self.assertEqual(json.load(file)["provenance"], {"source": "not recorded"})
        self.assert_same_outputs(
            keras_stw.from_preset(directory), model, self.random_clips(num_frames=2)
        )

    @pytest.mark.slow
    def test_it_loads_in_a_process_without_the_code_that_built_it(self):
        # A block factory of this test, saved as the layers it made.
        model = keras_stw.video_resnet(
            lambda name: keras_stw.TemporalShift(2, shift_div=4, name=name), depth=26, **TINY
        )
        _, directory = self.saved(model)
        clips = self.random_clips(num_frames=2)
        clips_path, out = (os.path.join(self.get_temp_dir(), n) for n in ("clips.npy", "out.npy"))
        np.save(clips_path, clips)
        script = (
            "import sys, numpy, keras_stw; model = keras_stw.from_preset(sys.argv[1]); "
            "numpy.save(sys.argv[3], model.predict(numpy.load(sys.argv[2]), verbose=0))"
        )
        environment = {**os.environ, "PYTHONPATH": str(REPO)}
        result = subprocess.run(
            [sys.executable, "-c", script, directory, clips_path, out],
            capture_output=True,
            text=True,
            cwd=self.get_temp_dir(),
            env=environment,
        )
        self.assertEqual(result.returncode, 0, result.stderr[-2000:])
        expected = keras.ops.convert_to_numpy(model(clips, training=False))
        self.assertAllClose(np.load(out), expected, atol=1e-5, rtol=1e-5)


def damage(directory, change):
    """Applies one kind of damage to a saved preset folder; returns the path it names."""
    config, weights = (os.path.join(directory, n) for n in ("config.json", "model.weights.h5"))
    if change == "no folder":
        return os.path.join(directory, "missing")
    if change == "no config":
        os.remove(config)
        return config
    if change == "config not JSON":
        with open(config, "w") as file:
            file.write('{"class_name": "VideoRes')
        return config
    if change == "unknown class":
        with open(config) as file:
            content = json.load(file)
        content["registered_name"] = content["class_name"] = "NoSuchModel"
        with open(config, "w") as file:
            json.dump(content, file)
        return config
    if change == "no weights":
        os.remove(weights)
        return weights
    with open(weights, "r+b") as file:  # "weights changed": one byte of the file
        file.seek(-1, os.SEEK_END)
        byte = file.read(1)
        file.seek(-1, os.SEEK_END)
        file.write(bytes([byte[0] ^ 1]))
    return weights


@pytest.mark.parametrize(
    "change, message",
    [
        ("no folder", "must be a preset folder"),
        ("no config", "no such file; is"),
        ("config not JSON", "damaged: not JSON"),
        ("unknown class", "cannot rebuild the model it describes"),
        ("no weights", "no such file; the preset folder has no weights"),
        ("weights changed", "damaged: its SHA-256 is not the"),
    ],
)
def test_a_missing_or_damaged_preset_is_refused_naming_the_path(tmp_path, change, message):
    directory = str(tmp_path / "preset")
    keras_stw.save_to_preset(tiny_model(), directory)
    path = damage(directory, change)
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        keras_stw.from_preset(path if change == "no folder" else directory)
    assert path in str(error.value)
