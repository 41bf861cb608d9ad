"""Model files written by keras-stw 0.1.0 still load, with the outputs they had.

`tests/fixtures/stw_0_1_0.keras` was saved at 0.1.0 (commit 0953c5b) by
`tests/fixtures/make_stw_0_1_0.py`, with its probabilities on two fixed clips under each
backend. 0.1.0 saved a plain functional `keras.Model`, so it loads as one.
"""

import os

import keras
import numpy as np

import keras_stw
from tests.test_case import TestCase

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures")


class Version010FileTest(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.old = keras.saving.load_model(os.path.join(FIXTURES, "stw_0_1_0.keras"))
        arrays = np.load(os.path.join(FIXTURES, "stw_0_1_0.npz"))
        cls.clips = arrays["clips"].astype("float32")
        cls.expected = arrays[f"probabilities_{keras.backend.backend()}"]

    def probabilities(self, model):
        return keras.ops.convert_to_numpy(model(self.clips, training=False))

    def test_loads_with_the_outputs_0_1_0_gave(self):
        self.assertEqual(self.old.input_shape, (None, 4, 32, 32, 3))
        self.assertAllClose(self.probabilities(self.old), self.expected, atol=1e-6, rtol=0)

    def test_video_resnet_builds_the_same_network(self):
        # Same layers, weights in the same order, same outputs: the 0.1.0 graph and the
        # VideoResNet class are one architecture.
        new = keras_stw.video_resnet(
            "stw", num_frames=4, num_classes=5, image_shape=(32, 32, 3), base_width=4, depth=26
        )
        self.assertEqual([w.path for w in new.weights], [w.path for w in self.old.weights])
        new.set_weights(self.old.get_weights())
        self.assertAllClose(self.probabilities(new), self.expected, atol=1e-6, rtol=0)
