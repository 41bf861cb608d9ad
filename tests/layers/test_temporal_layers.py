"""Properties every temporal layer shares, checked for each of them."""

import keras
import numpy as np
import pytest
from absl.testing import parameterized

from keras_stw import layers
from tests.test_case import TestCase

NUM_FRAMES = 4
TEMPORAL_LAYERS = [
    ("stfm", layers.STFM, {"ratios": (4, 2, 4)}),
    ("stfm_k3", layers.STFM, {"kernel_size": 3, "use_bias": True}),
    ("twm", layers.TWM, {"kernel_initializer": "glorot_uniform"}),
    ("stw", layers.STWBlock, {}),
    ("stw_replicate", layers.STWBlock, {"padding": "replicate"}),
    ("tsm", layers.TemporalShift, {}),
]


class TemporalLayerTest(TestCase):
    @parameterized.named_parameters(TEMPORAL_LAYERS)
    def test_keras_layer_checks(self, layer_class, kwargs):
        has_weights = layer_class is not layers.TemporalShift
        self.run_layer_test(
            layer_class,
            init_kwargs={"num_frames": NUM_FRAMES, **kwargs},
            input_shape=(2 * NUM_FRAMES, 5, 5, 8),
            expected_output_shape=(2 * NUM_FRAMES, 5, 5, 8),
            run_training_check=has_weights,
        )

    @parameterized.named_parameters(TEMPORAL_LAYERS)
    def test_clips_never_mix(self, layer_class, kwargs):
        layer = layer_class(NUM_FRAMES, **kwargs)
        frames = self.random_frames(clips=3, num_frames=NUM_FRAMES)
        before = keras.ops.convert_to_numpy(layer(frames))
        changed = frames.copy()
        changed[NUM_FRAMES : 2 * NUM_FRAMES] += 10.0  # only the second clip
        after = keras.ops.convert_to_numpy(layer(changed))
        self.assertAllClose(before[:NUM_FRAMES], after[:NUM_FRAMES])
        self.assertAllClose(before[2 * NUM_FRAMES :], after[2 * NUM_FRAMES :])
        self.assertFalse(np.allclose(before[NUM_FRAMES:-NUM_FRAMES], after[NUM_FRAMES:-NUM_FRAMES]))

    @parameterized.named_parameters(TEMPORAL_LAYERS)
    def test_symbolic_batch_and_jit_compile(self, layer_class, kwargs):
        inputs = keras.Input(shape=(5, 5, 8))
        layer = layer_class(NUM_FRAMES, **kwargs)
        outputs = layer(inputs)
        self.assertEqual(outputs.shape, (None, 5, 5, 8))
        model = keras.Model(inputs, outputs)
        frames = self.random_frames(clips=2, num_frames=NUM_FRAMES, size=5)
        eager = keras.ops.convert_to_numpy(layer(frames))
        model.compile(jit_compile=True)
        compiled = model.predict(frames, batch_size=2 * NUM_FRAMES, verbose=0)
        self.assertAllClose(eager, compiled, atol=1e-5)

    @parameterized.named_parameters(TEMPORAL_LAYERS)
    def test_frames_not_a_whole_number_of_clips(self, layer_class, kwargs):
        with pytest.raises(ValueError, match="num_frames=4"):
            layer_class(NUM_FRAMES, **kwargs).build((6, 5, 5, 8))

    @parameterized.named_parameters(TEMPORAL_LAYERS)
    def test_wrong_rank(self, layer_class, kwargs):
        with pytest.raises(ValueError, match="rank 4"):
            layer_class(NUM_FRAMES, **kwargs).build((2, NUM_FRAMES, 5, 5, 8))

    @parameterized.named_parameters(TEMPORAL_LAYERS)
    def test_num_frames_must_be_positive(self, layer_class, kwargs):
        for bad in (0, -2, 2.5, "8"):
            with pytest.raises(ValueError, match="num_frames"):
                layer_class(bad, **kwargs)

    @parameterized.named_parameters(TEMPORAL_LAYERS)
    def test_unknown_padding(self, layer_class, kwargs):
        with pytest.raises(ValueError, match="padding"):
            layer_class(NUM_FRAMES, **{**kwargs, "padding": "reflect"})

    @parameterized.named_parameters(TEMPORAL_LAYERS)
    def test_frame_order_matters(self, layer_class, kwargs):
        layer = layer_class(NUM_FRAMES, **kwargs)
        frames = self.random_frames(clips=1, num_frames=NUM_FRAMES)
        reversed_frames = frames[::-1].copy()
        out = keras.ops.convert_to_numpy(layer(frames))
        out_of_reversed = keras.ops.convert_to_numpy(layer(reversed_frames))
        # A frame-wise layer would give the same set of frames in reverse order.
        self.assertFalse(np.allclose(out[::-1], out_of_reversed, atol=1e-4))
