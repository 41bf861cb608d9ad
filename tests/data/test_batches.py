"""`ClipBatches`: batches as pure functions of their index; `SkippedVideos`' counting."""

import pickle

import numpy as np
import pytest

from keras_stw.data import ClipBatches, ClipSpec, DecodeError, SkippedVideos, VideoRecord


@pytest.fixture
def records(real_media):
    return [VideoRecord(str(real_media / "frames_img"), label) for label in range(7)]


def spec(training=True):
    return ClipSpec(num_frames=2, training=training, image_size=8, short_side=8)


def test_lengths_and_positions(records):
    assert len(ClipBatches(records, spec(), batch_size=3)) == 3
    assert len(ClipBatches(records, spec(), batch_size=3, drop_remainder=True)) == 2
    last = ClipBatches(records, spec(False), batch_size=3)[2]
    assert (last["start"], last["stop"], last["completed_passes"]) == (6, 7, 1)
    assert last["clips"].shape == (1, 2, 8, 8, 3)
    with pytest.raises(IndexError, match="outside"):
        ClipBatches(records, spec(), batch_size=3)[3]


def test_repeated_batches_straddle_passes_each_in_its_own_order(records):
    batches = ClipBatches(records, spec(), batch_size=3, repeat=True, seed=1)
    labels = np.concatenate([batches[k]["labels"] for k in range(7)])
    passes = labels[:7], labels[7:14], labels[14:21]
    assert all(sorted(p) == list(range(7)) for p in passes)
    assert len({tuple(p) for p in passes}) == 3
    # Batch 2 holds positions 6, 7, 8: the end of pass 0.
    assert [batches[k]["completed_passes"] for k in range(5)] == [0, 0, 1, 0, 1]


def test_a_batch_depends_on_its_index_only(records):
    batches = ClipBatches(records, spec(), batch_size=3, repeat=True, seed=4)
    again = pickle.loads(pickle.dumps(batches))  # as a worker process sees it
    for index in (5, 0, 5):
        np.testing.assert_array_equal(batches[index]["clips"], again[index]["clips"])
    other = ClipBatches(records, spec(), batch_size=3, repeat=True, seed=5)
    assert not np.array_equal(batches[5]["clips"], other[5]["clips"])


def test_test_batches_are_in_order_and_deterministic(records):
    batches = ClipBatches(records, spec(False), batch_size=4)
    assert batches[0]["labels"].tolist() == [0, 1, 2, 3]
    # Test clips take no seed: two datasets agree without one.
    other = ClipBatches(records, spec(False), batch_size=4)
    np.testing.assert_array_equal(batches[1]["clips"], other[1]["clips"])


@pytest.mark.parametrize("shard_count", [2, 3])
def test_the_shards_of_a_batch_make_the_whole_batch(records, shard_count):
    """Each process makes its slice; together they are the one-process batch."""
    whole = ClipBatches(records, spec(), batch_size=6, repeat=True, seed=2)
    shards = [
        ClipBatches(records, spec(), batch_size=6, repeat=True, seed=2, **shard)
        for shard in ({"shard_index": i, "shard_count": shard_count} for i in range(shard_count))
    ]
    for index in (0, 3):
        parts = [shard[index] for shard in shards]
        assert {len(part["labels"]) for part in parts} == {6 // shard_count}
        for key in ("clips", "labels"):
            np.testing.assert_array_equal(
                np.concatenate([part[key] for part in parts]), whole[index][key]
            )
        # The whole batch's positions: each process counts its passes as one would.
        assert {(p["start"], p["stop"]) for p in parts} == {(index * 6, index * 6 + 6)}
    assert shards[0].fixed_batch_size == 6 // shard_count


def test_raise_names_the_file_and_the_annotation_line(real_media):
    bad = VideoRecord(str(real_media / "missing.mp4"), 0, origin="train.txt:12")
    with pytest.raises(DecodeError, match=r"missing.mp4: no such video file.*train.txt:12"):
        ClipBatches([bad], spec(), batch_size=1)[0]


def test_arguments_are_checked(records):
    with pytest.raises(ValueError, match="batch_size"):
        ClipBatches(records, spec(), batch_size=0)
    with pytest.raises(ValueError, match="on_error"):
        ClipBatches(records, spec(), batch_size=1, on_error="ignore")
    with pytest.raises(ValueError, match="no video record"):
        ClipBatches([], spec(), batch_size=1)
    with pytest.raises(ValueError, match="multiple of `shard_count`.*batch_size=3"):
        ClipBatches(records, spec(), batch_size=3, shard_count=2)
    with pytest.raises(ValueError, match="below `shard_count`.*shard_index=2"):
        ClipBatches(records, spec(), batch_size=4, shard_index=2, shard_count=2)


def test_skipped_videos_counts_passes_and_restarts():
    skipped = SkippedVideos()
    skipped.observe(0, 4, 3, ["a"], 0)
    # A batch that does not follow: a new iteration, the partial pass is dropped.
    skipped.observe(0, 4, 2, ["a", "b"], 0)
    skipped.observe(4, 8, 4, [], 1)
    assert skipped.per_epoch == [2] and skipped.total == 2
    skipped.observe(8, 12, 3, ["c"], 0)
    assert skipped.current == 1 and skipped.total == 3 and skipped.errors[-1] == "c"
    skipped.observe(12, 16, 0, ["d", "e", "f", "g"], 1)
    assert skipped.per_epoch == [2, 5]
    with pytest.raises(DecodeError, match="Every video of the pass failed to load .1.; last"):
        skipped.observe(16, 20, 0, ["h"], 1)
