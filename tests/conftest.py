"""Test-wide settings: the real media that `../shared/testdata/real/` provides."""

import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
REAL_MEDIA = pathlib.Path(
    os.environ.get("KERAS_STW_TESTDATA", REPO.parent / "shared" / "testdata" / "real")
)


@pytest.fixture(scope="session")
def real_media():
    """Folder of real videos, a JPEG frame folder and label maps (mmaction2's)."""
    if not REAL_MEDIA.is_dir():
        raise FileNotFoundError(
            f"Real test media not found at {REAL_MEDIA}; set KERAS_STW_TESTDATA."
        )
    return REAL_MEDIA
