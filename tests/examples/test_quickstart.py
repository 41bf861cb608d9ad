"""`examples/quickstart.ipynb`, executed as a user would run it."""

import os

import keras
import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def test_quickstart_notebook(tmp_path, real_media):
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(REPO / "examples" / "quickstart.ipynb", as_version=4)
    os.environ["KERAS_STW_DEMO_VIDEO"] = str(real_media / "demo.mp4")
    os.environ["KERAS_STW_OUTPUT_DIR"] = str(tmp_path)
    try:
        NotebookClient(
            notebook,
            timeout=300,
            kernel_name="python3",
            resources={"metadata": {"path": str(REPO / "examples")}},
        ).execute()
    finally:
        del os.environ["KERAS_STW_DEMO_VIDEO"], os.environ["KERAS_STW_OUTPUT_DIR"]
    outputs = "".join(
        output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", [])
    )
    assert f"backend: {keras.backend.backend()}" in outputs
    assert "saved and reloaded" in outputs
    assert (tmp_path / "stw_quickstart.keras").exists()
