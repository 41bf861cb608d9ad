import importlib.util
import sys

import keras
import numpy as np

import keras_stw

print("tensorflow importable:", importlib.util.find_spec("tensorflow") is not None)
model = keras_stw.create_model(
    "stw_resnet50", backbone="keras_hub", num_frames=4, num_classes=5, image_shape=(64, 64, 3)
)
model.compile("sgd", "sparse_categorical_crossentropy")
history = model.fit(
    np.random.randint(0, 255, (8, 4, 64, 64, 3)).astype("uint8"),
    np.arange(8) % 5,
    batch_size=4,
    epochs=2,
    verbose=0,
)
print(
    keras.backend.backend(),
    "keras_hub STW-ResNet-50 fit, losses",
    history.history["loss"],
    "tensorflow loaded:",
    "tensorflow" in sys.modules,
)
