import keras
import numpy as np
import pytest
from absl.testing import parameterized

from keras_stw.layers import STFM
from tests.layers import reference
from tests.test_case import TestCase

T = 4


def _set_random_weights(layer, seed=1):
    rng = np.random.default_rng(seed)
    for weight in layer.weights:
        weight.assign(rng.standard_normal(weight.shape).astype("float32"))


class STFMTest(TestCase):
    @parameterized.named_parameters(
        ("paper", (4, 2, 4), 1, "zeros", (4, 8, 4)),
        ("table5_16_87_16", (16, "8/7", 16), 1, "zeros", (1, 14, 1)),
        ("table5_8_43_8_float", (8, 4 / 3, 8), 1, "zeros", (2, 12, 2)),
        ("kernel3_replicate", (4, 2, 4), 3, "replicate", (4, 8, 4)),
    )
    def test_matches_numpy_reference(self, ratios, kernel_size, padding, sizes):
        layer = STFM(T, ratios=ratios, kernel_size=kernel_size, padding=padding, use_bias=True)
        frames = self.random_frames(num_frames=T, channels=16)
        layer.build(frames.shape)
        _set_random_weights(layer)
        self.assertEqual(layer.split_sizes, sizes)
        expected = reference.stfm(
            frames,
            T,
            sizes,
            keras.ops.convert_to_numpy(layer.kernel),
            keras.ops.convert_to_numpy(layer.bias),
            padding,
        )
        self.assertAllClose(keras.ops.convert_to_numpy(layer(frames)), expected, atol=1e-5)

    @parameterized.parameters(("zeros", 1), ("replicate", 1), ("replicate", 3))
    def test_gradients_match_numeric_differences_of_the_reference(self, padding, kernel_size):
        layer = STFM(T, kernel_size=kernel_size, padding=padding, use_bias=True)
        frames = self.random_frames(clips=1, num_frames=T, size=3, channels=4)
        layer.build(frames.shape)
        _set_random_weights(layer)
        upstream = np.random.default_rng(2).standard_normal(frames.shape)
        kernel, bias = (keras.ops.convert_to_numpy(w).astype("float64") for w in layer.weights)
        frames64 = frames.astype("float64")

        def stfm(x=frames64, k=kernel, b=bias):
            return reference.stfm(x, T, layer.split_sizes, k, b, padding)

        expected = [
            self.numeric_gradient(lambda x: stfm(x=x), frames64, upstream),
            self.numeric_gradient(lambda k: stfm(k=k), kernel, upstream),
            self.numeric_gradient(lambda b: stfm(b=b), bias, upstream),
        ]
        got = self.layer_gradients(layer, frames, upstream)
        for got_grad, want in zip(got, expected, strict=True):
            self.assertAllClose(got_grad, want, atol=1e-4, rtol=1e-4)

    def test_each_channel_group_depends_only_on_its_frame(self):
        layer = STFM(T)
        frames = self.random_frames(clips=1, num_frames=T, channels=16)
        base = keras.ops.convert_to_numpy(layer(frames))
        groups = {-1: slice(0, 4), 0: slice(4, 12), 1: slice(12, 16)}
        t = 1
        for offset, channels in groups.items():
            changed = frames.copy()
            changed[t + offset] += 5.0
            delta = np.abs(keras.ops.convert_to_numpy(layer(changed)) - base)[t]
            others = np.ones(16, bool)
            others[channels] = False
            self.assertGreater(delta[..., channels].min(), 1.0)
            self.assertEqual(delta[..., others].max(), 0.0)

    def test_clip_ends_are_zero_padded(self):
        layer = STFM(T)
        frames = self.random_frames(clips=1, num_frames=T, channels=16)
        out = keras.ops.convert_to_numpy(layer(frames))
        self.assertEqual(np.abs(out[0, ..., :4]).max(), 0.0)
        self.assertEqual(np.abs(out[-1, ..., 12:]).max(), 0.0)

    def test_ratios_whose_reciprocals_do_not_sum_to_one(self):
        with pytest.raises(ValueError, match="sum to 1"):
            STFM(T, ratios=(4, 4, 4))

    def test_malformed_ratios(self):
        for bad in ((4, 2), (4, 0, 4), ("a", 2, 4), (-4, 2, 4)):
            with pytest.raises(ValueError, match="ratios"):
                STFM(T, ratios=bad)

    def test_channels_the_ratios_cannot_split(self):
        with pytest.raises(ValueError, match="cannot split 6 channels"):
            STFM(T).build((2 * T, 5, 5, 6))

    def test_kernel_size_must_be_positive(self):
        with pytest.raises(ValueError, match="kernel_size"):
            STFM(T, kernel_size=0)
