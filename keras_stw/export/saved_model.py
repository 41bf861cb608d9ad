"""The TF Serving SavedModel: versioned layout, named outputs, checked inputs."""

import os
from collections.abc import Sequence

import keras

from keras_stw.validation import check_positive_int

DEFAULT_SIGNATURE = "serving_default"
JPEG_SIGNATURE = "serving_jpeg"


def export_saved_model(
    model: keras.Model,
    export_dir: str,
    version: int = 1,
    top_k: int = 5,
    class_names: Sequence[str] | None = None,
    jpeg_signature: bool = True,
) -> str:
    """Writes `model` as a SavedModel in the versioned layout TF Serving reads.

    The SavedModel lands in `export_dir/{version}/` and runs on plain TensorFlow: no
    Keras, `keras_stw` or KerasCV is needed to load or serve it. It has these
    signatures:

    - `serving_default`: input `clips`, `uint8` `(batch, T, H, W, 3)` raw RGB frames
      (the model normalizes them itself).
    - `serving_jpeg` (when `jpeg_signature=True`): input `frames_jpeg`, `string`
      `(batch, T)`, one JPEG-encoded frame per element. Frames are decoded to RGB and
      bilinearly resized to `(H, W)` in the graph. Encoded video (MP4, WebM) cannot be
      decoded by TensorFlow ops, so there is no video-bytes signature; decode the video
      on the client and send frames.

    Both return `probabilities` `(batch, K)`, `top_k_indices` (`int32`) and
    `top_k_scores` `(batch, k)`, and `top_k_labels` (`string`) when there are class
    names (`class_names`, else those saved with the model). An input whose rank, frame
    count, frame size or channel count differs from the model's is refused at the
    signature with `Shape of tensor clips [...] is not compatible with expected shape
    [?,T,H,W,3]`; a wrong dtype is refused by TensorFlow (or by TF Serving's request
    parser) before the graph runs.

    The signatures take clips, not videos: a client makes them as the model was
    trained, with the recipe saved with it, `model.clip_spec` (sampling, frame
    interval, short side): `keras_stw.evaluation.model_clip_spec(model).load(record)`
    cuts exactly the `clips` input of a video (`ClipSpec`'s defaults for a model saved
    without a recipe).

    Under the JAX or PyTorch backend, where Keras cannot trace a TensorFlow graph,
    the model is saved as `.keras` and exported by a TensorFlow-backend process that
    rebuilds it from that file, so the weights trained on any backend are served.

    Args:
        model: keras.Model. A clip classifier taking `(batch, T, H, W, 3)` frames in
            `[0, 255]` and returning class probabilities `(batch, K)`, such as
            `keras_stw.video_resnet(...)`.
        export_dir: str. The model's folder in TF Serving's model base path.
        version: int. The version subfolder, a positive integer. Defaults to `1`.
        top_k: int. How many top classes to return; capped at `K`. Defaults to `5`.
        class_names: sequence of `K` strings, or `None`. Adds a `top_k_labels`
            output. Defaults to `None`: the model's `class_names`, if it has them.
        jpeg_signature: bool. Whether to add the `serving_jpeg` signature. Defaults
            to `True`.

    Returns:
        str. The path of the version folder, `export_dir/{version}`.

    Example:
    >>> model = keras_stw.video_resnet("stw", num_frames=4, num_classes=5,
    ...     image_shape=(32, 32, 3), base_width=4, depth=26)
    >>> export_saved_model(model, "/tmp/stw", version=1, top_k=3)
    '/tmp/stw/1'
    """
    if class_names is None:
        class_names = getattr(model, "class_names", None)
    num_classes = _validate(model, version, top_k, class_names)
    path = os.path.join(os.fspath(export_dir), str(version))
    if keras.backend.backend() != "tensorflow":
        from keras_stw.export import tensorflow_process

        return tensorflow_process.export_saved_model(
            model, export_dir, version, top_k, class_names, jpeg_signature
        )
    archive = _archive(model, min(top_k, num_classes), class_names, jpeg_signature)
    archive.write_out(path, verbose=False)
    return path


def _serving_function(model, top_k, class_names=None):
    """Returns a `tf.function` from `uint8` clips to the named serving outputs.

    The clips' shape is checked first with `tf.ensure_shape`, so a wrong input fails
    on the request, with both shapes in the message. `tf.function` shapes alone do not
    do this: TF Serving and `loaded.signatures[...]` pass any shape through.
    """
    import tensorflow as tf

    clip_shape = _clip_shape(model)
    labels = None if class_names is None else tf.constant(list(class_names))

    @tf.function(input_signature=[tf.TensorSpec((None, *clip_shape), tf.uint8, name="clips")])
    def serve(clips):
        clips = tf.ensure_shape(clips, (None, *clip_shape))
        probabilities = model(tf.cast(clips, "float32"), training=False)
        scores, indices = tf.math.top_k(probabilities, k=top_k)
        outputs = {
            "probabilities": probabilities,
            "top_k_indices": indices,
            "top_k_scores": scores,
        }
        if labels is not None:
            outputs["top_k_labels"] = tf.gather(labels, indices)
        return outputs

    return serve


def _jpeg_function(model, serve):
    import tensorflow as tf

    num_frames, height, width, _ = _clip_shape(model)

    def decode(jpeg):
        frame = tf.io.decode_jpeg(jpeg, channels=3)
        frame = tf.image.resize(frame, (height, width))
        return tf.cast(tf.round(tf.clip_by_value(frame, 0.0, 255.0)), tf.uint8)

    @tf.function(input_signature=[tf.TensorSpec((None, num_frames), tf.string, name="frames_jpeg")])
    def serve_jpeg(frames_jpeg):
        frames_jpeg = tf.ensure_shape(frames_jpeg, (None, num_frames))
        frames = tf.map_fn(
            decode,
            tf.reshape(frames_jpeg, [-1]),
            fn_output_signature=tf.TensorSpec((height, width, 3), tf.uint8),
        )
        return serve(tf.reshape(frames, (-1, num_frames, height, width, 3)))

    return serve_jpeg


def _archive(model, top_k, class_names, jpeg_signature):
    archive = keras.export.ExportArchive()
    archive.track(model)
    serve = _serving_function(model, top_k, class_names)
    archive.add_endpoint(DEFAULT_SIGNATURE, serve)
    if jpeg_signature:
        archive.add_endpoint(JPEG_SIGNATURE, _jpeg_function(model, serve))
    return archive


def _clip_shape(model):
    shape = tuple(model.inputs[0].shape[1:]) if len(model.inputs) == 1 else ()
    if len(shape) != 4 or None in shape or shape[-1] != 3:
        raise ValueError(
            "export_saved_model needs a model with one input of fixed shape "
            "(batch, num_frames, height, width, 3). Received: input shapes "
            f"{[tuple(x.shape) for x in model.inputs]}"
        )
    return shape


def _validate(model, version, top_k, class_names):
    _clip_shape(model)
    check_positive_int("version", version, why=", TF Serving's version folder")
    check_positive_int("top_k", top_k)
    num_classes = model.outputs[0].shape[-1]
    if class_names is not None and len(class_names) != num_classes:
        raise ValueError(
            f"`class_names` needs one name per class ({num_classes}). "
            f"Received: {len(class_names)} names"
        )
    return num_classes
