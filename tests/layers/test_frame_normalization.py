import keras
import numpy as np
import pytest

from keras_stw.layers import FrameNormalization
from tests.test_case import TestCase

CAFFE = {"mean": (103.939, 116.779, 123.68), "std": (1.0, 1.0, 1.0), "reverse_channels": True}


class FrameNormalizationTest(TestCase):
    def test_keras_layer_checks(self):
        self.run_layer_test(
            FrameNormalization,
            init_kwargs=CAFFE,
            input_shape=(8, 5, 5, 3),
            expected_output_shape=(8, 5, 5, 3),
            expected_num_trainable_weights=0,
            run_training_check=False,
        )

    def test_caffe_style_reverses_to_bgr_then_subtracts_the_mean(self):
        frames = self.random_clips(clips=1, num_frames=2, size=4)[0]
        out = keras.ops.convert_to_numpy(FrameNormalization(**CAFFE)(frames))
        expected = frames[..., ::-1].astype("float32") - np.array(CAFFE["mean"], "float32")
        self.assertAllClose(out, expected, atol=1e-4)

    def test_scaling_to_the_unit_interval(self):
        layer = FrameNormalization(mean=(0, 0, 0), std=(255, 255, 255))
        frames = np.array([[[[0, 51, 255]]]], "uint8")
        self.assertAllClose(keras.ops.convert_to_numpy(layer(frames)), [[[[0.0, 0.2, 1.0]]]])

    def test_channel_count_must_match_the_statistics(self):
        with pytest.raises(ValueError, match="3 channel statistics but the input has 4"):
            FrameNormalization(**CAFFE).build((8, 5, 5, 4))

    def test_bad_statistics(self):
        with pytest.raises(ValueError, match="one value per channel"):
            FrameNormalization(mean=(0, 0), std=(1, 1, 1))
        with pytest.raises(ValueError, match="`std` must be positive"):
            FrameNormalization(mean=(0, 0, 0), std=(1, 0, 1))
