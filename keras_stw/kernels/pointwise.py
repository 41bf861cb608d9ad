"""The 1x1 convolution that reads a temporal block, as XLA's matrix product over the kernels'
clip layout, and its two gradients: a recomputing caller takes the input's gradient before
it has the block's output again, and the kernel's after."""

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
    """`matmul`'s gradient for `y`, from the gradient of its output."""
    return jnp.einsum("ntpf,cf->ntpc", upstream, kernel)


def kernel_gradient(y, upstream):
    """`matmul`'s gradient for `kernel`, from `y` and the gradient of its output."""
    return jnp.einsum("ntpc,ntpf->cf", y, upstream)
