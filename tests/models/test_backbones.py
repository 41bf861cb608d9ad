"""The frame-level ResNets: v1 (KerasCV, Keras Applications) and v1.5 (KerasHub).

KerasHub's `ResNetBackbone` needs 64 filters in its first stage, so its small test models
are shallow (ResNet-26) on 32x32 frames rather than narrow.
"""

import contextlib
import json
import os
import socket
import subprocess
import sys
import textwrap
from unittest import mock

import keras
import keras_hub
import numpy as np
import pytest
from absl.testing import parameterized

import keras_stw
from keras_stw.models import backbones
from tests.missing_packages import environment_without
from tests.models import backbone_weights
from tests.test_case import TestCase

T = 4
TINY = {"num_frames": T, "num_classes": 5, "image_shape": (32, 32, 3), "depth": 26}


def _hub(temporal_block, **kwargs):
    return keras_stw.video_resnet(temporal_block, backbone="keras_hub", **{**TINY, **kwargs})


def _random_hub_backbone(depth=26):
    """A KerasHub ResNet on 32x32 frames with random (not initial) weights."""
    return backbone_weights.randomize(
        keras_stw.build_resnet_backbone(depth, "keras_hub", input_shape=(32, 32, 3))
    )


@contextlib.contextmanager
def offline(cache_dir):
    """No host name resolves, and the download caches are the empty `cache_dir`.

    Downloads then fail whether or not this machine is online, and a copy cached by an
    earlier download cannot stand in for one.
    """

    def no_network(*args, **kwargs):
        raise OSError("the test turned the network off")

    with (
        mock.patch.object(socket, "getaddrinfo", no_network),
        mock.patch.dict(os.environ, {"KAGGLEHUB_CACHE": cache_dir}),
        # Keras Applications cache under KERAS_HOME, which Keras reads once, at import.
        mock.patch("keras.src.backend.config.keras_home", lambda: cache_dir),
    ):
        yield


def _frame_normalization(model, frames):
    return keras.ops.convert_to_numpy(model.get_layer("normalization")(frames))


class ResNetVersionTest(TestCase):
    @parameterized.parameters(("keras_cv", "v1"), ("keras", "v1"), ("keras_hub", "v1.5"))
    def test_where_each_backbone_puts_the_stride(self, source, version):
        # v1: the first 1x1 convolution of a stage strides; v1.5: the 3x3 one does.
        depth = 26 if source == "keras_hub" else 50
        backbone = keras_stw.build_resnet_backbone(depth, source, input_shape=(32, 32, 3))
        blocks = keras_stw.find_residual_blocks(backbone)
        entry_strides = [b.branch_entry.strides for b in blocks if b.projection]
        strided = [
            layer
            for layer in backbone.layers
            if isinstance(layer, keras.layers.Conv2D)
            and layer.strides == (2, 2)
            and layer.kernel_size == (3, 3)
        ]
        if version == "v1":
            self.assertEqual(entry_strides, [(1, 1), (2, 2), (2, 2), (2, 2)])
            self.assertEqual(strided, [])
        else:
            self.assertEqual(entry_strides, [(1, 1)] * 4)
            self.assertLen(strided, 3)  # stages 3, 4 and 5


class KerasHubModelTest(TestCase):
    @parameterized.named_parameters(("stw", "stw"), ("tsm", "tsm"), ("tsn", None))
    def test_keras_file_round_trip_gives_identical_outputs(self, temporal_block):
        model = _hub(temporal_block)
        path = os.path.join(self.get_temp_dir(), "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
        self.assertIsInstance(loaded, keras_stw.VideoResNet)
        self.assertEqual(loaded.backbone, "keras_hub")
        clips = self.random_clips(num_frames=T).astype("float32")
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(loaded(clips)), keras.ops.convert_to_numpy(model(clips))
        )

    def test_the_temporal_blocks_start_the_residual_branches(self):
        model = _hub("stw")
        frame_model = model.get_layer("backbone")
        blocks = [layer for layer in frame_model.layers if isinstance(layer, keras_stw.STWBlock)]
        self.assertLen(blocks, 8)
        for block in blocks:
            (node,) = [n for n in block._outbound_nodes if n.operation in frame_model.operations]
            # KerasHub names blocks `stack{i}_block{j}`; the branch starts at `_1_conv`.
            self.assertRegex(node.operation.name, r"^stack\d_block\d_1_conv$")

    @parameterized.parameters(False, True)
    def test_dtype_reaches_every_backbone_layer(self, from_preset):
        weights = None
        if from_preset:  # The preset's config holds a float32 policy; the model's wins.
            weights = os.path.join(self.get_temp_dir(), "preset")
            keras_stw.build_resnet_backbone(26, "keras_hub", (32, 32, 3)).save_to_preset(weights)
        model = _hub(None, dtype="mixed_bfloat16", weights=weights)
        policies = {layer.dtype_policy.name for layer in model.get_layer("backbone").layers[1:]}
        self.assertEqual(policies, {"mixed_bfloat16"})
        outputs = model(self.random_clips(num_frames=T))
        self.assertEqual(keras.backend.standardize_dtype(outputs.dtype), "bfloat16")

    def test_base_width_is_refused(self):
        with pytest.raises(ValueError, match=r"base_width.*64 filters.*Received: base_width=8"):
            _hub("stw", base_width=8)

    def test_imagenet_needs_a_depth_with_a_preset(self):
        with pytest.raises(ValueError, match=r"ResNet-50, -101 and -152 only.*depth=26"):
            _hub("stw", weights="imagenet")

    def test_without_keras_hub_the_error_says_how_to_install_it(self):
        with mock.patch.dict(sys.modules, {"keras_hub": None}):
            with pytest.raises(ImportError, match=r"pip install keras-stw\[keras_hub\]"):
                _hub("stw")


class KerasHubPresetTest(TestCase):
    def test_a_local_preset_directory_loads_without_the_network(self):
        source = _random_hub_backbone()
        preset = os.path.join(self.get_temp_dir(), "tiny_resnet")
        source.save_to_preset(preset)
        with offline(self.get_temp_dir()):
            model = _hub("stw", weights=preset)
        backbone_weights.assert_has_weights_of(self, model, source)
        # `save_to_preset` of a backbone writes no image converter: resnet_50_imagenet's.
        self.assertEqual(model.normalization, backbones.input_normalization("keras_hub"))

    def test_the_preset_s_image_converter_normalizes_the_frames(self):
        preset = os.path.join(self.get_temp_dir(), "tiny_resnet")
        _random_hub_backbone().save_to_preset(preset)
        converter = keras_hub.layers.ResNetImageConverter(
            scale=[1 / 100.0, 1 / 50.0, 1 / 25.0], offset=[-1.0, 0.5, 2.0]
        )
        converter.save_to_preset(preset)
        model = _hub(None, weights=preset)
        frames = self.random_clips(num_frames=1)[:, 0].astype("float32")
        expected = keras.ops.convert_to_numpy(converter(frames))
        self.assertAllClose(_frame_normalization(model, frames), expected, atol=1e-5)
        # The normalization is the model's config: a `.keras` file keeps it.
        path = os.path.join(self.get_temp_dir(), "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
        self.assertAllClose(_frame_normalization(loaded, frames), expected, atol=1e-5)

    def test_default_normalization_is_resnet_50_imagenet_s_converter(self):
        # KerasHub's `resnet_50_imagenet` is timm's `resnet50.a1_in1k`; KerasHub's timm
        # loader makes its image converter from timm's configuration, whose mean and
        # std (timm's IMAGENET_DEFAULT_MEAN / _STD) are written here as timm has them.
        preset = os.path.join(self.get_temp_dir(), "timm_resnet50")
        os.makedirs(preset)
        timm_config = {
            "architecture": "resnet50",
            "num_classes": 1000,
            "pretrained_cfg": {
                "input_size": [3, 224, 224],
                "interpolation": "bicubic",
                "mean": [0.485, 0.456, 0.406],
                "std": [0.229, 0.224, 0.225],
            },
        }
        with open(os.path.join(preset, "config.json"), "w") as file:
            json.dump(timm_config, file)
        converter = keras_hub.layers.ImageConverter.from_preset(preset)
        self.assertIsInstance(converter, keras_hub.layers.ResNetImageConverter)
        model = _hub(None)
        frames = self.random_clips(num_frames=1, size=224)[:, 0].astype("float32")
        self.assertAllClose(
            _frame_normalization(model, frames),
            keras.ops.convert_to_numpy(converter(frames)),
            atol=1e-5,
        )

    def test_a_preset_of_another_resnet_is_refused(self):
        preset = os.path.join(self.get_temp_dir(), "resnet26")
        _random_hub_backbone(depth=26).save_to_preset(preset)
        with pytest.raises(
            keras_stw.WeightsUnavailableError,
            match=r"not the ResNet-50 v1.5.*stackwise_num_blocks=\[2, 2, 2, 2\]",
        ):
            keras_stw.build_resnet_backbone(50, "keras_hub", (32, 32, 3), weights=preset)

    def test_a_directory_that_is_no_preset(self):
        with pytest.raises(keras_stw.WeightsUnavailableError, match="KerasHub preset directory"):
            _hub("stw", weights=self.get_temp_dir())
        with pytest.raises(ValueError, match="needs backbone='keras_hub'"):
            keras_stw.video_resnet("stw", **TINY, base_width=4, weights=self.get_temp_dir())


class OfflineTest(TestCase):
    def test_keras_hub_imagenet_offline_names_the_preset_and_a_local_directory(self):
        with offline(self.get_temp_dir()):
            with pytest.raises(keras_stw.WeightsUnavailableError) as error:
                keras_stw.build_resnet_backbone(50, "keras_hub", (32, 32, 3), weights="imagenet")
        message = str(error.value)
        self.assertIn("the test turned the network off", message)
        self.assertIn("KerasHub preset 'resnet_50_imagenet'", message)
        self.assertIn("kaggle://keras/resnetv1/keras/resnet_50_imagenet", message)
        self.assertIn(".save_to_preset('resnet_50_imagenet')", message)
        self.assertIn("weights='/path/to/resnet_50_imagenet'", message)
        self.assertIn("local preset directory loads without the network", message)

    @parameterized.parameters("keras", "keras_cv")
    def test_imagenet_offline_tells_to_pass_a_weights_file(self, backbone):
        with offline(self.get_temp_dir()):
            with pytest.raises(keras_stw.WeightsUnavailableError) as error:
                keras_stw.build_resnet_backbone(50, backbone, (32, 32, 3), weights="imagenet")
        message = str(error.value)
        self.assertIn("the test turned the network off", message)
        self.assertIn("ImageNet", message)
        self.assertIn("weights='/path/to/file'", message)


WITHOUT_TENSORFLOW = """
import os
import sys

import keras
import numpy as np

import keras_stw

model = keras_stw.video_resnet(
    "stw", num_frames=2, num_classes=3, image_shape=(32, 32, 3), depth=26,
    backbone="keras_hub",
)
model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
rng = np.random.default_rng(0)
clips = rng.integers(0, 256, (2, 2, 32, 32, 3)).astype("float32")
history = model.fit(clips, np.array([0, 2]), epochs=1, batch_size=2, verbose=0)
path = os.path.join(sys.argv[1], "model.keras")
model.save(path)
loaded = keras.saving.load_model(path)
np.testing.assert_array_equal(
    keras.ops.convert_to_numpy(loaded(clips)), keras.ops.convert_to_numpy(model(clips))
)
assert "tensorflow" not in sys.modules, "TensorFlow was imported"
print("trained", keras.backend.backend(), history.history["loss"])
"""


@pytest.mark.slow
class WithoutTensorFlowTest(TestCase):
    def test_keras_hub_builds_trains_and_saves_where_tensorflow_is_absent(self):
        # `import tensorflow` fails in this process, as where TensorFlow is not
        # installed. TensorFlow's own backend cannot run so: under it, JAX runs this.
        backend = keras.backend.backend()
        backend = "jax" if backend == "tensorflow" else backend
        environment = environment_without(
            ["tensorflow"], self.get_temp_dir(), KERAS_BACKEND=backend
        )
        result = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(WITHOUT_TENSORFLOW), self.get_temp_dir()],
            capture_output=True,
            text=True,
            env=environment,
        )
        self.assertEqual(result.returncode, 0, result.stdout[-3000:] + result.stderr[-3000:])
        self.assertIn(f"trained {backend}", result.stdout)
