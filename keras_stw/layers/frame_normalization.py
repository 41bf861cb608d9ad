"""Per-channel normalization of raw frames, inside the model."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_stw")
class FrameNormalization(keras.layers.Layer):
    """Maps raw pixel values in `[0, 255]` to what a pretrained backbone expects.

    Computes `(x[..., order] - mean) / std` per channel, where `order` reverses RGB to
    BGR when `reverse_channels=True` (Caffe-style weights such as
    `keras.applications.ResNet50`'s). Keeping this inside the model means a served
    model takes raw frames.

    Args:
        mean: sequence of floats, one per channel, in the `[0, 255]` scale.
        std: sequence of floats, one per channel, in the `[0, 255]` scale.
        reverse_channels: bool. Reverse the channel order first. Defaults to `False`.
        **kwargs: base layer arguments such as `name` and `dtype`.

    Example:
    >>> layer = keras_stw.layers.FrameNormalization(mean=[0, 0, 0], std=[255, 255, 255])
    >>> layer(np.full((1, 2, 2, 3), 255.0, "float32"))[0, 0, 0].tolist()
    [1.0, 1.0, 1.0]
    """

    def __init__(self, mean, std, reverse_channels=False, **kwargs):
        super().__init__(**kwargs)
        if len(mean) != len(std):
            raise ValueError(
                "`mean` and `std` need one value per channel each. "
                f"Received: mean={mean!r}, std={std!r}"
            )
        if any(s <= 0 for s in std):
            raise ValueError(f"`std` must be positive. Received: std={std!r}")
        # === Config ===
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.reverse_channels = reverse_channels

    def build(self, input_shape):
        if input_shape[-1] != len(self.mean):
            raise ValueError(
                f"FrameNormalization has {len(self.mean)} channel statistics but the "
                f"input has {input_shape[-1]} channels. Received: "
                f"input_shape={tuple(input_shape)}"
            )

    def call(self, inputs):
        inputs = ops.cast(inputs, self.compute_dtype)
        if self.reverse_channels:
            inputs = ops.flip(inputs, axis=-1)
        mean = ops.convert_to_tensor(self.mean, self.compute_dtype)
        scale = ops.convert_to_tensor([1.0 / s for s in self.std], self.compute_dtype)
        return (inputs - mean) * scale

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "mean": self.mean,
                "std": self.std,
                "reverse_channels": self.reverse_channels,
            }
        )
        return config
