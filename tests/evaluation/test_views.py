"""One implementation of the test views: evaluation, prediction and validation agree."""

import numpy as np
import pytest

from keras_stw import data, evaluation

ENGINES = [pytest.param("tf", marks=pytest.mark.tf_only), "grain"]


def test_views_of_a_real_video(real_media):
    path = str(real_media / "demo.mp4")
    centre = evaluation.video_views(path, num_frames=4, image_size=64, short_side=64)
    views = evaluation.video_views(
        path, num_frames=4, image_size=64, short_side=64, num_clips=2, num_crops=3
    )
    assert centre.shape == (1, 4, 64, 64, 3) and centre.dtype == np.uint8
    assert views.shape == (6, 4, 64, 64, 3)
    # demo.mp4 is landscape: left, centre and right crops differ.
    assert not np.array_equal(views[0], views[2])
    # One clip's centre crop is the protocol 1x1 view.
    single = evaluation.video_views(
        path, num_frames=4, image_size=64, short_side=64, num_clips=1, num_crops=3
    )
    np.testing.assert_array_equal(single[1], centre[0])


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("sampling", ["segment", "dense"])
def test_validation_batches_are_the_evaluation_views(real_media, engine, sampling):
    """What training validates on is what evaluate.py and predict score."""
    paths = [str(real_media / name) for name in ("demo.mp4", "test.avi", "frames_img")]
    options = {"num_frames": 4, "image_size": 32, "short_side": 40, "sampling": sampling}
    options.update(frame_interval=2, num_clips=2, num_crops=3)
    ds = data.video_dataset(paths, batch_size=3, engine=engine, workers=0, **options)
    ((clips, _),) = [(np.asarray(x), y) for x, y in ds]
    for path, batch_views in zip(paths, clips, strict=True):
        np.testing.assert_array_equal(batch_views, evaluation.video_views(path, **options))


def test_a_spec_and_its_fields_as_keywords_give_the_same_views(real_media):
    path = str(real_media / "demo.mp4")
    options = {"num_frames": 4, "image_size": 32, "short_side": 40, "sampling": "dense"}
    trained = data.ClipSpec(training=True, flip=True, frame_interval=2, **options)
    views = evaluation.video_views(path, trained)
    np.testing.assert_array_equal(views, evaluation.video_views(path, frame_interval=2, **options))
    assert not np.array_equal(views, evaluation.video_views(path, **options))
    # Keywords replace the spec's fields: the centre of three crops is the 1x1 view.
    np.testing.assert_array_equal(evaluation.video_views(path, trained, num_crops=3)[1], views[0])
