import keras
import numpy as np
import pytest
from absl.testing import parameterized

import keras_stw
from keras_stw.models import build_resnet_backbone
from tests.test_case import TestCase


def _small_resnet50(source="keras_cv"):
    """ResNet-50 on 32x32 frames; narrow where the source allows it (KerasCV)."""
    base_width = 4 if source == "keras_cv" else 64
    return build_resnet_backbone(50, source, input_shape=(32, 32, 3), base_width=base_width)


def _stw_factory(name):
    return keras_stw.STWBlock(2, name=name)


class SurgeryTest(TestCase):
    @parameterized.parameters(*keras_stw.BACKBONES)
    def test_finds_the_sixteen_bottlenecks_of_resnet50(self, source):
        backbone = _small_resnet50(source)
        blocks = keras_stw.find_residual_blocks(backbone)
        self.assertEqual(
            [(b.stage, b.index) for b in blocks],
            [(2, i) for i in range(1, 4)]
            + [(3, i) for i in range(1, 5)]
            + [(4, i) for i in range(1, 7)]
            + [(5, i) for i in range(1, 4)],
        )
        self.assertEqual([b.projection for b in blocks].count(True), 4)
        # Found from the graph; the names only confirm it found each block's Add and its
        # branch's first conv.
        self.assertTrue(all(b.add_layer.name.endswith("_add") for b in blocks))
        self.assertTrue(all(b.branch_entry.name.endswith("_1_conv") for b in blocks))

    @parameterized.parameters(*keras_stw.BACKBONES)
    def test_blocks_start_each_residual_branch_and_leave_shortcuts(self, source):
        backbone = _small_resnet50(source)
        rewritten = keras_stw.insert_temporal_blocks(backbone, _stw_factory)
        inserted = [layer for layer in rewritten.layers if isinstance(layer, keras_stw.STWBlock)]
        self.assertLen(inserted, 16)
        for layer in inserted:
            consumers = [
                n.operation.name
                for n in layer._outbound_nodes
                if n.operation in rewritten.operations
            ]
            self.assertLen(consumers, 1)
            self.assertTrue(consumers[0].endswith("_1_conv"), consumers)
        shortcut_convs = [layer for layer in rewritten.layers if layer.name.endswith("_0_conv")]
        for conv in shortcut_convs:
            node = conv._inbound_nodes[-1]
            producer = node.input_tensors[0]._keras_history.operation
            self.assertNotIsInstance(producer, keras_stw.STWBlock)

    @parameterized.parameters(*keras_stw.BACKBONES)
    def test_original_layers_and_weights_are_kept(self, source):
        backbone = _small_resnet50(source)
        rewritten = keras_stw.insert_temporal_blocks(backbone, _stw_factory)
        for layer in backbone.layers[1:]:
            self.assertIs(rewritten.get_layer(layer.name), layer)
        frames = self.random_clips(clips=1, num_frames=2).reshape(2, 32, 32, 3) / 255.0
        identity = keras_stw.insert_temporal_blocks(
            backbone, lambda name: keras.layers.Identity(name=name)
        )
        self.assert_same_outputs(backbone, identity, frames)
        self.assertFalse(
            np.allclose(
                keras.ops.convert_to_numpy(backbone(frames)),
                keras.ops.convert_to_numpy(rewritten(frames)),
            )
        )

    @parameterized.named_parameters(
        ("stage2", (2,), 3),
        ("stage3", (3,), 4),
        ("stage4", (4,), 6),
        ("stage5", (5,), 3),
        ("stages3_5", (3, 4, 5), 13),
        ("stages4_5", (4, 5), 9),
    )
    def test_stages(self, stages, expected):
        rewritten = keras_stw.insert_temporal_blocks(_small_resnet50(), _stw_factory, stages=stages)
        names = [layer.name for layer in rewritten.layers if isinstance(layer, keras_stw.STWBlock)]
        self.assertLen(names, expected)
        self.assertTrue(all(int(n[5]) in stages for n in names), names)

    def test_a_factory_returning_none_leaves_that_branch_as_it_is(self):
        wanted = ["stage2_block2_temporal", "stage5_block1_temporal"]
        rewritten = keras_stw.insert_temporal_blocks(
            _small_resnet50(), lambda name: _stw_factory(name) if name in wanted else None
        )
        names = [layer.name for layer in rewritten.layers if isinstance(layer, keras_stw.STWBlock)]
        self.assertEqual(names, wanted)

    def test_unknown_stage(self):
        with pytest.raises(ValueError, match=r"stages.*Received: stages=\(1, 2\)"):
            keras_stw.insert_temporal_blocks(_small_resnet50(), _stw_factory, stages=(1, 2))

    def test_model_without_residual_blocks(self):
        inputs = keras.Input((8, 8, 3))
        model = keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs), name="plain")
        with pytest.raises(ValueError, match="no residual blocks in model 'plain'"):
            keras_stw.insert_temporal_blocks(model, _stw_factory)

    def test_sequential_model_is_refused(self):
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)])
        with pytest.raises(ValueError, match="functional keras.Model"):
            keras_stw.insert_temporal_blocks(model, _stw_factory)
