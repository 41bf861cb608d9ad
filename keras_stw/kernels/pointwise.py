"""The 1x1 convolution that reads a temporal block, as XLA's matrix product over the kernels'
clip layout, and its two gradients: a recomputing caller takes the input's gradient before
it has the block's output again, and the kernel's after."""

import jax
import jax.numpy as jnp


def matmul(y, kernel):
    """The 1x1 convolution as XLA runs it, in `y`'s dtype as Keras's `Conv2D` runs it (a
    GPU accumulates a bfloat16 or float16 product in float32 and rounds once). A float32
    result would make its backward pass upcast the upstream gradient and run both
    products in float32, writing the block's output gradient at twice the size of `x`
    before rounding it.

    Args:
        y: array `(clips, num_frames, pixels, channels)`.
        kernel: array `(channels, outputs)` of `y`'s dtype.

    Returns:
        An array `(clips, num_frames, pixels, outputs)`.

    Example:
    >>> matmul(jnp.ones((1, 2, 3, 4)), jnp.ones((4, 5))).shape
    (1, 2, 3, 5)
    """
    return jnp.einsum("ntpc,cf->ntpf", y, kernel)


def input_gradient(upstream, kernel):
    """`matmul`'s gradient for `y`, from the gradient of its output.

    Args:
        upstream: array `(clips, num_frames, pixels, outputs)`, the output's gradient.
        kernel: array `(channels, outputs)`.

    Returns:
        An array `(clips, num_frames, pixels, channels)`.

    Example:
    >>> input_gradient(jnp.ones((1, 2, 3, 5)), jnp.ones((4, 5))).shape
    (1, 2, 3, 4)
    """
    return jnp.einsum("ntpf,cf->ntpc", upstream, kernel)


def kernel_gradient(y, upstream):
    """`matmul`'s gradient for `kernel`, from `y` and the gradient of its output.

    Args:
        y: array `(clips, num_frames, pixels, channels)`, `matmul`'s input.
        upstream: array `(clips, num_frames, pixels, outputs)`, the output's gradient.

    Returns:
        An array `(channels, outputs)`: the products summed over every pixel.

    Example:
    >>> kernel_gradient(jnp.ones((1, 2, 3, 4)), jnp.ones((1, 2, 3, 5)))[0, 0]
    Array(6., dtype=float32)
    """
    return jnp.einsum("ntpc,ntpf->cf", y, upstream)


def strided(y, width, stride):
    """The pixels of `y` that a 1x1 convolution of `stride` reads: every `stride`-th row
    and column of each frame (with `"same"` or `"valid"` padding alike).

    Args:
        y: array `(clips, num_frames, height * width, channels)`.
        width: int. The frames' width.
        stride: int. The convolution's stride along both sides.

    Returns:
        An array `(clips, num_frames, ceil(height / stride) * ceil(width / stride),
        channels)`.

    Example:
    >>> strided(jnp.ones((1, 2, 5 * 5, 4)), 5, 2).shape
    (1, 2, 9, 4)
    """
    if stride == 1:
        return y
    clips, num_frames, pixels, channels = y.shape
    frames = y.reshape(clips, num_frames, pixels // width, width, channels)
    return frames[:, :, ::stride, ::stride].reshape(clips, num_frames, -1, channels)


def spread(gradient, shape, width, stride):
    """`strided`'s transpose: `gradient` at the pixels `strided` picks, zeros elsewhere.

    Args:
        gradient: array `(clips, num_frames, strided pixels, channels)`, the gradient of
            `strided`'s output.
        shape: tuple. The shape of `strided`'s input.
        width: int. The frames' width.
        stride: int. The convolution's stride along both sides.

    Returns:
        An array of `shape`.

    Example:
    >>> spread(jnp.ones((1, 2, 9, 4)), (1, 2, 25, 4), 5, 2)[0, 0, :5, 0]
    Array([1., 0., 1., 0., 1.], dtype=float32)
    """
    if stride == 1:
        return gradient
    clips, num_frames, pixels, channels = shape
    height = pixels // width
    rows, columns = -(-height // stride), -(-width // stride)
    frames = gradient.reshape(clips, num_frames, rows, columns, channels)
    zero = jnp.zeros((), gradient.dtype)
    padding = [(0, 0, 0), (0, 0, 0)]
    padding += [
        (0, side - ((count - 1) * stride + 1), stride - 1)
        for side, count in ((height, rows), (width, columns))
    ]
    padding.append((0, 0, 0))
    return jax.lax.pad(frames, zero, padding).reshape(shape)
