import keras
import pytest

from keras_stw.layers import TemporalShift
from tests.layers import reference
from tests.test_case import TestCase

T = 4


class TemporalShiftTest(TestCase):
    def test_matches_tsm_reference(self):
        frames = self.random_frames(num_frames=T, channels=16)
        out = keras.ops.convert_to_numpy(TemporalShift(T)(frames))
        self.assertAllClose(out, reference.temporal_shift(frames, T))

    def test_shift_div(self):
        frames = self.random_frames(num_frames=T, channels=16)
        out = keras.ops.convert_to_numpy(TemporalShift(T, shift_div=4)(frames))
        self.assertAllClose(out, reference.temporal_shift(frames, T, shift_div=4))

    def test_too_few_channels(self):
        with pytest.raises(ValueError, match="at least 8 channels"):
            TemporalShift(T).build((2 * T, 5, 5, 4))

    def test_bad_shift_div(self):
        with pytest.raises(ValueError, match="shift_div"):
            TemporalShift(T, shift_div=1)
