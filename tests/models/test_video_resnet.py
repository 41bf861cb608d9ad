import json
import os
import zipfile

import keras
import numpy as np
import pytest
from absl.testing import parameterized

import keras_stw
from keras_stw import evaluation
from keras_stw.data import ClipSpec
from tests.models import backbone_weights
from tests.test_case import TestCase

T = 4
TINY = {
    "num_frames": T,
    "num_classes": 5,
    "image_shape": (32, 32, 3),
    "base_width": 4,
    "depth": 26,
}


def _tiny(temporal_block, **kwargs):
    return keras_stw.video_resnet(temporal_block, **{**TINY, **kwargs})


class VideoResNetTest(TestCase):
    @parameterized.parameters("stw", "tsm", None)
    def test_raw_clips_to_class_probabilities(self, temporal_block):
        model = _tiny(temporal_block)
        probabilities = keras.ops.convert_to_numpy(model(self.random_clips(num_frames=T)))
        self.assertEqual(probabilities.shape, (2, 5))
        self.assertAllClose(probabilities.sum(axis=-1), np.ones(2), atol=1e-5)

    def test_uint8_and_float_clips_agree(self):
        model = _tiny("stw")
        clips = self.random_clips(num_frames=T)
        self.assert_same_outputs(model, model, clips)
        self.assertAllClose(
            keras.ops.convert_to_numpy(model(clips)),
            keras.ops.convert_to_numpy(model(clips.astype("float32"))),
            atol=1e-5,
        )

    def test_tsn_is_invariant_to_frame_order_and_temporal_models_are_not(self):
        clips = self.random_clips(num_frames=T)
        reversed_clips = clips[:, ::-1].copy()
        for temporal_block, invariant in (("stw", False), ("tsm", False), (None, True)):
            model = _tiny(temporal_block)
            forward = keras.ops.convert_to_numpy(model(clips))
            backward = keras.ops.convert_to_numpy(model(reversed_clips))
            self.assertEqual(np.allclose(forward, backward, atol=1e-6), invariant, temporal_block)

    def test_clips_in_a_batch_never_mix(self):
        model = _tiny("stw")
        clips = self.random_clips(clips=3, num_frames=T)
        before = keras.ops.convert_to_numpy(model(clips))
        clips[1] = 255 - clips[1]
        after = keras.ops.convert_to_numpy(model(clips))
        self.assertAllClose(before[[0, 2]], after[[0, 2]], atol=1e-6)
        self.assertFalse(np.allclose(before[1], after[1]))

    @parameterized.named_parameters(
        ("stw", "stw", {"combination": "twm_then_stfm", "ratios": (8, "4/3", 8)}),
        ("tsm", "tsm", {"shift_div": 4}),
        ("tsn", None, {}),
    )
    def test_keras_file_round_trip(self, temporal_block, kwargs):
        model = _tiny(temporal_block, **kwargs)
        path = os.path.join(self.get_temp_dir(), "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
        self.assert_same_outputs(model, loaded, self.random_clips(num_frames=T))

    @parameterized.parameters(
        ("stfm", 1),
        ("twm", 1),
        ("parallel", 2),
        ("stfm_then_twm", 2),
        ("twm_then_stfm", 2),
    )
    def test_ablation_modules(self, combination, modules_per_block):
        model = _tiny("stw", combination=combination, stages=(4, 5))
        frame_model = model.get_layer("backbone")
        blocks = [layer for layer in frame_model.layers if isinstance(layer, keras_stw.STWBlock)]
        self.assertLen(blocks, 4)
        for block in blocks:
            self.assertEqual(sum(m is not None for m in (block.stfm, block.twm)), modules_per_block)

    def test_wrong_frame_count(self):
        model = _tiny("stw")
        # Keras checks the model's input spec first: the message names both shapes.
        with pytest.raises(
            ValueError,
            match=r"expected shape=\(None, 4, 32, 32, 3\), found shape=\(2, 6,",
        ):
            model(self.random_clips(num_frames=6))

    def test_wrong_rank(self):
        model = _tiny("stw")
        with pytest.raises(ValueError, match=r"expected shape=\(None, 4, 32, 32, 3\)"):
            model(np.zeros((2, 32, 32, 3), "uint8"))

    @parameterized.named_parameters(
        ("num_frames", {"num_frames": 0}, "num_frames"),
        ("stages", {"stages": (6,)}, "stages"),
        ("combination", {"combination": "serial"}, "combination"),
        ("ratios", {"ratios": (3, 3, 4)}, "ratios"),
        ("block_kwarg", {"shift_div": 4}, "shift_div"),
        ("num_classes", {"num_classes": 0}, "num_classes"),
        ("image_shape", {"image_shape": (4, 32, 32, 3)}, "image_shape"),
        ("int_shape", {"image_shape": 224}, r"a tuple \(height, width, channels\)"),
        ("zero_frame", {"image_shape": (0, 0, 3)}, r"at least 1 .*image_shape=\(0, 0, 3\)"),
        ("negative", {"image_shape": (-32, 32, 3)}, r"at least 1 .*image_shape=\(-32, 32, 3\)"),
        # Keras Applications' ResNets refuse frames under 32x32 (KerasCV's build them).
        (
            "small_frame",
            {"image_shape": (8, 8, 3), "backbone": "keras", "depth": 50},
            r"at least 32 .*image_shape=\(8, 8, 3\)",
        ),
        (
            "narrow_frame",
            {"image_shape": (32, 31, 3), "backbone": "keras", "depth": 50},
            r"at least 32 .*image_shape=\(32, 31, 3\)",
        ),
        ("no_channels", {"image_shape": (32, 32, 0)}, r"channels .*image_shape=\(32, 32, 0\)"),
        ("float_size", {"image_shape": (32.5, 32, 3)}, r"integers .*image_shape=\(32.5, 32, 3\)"),
        ("backbone", {"backbone": "torchvision"}, "backbone"),
        ("depth", {"depth": 34}, "depth"),
        ("normalization", {"normalization": {"mean": (0, 0, 0)}}, "normalization"),
        ("std", {"normalization": {"mean": (0, 0, 0), "std": (0, 1, 1)}}, "std"),
        ("channels", {"base_width": 2, "ratios": (16, "8/7", 16)}, "cannot split"),
    )
    def test_bad_arguments_name_themselves(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            _tiny("stw", **kwargs)

    def test_tsn_takes_no_block_options(self):
        with pytest.raises(ValueError, match="combination"):
            _tiny(None, combination="parallel")


class WeightsTest(TestCase):
    def test_local_backbone_weights_file_loads(self):
        source = backbone_weights.randomize(
            keras_stw.build_resnet_backbone(26, "keras_cv", input_shape=(32, 32, 3), base_width=4)
        )
        path = os.path.join(self.get_temp_dir(), "backbone.weights.h5")
        source.save_weights(path)
        backbone_weights.assert_has_weights_of(self, _tiny("stw", weights=path), source)

    def test_missing_weights_file(self):
        with pytest.raises(ValueError, match="no_such.weights.h5"):
            _tiny("stw", weights="no_such.weights.h5")

    def test_weights_file_of_another_architecture(self):
        other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        path = os.path.join(self.get_temp_dir(), "other.weights.h5")
        other.save_weights(path)
        with pytest.raises(keras_stw.WeightsUnavailableError, match="other.weights.h5"):
            _tiny("stw", weights=path)


@pytest.mark.slow
class FullSizeTest(TestCase):
    # ResNet-50 without its classifier, per 224x224 frame: v1 (KerasCV) 3.86 GMACs;
    # v1.5 (KerasHub, torchvision's 4.09 with its classifier) costs 3 * 77,070,336 more:
    # each stride-2 1x1 convolution of stages 3-5 (C * C/2 channels) runs on 4 times the
    # pixels when the stride moves to the 3x3 convolution.
    @parameterized.named_parameters(
        ("v1_keras_cv", "keras_cv", 3_855_925_248, False),
        ("v1_5_keras_hub", "keras_hub", 3_855_925_248 + 3 * 256 * 128 * (56**2 - 28**2), True),
    )
    def test_stw_resnet50_full_size(self, backbone, frame_macs, matches_paper):
        model = keras_stw.STWResNet50(num_frames=8, backbone=backbone)
        self.assertEqual(model.input_shape, (None, 8, 224, 224, 3))
        self.assertEqual(model.output_shape, (None, 174))
        frame_model = model.get_layer("backbone")
        blocks = [layer for layer in frame_model.layers if isinstance(layer, keras_stw.STWBlock)]
        self.assertLen(blocks, 16)
        # ResNet-50 (v1 and v1.5 alike): 23,561,152; per block STFM C + TWM 3C + 1 over
        # the 16 block inputs (sum of C = 13,120); classifier 2048 * 174 + 174.
        self.assertEqual(model.count_params(), 23_561_152 + 4 * 13_120 + 16 + 356_526)
        stw = keras_stw.count_flops(model)
        tsn = keras_stw.count_flops(keras_stw.TSNResNet50(num_frames=8, backbone=backbone))
        self.assertEqual(tsn, 8 * (frame_macs + 2048 * 174))
        self.assertEqual(
            stw - tsn,
            8
            * 4
            * (
                576 * 56 * 56
                + 256 * 56 * 56
                + 1536 * 28 * 28
                + 512 * 28 * 28
                + 5120 * 14 * 14
                + 1024 * 14 * 14
                + 4096 * 7 * 7
            ),
        )
        self.assertLessEqual(stw / tsn, 1.02)
        # The paper's TSN: 33 GFLOPs (multiply-adds) at 8 frames; v1 is 6.5% below.
        self.assertEqual(abs(tsn / 33e9 - 1) <= 0.02, matches_paper, tsn)


class CustomBlockTest(TestCase):
    def test_a_block_factory_plugs_in_any_temporal_layer(self):
        model = _tiny(lambda name: keras_stw.TemporalShift(T, shift_div=4, name=name))
        self.assertEqual(model.name, "custom_resnet26")
        shifts = [
            layer
            for layer in model.get_layer("backbone").layers
            if isinstance(layer, keras_stw.TemporalShift)
        ]
        self.assertLen(shifts, 8)
        self.assertEqual({s.shift_div for s in shifts}, {4})


def _json(config):
    """`config` as it comes back from a `.keras` file: tuples become lists."""
    return json.loads(json.dumps(config))


def _all_layers(model):
    """Every layer of `model`, nested models and the STW blocks' modules included."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
        if isinstance(layer, keras_stw.STWBlock):
            yield from (m for m in (layer.stfm, layer.twm) if m is not None)


class VideoResNetClassTest(TestCase):
    def test_constructor_arguments_are_attributes_and_the_config(self):
        model = keras_stw.VideoResNet(
            "tsm",
            num_frames=T,
            num_classes=5,
            image_shape=(32, 32, 3),
            stages=(4, 5),
            depth=26,
            base_width=4,
            dropout=0.25,
            activation=None,
            block_options={"shift_div": 4},
            name="mine",
        )
        self.assertIsInstance(model, keras.Model)
        self.assertEqual(model.input_shape, (None, T, 32, 32, 3))
        self.assertEqual(
            (model.temporal_block, model.num_frames, model.image_shape, model.block_options),
            ("tsm", T, (32, 32, 3), {"shift_div": 4}),
        )
        self.assertEqual(model.get_config(), {
            "temporal_block": "tsm",
            "num_frames": T,
            "num_classes": 5,
            "image_shape": (32, 32, 3),
            "stages": (4, 5),
            "depth": 26,
            "backbone": "keras_cv",
            "base_width": 4,
            "dropout": 0.25,
            "activation": None,
            "block_options": {"shift_div": 4},
            "normalization": {
                "mean": (0.0, 0.0, 0.0),
                "std": (255.0, 255.0, 255.0),
                "reverse_channels": False,
            },
            "dtype": keras.dtype_policies.serialize(keras.config.dtype_policy()),
            "name": "mine",
            "trainable": True,
            "clip_spec": None,
            "class_names": None,
        })  # fmt: skip

    def test_the_clip_recipe_and_class_names_are_saved_with_the_model(self):
        spec = ClipSpec(
            num_frames=T, training=True, image_size=32, sampling="dense", frame_interval=2,
            short_side=48, flip=True, flip_label_map=(1, 0, 2, 3, 4), frame_template="{:05d}.jpg",
        )  # fmt: skip
        names = ("a", "b", "c", "d", "e")
        model = _tiny("stw", clip_spec=spec.get_config(), class_names=list(names))
        self.assertEqual((model.clip_spec, model.class_names), (spec, names))
        path = os.path.join(self.get_temp_dir(), "recipe.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
        self.assertEqual((loaded.clip_spec, loaded.class_names), (spec, names))
        self.assertEqual(
            evaluation.model_clip_spec(loaded),
            ClipSpec(num_frames=T, image_size=32, sampling="dense", frame_interval=2,
                     short_side=48, frame_template="{:05d}.jpg"),
        )  # fmt: skip

    def test_a_file_saved_without_a_recipe_loads_with_the_default_one(self):
        # Written as keras-stw 0.1.0 and this class before the recipe wrote it: a config
        # without `clip_spec` and `class_names`.
        path = os.path.join(self.get_temp_dir(), "old.keras")
        _tiny("stw").save(path)
        with zipfile.ZipFile(path) as archive:
            members = {name: archive.read(name) for name in archive.namelist()}
        config = json.loads(members["config.json"])
        del config["config"]["clip_spec"], config["config"]["class_names"]
        members["config.json"] = json.dumps(config).encode()
        with zipfile.ZipFile(path, "w") as archive:
            for name, content in members.items():
                archive.writestr(name, content)
        loaded = keras.saving.load_model(path)
        self.assertEqual((loaded.clip_spec, loaded.class_names), (None, None))
        self.assertEqual(evaluation.model_clip_spec(loaded), ClipSpec(num_frames=T, image_size=32))

    @parameterized.parameters(
        ({"clip_spec": ClipSpec(num_frames=8, image_size=32)}, "clip_spec.num_frames=8"),
        ({"clip_spec": ClipSpec(num_frames=T, image_size=64)}, "clip_spec.image_size=64"),
        ({"clip_spec": {"sampling": "dense", "speed": 2}}, "unknown: \\['speed'\\]"),
        ({"clip_spec": "dense"}, "clip_spec='dense'"),
        ({"class_names": ("a", "b")}, "Received: 2 class_names"),
        ({"class_names": "abcde"}, "class_names='abcde'"),
    )
    def test_a_recipe_that_does_not_fit_the_model_is_refused(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            _tiny(None, **kwargs)

    def test_normalization_is_an_argument_and_files_without_it_still_load(self):
        caffe = {"mean": (103.939, 116.779, 123.68), "std": (1, 1, 1), "reverse_channels": True}
        model = _tiny("tsm", normalization=caffe)
        self.assertEqual(model.normalization, {**caffe, "std": (1.0, 1.0, 1.0)})
        frames = self.random_clips(num_frames=1)[:, 0].astype("float32")
        self.assertAllClose(
            keras.ops.convert_to_numpy(model.get_layer("normalization")(frames)),
            frames[..., ::-1] - np.array([103.939, 116.779, 123.68], "float32"),
            atol=1e-4,
        )
        # Configs saved before `normalization` was an argument take the backbone's.
        config = _tiny("tsm").get_config()
        del config["normalization"]
        rebuilt = keras_stw.VideoResNet.from_config(config)
        self.assertEqual(rebuilt.normalization, _tiny("tsm").normalization)

    def test_unknown_keywords_are_refused_not_ignored(self):
        with pytest.raises(ValueError, match=r"\['combination'\].*`block_options`"):
            keras_stw.VideoResNet("stw", combination="stfm", **TINY)

    def test_from_config_rebuilds_the_same_model(self):
        model = _tiny("stw", combination="stfm_then_twm", ratios=(8, "4/3", 8))
        clone = keras_stw.VideoResNet.from_config(model.get_config())
        self.assertIsInstance(clone, keras_stw.VideoResNet)
        self.assertEqual(clone.get_config(), model.get_config())
        clone.set_weights(model.get_weights())
        self.assert_same_outputs(model, clone, self.random_clips(num_frames=T))

    @parameterized.named_parameters(
        ("tsm", "tsm", {"shift_div": 4, "stages": (3, 4, 5), "activation": None}),
        ("tsn", None, {"dropout": 0.0}),
    )
    def test_keras_file_restores_a_video_resnet(self, temporal_block, kwargs):
        model = _tiny(temporal_block, **kwargs)
        path = os.path.join(self.get_temp_dir(), "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
        self.assertIsInstance(loaded, keras_stw.VideoResNet)
        self.assertEqual(_json(loaded.get_config()), _json(model.get_config()))
        self.assertEqual((loaded.num_frames, loaded.image_shape), (T, (32, 32, 3)))
        clips = self.random_clips(num_frames=T).astype("float32")
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(loaded(clips)), keras.ops.convert_to_numpy(model(clips))
        )

    def test_a_block_factory_is_saved_as_the_layers_it_made(self):
        model = _tiny(lambda name: keras_stw.TemporalShift(T, shift_div=4, name=name))
        made = model.get_config()["temporal_block"]["layers"]
        self.assertLen(made, 8)
        self.assertEqual({c["config"]["shift_div"] for c in made.values()}, {4})
        path = os.path.join(self.get_temp_dir(), "custom.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
        self.assertIsInstance(loaded, keras_stw.VideoResNet)
        self.assertEqual(loaded.name, "custom_resnet26")
        self.assert_same_outputs(model, loaded, self.random_clips(num_frames=T))

    def test_weights_initialize_the_backbone_and_are_not_in_the_config(self):
        source = keras_stw.build_resnet_backbone(
            26, "keras_cv", input_shape=(32, 32, 3), base_width=4
        )
        weights = os.path.join(self.get_temp_dir(), "backbone.weights.h5")
        source.save_weights(weights)
        model = _tiny("tsm", weights=weights)
        self.assertNotIn("weights", model.get_config())
        path = os.path.join(self.get_temp_dir(), "model.keras")
        model.save(path)
        os.remove(weights)  # loading must not need it: the .keras file has the weights
        loaded = keras.saving.load_model(path)
        self.assert_same_outputs(model, loaded, self.random_clips(num_frames=T))

    def test_input_shape_is_the_deprecated_name_of_image_shape(self):
        with pytest.warns(DeprecationWarning, match="pass the frame shape as `image_shape`") as w:
            model = keras_stw.TSNResNet50(T, 5, input_shape=(32, 32, 3), base_width=4)
        self.assertEqual(w[0].filename, __file__)  # the caller, not the package
        self.assertEqual(model.image_shape, (32, 32, 3))
        self.assertEqual(model.input_shape, (None, T, 32, 32, 3))
        self.assertNotIn("input_shape", model.get_config())
        with pytest.raises(ValueError, match="Received: image_shape=.*, input_shape="):
            _tiny(None, input_shape=(32, 32, 3))


class DtypeTest(TestCase):
    def test_dtype_reaches_every_layer_and_survives_saving(self):
        before = keras.config.dtype_policy().name
        model = _tiny("stw", dtype="mixed_bfloat16")
        self.assertEqual(keras.config.dtype_policy().name, before)
        layers = [
            layer for layer in _all_layers(model) if not isinstance(layer, keras.layers.InputLayer)
        ]
        kinds = {type(layer).__name__ for layer in layers}
        self.assertTrue({"STWBlock", "STFM", "TWM", "Conv2D", "ClipToFrames"} <= kinds, kinds)
        self.assertEqual({layer.dtype_policy.name for layer in layers}, {"mixed_bfloat16"})
        self.assertEqual(model.dtype_policy.name, "mixed_bfloat16")
        outputs = model(self.random_clips(num_frames=T))
        self.assertEqual(keras.backend.standardize_dtype(outputs.dtype), "bfloat16")
        self.assertEqual({w.dtype for w in model.weights}, {"float32"})
        path = os.path.join(self.get_temp_dir(), "bf16.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
        self.assertEqual({layer.dtype_policy.name for layer in _all_layers(loaded)} - {"float32"},
                         {"mixed_bfloat16"})  # fmt: skip

    def test_a_block_factory_follows_the_models_dtype(self):
        model = _tiny(lambda name: keras_stw.TemporalShift(T, name=name), dtype="bfloat16")
        shifts = [x for x in _all_layers(model) if isinstance(x, keras_stw.TemporalShift)]
        self.assertLen(shifts, 8)
        self.assertEqual({s.dtype_policy.name for s in shifts}, {"bfloat16"})

    def test_without_dtype_the_global_policy_at_construction_is_kept(self):
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy("mixed_bfloat16")
        try:
            model = _tiny("tsm")
        finally:
            keras.config.set_dtype_policy(previous)
        config = model.get_config()
        self.assertEqual(keras.dtype_policies.deserialize(config["dtype"]).name, "mixed_bfloat16")
        rebuilt = keras_stw.VideoResNet.from_config(config)  # under the float32 policy
        self.assertEqual(rebuilt.get_layer("frame_scores").dtype_policy.name, "mixed_bfloat16")
