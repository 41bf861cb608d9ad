"""TSN's segmental consensus: averages per-frame scores over each clip."""

import keras
from keras import ops

from keras_stw.layers import temporal_ops
from keras_stw.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_stw")
class TemporalConsensus(keras.layers.Layer):
    """Averages per-frame scores `(batch * num_frames, K)` to per-clip `(batch, K)`.

    TSN's average consensus: the class scores of a clip's frames are averaged before
    the softmax.

    Args:
        num_frames: int. Frames per clip.
        **kwargs: base layer arguments such as `name` and `dtype`.

    Example:
    >>> scores = np.random.rand(2 * 8, 174).astype("float32")
    >>> keras_stw.layers.TemporalConsensus(num_frames=8)(scores).shape
    (2, 174)
    """

    def __init__(self, num_frames, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("num_frames", num_frames)
        # === Config ===
        self.num_frames = num_frames

    def call(self, inputs):
        return ops.mean(temporal_ops.fold_frames(inputs, self.num_frames), axis=1)

    def compute_output_shape(self, input_shape):
        batch = input_shape[0]
        clips = None if batch is None else batch // self.num_frames
        return (clips, *input_shape[1:])

    def get_config(self):
        config = super().get_config()
        config.update({"num_frames": self.num_frames})
        return config
