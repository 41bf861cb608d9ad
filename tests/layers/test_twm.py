import keras
import numpy as np
from absl.testing import parameterized

from keras_stw.layers import TWM
from tests.layers import reference
from tests.test_case import TestCase

T = 4


def _random_twm(padding="zeros", seed=1):
    layer = TWM(T, padding=padding)
    layer.build((2 * T, 6, 6, 8))
    rng = np.random.default_rng(seed)
    layer.kernel.assign(rng.standard_normal((3, 8)).astype("float32") * 0.5)
    layer.bias.assign(np.float32(0.3))
    return layer


class TWMTest(TestCase):
    @parameterized.parameters("zeros", "replicate")
    def test_matches_numpy_reference(self, padding):
        layer = _random_twm(padding)
        frames = self.random_frames(num_frames=T)
        expected = reference.twm(
            frames,
            T,
            keras.ops.convert_to_numpy(layer.kernel),
            float(keras.ops.convert_to_numpy(layer.bias)),
            padding,
        )
        self.assertAllClose(keras.ops.convert_to_numpy(layer(frames)), expected, atol=1e-5)

    @parameterized.parameters("zeros", "replicate")
    def test_gradients_match_numeric_differences_of_the_reference(self, padding):
        layer = _random_twm(padding)
        frames = self.random_frames(clips=1, num_frames=T, size=2, channels=8)
        upstream = np.random.default_rng(2).standard_normal(frames.shape)
        kernel = keras.ops.convert_to_numpy(layer.kernel).astype("float64")
        frames64 = frames.astype("float64")

        def twm(x=frames64, k=kernel, b=0.3):
            return reference.twm(x, T, k, b, padding)

        expected = [
            self.numeric_gradient(lambda x: twm(x=x), frames64, upstream),
            self.numeric_gradient(lambda k: twm(k=k), kernel, upstream),
            self.numeric_gradient(lambda b: twm(b=b), 0.3, upstream),
        ]
        got = self.layer_gradients(layer, frames, upstream)
        for got_grad, want in zip(got, expected, strict=True):
            self.assertAllClose(got_grad, want, atol=1e-4, rtol=1e-4)

    def test_matches_a_keras_conv3d(self):
        layer = _random_twm()
        frames = self.random_frames(clips=1, num_frames=T)
        conv = keras.layers.Conv3D(1, (3, 1, 1), padding="same")
        clip = frames[None]
        conv.build(clip.shape)
        kernel = keras.ops.convert_to_numpy(layer.kernel)
        conv.set_weights([kernel[:, None, None, :, None], np.array([0.3], "float32")])
        gate = keras.ops.convert_to_numpy(keras.ops.sigmoid(conv(clip)))[0]
        expected = frames - frames * gate
        self.assertAllClose(keras.ops.convert_to_numpy(layer(frames)), expected, atol=1e-5)

    def test_gate_is_shared_by_all_channels(self):
        layer = _random_twm()
        frames = np.abs(self.random_frames(num_frames=T)) + 0.5
        ratio = keras.ops.convert_to_numpy(layer(frames)) / frames
        self.assertAllClose(ratio, np.repeat(ratio[..., :1], 8, axis=-1), atol=1e-5)
        self.assertGreater(ratio.std(), 1e-3)

    def test_gate_depends_only_on_neighbouring_frames(self):
        layer = _random_twm()
        frames = self.random_frames(clips=1, num_frames=T)
        base = keras.ops.convert_to_numpy(layer(frames))
        changed = frames.copy()
        changed[3] += 5.0
        delta = np.abs(keras.ops.convert_to_numpy(layer(changed)) - base).max(axis=(1, 2, 3))
        self.assertEqual(delta[0], 0.0)
        self.assertEqual(delta[1], 0.0)
        self.assertGreater(delta[2], 0.0)

    def test_static_regions_are_suppressed_more_than_moving_ones(self):
        # Z = X - X * S: with a gate that fires on temporal change, pixels that do not
        # move keep less of their value than pixels that do.
        layer = TWM(T)
        layer.build((T, 4, 4, 1))
        layer.kernel.assign(np.array([[4.0], [-8.0], [4.0]], "float32"))
        layer.bias.assign(np.float32(3.0))
        frames = np.ones((T, 4, 4, 1), "float32")
        frames[1:3, 0, 0, 0] = [3.0, 0.5]  # one flickering pixel
        out = keras.ops.convert_to_numpy(layer(frames))
        self.assertGreater(out[1, 0, 0, 0] / frames[1, 0, 0, 0], out[1, 3, 3, 0])
