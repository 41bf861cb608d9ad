"""The straightforward STW block that issue 6 measured, kept only as a speed baseline.

Grouped (depthwise) `Conv2D` layers for STFM's three convolutions and a one-output-channel
`Conv3D` for TWM, with pads and reshapes around them. It computes the same function as
`keras_stw.STWBlock` at initialization (`benchmarks/speed.py` checks this before timing)
and is timed beside it.
"""

import keras
from keras import ops


class NaiveSTWBlock(keras.layers.Layer):
    """STFM + TWM written layer by layer, as a first implementation would."""

    def __init__(self, num_frames, **kwargs):
        super().__init__(**kwargs)
        self.num_frames = num_frames

    def build(self, input_shape):
        channels = input_shape[-1]
        self.splits = (channels // 4, channels // 2, channels // 4)
        self.stfm_convs = [
            keras.layers.DepthwiseConv2D(
                1, use_bias=False, depthwise_initializer="ones", dtype=self.dtype_policy
            )
            for _ in self.splits
        ]
        for conv, size in zip(self.stfm_convs, self.splits, strict=True):
            conv.build((None, *input_shape[1:-1], size))
        self.twm_conv = keras.layers.Conv3D(
            1, (3, 1, 1), padding="same", kernel_initializer="zeros", dtype=self.dtype_policy
        )
        self.twm_conv.build((None, self.num_frames, *input_shape[1:]))

    def call(self, x):
        height, width, channels = x.shape[1:]
        clips = ops.reshape(x, (-1, self.num_frames, height, width, channels))
        padded = ops.pad(clips, [(0, 0), (1, 1), (0, 0), (0, 0), (0, 0)])
        previous_frames = ops.reshape(padded[:, :-2], (-1, height, width, channels))
        next_frames = ops.reshape(padded[:, 2:], (-1, height, width, channels))
        a, b = self.splits[0], self.splits[0] + self.splits[1]
        stfm = ops.concatenate(
            [
                self.stfm_convs[0](previous_frames[..., :a]),
                self.stfm_convs[1](x[..., a:b]),
                self.stfm_convs[2](next_frames[..., b:]),
            ],
            axis=-1,
        )
        gate = ops.sigmoid(self.twm_conv(clips))
        twm = ops.reshape(clips - clips * gate, (-1, height, width, channels))
        return stfm + twm

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)
