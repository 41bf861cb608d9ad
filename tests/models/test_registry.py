import importlib.util
import re
import textwrap
from unittest import mock

import pytest
from absl.testing import parameterized

import keras_stw
from keras_stw.models import registry
from tests.test_case import TestCase

TINY = {"num_frames": 4, "num_classes": 5, "image_shape": (32, 32, 3), "base_width": 4}
ZOO = [
    f"{family}_resnet{depth}" for family in ("stw", "tsm", "tsn") for depth in (26, 50, 101, 152)
]


class RegistryTest(TestCase):
    def setUp(self):
        super().setUp()
        # Registrations made by a test are undone after it.
        for table in (registry._MODEL_FUNCTIONS, registry._MODEL_INFO):
            patcher = mock.patch.dict(table)
            patcher.start()
            self.addCleanup(patcher.stop)

    def test_the_zoo_is_registered_in_natural_order(self):
        self.assertEqual(keras_stw.list_models(), ZOO)

    def test_patterns(self):
        self.assertEqual(
            keras_stw.list_models("*_resnet50"), ["stw_resnet50", "tsm_resnet50", "tsn_resnet50"]
        )
        self.assertEqual(keras_stw.list_models("tsm_*"), ZOO[4:8])
        self.assertEqual(keras_stw.list_models("resnet50"), [])

    @parameterized.parameters(
        ("stw_resnet50", "stw", 50, "stw"),
        ("tsm_resnet101", "tsm", 101, "tsm"),
        ("tsn_resnet26", "tsn", 26, None),
    )
    def test_each_zoo_model_records_its_facts(self, name, family, depth, temporal_block):
        info = keras_stw.model_info(name)
        self.assertEqual(
            (info.name, info.family, info.depth, info.temporal_block, info.block_options),
            (name, family, depth, temporal_block, {}),
        )
        self.assertEqual(info.default_config["num_frames"], 8)

    def test_list_models_by_family_and_depth(self):
        self.assertEqual(keras_stw.list_models(family="tsm"), ZOO[4:8])
        self.assertEqual(keras_stw.list_models(depth=101), ZOO[2::4])
        self.assertEqual(keras_stw.list_models(family="stw", depth=26), ["stw_resnet26"])
        self.assertEqual(keras_stw.list_models(family="i3d"), [])

    def test_a_family_is_one_registration(self):
        names = keras_stw.register_family(
            "tsm4", "tsm", "TSM shifting a quarter of the channels", depths=(26, 50), shift_div=4
        )
        self.assertEqual(names, ["tsm4_resnet26", "tsm4_resnet50"])
        self.assertEqual(keras_stw.list_models(family="tsm4", depth=26), ["tsm4_resnet26"])
        info = keras_stw.model_info("tsm4_resnet26")
        self.assertEqual(
            (info.family, info.depth, info.temporal_block, info.block_options),
            ("tsm4", 26, "tsm", {"shift_div": 4}),
        )
        model = keras_stw.create_model("tsm4_resnet26", **TINY)
        self.assertEqual((model.name, model.block_options), ("tsm4_resnet26", {"shift_div": 4}))
        self.assertIn("TSM shifting a quarter", registry._MODEL_FUNCTIONS["tsm4_resnet26"].__doc__)

    @parameterized.parameters(
        ({"temporal_block": "i3d"}, "Received: temporal_block='i3d'"),
        ({"depths": (18,)}, "Received: depths=(18,)"),
        ({"depths": ()}, "Received: depths=()"),
    )
    def test_a_family_with_an_unknown_block_or_depth_is_refused(self, change, message):
        arguments = {"temporal_block": "tsm", "description": "d", **change}
        with pytest.raises(ValueError, match=re.escape(message)):
            keras_stw.register_family("bad", **arguments)
        self.assertEqual(keras_stw.list_models(family="bad"), [])

    def test_a_model_registered_without_facts_has_none(self):
        keras_stw.register_model(lambda: "built", name="anonymous")
        info = keras_stw.model_info("anonymous")
        self.assertEqual((info.family, info.depth, info.temporal_block), (None, None, None))
        with pytest.raises(ValueError, match="Did you mean 'anonymous'"):
            keras_stw.model_info("Anonymous")

    def test_create_model_builds_the_named_model(self):
        model = keras_stw.create_model("tsm_resnet26", shift_div=4, **TINY)
        self.assertIsInstance(model, keras_stw.VideoResNet)
        self.assertEqual(
            (model.name, model.temporal_block, model.depth, model.num_frames),
            ("tsm_resnet26", "tsm", 26, 4),
        )
        self.assertEqual(model.block_options, {"shift_div": 4})

    def test_the_0_1_0_factories_are_the_registered_functions(self):
        for factory, name in (
            (keras_stw.STWResNet50, "stw_resnet50"),
            (keras_stw.STWResNet101, "stw_resnet101"),
            (keras_stw.TSMResNet50, "tsm_resnet50"),
            (keras_stw.TSMResNet101, "tsm_resnet101"),
            (keras_stw.TSNResNet50, "tsn_resnet50"),
            (keras_stw.TSNResNet101, "tsn_resnet101"),
        ):
            self.assertIs(factory, registry._MODEL_FUNCTIONS[name])
            self.assertIn("Example:", factory.__doc__)
        model = keras_stw.STWResNet50(4, 5, image_shape=(32, 32, 3), base_width=4, stages=(5,))
        self.assertEqual((model.name, model.depth, model.num_frames), ("stw_resnet50", 50, 4))

    def test_a_zoo_name_fixes_its_depth_and_block(self):
        with pytest.raises(TypeError, match="depth"):
            keras_stw.create_model("stw_resnet50", depth=101, **TINY)

    def test_unknown_name_suggests_close_ones_and_lists_all(self):
        with pytest.raises(ValueError) as error:
            keras_stw.create_model("stw_resnet5")
        message = str(error.value)
        self.assertIn("Did you mean 'stw_resnet50'", message)
        self.assertIn(f"Available: {ZOO}", message)
        self.assertIn("Received: name='stw_resnet5'", message)

    @parameterized.parameters("STWResNet50", "stw-resnet50", "Stw_ResNet_50")
    def test_class_style_and_other_spellings_suggest_the_registered_name(self, name):
        with pytest.raises(ValueError, match=r"Did you mean 'stw_resnet50'\?"):
            keras_stw.create_model(name)

    def test_a_model_registered_in_a_users_file_appears_in_both(self):
        path = self.get_temp_dir() + "/my_models.py"
        with open(path, "w") as file:
            file.write(
                textwrap.dedent(
                    """
                    import keras

                    import keras_stw

                    @keras_stw.register_model
                    def stw_resnet26_stfm(**kwargs):
                        return keras_stw.video_resnet(
                            "stw", depth=26, combination="stfm", **kwargs
                        )

                    @keras_stw.register_model(name="tiny_mlp")
                    def make_mlp(num_classes=3):
                        inputs = keras.Input((4,))
                        return keras.Model(inputs, keras.layers.Dense(num_classes)(inputs))
                    """
                )
            )
        spec = importlib.util.spec_from_file_location("my_models", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self.assertIn("stw_resnet26_stfm", keras_stw.list_models())
        self.assertEqual(keras_stw.list_models("tiny_*"), ["tiny_mlp"])
        model = keras_stw.create_model("stw_resnet26_stfm", **TINY)
        self.assertEqual(model.block_options, {"combination": "stfm"})
        self.assertEqual(keras_stw.create_model("tiny_mlp", num_classes=2).output_shape, (None, 2))

    def test_registering_a_name_again_warns_and_replaces(self):
        def stw_resnet50(**kwargs):
            return "replacement"

        with pytest.warns(UserWarning, match="'stw_resnet50' was registered by keras_stw"):
            keras_stw.register_model(stw_resnet50)
        self.assertEqual(keras_stw.create_model("stw_resnet50"), "replacement")

    def test_a_lambda_needs_a_name(self):
        with pytest.raises(ValueError, match="pass `name=`"):
            keras_stw.register_model(lambda: None)
        keras_stw.register_model(lambda: "built", name="anonymous")
        self.assertEqual(keras_stw.create_model("anonymous"), "built")
