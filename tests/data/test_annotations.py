"""Every annotation format, on small files written in `tmp_path`."""

import json
import logging
import os

import pytest

from keras_stw.data import (
    AnnotationError,
    VideoRecord,
    read_hmdb51,
    read_kinetics_csv,
    read_label_map,
    read_list,
    read_something_v1,
    read_something_v2,
    read_ucf101,
)


def write(path, text, encoding="utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return str(path)


@pytest.mark.parametrize(
    "name, count, first",
    [
        ("label_map_k400.txt", 400, "abseiling"),
        ("label_map_sthv1.txt", 174, "Holding something"),
        ("label_map_ucf101.txt", 101, "ApplyEyeMakeup"),
        ("label_map_hmdb51.txt", 51, "brush_hair"),
    ],
)
def test_read_label_map(real_media, name, count, first):
    names = read_label_map(str(real_media / name))
    assert len(names) == count and names[0] == first


def test_generic_list_both_layouts(tmp_path):
    path = write(tmp_path / "list.txt", "a/v 1.mp4 2\n\nb/v2.mp4 48 0\n")
    records, names = read_list(path, root="root")
    assert records == [
        VideoRecord(os.path.join("root", "a/v 1.mp4"), 2, None, f"{path}:1"),
        VideoRecord(os.path.join("root", "b/v2.mp4"), 0, 48, f"{path}:3"),
    ]
    assert names == ["0", "1", "2"]


def test_something_v1(tmp_path):
    labels = write(tmp_path / "labels.csv", "Holding something\nPushing something\n")
    train = write(tmp_path / "train.csv", "100218;Pushing something\n42;Holding something\n")
    records, names = read_something_v1(train, labels, "frames")
    assert [(r.path, r.label) for r in records] == [
        (os.path.join("frames", "100218"), 1),
        (os.path.join("frames", "42"), 0),
    ]
    assert names == ["Holding something", "Pushing something"]


def test_something_v2(tmp_path):
    labels = {"Pushing something from left to right": "1", "Holding something": "0"}
    entries = [
        {"id": "7", "template": "Pushing [something] from left to right"},
        {"id": "8", "template": "Holding [something]"},
        {"id": "9"},
    ]
    labels_file = write(tmp_path / "labels.json", json.dumps(labels))
    train = write(tmp_path / "train.json", json.dumps(entries))
    records, names = read_something_v2(train, labels_file, "videos")
    assert names == ["Holding something", "Pushing something from left to right"]
    assert [(r.path, r.label) for r in records] == [
        (os.path.join("videos", "7.webm"), 1),
        (os.path.join("videos", "8.webm"), 0),
        (os.path.join("videos", "9.webm"), -1),
    ]


def test_kinetics_csv(real_media, tmp_path):
    csv_file = write(
        tmp_path / "train.csv",
        "label,youtube_id,time_start,time_end,split\n"
        "air drumming,abc,10,20,train\n"
        "abseiling,xyz,0,10,train\n",
    )
    class_names = read_label_map(str(real_media / "label_map_k400.txt"))
    records, names = read_kinetics_csv(csv_file, "k400", class_names)
    assert [(r.path, r.label) for r in records] == [
        (os.path.join("k400", "air drumming/abc_000010_000020.mp4"), 1),
        (os.path.join("k400", "abseiling/xyz_000000_000010.mp4"), 0),
    ]
    assert records[0].origin == f"{csv_file}:2"
    assert read_kinetics_csv(csv_file, "k400").class_names == ["abseiling", "air drumming"]


@pytest.mark.parametrize("split", [1, 2, 3])
def test_ucf101_splits(tmp_path, split):
    write(tmp_path / "classInd.txt", "1 ApplyEyeMakeup\n2 Archery\n")
    write(tmp_path / f"trainlist0{split}.txt", "Archery/v_Archery_g01_c01.avi 2\n")
    write(tmp_path / f"testlist0{split}.txt", "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\n")
    train = read_ucf101(str(tmp_path), "ucf", split=split)
    test = read_ucf101(str(tmp_path), "ucf", split=split, subset="test")
    assert [r.label for r in train.records] == [1]
    assert [r.label for r in test.records] == [0]
    assert test.records[0].path == os.path.join(
        "ucf", "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"
    )
    assert train.class_names == ["ApplyEyeMakeup", "Archery"]


def test_hmdb51_split(tmp_path):
    write(tmp_path / "clap_test_split1.txt", "c1.avi 1\nc2.avi 2\nc3.avi 0\n")
    write(tmp_path / "brush_hair_test_split1.txt", "b1.avi 2\nb2.avi 1\n")
    train = read_hmdb51(str(tmp_path), "hmdb")
    test = read_hmdb51(str(tmp_path), "hmdb", subset="test")
    assert train.class_names == ["brush_hair", "clap"]
    assert [(r.path, r.label) for r in train.records] == [
        (os.path.join("hmdb", "brush_hair", "b2.avi"), 0),
        (os.path.join("hmdb", "clap", "c1.avi"), 1),
    ]
    assert [r.label for r in test.records] == [0, 1]


def _label_errors(tmp_path):
    labels = write(tmp_path / "labels.csv", "Holding something\n")
    ss1 = write(tmp_path / "ss1.csv", "1;Holding something\n2;Flying something\n")
    generic = write(tmp_path / "list.txt", "a.mp4 0\nb.mp4 5\n")
    kinetics = write(tmp_path / "k.csv", "label,youtube_id,time_start,time_end\na,x,0,1\nb,y,0,1\n")
    return {
        "ss1": (lambda **kw: read_something_v1(ss1, labels, "f", **kw), f"{ss1}:2"),
        "list": (lambda **kw: read_list(generic, class_names=["a"], **kw), f"{generic}:2"),
        "kinetics": (lambda **kw: read_kinetics_csv(kinetics, "k", ["a"], **kw), f"{kinetics}:3"),
    }


@pytest.mark.parametrize("reader", ["ss1", "list", "kinetics"])
def test_label_not_in_label_list_names_file_and_line(tmp_path, reader):
    read, where = _label_errors(tmp_path)[reader]
    with pytest.raises(AnnotationError, match="not in the label list") as info:
        read()
    assert where in str(info.value)


@pytest.mark.parametrize("reader", ["ss1", "list", "kinetics"])
def test_skip_drops_and_counts_bad_lines(tmp_path, caplog, reader):
    read, _ = _label_errors(tmp_path)[reader]
    with caplog.at_level(logging.WARNING):
        records, _ = read(on_error="skip")
    assert len(records) == 1 and records[0].label == 0
    assert "skipped 1 malformed annotation line" in caplog.text


def test_malformed_line_names_file_and_line(tmp_path):
    path = write(tmp_path / "list.txt", "a.mp4 0\nb.mp4\n")
    with pytest.raises(AnnotationError, match=f"{path}:2"):
        read_list(path)


@pytest.mark.parametrize("content", ["", "\n\n"])
def test_empty_annotation_file(tmp_path, content):
    path = write(tmp_path / "list.txt", content)
    with pytest.raises(AnnotationError, match=f"{path}: the annotation file is empty"):
        read_list(path)
    with pytest.raises(AnnotationError, match="label list is empty"):
        read_label_map(path)


def test_missing_annotation_file(tmp_path):
    with pytest.raises(AnnotationError, match="nope.txt: cannot open"):
        read_list(str(tmp_path / "nope.txt"))


BOM = "\ufeff"


# Windows tools write a byte-order mark first: Notepad's "UTF-8 with BOM" and its "Unicode"
# (UTF-16 little-endian), "Unicode big endian" (UTF-16 big-endian).
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16-le", "utf-16-be"])
def test_a_byte_order_mark_picks_the_encoding_and_is_not_part_of_the_first_name(tmp_path, encoding):
    def write_bom(name, text):
        return write(tmp_path / name, BOM + text, encoding)

    labels = write_bom("labels.txt", "move left\r\nmove right\r\ncafé\r\n")
    names = read_label_map(labels)
    assert names == ["move left", "move right", "café"]
    from keras_stw.data import flip_label_map_from_names

    assert flip_label_map_from_names(names) == [1, 0, 2]
    records, _ = read_list(write_bom("list.txt", "a.mp4 1\n"), class_names=names)
    assert records[0].path == "a.mp4"
    kinetics = write_bom("k.csv", "label,youtube_id,time_start,time_end,split\ncafé,x,1,2,t\n")
    records, _ = read_kinetics_csv(kinetics, "k", class_names=names)
    assert records[0].label == 2
    v2 = write_bom("v2.json", json.dumps([{"id": 1, "template": "move [left]"}]))
    v2_labels = write_bom("l.json", json.dumps({"move left": "0", "move right": "1"}))
    records, _ = read_something_v2(v2, v2_labels, "v")
    assert records[0].label == 0
    records, _ = read_something_v1(write_bom("v1.txt", "7;café\n"), labels, "frames")
    assert (records[0].path, records[0].label) == (os.path.join("frames", "7"), 2)


@pytest.mark.parametrize(
    "encoding, message",
    [
        ("cp1252", r"not UTF-8 text \(byte 3: invalid continuation byte\); save it as UTF-8"),
        # UTF-16 without a byte-order mark, and UTF-32, decode as UTF-8 with NULs.
        ("utf-16-le", r"holds NUL characters: not UTF-8, nor UTF-16 with a byte-order mark"),
        ("utf-32", r"holds NUL characters: not UTF-8, nor UTF-16 with a byte-order mark"),
    ],
)
@pytest.mark.parametrize("reader", ["label_map", "list", "kinetics", "something_v2"])
def test_other_encodings_are_refused_naming_the_file(tmp_path, encoding, message, reader):
    path = write(tmp_path / "labels.txt", "café é\nmove 1\n", encoding)
    read = {
        "label_map": read_label_map,
        "list": read_list,
        "kinetics": lambda path: read_kinetics_csv(path, "k"),
        "something_v2": lambda path: read_something_v2(path, path, "v"),
    }[reader]
    with pytest.raises(AnnotationError, match=f"^{path}: {message}"):
        read(path)


def test_a_video_length_is_total_frames_and_0_1_0_num_frames_still_works():
    with pytest.warns(DeprecationWarning, match="total_frames") as made:
        record = VideoRecord("a.mp4", 1, num_frames=12)
    assert record == VideoRecord("a.mp4", 1, total_frames=12)
    with pytest.warns(DeprecationWarning, match="total_frames") as read:
        assert record.num_frames == 12
    # Both warnings name this file's line, where 0.1.0's name is used.
    assert made[0].filename == read[0].filename == __file__
    with pytest.raises(ValueError, match="total_frames=3, num_frames=12"):
        VideoRecord("a.mp4", 1, 3, num_frames=12)
