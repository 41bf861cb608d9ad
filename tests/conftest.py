"""Test-wide fixtures: the real media of `tests/testdata/real/`, small data and models."""

import os
import pathlib

import keras
import pytest

import keras_stw
from keras_stw import data

# A fused-kernel test whose worker crashed runs once more (see the module).
pytest_plugins = ("tests.worker_crashes",)

REPO = pathlib.Path(__file__).resolve().parents[1]
# In the repository, so that a clone tests on its own; KERAS_STW_TESTDATA points elsewhere.
REAL_MEDIA = pathlib.Path(
    os.environ.get("KERAS_STW_TESTDATA", REPO / "tests" / "testdata" / "real")
)


@pytest.fixture(scope="session")
def real_media():
    """Folder of real videos, a JPEG frame folder and label maps (mmaction2's)."""
    if not REAL_MEDIA.is_dir():
        raise FileNotFoundError(
            f"Real test media not found at {REAL_MEDIA}; set KERAS_STW_TESTDATA."
        )
    return REAL_MEDIA


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    """4 classes, 3 videos each (2 train, 1 val), 8 frames of 32x32, as mp4 files."""
    directory = tmp_path_factory.mktemp("synthetic")
    return data.write_synthetic_dataset(
        str(directory), num_classes=4, videos_per_class=3, total_frames=8, size=32
    )


@pytest.fixture(scope="session")
def saved_models(tmp_path_factory):
    """Two tiny STW models (4 and 8 frames, 4 classes, 32x32) saved as `.keras`.

    Under TensorFlow, on KerasCV's narrow ResNet-26; elsewhere on Keras Applications'
    ResNet-50, so that programs load them where TensorFlow is absent.
    """
    name, options = "stw_resnet50", {"backbone": "keras"}
    if keras.backend.backend() == "tensorflow":
        name, options = "stw_resnet26", {"backbone": "keras_cv", "base_width": 8}
    directory = tmp_path_factory.mktemp("models")
    paths = []
    for num_frames in (4, 8):
        keras.utils.set_random_seed(num_frames)
        model = keras_stw.create_model(
            name, num_frames=num_frames, num_classes=4, image_shape=(32, 32, 3), **options
        )
        paths.append(str(directory / f"stw{num_frames}.keras"))
        model.save(paths[-1])
    return paths
