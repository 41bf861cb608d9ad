"""Weight tags: download into the Keras cache, hash check, conversion once, clear failures.

No published checkpoint can be downloaded on the test machines, so the whole path runs
against a small TSM checkpoint served by an HTTP server on 127.0.0.1 (the tag's files
come from a mirror, `mirror=`), with a real download, hash check and conversion.
"""

import functools
import hashlib
import http.server
import io
import os
import socket
import threading

import keras
import numpy as np
import pytest
import torch

import keras_stw
from keras_stw.convert import pretrained
from tests.convert import torch_references as references

NUM_FRAMES, SIZE, CLASSES = 3, 64, 7
OPTIONS = {"num_frames": NUM_FRAMES, "image_shape": (SIZE, SIZE, 3), "activation": None}
TAG = "tsm_resnet26.tiny_test"


@functools.cache
def checkpoint():
    """`(file bytes, logits)` of a TSM ResNet-26 saved as TSM's repository saves it."""
    module = references.randomize(references.TSN(26, CLASSES, NUM_FRAMES, n_round=2), seed=5)
    rng = np.random.default_rng(0)
    clips = rng.integers(0, 256, (2, NUM_FRAMES, SIZE, SIZE, 3), dtype="uint8")
    with torch.no_grad():
        logits = module(references.normalize(clips)).numpy()
    state = {f"module.{key}": value for key, value in module.state_dict().items()}
    buffer = io.BytesIO()
    torch.save({"epoch": 1, "state_dict": state}, buffer)
    return buffer.getvalue(), clips, logits


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves `server.files`; a name in `server.truncated` gets half its bytes."""

    def do_GET(self):
        name = self.path.rsplit("/", 1)[-1]
        self.server.requests.append(name)
        content = self.server.files.get(name)
        if content is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        half = name in self.server.truncated
        self.wfile.write(content[: len(content) // 2] if half else content)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.files, httpd.truncated, httpd.requests = {}, set(), []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def tag(monkeypatch, tmp_path, server):
    """Registers the tiny tag (with `prefix` as its hash), served by `server`."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setattr(pretrained, "PRETRAINED", dict(pretrained.PRETRAINED))
    content = checkpoint()[0]

    def register(prefix=None):
        prefix = prefix or hashlib.sha256(content).hexdigest()[:8]
        filename = f"tiny_tsm-{prefix}.pth"
        server.files[filename] = content
        pretrained.register_pretrained(
            TAG, f"https://download.invalid/{filename}", prefix, CLASSES, "this test", "tiny"
        )
        return filename

    return register


def mirror(server):
    return f"http://127.0.0.1:{server.server_address[1]}/files"


def cache(tmp_path, folder):
    path = tmp_path / "keras_home" / "keras_stw" / folder
    return sorted(os.listdir(path)) if path.is_dir() else []


def test_the_file_downloads_converts_once_and_is_reused(tmp_path, server, tag):
    filename = tag()
    _, clips, logits = checkpoint()
    model = keras_stw.create_model(
        TAG, pretrained=True, mirror=mirror(server), num_classes=CLASSES, **OPTIONS
    )
    scores = keras.ops.convert_to_numpy(model(clips.astype("float32"), training=False))
    assert np.max(np.abs(scores - logits)) <= 1e-4
    assert server.requests == [filename]
    assert cache(tmp_path, "checkpoints") == [filename]
    (converted,) = cache(tmp_path, "presets")
    restored = keras_stw.from_preset(tmp_path / "keras_home/keras_stw/presets" / converted)
    assert restored.name == "tsm_resnet26" and restored.num_classes == CLASSES
    # Without the checkpoint, the converted preset is what the next call loads.
    os.remove(tmp_path / "keras_home" / "keras_stw" / "checkpoints" / filename)
    again = keras_stw.create_model(TAG, pretrained=True, mirror=mirror(server), **OPTIONS)
    assert server.requests == [filename]
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(again(clips.astype("float32"), training=False)), scores
    )


def test_a_wrong_hash_is_refused_and_nothing_is_cached(tmp_path, server, tag):
    tag("00000000")
    with pytest.raises(keras_stw.WeightsUnavailableError, match="does not start with 00000000"):
        keras_stw.create_model(TAG, pretrained=True, mirror=mirror(server), **OPTIONS)
    assert cache(tmp_path, "checkpoints") == [] and cache(tmp_path, "presets") == []


def test_an_interrupted_download_leaves_nothing(tmp_path, server, tag):
    server.truncated.add(tag())
    with pytest.raises(keras_stw.WeightsUnavailableError, match="stopped after") as error:
        keras_stw.create_model(TAG, pretrained=True, mirror=mirror(server), **OPTIONS)
    assert "nothing was kept" in str(error.value)
    assert cache(tmp_path, "checkpoints") == [] and cache(tmp_path, "presets") == []


def test_offline_names_the_url_and_the_local_file_route(tmp_path, tag):
    filename = tag()
    with socket.socket() as probe:  # A port that nothing listens on: connection refused.
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(keras_stw.WeightsUnavailableError) as error:
        keras_stw.create_model(TAG, pretrained=True, mirror=f"http://127.0.0.1:{port}", **OPTIONS)
    message = str(error.value)
    assert f"Could not download http://127.0.0.1:{port}/{filename}" in message
    assert f"convert_checkpoint('/path/to/{filename}', 'tsm_resnet26')" in message
    assert "python -m keras_stw convert" in message
    assert cache(tmp_path, "checkpoints") == []


def test_another_class_count_keeps_the_resnet_under_a_new_classifier(tmp_path, server, tag):
    tag()
    options = dict(pretrained=True, mirror=mirror(server), **OPTIONS)
    model = keras_stw.create_model(TAG, num_classes=CLASSES + 1, **options)
    assert model.num_classes == CLASSES + 1
    published = keras_stw.create_model(TAG, **options)
    assert published.num_classes == CLASSES and len(cache(tmp_path, "presets")) == 2

    def resnet(m):
        return [keras.ops.convert_to_numpy(w) for w in m.weights if "frame_scores" not in w.path]

    for a, b in zip(resnet(published), resnet(model), strict=True):
        np.testing.assert_array_equal(a, b)


def test_every_published_tag_names_its_hash_in_its_file_name():
    tags = keras_stw.list_pretrained()
    assert tags == [
        "tsm_resnet50.k400_mmaction2",
        "tsm_resnet50.sthv2_mmaction2",
        "tsn_resnet50.tv_in1k",
        "tsn_resnet101.tv_in1k",
    ]
    for name in tags:
        entry = keras_stw.convert.PRETRAINED[name]
        assert entry.url.endswith(f"-{entry.sha256_prefix}.pth"), name
        assert keras_stw.model_info(entry.model).depth in (50, 101)
