"""`AfterSteps`: a callback that interrupts a test's training run at a given step."""

import keras


class AfterSteps(keras.callbacks.Callback):
    """Calls `action()` once `steps` training steps have finished, as a preemption would.

    Args:
        steps: int. Training steps to let finish, counted over the whole `fit`.
        action: callable. What ends the run: raise, or leave the process.

    Example:
    >>> model.fit(ds, epochs=2, callbacks=[AfterSteps(3, lambda: os._exit(3))])
    """

    def __init__(self, steps, action):
        super().__init__()
        self.steps = steps
        self.action = action
        self.seen = 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.steps:
            self.action()
