import keras
import numpy as np
import pytest

from keras_stw.layers import ClipToFrames
from tests.test_case import TestCase

T = 4


class ClipToFramesTest(TestCase):
    def test_keras_layer_checks(self):
        self.run_layer_test(
            ClipToFrames,
            init_kwargs={"num_frames": T},
            input_shape=(2, T, 5, 5, 3),
            expected_output_shape=(2 * T, 5, 5, 3),
            expected_num_trainable_weights=0,
            run_training_check=False,
        )

    def test_frames_keep_clip_then_time_order(self):
        clips = self.random_clips(clips=2, num_frames=T, size=5)
        frames = keras.ops.convert_to_numpy(ClipToFrames(T)(clips))
        self.assertAllClose(frames, clips.reshape(2 * T, 5, 5, 3).astype("float32"))

    def test_uint8_clips_come_out_in_the_compute_dtype(self):
        clips = self.random_clips(clips=1, num_frames=T, size=5)
        frames = ClipToFrames(T, dtype="mixed_bfloat16")(clips)
        self.assertEqual(keras.backend.standardize_dtype(frames.dtype), "bfloat16")

    def test_wrong_frame_count_names_num_frames(self):
        with pytest.raises(ValueError, match="num_frames=4 frames. Received a clip of 6"):
            ClipToFrames(T)(np.zeros((1, 6, 5, 5, 3), "uint8"))

    def test_wrong_rank(self):
        with pytest.raises(ValueError, match="rank 5"):
            ClipToFrames(T)(np.zeros((T, 5, 5, 3), "uint8"))

    def test_num_frames_must_be_positive(self):
        with pytest.raises(ValueError, match="Received: num_frames=0"):
            ClipToFrames(0)
