"""`python -m keras_stw predict`: the top classes, and one line for any bad input."""

import json
import subprocess
import sys
import zipfile

import keras
import pytest

from keras_stw import cli
from tests.conftest import REPO

pytestmark = pytest.mark.slow


def test_predict_prints_the_top_classes(saved_models, synthetic, real_media):
    video = str(real_media / "demo.mp4")
    result = subprocess.run(
        [sys.executable, "-m", "keras_stw", "predict", video]
        + ["--model", saved_models[1], "--labels", synthetic.label_map, "--num-frames", "8"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 4  # top-5 of a 4-class model
    names = [line.rsplit(maxsplit=1)[0].strip() for line in lines]
    scores = [float(line.rsplit(maxsplit=1)[1]) for line in lines]
    assert sorted(names) == sorted(synthetic.class_names)
    assert scores == sorted(scores, reverse=True) and abs(sum(scores) - 1) < 1e-3


def tampered(path, tmp_path):
    """The model file with its class renamed to one no package registers."""
    out = tmp_path / "tampered.keras"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(content)
                config["class_name"] = "NoSuchModel"
                config["registered_name"] = "keras_stw>NoSuchModel"
                content = json.dumps(config).encode()
            target.writestr(item, content)
    return str(out)


def not_a_clip_model(tmp_path):
    path = tmp_path / "dense.keras"
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)]).save(path)
    return str(path)


def per_frame_model(tmp_path):
    """A model of 8-frame clips that outputs scores per frame, not per clip."""
    clips = keras.Input((8, 32, 32, 3))
    frames = keras.layers.Reshape((8, 32 * 32 * 3))(clips)
    scores = keras.layers.Dense(4, activation="softmax")(frames)
    path = tmp_path / "frames.keras"
    keras.Model(clips, scores).save(path)
    return str(path)


def damaged(path, tmp_path, name, fraction):
    """The first `fraction` of the model file, as an interrupted copy leaves it."""
    content = open(path, "rb").read()
    out = tmp_path / name
    out.write_bytes(content[: int(len(content) * fraction)])
    return str(out)


def latin1_labels(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("é\nà\nç\nü\n".encode("latin-1"))
    return str(path)


def write_utf16_labels(tmp_path, names):
    """The label map as Windows Notepad saves "Unicode": UTF-16 with a byte-order mark."""
    path = tmp_path / "labels_utf16.txt"
    path.write_bytes("\r\n".join(names).encode("utf-16"))
    return str(path)


def test_a_utf16_label_map_reads_as_its_utf8_twin(saved_models, synthetic, real_media, tmp_path):
    argv = ["predict", str(real_media / "demo.mp4"), "--model", saved_models[0], "--labels"]
    utf16 = write_utf16_labels(tmp_path, synthetic.class_names)
    results = [
        subprocess.run(
            [sys.executable, "-m", "keras_stw", *argv, labels],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        for labels in (synthetic.label_map, utf16)
    ]
    assert [r.returncode for r in results] == [0, 0], results[1].stderr
    assert results[1].stdout == results[0].stdout and len(results[0].stdout.splitlines()) == 4


def test_every_bad_input_gives_one_line_and_status_1(
    saved_models, synthetic, real_media, tmp_path, capsys
):
    video = str(real_media / "demo.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    model = ["--model", saved_models[1]]
    labels = ["--labels", synthetic.label_map]
    cases = {
        "OpenCV cannot open": [str(bad), *model, *labels],
        "no such video": [str(tmp_path / "missing.mp4"), *model, *labels],
        "no such model": [video, "--model", str(tmp_path / "none.keras"), *labels],
        "label map names 400": [
            *(video, *model, "--labels", str(real_media / "label_map_k400.txt")),
        ],
        "clips of 8 frames": [video, *model, *labels, "--num-frames", "16"],
        "--top-k must be at least 1. Received: --top-k 0": [video, *model, *labels, "--top-k", "0"],
        "Received: --top-k -1": [video, *model, *labels, "--top-k", "-1"],
        "unknown class 'NoSuchModel'": [video, "--model", tampered(saved_models[1], tmp_path)]
        + labels,
        "dense.keras: not a clip model: Expected a clip model with input": [
            *(video, "--model", not_a_clip_model(tmp_path), *labels),
        ],
        "frames.keras: not a clip model: Expected a clip classifier, one output of shape "
        "(batch, num_classes) (not per frame). Received: model 'functional": [
            *(video, "--model", per_frame_model(tmp_path), *labels),
        ],
        "latin1.txt: not UTF-8 text (byte 0: invalid continuation byte)": [
            *(video, *model, "--labels", latin1_labels(tmp_path)),
        ],
        "empty.keras: not a .keras file, which is a zip archive (empty or truncated?)": [
            *(video, "--model", damaged(saved_models[1], tmp_path, "empty.keras", 0), *labels),
        ],
        "half.keras: not a .keras file, which is a zip archive (empty or truncated?)": [
            *(video, "--model", damaged(saved_models[1], tmp_path, "half.keras", 0.5), *labels),
        ],
        "--num-frames must be at least 1. Received: --num-frames 0": [
            *(video, *model, *labels, "--num-frames", "0"),
        ],
        "stw8.keras was saved without class names (keras-stw 0.1.0?): pass --labels": [
            video,
            *model,
        ],
        "`--frame-interval` must be a number in [1, inf). Received: --frame-interval=0": [
            *(video, *model, *labels, "--frame-interval", "0"),
        ],
    }
    for message, argv in cases.items():
        assert cli.main(["predict", *argv]) == 1, message
        error = capsys.readouterr().err
        assert error.startswith("error: ") and message in error, error
        assert error.count("\n") == 1 and len(error) < 400, error
