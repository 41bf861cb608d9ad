"""`examples/evaluate.py`: the protocols, an ensemble, every format, bad input first."""

import json
import pathlib
import subprocess

import keras
import numpy as np
import pytest

from tests.examples.conftest import run
from tests.processes import finish, joined, succeed
from tests.training.data_parallel_worker import build

pytestmark = pytest.mark.slow


def test_protocols_and_ensemble(synthetic, saved_models, program, tmp_path):
    common = ["--annotations", synthetic.val_list, "--root", synthetic.directory]
    common += ["--labels", synthetic.label_map, "--short-side", "32", "--workers", "0"]
    reports = {}
    for protocol, models in (("1x1", saved_models[:1]), ("10x3", saved_models)):
        output = tmp_path / protocol
        args = ["--model", *models, "--protocol", protocol, "--output-dir", output]
        run(program("evaluate.py", *args, *common))
        reports[protocol] = json.loads((output / "metrics.json").read_text())
        assert (output / "confusion_matrix.png").stat().st_size > 1000
    report = reports["10x3"]
    assert report["models"] == saved_models and report["videos"] == 4
    assert report["skipped_videos"] == []
    assert 0.0 <= report["top1"] <= report["top5"] <= 1.0
    assert np.sum(report["confusion"]) == 4
    assert set(report["per_class"]) == set(synthetic.class_names)


def test_labels_that_do_not_match_the_model_are_refused_before_any_video(
    synthetic, saved_models, program, real_media
):
    command, environment = program(
        "evaluate.py",
        *("--model", saved_models[0], "--annotations", synthetic.val_list),
        *("--root", "/nonexistent", "--labels", real_media / "label_map_k400.txt"),
    )
    result = subprocess.run(command, capture_output=True, text=True, env=environment)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "predicts 4 classes" in last and "400" in last


def test_skip_leaves_unreadable_videos_out(synthetic, saved_models, program, tmp_path):
    val = tmp_path / "val.txt"
    val.write_text(open(synthetic.val_list).read() + "videos/missing.mp4 8 0\n")
    output = tmp_path / "out"
    run(
        program(
            "evaluate.py",
            *("--model", saved_models[0], "--annotations", val, "--root", synthetic.directory),
            *("--labels", synthetic.label_map, "--short-side", "32", "--workers", "0"),
            *("--on-error", "skip", "--output-dir", output),
        )
    )
    report = json.loads((output / "metrics.json").read_text())
    assert report["videos"] == 4 and report["skipped_videos"][0].endswith("missing.mp4")


def damaged_model(kind, path, model):
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(pathlib.Path(model).read_bytes()[:5000])
    else:
        keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)]).save(path)


@pytest.mark.parametrize(
    "kind, message",
    [
        ("empty", "not a .keras file"),
        ("truncated", "not a .keras file"),
        ("no clip model", "Expected a clip model"),
    ],
)
def test_a_damaged_or_foreign_model_is_refused_in_one_line_naming_it(
    synthetic, saved_models, program, tmp_path, kind, message
):
    """The loader of `python -m keras_stw predict`, not Keras's "File not found"."""
    path = tmp_path / "model.keras"
    damaged_model(kind, path, saved_models[0])
    output = tmp_path / "out"
    command, environment = program(
        "evaluate.py",
        *("--model", saved_models[0], path, "--annotations", synthetic.val_list),
        *("--root", synthetic.directory, "--labels", synthetic.label_map),
        *("--output-dir", output),
    )
    result = subprocess.run(command, capture_output=True, text=True, env=environment)
    assert result.returncode == 1, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {path}: ") and message in last, last
    assert "Traceback" not in result.stderr and not output.exists()


def test_a_batch_size_no_run_can_mean_is_refused_by_flag_name(synthetic, program, tmp_path):
    command, environment = program(
        "evaluate.py",
        *("--model", tmp_path / "unread.keras", "--annotations", synthetic.val_list),
        *("--batch-size", "0", "--output-dir", tmp_path / "out"),
    )
    result = subprocess.run(command, capture_output=True, text=True, env=environment)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == "error: `--batch-size` must be a number in [1, inf). Received: --batch-size=0"
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(keras.backend.backend() == "torch", reason="Keras has no torch distribution")
def test_two_processes_give_the_scores_of_one(synthetic, program, tmp_path):
    """Each of two processes (one CPU device each) scores its part of an odd list."""
    model = tmp_path / "model.keras"
    build(steps_per_epoch=1).save(model)  # A tiny clip model: 4 frames of 32x32.
    # 5 videos, one of them unreadable: parts of 2 and 3, a NaN row gathered too.
    videos = tmp_path / "videos.txt"
    videos.write_text(open(synthetic.val_list).read() + "videos/missing.mp4 8 0\n")
    common = ["--model", model, "--annotations", videos, "--root", synthetic.directory]
    common += ["--labels", synthetic.label_map, "--short-side", "32", "--workers", "0"]
    common += ["--protocol", "10x3", "--on-error", "skip", "--save-scores", "--output-dir"]
    command, environment = program("evaluate.py", *common, tmp_path / "one")
    environment = {**environment, "JAX_PLATFORMS": "cpu", "JAX_NUM_CPU_DEVICES": "1"}
    run((command, environment))
    command, _ = program("evaluate.py", *common, tmp_path / "two")
    output = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT}
    logs = succeed(
        *(
            subprocess.Popen([*command, *map(str, flags)], env={**environment, **join}, **output)
            for flags, join in joined()
        )
    )
    assert "Scored 3 of 5 videos; process 0 writes the metrics." in logs[1]
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(
        p.name for p in (tmp_path / "one").iterdir()
    )
    names = ("one", "two")
    one, two = (np.load(tmp_path / name / "scores.npy") for name in names)
    assert one.shape == (5, 4) and np.isnan(one[4]).all() and not np.isnan(one[:4]).any()
    np.testing.assert_allclose(two, one, atol=1e-5, rtol=0)
    # Scores within 1e-5 rank the classes alike: the same metrics.
    one, two = (json.loads((tmp_path / name / "metrics.json").read_text()) for name in names)
    assert two == one
    assert one["videos"] == 4 and one["skipped_videos"][0].endswith("missing.mp4")


@pytest.mark.skipif(keras.backend.backend() == "torch", reason="Keras has no torch distribution")
def test_processes_reading_different_lists_stop_before_scoring(synthetic, program, tmp_path):
    model = tmp_path / "model.keras"
    build(steps_per_epoch=1).save(model)
    lines = open(synthetic.val_list).read().splitlines()
    # The same number of videos, one label changed: only the digest tells them apart.
    path, frames, label = lines[-1].split()
    changed = tmp_path / "changed.txt"
    changed.write_text("\n".join([*lines[:-1], f"{path} {frames} {(int(label) + 1) % 4}"]))
    processes = []
    for annotations, (flags, join) in zip((synthetic.val_list, changed), joined(), strict=True):
        command, environment = program(
            "evaluate.py",
            *("--model", model, "--annotations", annotations, "--root", synthetic.directory),
            *("--labels", synthetic.label_map, "--short-side", "32", "--workers", "0"),
            *("--output-dir", tmp_path / "out", *flags),
        )
        environment = {**environment, "JAX_PLATFORMS": "cpu", "JAX_NUM_CPU_DEVICES": "1", **join}
        output = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT}
        processes.append(subprocess.Popen(list(map(str, command)), env=environment, **output))
    for process in processes:
        status, log = finish(process)
        assert status == 1, log[-3000:]
        last = log.strip().splitlines()[-1]
        assert last.startswith("error: The processes of the run disagree on the list of videos")
        assert "Every process must read the same annotations (4 videos here)." in last
    assert not (tmp_path / "out").exists()


def test_several_processes_on_torch_are_refused_in_one_line(synthetic, program, tmp_path):
    command, environment = program(
        "evaluate.py",
        *("--model", tmp_path / "unread.keras", "--annotations", synthetic.val_list),
        *("--num-processes", "2", "--process-id", "0", "--output-dir", tmp_path / "out"),
    )
    environment = {**environment, "KERAS_BACKEND": "torch"}
    result = subprocess.run(command, capture_output=True, text=True, env=environment)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: Evaluation over several processes needs the JAX or TensorFlow")
    assert last.endswith("Received: --multi-host under backend 'torch'")
    assert not (tmp_path / "out").exists()
