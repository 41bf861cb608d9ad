"""The shared test base of keras-stw, on top of Keras's own `TestCase`."""

import keras
import numpy as np
from keras.src import testing


class TestCase(testing.TestCase):
    """Keras's test case (`run_layer_test`, `assertAllClose`, ...) plus clip helpers."""

    def random_frames(self, clips=2, num_frames=4, size=6, channels=8, seed=0):
        """Frame features `(clips * num_frames, size, size, channels)`, float32."""
        rng = np.random.default_rng(seed)
        shape = (clips * num_frames, size, size, channels)
        return rng.standard_normal(shape).astype("float32")

    def random_clips(self, clips=2, num_frames=4, size=32, seed=0):
        """Raw uint8 clips `(clips, num_frames, size, size, 3)`."""
        rng = np.random.default_rng(seed)
        return rng.integers(0, 256, (clips, num_frames, size, size, 3), dtype="uint8")

    def layer_gradients(self, layer, inputs, upstream):
        """Gradients of `sum(layer(inputs) * upstream)` on the current backend.

        Returns NumPy arrays: the gradient for `inputs`, then one per trainable weight.
        """
        backend = keras.backend.backend()
        weights = layer.trainable_weights
        if backend == "jax":
            import jax

            frozen = [w.value for w in layer.non_trainable_weights]

            def loss(values, x):
                outputs, _ = layer.stateless_call(values, frozen, x)
                return (outputs * upstream).sum()

            d_values, d_inputs = jax.grad(loss, argnums=(0, 1))([w.value for w in weights], inputs)
            grads = [d_inputs, *d_values]
        elif backend == "tensorflow":
            import tensorflow as tf

            x = tf.convert_to_tensor(inputs)
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(layer(x) * upstream)
            grads = tape.gradient(loss, [x, *weights])
        else:
            import torch

            for weight in weights:
                weight.value.grad = None
            x = torch.tensor(inputs, requires_grad=True)
            (layer(x) * torch.tensor(upstream)).sum().backward()
            grads = [x.grad, *(w.value.grad for w in weights)]
        return [keras.ops.convert_to_numpy(g) for g in grads]

    def numeric_gradient(self, function, value, upstream, step=1e-6):
        """Central differences of `sum(function(value) * upstream)`, in float64."""
        value = np.asarray(value, "float64")
        grad = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            shifted = []
            for sign in (1, -1):
                moved = value.copy()
                moved[index] += sign * step
                shifted.append(np.sum(function(moved) * upstream))
            grad[index] = (shifted[0] - shifted[1]) / (2 * step)
        return grad

    def assert_same_outputs(self, model_a, model_b, inputs):
        """Both models give the same outputs on `inputs` (inference mode)."""
        self.assertAllClose(
            keras.ops.convert_to_numpy(model_a(inputs, training=False)),
            keras.ops.convert_to_numpy(model_b(inputs, training=False)),
            atol=1e-5,
            rtol=1e-5,
        )
