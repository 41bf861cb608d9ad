import keras
import numpy as np
import pytest
from absl.testing import parameterized

from keras_stw.layers import STFM, TWM, STWBlock
from tests.test_case import TestCase

T = 4


class STWBlockTest(TestCase):
    def _block_and_modules(self, combination):
        block = STWBlock(T, combination=combination)
        frames = self.random_frames(num_frames=T)
        block.build(frames.shape)
        rng = np.random.default_rng(3)
        for weight in block.weights:
            weight.assign(rng.standard_normal(weight.shape).astype("float32"))
        stfm, twm = STFM(T), TWM(T)
        stfm.build(frames.shape)
        twm.build(frames.shape)
        if block.stfm is not None:
            stfm.set_weights(block.stfm.get_weights())
        if block.twm is not None:
            twm.set_weights(block.twm.get_weights())
        return block, stfm, twm, frames

    @parameterized.named_parameters(
        ("parallel", "parallel", lambda s, t, x: s(x) + t(x)),
        ("stfm_then_twm", "stfm_then_twm", lambda s, t, x: t(s(x))),
        ("twm_then_stfm", "twm_then_stfm", lambda s, t, x: s(t(x))),
        ("stfm_only", "stfm", lambda s, t, x: s(x)),
        ("twm_only", "twm", lambda s, t, x: t(x)),
    )
    def test_combinations(self, combination, compose):
        block, stfm, twm, frames = self._block_and_modules(combination)
        expected = keras.ops.convert_to_numpy(compose(stfm, twm, frames))
        self.assertAllClose(keras.ops.convert_to_numpy(block(frames)), expected, atol=1e-5)

    @parameterized.parameters(
        ("parallel", 2 * 8 + 3 * 8 + 1),
        ("stfm", 8),
        ("twm", 3 * 8 + 1),
    )
    def test_parameter_count(self, combination, expected):
        block = STWBlock(T, combination=combination)
        block.build((2 * T, 5, 5, 8))
        self.assertEqual(block.count_params(), expected - (8 if combination == "parallel" else 0))

    def test_unknown_combination(self):
        with pytest.raises(ValueError, match="combination"):
            STWBlock(T, combination="serial")

    def test_config_round_trip(self):
        block = STWBlock(T, combination="twm_then_stfm", ratios=(8, "4/3", 8))
        clone = STWBlock.from_config(block.get_config())
        self.assertEqual(clone.get_config(), block.get_config())
