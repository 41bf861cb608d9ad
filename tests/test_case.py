"""The shared test base of keras-stw, on top of Keras's own `TestCase`."""

import keras
import numpy as np
from keras.src import testing


class TestCase(testing.TestCase):
    """Keras's test case (`run_layer_test`, `assertAllClose`, ...) plus clip helpers."""

    def random_frames(self, clips=2, num_frames=4, size=6, channels=8, seed=0):
        """Frame features `(clips * num_frames, size, size, channels)`, float32."""
        rng = np.random.default_rng(seed)
        shape = (clips * num_frames, size, size, channels)
        return rng.standard_normal(shape).astype("float32")

    def random_clips(self, clips=2, num_frames=4, size=32, seed=0):
        """Raw uint8 clips `(clips, num_frames, size, size, 3)`."""
        rng = np.random.default_rng(seed)
        return rng.integers(0, 256, (clips, num_frames, size, size, 3), dtype="uint8")

    def assert_same_outputs(self, model_a, model_b, inputs):
        """Both models give the same outputs on `inputs` (inference mode)."""
        self.assertAllClose(
            keras.ops.convert_to_numpy(model_a(inputs, training=False)),
            keras.ops.convert_to_numpy(model_b(inputs, training=False)),
            atol=1e-5,
            rtol=1e-5,
        )
