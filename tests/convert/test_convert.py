"""`keras_stw.convert` and `python -m keras_stw convert`: parity with PyTorch references.

The references (`torch_references.py`) follow torchvision's, TSM's and mmaction2's module
layouts key for key, with random weights and BatchNorm statistics; each is saved as its
source saves it, converted from that file, and run on the same clips.
"""

import argparse
import functools
import os
import re
import sys
import tempfile
import types

import keras
import numpy as np
import pytest
import torch

import keras_stw
from keras_stw import cli, convert, export
from keras_stw.models import registry
from tests.convert import torch_references as references

NUM_FRAMES, SIZE, CLASSES = 3, 64, 7
# float32 logits of the same network in two frameworks: sums in another order.
PARITY_ATOL = 1e-4
MODEL_OPTIONS = {"num_frames": NUM_FRAMES, "num_classes": CLASSES, "image_shape": (SIZE, SIZE, 3)}
CHECKPOINTS = tempfile.TemporaryDirectory()  # The session's checkpoint files.


def clips(seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (2, NUM_FRAMES, SIZE, SIZE, 3), dtype="uint8")


def save_torch(name, checkpoint):
    path = os.path.join(CHECKPOINTS.name, name)
    torch.save(checkpoint, path)
    return path


def torchvision_checkpoint(reference):
    """torchvision's files: the bare state dict (`resnet50-0676ba61.pth`)."""
    return reference.state_dict()


def tsm_checkpoint(reference):
    """TSM's main.py: `nn.DataParallel` keys in a dict with the epoch and accuracy."""
    state = {f"module.{key}": value for key, value in reference.state_dict().items()}
    return {"epoch": 50, "arch": "resnet50", "state_dict": state, "best_prec1": 71.2}


def mmaction2_checkpoint(reference):
    """mmengine's checkpoint: `meta` and `state_dict`."""
    return {"meta": {"epoch": 50, "dataset_meta": None}, "state_dict": reference.state_dict()}


# name -> (reference, how its source saves it, the zoo model it converts into)
LAYOUTS = {
    "torchvision": (lambda: references.ResNet(50), torchvision_checkpoint, "tsn_resnet50"),
    "tsm": (lambda: references.TSN(50, CLASSES, NUM_FRAMES), tsm_checkpoint, "tsm_resnet50"),
    "mmaction2": (
        lambda: references.Recognizer2D(50, CLASSES, NUM_FRAMES),
        mmaction2_checkpoint,
        "tsm_resnet50",
    ),
    # TSM's placement for ResNet-101 (every other block), on a ResNet-26 to stay fast.
    "tsm_every_other_block": (
        lambda: references.TSN(26, CLASSES, NUM_FRAMES, n_round=2),
        tsm_checkpoint,
        "tsm_resnet26",
    ),
}


@functools.cache
def reference(layout):
    """`(logits, checkpoint path)` of the layout's reference, saved as its source saves it."""
    make, save, _ = LAYOUTS[layout]
    module = references.randomize(make(), seed=len(layout))
    with torch.no_grad():
        logits = module(references.normalize(clips())).numpy()
    if layout == "torchvision":  # The image model on each frame, logits averaged (TSN).
        logits = logits.reshape(-1, NUM_FRAMES, logits.shape[-1]).mean(1)
    return logits, save_torch(f"{layout}.pth", save(module))


@functools.cache
def tsm_resnet50():
    """One TSM ResNet-50 that the TSM and mmaction2 tests load their checkpoints into."""
    return keras_stw.create_model(
        "tsm_resnet50", backbone="keras_hub", activation=None, **MODEL_OPTIONS
    )


@functools.cache
def _converted(layout):
    options = {**MODEL_OPTIONS, "num_classes": None}  # The checkpoint's.
    return convert.convert_checkpoint(
        reference(layout)[1], LAYOUTS[layout][2], activation=None, **options
    )


def converted(layout):
    """`(reference logits, Keras model, report, checkpoint path)` for a layout.

    The TSM and mmaction2 checkpoints are loaded into `tsm_resnet50()` (by
    `load_checkpoint`) on every call; the others are converted once (by
    `convert_checkpoint`).
    """
    logits, path = reference(layout)
    if LAYOUTS[layout][2] == "tsm_resnet50":
        model = tsm_resnet50()
        return logits, model, convert.load_checkpoint(model, path), path
    return (logits, *_converted(layout), path)


def keras_logits(model, inputs):
    return keras.ops.convert_to_numpy(model(inputs.astype("float32"), training=False))


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_logits_match_the_pytorch_reference(layout):
    logits, model, report, _ = converted(layout)
    difference = np.max(np.abs(keras_logits(model, clips()) - logits))
    assert difference <= PARITY_ATOL, difference
    assert np.max(np.abs(logits)) > 100 * PARITY_ATOL  # The check can fail.
    expected_layout = "tsm" if layout.startswith("tsm") else layout
    assert (report.layout, report.classes) == (expected_layout, logits.shape[-1])


def test_report_counts_what_was_matched():
    _, model, report, _ = converted("tsm")
    lines = report.lines()
    assert lines[0] == "checkpoint: TSM repository layout, ResNet-50, TSM shift in 16 of 16 blocks"
    assert (
        lines[1]
        == f"matched: 267 tensors: 53 convolutions, 53 BatchNorms, classifier of {CLASSES} classes"
    )
    assert report.matched["module.base_model.layer1.0.conv1.net.weight"].endswith(
        "stack0_block0_1_conv/kernel"
    )
    assert report.matched["module.new_fc.bias"].endswith("frame_scores/bias")
    assert len(report.ignored) == 53
    assert model.num_classes == CLASSES and model.backbone == "keras_hub"


def test_every_other_block_as_the_checkpoint_shifts():
    _, model, report, _ = converted("tsm_every_other_block")
    shifts = [
        layer.name
        for layer in model.get_layer("backbone").layers
        if isinstance(layer, keras_stw.TemporalShift)
    ]
    assert shifts == [f"stage{s}_block1_temporal" for s in (2, 3, 4, 5)]
    assert (report.shifted_blocks, report.total_blocks) == (4, 8)


def test_a_registered_family_converts_with_nothing_else_to_edit(monkeypatch):
    # The registration is undone after the test.
    for table in ("_MODEL_FUNCTIONS", "_MODEL_INFO"):
        monkeypatch.setattr(registry, table, dict(getattr(registry, table)))
    keras_stw.register_family("tinytsm", "tsm", "a TSM family of the test", depths=(26,))
    logits, path = reference("tsm_every_other_block")
    model, report = convert.convert_checkpoint(
        path, "tinytsm_resnet26", activation=None, **{**MODEL_OPTIONS, "num_classes": None}
    )
    assert model.name == "tinytsm_resnet26" and report.classes == CLASSES
    assert (report.shifted_blocks, report.temporal_layers) == (4, {"TemporalShift": 4})
    assert np.max(np.abs(keras_logits(model, clips()) - logits)) <= PARITY_ATOL


def test_keras_file_reloads_with_identical_outputs(tmp_path):
    _, model, _, _ = converted("tsm_every_other_block")
    path = tmp_path / "converted.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_array_equal(keras_logits(restored, clips(1)), keras_logits(model, clips(1)))


@pytest.mark.tf_only
def test_saved_model_export_parity(tmp_path):
    _, model, _, _ = converted("tsm_every_other_block")
    saved_model = export.export_saved_model(model, str(tmp_path), jpeg_signature=False)
    table = export.output_parity(model, clips(2), saved_model_dir=saved_model)
    assert table["saved_model"]["max_abs_diff"] <= 1e-5, table
    assert table["saved_model"]["top1_agreement"] == 1.0


def test_stw_gets_the_resnet_and_keeps_its_blocks_initial_values():
    reference = references.randomize(references.ResNet(26), seed=3)
    state = {k: v.numpy() for k, v in reference.state_dict().items()}
    model, report = convert.convert_checkpoint(
        state, "stw_resnet26", num_classes=5, num_frames=NUM_FRAMES, image_shape=(SIZE, SIZE, 3)
    )
    backbone = model.get_layer("backbone")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(backbone.get_layer("stack3_block1_2_conv").kernel),
        state["layer4.1.conv2.weight"].transpose(2, 3, 1, 0),
    )
    fresh = keras_stw.STWBlock(NUM_FRAMES)
    fresh.build((None, 4, 4, 64))  # stage 2, block 1: the stem's 64 channels
    block = backbone.get_layer("stage2_block1_temporal")
    for actual, expected in zip(block.weights, fresh.weights, strict=True):
        np.testing.assert_array_equal(*map(keras.ops.convert_to_numpy, (actual, expected)))
    assert report.skipped == ("fc.weight", "fc.bias") and report.classes is None
    assert report.lines()[2] == (
        "not from the checkpoint: classifier of 5 classes; 8 STWBlock (initial values)"
    )


def test_safetensors_and_npz_exports_read_as_the_pth():
    from safetensors.numpy import save_file

    state = {
        "conv1.weight": np.ones((2, 3, 1, 1), "float16"),
        "bn1.num_batches_tracked": np.array(7),
    }
    pth = save_torch("small.pth", {k: torch.from_numpy(v) for k, v in state.items()})
    npz = os.path.join(CHECKPOINTS.name, "small.npz")
    np.savez(npz, **state)
    safetensors = os.path.join(CHECKPOINTS.name, "small.safetensors")
    save_file(state, safetensors)
    for path in (pth, npz, safetensors):
        read = convert.read_checkpoint(path)
        assert read["conv1.weight"].dtype == np.float32, path
        assert read["bn1.num_batches_tracked"] == 7, path


def test_cli_converts_and_prints_what_it_matched(tmp_path, capsys):
    path = reference("tsm_every_other_block")[1]
    out = tmp_path / "tsm.keras"
    argv = ["convert", path, "--model", "tsm_resnet26", "--out", str(out)]
    argv += ["--num-classes", str(CLASSES), "--num-frames", str(NUM_FRAMES), "--image-size", "64"]
    assert cli.main(argv) == 0
    assert capsys.readouterr().out.splitlines() == [
        "checkpoint: TSM repository layout, ResNet-26, TSM shift in 4 of 8 blocks",
        f"matched: 147 tensors: 29 convolutions, 29 BatchNorms, classifier of {CLASSES} classes",
        "not from the checkpoint: 4 TemporalShift (no weights)",
        "ignored: 29 num_batches_tracked (no weights)",
        f"saved: {out} (tsm_resnet26, 3 frames of 64x64, {CLASSES} classes)",
    ]
    assert out.stat().st_size > 0


@pytest.mark.parametrize(
    "change, message",
    [
        ("missing", "no weights for 1 variables of 'tsm_resnet26', e.g. stack1_block1_2_conv/"),
        ("shape", "has shape (3, 3, 128, 64) (as Keras lays it out); stack1_block1_2_conv/"),
    ],
)
def test_a_refused_checkpoint_leaves_the_model_as_it_was(change, message):
    _, model, _, _ = converted("tsm_every_other_block")
    before = [keras.ops.convert_to_numpy(v) for v in model.weights]
    key = "module.base_model.layer2.1.conv2.weight"
    changes = {"missing": lambda s: s.pop(key), "shape": lambda s: s.update({key: s[key][:64]})}
    with pytest.raises(convert.CheckpointError, match=re.escape(message)):
        convert.load_checkpoint(model, write_variant(f"{change}.pth", changes[change]))
    for variable, value in zip(model.weights, before, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value)


def write_variant(name, change):
    """The ResNet-26 TSM checkpoint with `change(state)` applied, saved as `name`."""
    checkpoint = tsm_checkpoint(references.TSN(26, CLASSES, NUM_FRAMES))
    change(checkpoint["state_dict"])
    return save_torch(name, checkpoint)


def truncated(path, name):
    with open(path, "rb") as source:
        content = source.read()
    out = os.path.join(CHECKPOINTS.name, name)
    with open(out, "wb") as target:
        target.write(content[: len(content) // 2])
    return out


def refusals():
    """(expected message, argv after `convert`) for every checkpoint the CLI refuses."""
    tsm26 = converted("tsm_every_other_block")[3]
    resnet18 = {"conv1.weight": torch.zeros(64, 3, 7, 7), "layer1.0.conv2.weight": torch.zeros(1)}
    small = {"conv1.weight": np.ones((2, 3, 1, 1), "float32")}
    np.savez(npz := os.path.join(CHECKPOINTS.name, "refuse.npz"), **small)
    from safetensors.numpy import save_file

    save_file(small, safe := os.path.join(CHECKPOINTS.name, "refuse.safetensors"))
    pickled = {"state_dict": {}, "args": argparse.Namespace(lr=0.01)}
    key = "module.base_model.layer2.1.conv1.net.weight"
    cases = {
        "ResNet-26 (blocks (2, 2, 2, 2)); tsm_resnet50 is a ResNet-50": (tsm26, "tsm_resnet50"),
        "classifier has 7 classes. Received: num_classes=174": (
            tsm26,
            "tsm_resnet26",
            "--num-classes",
            "174",
        ),
        "match no weight of a bottleneck ResNet, e.g. module.base_model.layer1.0.extra": (
            write_variant(
                "extra.pth", lambda s: s.update({"module.base_model.layer1.0.extra": s[key]})
            ),
            "tsm_resnet26",
        ),
        "basic blocks (ResNet-18 / -34, no conv3)": (
            save_torch("r18.pth", resnet18),
            "tsn_resnet50",
        ),
        "match no weight of a bottleneck ResNet, e.g. features.0.weight": (
            save_torch("mobilenet.pth", {"features.0.weight": torch.zeros(1)}),
            "tsn_resnet50",
        ),
        "cannot read it as a PyTorch checkpoint (truncated": (
            truncated(tsm26, "truncated.pth"),
            "tsm_resnet26",
        ),
        "cannot read it as an .npz file (truncated?)": (truncated(npz, "t.npz"), "tsn_resnet26"),
        "cannot read it as a .safetensors file (truncated?)": (
            truncated(safe, "t.safetensors"),
            "tsn_resnet26",
        ),
        "holds Python objects besides tensors": (save_torch("args.pth", pickled), "tsn_resnet26"),
        "`num_classes` is needed: stw_resnet26 gets a new classifier": (tsm26, "stw_resnet26"),
        "`model` must be a zoo ResNet": (tsm26, "tsm_mobilenet"),
        "no such checkpoint file": (os.path.join(CHECKPOINTS.name, "none.pth"), "tsm_resnet26"),
    }
    return {
        message: [path, "--model", model, *rest] for message, (path, model, *rest) in cases.items()
    }


def test_every_refusal_is_one_line_with_status_1(tmp_path, capsys):
    out = ["--out", str(tmp_path / "out.keras"), "--image-size", "32"]
    for message, argv in refusals().items():
        assert cli.main(["convert", *argv, *out]) == 1, message
        error = capsys.readouterr().err
        assert error.startswith("error: ") and message in error, (message, error)
        assert error.count("\n") == 1 and len(error) < 400, error
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--image-size", "0", "--image-size must be at least 32 (the ResNet downsamples 32x)"),
        ("--image-size", "-224", "--image-size must be at least 32"),
        ("--image-size", "8", "at least 32 (the ResNet downsamples 32x). Received: --image-size 8"),
        ("--num-frames", "0", "--num-frames must be at least 1. Received: --num-frames 0"),
        ("--num-classes", "0", "--num-classes must be at least 1. Received: --num-classes 0"),
    ],
)
def test_sizes_no_model_can_have_are_refused_naming_the_flag(
    tmp_path, capsys, flag, value, message
):
    out = tmp_path / "out.keras"
    argv = ["convert", "any.pth", "--model", "tsm_resnet26", "--out", str(out), flag, value]
    assert cli.main(argv) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: ") and message in error and error.count("\n") == 1, error
    assert not out.exists()


def test_load_checkpoint_needs_a_video_resnet_on_keras_hub():
    with pytest.raises(ValueError, match="needs a VideoResNet with backbone='keras_hub'"):
        convert.load_checkpoint(keras.Sequential(), reference("tsm")[1])


def test_out_must_be_a_keras_file(capsys):
    path = converted("tsm_every_other_block")[3]
    assert cli.main(["convert", path, "--model", "tsm_resnet26", "--out", "model.h5"]) == 1
    assert "--out must name a .keras file" in capsys.readouterr().err


def test_without_torch_a_pth_says_how_to_install_it(monkeypatch):
    path = converted("tsm_every_other_block")[3]
    monkeypatch.setitem(sys.modules, "torch", None)  # What `import torch` meets without it.
    with pytest.raises(ImportError, match=r"needs torch: `pip install torch`"):
        convert.read_checkpoint(path)


def test_an_mmaction2_1x_file_is_refused_naming_mmengine_and_the_way_out(monkeypatch):
    # mmaction2 1.x files keep mmengine's training state in `meta`: HistoryBuffers of
    # NumPy arrays. mmengine is not installed here: while the file is written, its class
    # stands under its module's name, which is all that the pickle records of it.
    history = types.ModuleType("mmengine.logging.history_buffer")
    history.HistoryBuffer = type("HistoryBuffer", (), {"__module__": history.__name__})
    buffer = history.HistoryBuffer()
    buffer._log_history = np.array([0.5, 0.25])

    def mmengine_importable():
        for name in ("mmengine", "mmengine.logging"):
            monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
        monkeypatch.setitem(sys.modules, history.__name__, history)

    mmengine_importable()
    meta = {"seed": np.int64(0), "message_hub": {"log_scalars": {"loss": buffer}}}
    state = {"conv1.weight": torch.ones(2, 3, 1, 1)}
    path = save_torch("mmaction2_1x.pth", {"meta": meta, "state_dict": state})
    monkeypatch.undo()
    with pytest.raises(convert.CheckpointError) as refused:
        convert.read_checkpoint(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: holds Python objects besides tensors (e.g. mmengine.")
    way_out = f"where mmengine is installed: torch.save(torch.load({path!r}, weights_only=False)"
    assert way_out in message and "\n" not in message
    # The way out works where mmengine is installed.
    mmengine_importable()
    tensors = save_torch("tensors.pth", torch.load(path, weights_only=False)["state_dict"])
    monkeypatch.undo()
    np.testing.assert_array_equal(convert.read_checkpoint(tensors)["conv1.weight"], 1.0)
