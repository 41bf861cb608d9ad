"""The workflows end to end at tiny sizes: train + resume, evaluate, predict, benchmark."""

import json
import os
import pathlib
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import keras_stw
from keras_stw import cli, data, evaluation, training
from tests.test_case import TestCase

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples"))

import evaluate  # noqa: E402
import temporal_benchmark  # noqa: E402

TINY = {"depth": 26, "base_width": 8, "dropout": 0.0}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """4 classes, 3 videos each (2 train, 1 val), 8 frames of 32x32."""
    directory = tmp_path_factory.mktemp("synthetic")
    return data.write_synthetic_dataset(
        str(directory), num_classes=4, videos_per_class=3, num_frames=8, size=32
    )


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """Two tiny STW models (4 and 8 frames, 4 classes) saved as `.keras`."""
    directory = tmp_path_factory.mktemp("models")
    paths = []
    for num_frames in (4, 8):
        keras.utils.set_random_seed(num_frames)
        model = keras_stw.video_resnet(
            "stw", num_frames=num_frames, num_classes=4, input_shape=(32, 32, 3), **TINY
        )
        paths.append(str(directory / f"stw{num_frames}.keras"))
        model.save(paths[-1])
    return paths


def constant_batches(batch):
    while True:
        yield batch


class StopAfter(keras.callbacks.Callback):
    """Raises after `steps` training steps: a simulated preemption."""

    def __init__(self, steps):
        super().__init__()
        self.steps = steps
        self.seen = 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.steps:
            raise KeyboardInterrupt("preempted")


class RecipeTest(TestCase):
    def test_step_decay_changes_rate_at_the_milestone_epochs(self):
        schedule = training.step_decay(0.01, (3, 5), steps_per_epoch=10)
        rates = [float(schedule(step)) for step in (0, 29, 30, 49, 50, 99)]
        self.assertAllClose(rates, [0.01, 0.01, 0.001, 0.001, 0.0001, 0.0001])

    def test_presets_are_the_papers(self):
        paper, finetune = training.PRESETS["paper"], training.PRESETS["finetune"]
        self.assertEqual(
            (paper.learning_rate, paper.milestones, paper.epochs, paper.batch_size),
            (0.01, (30, 40, 45), 50, 64),
        )
        self.assertEqual((finetune.learning_rate, finetune.milestones), (0.001, (15, 30, 45)))
        optimizer = paper.replace(learning_rate=0.1, epochs=None).optimizer(steps_per_epoch=2)
        self.assertEqual((optimizer.momentum, optimizer.weight_decay), (0.9, 5e-4))
        self.assertAllClose(float(optimizer.learning_rate), 0.1)

    def test_data_parallel_over_the_local_devices(self):
        if keras.backend.backend() == "torch":
            with self.assertRaisesRegex(ValueError, "jax.*tensorflow"):
                training.data_parallel()
            return
        parallel = training.data_parallel()
        try:
            with parallel.scope:
                model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
                model.compile(keras.optimizers.SGD(0.1), "mse")
                model.fit(np.ones((4, 3)), np.zeros((4, 2)), batch_size=2, verbose=0)
            self.assertGreaterEqual(parallel.num_replicas, 1)
            self.assertEqual(model.predict(np.ones((2, 3)), verbose=0).shape, (2, 2))
        finally:
            if keras.backend.backend() == "jax":
                keras.distribution.set_distribution(None)


class ResumeTest(TestCase):
    def build(self):
        keras.utils.set_random_seed(1)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        recipe = training.Recipe(learning_rate=0.1, milestones=(2,), epochs=3, batch_size=8)
        model.compile(recipe.optimizer(steps_per_epoch=5), "mse")
        return model

    def test_an_interrupted_run_ends_where_an_uninterrupted_one_does(self):
        rng = np.random.default_rng(0)
        batches = constant_batches((rng.random((8, 4)), rng.random((8, 3))))
        args = {"epochs": 3, "steps_per_epoch": 5, "save_freq": 2, "verbose": 0}
        reference = training.fit_resumable(
            self.build, batches, directory=self.get_temp_dir() + "/a", **args
        )
        directory = self.get_temp_dir() + "/b"
        # Backups come at steps 2 and 4 of each epoch and at its end: global steps 2,
        # 4, 5, 7, 9, ...; stopped after step 8, the last one is epoch 1, step 2.
        with self.assertRaises(KeyboardInterrupt):
            training.fit_resumable(
                self.build, batches, directory=directory, callbacks=[StopAfter(8)], **args
            )
        checkpoint = training.TrainingCheckpoint(directory, steps_per_epoch=5)
        saved = checkpoint.restore()
        self.assertEqual(checkpoint.position(saved), (1, 2))
        resumed = training.fit_resumable(self.build, batches, directory=directory, **args)
        self.assertEqual(int(keras.ops.convert_to_numpy(resumed.optimizer.iterations)), 15)
        for expected, actual in zip(reference.weights, resumed.weights, strict=True):
            self.assertAllClose(expected, actual, atol=1e-6)
        # A finished run is not trained again.
        again = training.fit_resumable(self.build, batches, directory=directory, **args)
        self.assertEqual(int(keras.ops.convert_to_numpy(again.optimizer.iterations)), 15)

    def test_resuming_with_other_steps_per_epoch_is_refused(self):
        directory = self.get_temp_dir()
        batches = constant_batches((np.zeros((8, 4)), np.zeros((8, 3))))
        training.fit_resumable(
            self.build, batches, directory=directory, epochs=1, steps_per_epoch=2, verbose=0
        )
        with self.assertRaisesRegex(ValueError, "steps_per_epoch=2"):
            training.TrainingCheckpoint(directory, steps_per_epoch=3).restore()


@pytest.mark.tf_only
@pytest.mark.slow
def test_train_py_resumes_after_being_killed_mid_epoch(synthetic, tmp_path):
    output = tmp_path / "run"
    command = [
        sys.executable,
        str(REPO / "examples" / "train.py"),
        *("--train-annotations", synthetic.train_list),
        *("--labels", synthetic.label_map, "--root", synthetic.directory),
        *("--num-frames", "4", "--image-size", "32", "--short-side", "32"),
        *("--depth", "26", "--base-width", "8", "--weights", "none", "--batch-size", "2"),
        *("--epochs", "2", "--steps-per-epoch", "4", "--save-freq", "2", "--verbose", "2"),
        *("--output-dir", str(output)),
    ]
    state = output / "backup" / "state.json"
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    while not state.exists() and process.poll() is None:
        time.sleep(0.05)
    process.kill()
    first_output = process.communicate()[0].decode()
    assert state.exists(), first_output
    saved = json.loads(state.read_text())
    assert (saved["epoch"], saved["step"]) != (2, 0), "the run ended before the kill"
    assert not (output / "model.keras").exists()

    result = subprocess.run(command, capture_output=True, text=True, check=True)
    resumed = f"epoch {saved['epoch'] + 1}, step {saved['step']}."
    assert f"Resuming from {output}/backup/backup.keras: {resumed}" in result.stdout
    final = json.loads(state.read_text())
    assert (final["epoch"], final["step"]) == (2, 0)
    model = keras.saving.load_model(output / "model.keras")
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 8
    epochs = [line.split(",")[0] for line in (output / "log.csv").read_text().splitlines()[1:]]
    assert sorted(set(epochs)) == ["0", "1"] and epochs[-1] == "1"
    assert (output / "checkpoints" / "epoch_002.keras").exists()
    assert (output / "label_map.txt").read_text().split("\n")[:4] == synthetic.class_names


def test_views_of_a_real_video(real_media):
    path = str(real_media / "demo.mp4")
    centre = evaluation.video_views(path, num_frames=4, image_size=64, short_side=64)
    views = evaluation.video_views(
        path, num_frames=4, image_size=64, short_side=64, num_clips=2, num_crops=3
    )
    assert centre.shape == (1, 4, 64, 64, 3)
    assert views.shape == (6, 4, 64, 64, 3)
    assert centre.dtype == np.uint8
    # demo.mp4 is landscape: left, centre and right crops differ.
    assert not np.array_equal(views[0], views[2])
    # One clip's centre crop is the protocol 1x1 view.
    single = evaluation.video_views(
        path, num_frames=4, image_size=64, short_side=64, num_clips=1, num_crops=3
    )
    np.testing.assert_array_equal(single[1], centre[0])


class MetricsTest(TestCase):
    def test_metrics(self):
        scores = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3], [0.5, 0.4, 0.1]])
        metrics = evaluation.classification_metrics(scores, [0, 1, 1, 1], ["a", "b", "c"])
        self.assertAllClose(metrics["top1"], 0.5)
        self.assertAllClose(metrics["top5"], 1.0)
        self.assertEqual(metrics["per_class"], {"a": 1.0, "b": 1 / 3, "c": None})
        self.assertAllClose(metrics["mean_class_accuracy"], 2 / 3)
        self.assertEqual(metrics["confusion"].tolist(), [[1, 0, 0], [1, 1, 1], [0, 0, 0]])


@pytest.mark.slow
def test_evaluate_protocols_and_ensemble(synthetic, saved_models, tmp_path):
    args = ["--list", synthetic.val_list, "--root", synthetic.directory]
    args += ["--labels", synthetic.label_map, "--short-side", "32"]
    reports = {}
    for protocol, models in (("1x1", saved_models[:1]), ("10x3", saved_models)):
        output = tmp_path / protocol
        reports[protocol] = evaluate.main(
            ["--model", *models, "--protocol", protocol, "--output-dir", str(output), *args]
        )
        assert (output / "confusion_matrix.png").stat().st_size > 1000
        assert json.loads((output / "metrics.json").read_text())["videos"] == 4
    assert reports["10x3"]["models"] == saved_models
    report = reports["10x3"]
    assert 0.0 <= report["top1"] <= report["top5"] <= 1.0
    assert np.sum(report["confusion"]) == 4 and set(report["per_class"]) == set(
        synthetic.class_names
    )
    # The ensemble averages its models' scores, each on clips of its own length.
    records, _ = synthetic.read("val")
    paths = [r.path for r in records]
    models = [keras.saving.load_model(p) for p in saved_models]
    single = [evaluation.video_scores(m, paths, short_side=32) for m in models]
    both = evaluation.video_scores(models, paths, short_side=32)
    np.testing.assert_allclose(both, (single[0] + single[1]) / 2, atol=1e-5)
    assert not np.allclose(single[0], single[1], atol=1e-4)


@pytest.mark.slow
def test_predict_command(saved_models, synthetic, real_media, tmp_path, capsys):
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

    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    labels = ["--labels", synthetic.label_map]
    cases = {
        "OpenCV cannot open": [str(bad), "--model", saved_models[1], *labels],
        "no such video": [str(tmp_path / "missing.mp4"), "--model", saved_models[1], *labels],
        "no such model": [video, "--model", str(tmp_path / "none.keras"), *labels],
        "label map names 400": [
            *(video, "--model", saved_models[1]),
            *("--labels", str(real_media / "label_map_k400.txt")),
        ],
        "clips of 8 frames": [video, "--model", saved_models[1], *labels, "--num-frames", "16"],
    }
    for message, argv in cases.items():
        assert cli.main(["predict", *argv]) == 1
        error = capsys.readouterr().err
        assert error.startswith("error: ") and message in error, error


@pytest.mark.slow
def test_temporal_benchmark_tiny(tmp_path):
    output = tmp_path / "bench"
    rows = temporal_benchmark.main(
        [
            *("--output-dir", str(output), "--size", "16", "--num-classes", "4"),
            *("--videos-per-class", "3", "--epochs", "1", "--base-width", "4"),
            *("--batch-size", "4", "--backbone", "keras_cv", "--models", "TSN", "STW"),
        ]
    )
    names = ["TSN", "STW"]
    assert [r["model"] for r in rows] == names
    saved = json.loads((output / "results.json").read_text())
    assert [r["model"] for r in saved["results"]] == names
    assert saved["config"]["train_videos"] == 8 and saved["config"]["val_videos"] == 4
    for row in rows:
        assert 0 <= row["top1"] <= row["pair_accuracy"] <= 1 and row["params"] > 0
    assert rows[0]["gflops"] < rows[1]["gflops"] and rows[0]["params"] < rows[1]["params"]
    table = (output / "results.md").read_text()
    assert all(f"| {name} |" in table for name in names)
    assert (output / "results.png").stat().st_size > 1000


@pytest.mark.slow
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
