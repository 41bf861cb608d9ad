"""A model trained with a clip recipe is predicted, evaluated and resumed with it, unasked.

`examples/train.py` saves the recipe (`--sampling dense --frame-interval 2 --short-side
48`) and the class names in `model.keras`; `python -m keras_stw predict` and
`examples/evaluate.py` then read videos as the model was trained, with no flag, and a
flag given against the recipe wins and says so.
"""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_stw import evaluation
from keras_stw.data import ClipSpec
from tests.examples.conftest import REPO, run
from tests.examples.test_train import train_args

pytestmark = pytest.mark.slow

RECIPE = ("--sampling", "dense", "--frame-interval", "2", "--short-side", "48")
ONE_STEP = ("--epochs", "1", "--steps-per-epoch", "1", "--save-freq", "1")
DENSE = ClipSpec(num_frames=4, image_size=32, sampling="dense", frame_interval=2, short_side=48)


@pytest.fixture(scope="module")
def trained(synthetic, program, tmp_path_factory):
    """The output folder of a one-step run with dense sampling."""
    output = tmp_path_factory.mktemp("dense")
    run(program("train.py", *train_args(synthetic, output, *RECIPE, *ONE_STEP)))
    return output


def first_val_video(synthetic):
    path = open(synthetic.val_list).readline().split()[0]
    return f"{synthetic.directory}/{path}"


def test_the_saved_model_carries_the_recipe_and_the_class_names(trained, synthetic):
    model = keras.saving.load_model(trained / "model.keras")
    assert model.class_names == tuple(synthetic.class_names)
    assert evaluation.model_clip_spec(model) == DENSE
    video = first_val_video(synthetic)
    scores = evaluation.video_scores(model, [video], workers=0)
    np.testing.assert_array_equal(scores, evaluation.video_scores(model, [video], spec=DENSE))
    assert not np.array_equal(scores, evaluation.video_scores(model, [video], spec=ClipSpec()))


def predict(program, *args):
    _, environment = program("train.py")
    command = [sys.executable, "-m", "keras_stw", "predict", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=environment, cwd=REPO)


def test_predict_needs_no_flag_and_a_given_flag_wins_saying_so(trained, synthetic, program):
    video = first_val_video(synthetic)
    model = keras.saving.load_model(trained / "model.keras")
    result = predict(program, video, "--model", trained / "model.keras")
    assert result.returncode == 0 and result.stderr.count("note:") == 0, result.stderr
    expected = evaluation.predict_video(model, video, spec=DENSE)
    width = max(len(name) for name, _ in expected)
    assert result.stdout.splitlines() == [f"{n:<{width}}  {s:.4f}" for n, s in expected]

    result = predict(program, video, "--model", trained / "model.keras", "--sampling", "segment")
    assert result.returncode == 0, result.stderr
    assert "note: --sampling segment overrides the saved recipe's sampling='dense'." in (
        result.stderr
    )
    expected = evaluation.predict_video(model, video, spec=DENSE.replace(sampling="segment"))
    assert result.stdout.splitlines() == [f"{n:<{width}}  {s:.4f}" for n, s in expected]


def test_evaluate_reads_the_recipe_and_names_the_classes(trained, synthetic, program, tmp_path):
    model = ["--model", trained / "model.keras", "--annotations", synthetic.val_list]
    data = ["--root", synthetic.directory, "--workers", "0", "--output-dir", tmp_path]
    result = run(program("evaluate.py", *model, *data))
    assert "4 frames of 32x32, dense sampling, short side 48, frame interval 2" in result.stdout
    assert "note:" not in result.stderr
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert sorted(report["per_class"]) == sorted(synthetic.class_names)

    result = run(program("evaluate.py", *model, *data, "--short-side", "64"))
    assert "short side 64" in result.stdout
    assert "note: --short-side 64 overrides the saved recipe's short_side=48." in result.stderr


def test_a_resumed_run_reads_the_recipe_from_the_saved_model(trained, synthetic, program):
    args = train_args(synthetic, trained, *ONE_STEP, "--epochs", "2")
    # A recipe flag given against the saved recipe is named, and the run refused.
    command, environment = program("train.py", *args)
    result = subprocess.run(command, capture_output=True, text=True, env=environment)
    assert result.returncode == 1
    assert "note: --short-side 32 overrides the saved recipe's short_side=48." in result.stderr
    assert "clip_spec=" in result.stderr
    # Left out, the recipe flags are read from the saved model.
    at = args.index("--short-side")
    result = run(program("train.py", *args[:at], *args[at + 2 :]))
    assert "Resuming from" in result.stdout
    model = keras.saving.load_model(trained / "model.keras")
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 2
    assert evaluation.model_clip_spec(model) == DENSE
