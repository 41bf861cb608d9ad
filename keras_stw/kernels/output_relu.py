"""A ReLU whose gradient reads its output, for XLA to keep a residual block's sum no longer.

`jax.nn.relu`'s gradient masks by its input, `pre > 0`. A residual block's `out =
relu(pre)` is kept for the backward pass anyway (the next block reads it), and XLA could
take the mask from it, but on the GPU it keeps `pre` as well: it writes both from the
add + ReLU fusion (`benchmarks/results/memory_peak_h100/`, STW recomputed: one more
buffer of a block's input size for every block but the first and last of stages 2 to 4,
2.1 GiB at batch 64). This ReLU masks by `out > 0`, the same mask, behind an optimization
barrier, without which XLA rewrites `max(pre, 0) > 0` back to `pre > 0`.
"""

import jax
import jax.numpy as jnp


@jax.custom_vjp
def relu(x):
    """`max(x, 0)`, with the gradient of `jax.nn.relu` (`0` at `0`) taken from the output.

    Args:
        x: an array.

    Returns:
        An array like `x`.

    Example:
    >>> jax.grad(lambda x: relu(x).sum())(jnp.array([-1.0, 0.0, 2.0]))
    Array([0., 0., 1.], dtype=float32)
    """
    return jnp.maximum(x, 0)


def _relu_fwd(x):
    y = jnp.maximum(x, 0)
    return y, y


def _relu_bwd(y, upstream):
    y = jax.lax.optimization_barrier(y)
    return (jnp.where(y > 0, upstream, jnp.zeros_like(upstream)),)


relu.defvjp(_relu_fwd, _relu_bwd)
