"""The ReLU whose gradient reads its output computes `jax.nn.relu` and its gradient."""

import numpy as np
import pytest

from tests.test_case import TestCase


@pytest.mark.jax_only
class OutputReluTest(TestCase):
    def test_value_and_gradient_are_jax_relus(self):
        import jax
        import jax.numpy as jnp

        from keras_stw.kernels import output_relu

        values = np.random.default_rng(0).normal(size=(4, 6, 8)).astype("float32")
        values[0, 0, :4] = 0.0  # the gradient at 0 is 0, as jax.nn.relu's
        weights = np.random.default_rng(1).normal(size=values.shape).astype("float32")
        for dtype in ("float32", "bfloat16"):
            x = jnp.asarray(values, dtype)

            def loss(x, relu):
                return (relu(x).astype("float32") * weights).sum()

            got, want = output_relu.relu(x), jax.nn.relu(x)
            self.assertEqual(got.dtype, want.dtype)
            self.assertAllEqual(np.float32(got), np.float32(want))
            got = jax.grad(loss)(x, output_relu.relu)
            want = jax.grad(loss)(x, jax.nn.relu)
            self.assertAllEqual(np.float32(got), np.float32(want))
