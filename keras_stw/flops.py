"""Counting the multiply-adds of one clip through a video model."""

import math

import keras

from keras_stw import graph
from keras_stw.layers import STFM, TWM, STWBlock


def count_flops(model: keras.Model) -> int:
    """Counts the multiply-adds (MACs) of one clip through `model`.

    The paper's "GFLOPs" count multiply-adds, as TSM's tables do, and so does this:
    convolutions, dense layers, STFM's channel-wise convolutions and TWM's 3x1x1
    convolution. Batch normalization, activations, pooling, additions, temporal shifts
    (free) and TWM's gating multiply are not counted, following the same convention.

    Every layer with multiply-adds runs on frames, so a model whose input is a clip
    `(batch, T, H, W, C)` costs `T` times its per-frame count.

    Args:
        model: a functional `keras.Model` with fixed frame sizes, such as those of
            the zoo, or a frame-level backbone (counted for one frame).

    Returns:
        The number of multiply-adds for one clip (or one frame), as an int.

    Example:
    >>> model = keras_stw.STWResNet50(num_frames=8)
    >>> round(keras_stw.count_flops(model) / 1e9, 2)  # ResNet-50 v1: 30.85 for TSN
    31.03
    """
    input_shape = model.input_shape
    frames = input_shape[1] if len(input_shape) == 5 else 1
    return frames * _frame_macs(model)


def _frame_macs(model):
    graph.check_functional(model)
    total = 0
    for layer in model.operations:
        if isinstance(layer, keras.Model):
            total += _frame_macs(layer)
            continue
        node = graph.layer_node(layer, model)
        if node.input_tensors:
            total += _layer_macs(layer, node.input_tensors[0].shape, node.output_tensors[0].shape)
    return total


def _layer_macs(layer, input_shape, output_shape):
    if None in input_shape[1:] or None in output_shape[1:]:
        raise ValueError(
            f"count_flops needs fixed frame sizes; layer '{layer.name}' has input "
            f"shape {tuple(input_shape)}. Build the model with a concrete input_shape."
        )
    pixels_out = math.prod(output_shape[1:-1])
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kernel = math.prod(layer.kernel_size)
        return pixels_out * output_shape[-1] * kernel
    if isinstance(layer, keras.layers.Conv2D):
        kernel = math.prod(layer.kernel_size)
        return pixels_out * output_shape[-1] * kernel * input_shape[-1] // layer.groups
    if isinstance(layer, keras.layers.Dense):
        return math.prod(output_shape[1:]) * input_shape[-1]
    if isinstance(layer, STWBlock):
        modules = [m for m in (layer.stfm, layer.twm) if m is not None]
        return sum(_layer_macs(m, input_shape, output_shape) for m in modules)
    if isinstance(layer, STFM):
        return math.prod(input_shape[1:]) * layer.kernel_size**2
    if isinstance(layer, TWM):
        return math.prod(input_shape[1:]) * 3
    return 0
