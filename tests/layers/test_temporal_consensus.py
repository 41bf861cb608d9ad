import keras
import pytest

from keras_stw.layers import TemporalConsensus
from tests.test_case import TestCase

T = 4


class TemporalConsensusTest(TestCase):
    def test_keras_layer_checks(self):
        self.run_layer_test(
            TemporalConsensus,
            init_kwargs={"num_frames": T},
            input_shape=(2 * T, 5),
            expected_output_shape=(2, 5),
            expected_num_trainable_weights=0,
            run_training_check=False,
        )

    def test_averages_each_clips_frames(self):
        scores = self.random_frames(clips=3, num_frames=T, size=1, channels=5).reshape(3 * T, 5)
        out = keras.ops.convert_to_numpy(TemporalConsensus(T)(scores))
        self.assertAllClose(out, scores.reshape(3, T, 5).mean(axis=1), atol=1e-6)

    def test_symbolic_batch(self):
        outputs = TemporalConsensus(T)(keras.Input(shape=(5,)))
        self.assertEqual(outputs.shape, (None, 5))

    def test_num_frames_must_be_positive(self):
        with pytest.raises(ValueError, match="Received: num_frames=-1"):
            TemporalConsensus(-1)
