"""Turns a batch of clips into the batch of frames a 2D CNN sees."""

import keras
from keras import ops

from keras_stw.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_stw")
class ClipToFrames(keras.layers.Layer):
    """Reshapes clips `(batch, num_frames, H, W, C)` to frames `(batch * num_frames, H, W, C)`.

    This is where a video model checks its input: a clip of the wrong rank or with a
    frame count other than `num_frames` is refused here with a message naming
    `num_frames`, not deep inside a backend reshape. The output is cast to the layer's
    compute dtype, so raw `uint8` frames can be fed directly.

    Args:
        num_frames: int. Frames per clip.
        **kwargs: base layer arguments such as `name` and `dtype`.

    Example:
    >>> clips = np.zeros((2, 8, 32, 32, 3), "uint8")
    >>> keras_stw.layers.ClipToFrames(num_frames=8)(clips).shape
    (16, 32, 32, 3)
    """

    def __init__(self, num_frames, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("num_frames", num_frames)
        # === Config ===
        self.num_frames = num_frames

    def build(self, input_shape):
        self._check_clip_shape(input_shape)

    def call(self, inputs):
        self._check_clip_shape(inputs.shape)
        frames = ops.reshape(inputs, (-1, *ops.shape(inputs)[2:]))
        return ops.cast(frames, self.compute_dtype)

    def _check_clip_shape(self, shape):
        shape = tuple(shape)
        if len(shape) != 5:
            raise ValueError(
                "Expected clips of rank 5, (batch, num_frames, height, width, channels). "
                f"Received: shape={shape}"
            )
        if shape[1] is not None and shape[1] != self.num_frames:
            raise ValueError(
                f"This model takes clips of num_frames={self.num_frames} frames. "
                f"Received a clip of {shape[1]} frames (shape={shape})."
            )

    def compute_output_shape(self, input_shape):
        batch = input_shape[0]
        frames = None if batch is None else batch * self.num_frames
        return (frames, *input_shape[2:])

    def get_config(self):
        config = super().get_config()
        config.update({"num_frames": self.num_frames})
        return config
