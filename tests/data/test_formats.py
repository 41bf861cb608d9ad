"""`read_annotations`: every format by name, and what each needs."""

import json

import pytest

from keras_stw.data import (
    FORMATS,
    AnnotationError,
    annotation_format,
    frame_template_of,
    read_annotations,
)


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


@pytest.fixture
def files(tmp_path):
    sth_labels = write(tmp_path / "sth" / "labels.csv", "Holding something\nPushing something\n")
    return {
        "list": (write(tmp_path / "list.txt", "a.mp4 1\nb.mp4 0\n"), None),
        "sthv1": (write(tmp_path / "sth" / "val.csv", "7;Pushing something\n"), sth_labels),
        "sthv2": (
            write(tmp_path / "v2.json", json.dumps([{"id": 3, "template": "Holding [something]"}])),
            write(tmp_path / "v2_labels.json", json.dumps({"Holding something": "0"})),
        ),
        "kinetics": (
            write(
                tmp_path / "k.csv",
                "label,youtube_id,time_start,time_end,split\nabseiling,x,1,11,val\n",
            ),
            None,
        ),
        "ucf101": tmp_path / "ucf",
        "hmdb51": tmp_path / "hmdb",
    }


@pytest.fixture
def splits(files):
    write(files["ucf101"] / "classInd.txt", "1 ApplyEyeMakeup\n2 Archery\n")
    write(files["ucf101"] / "trainlist01.txt", "Archery/v_Archery_g01_c01.avi 2\n")
    write(files["ucf101"] / "testlist01.txt", "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\n")
    write(files["hmdb51"] / "brush_hair_test_split1.txt", "a.avi 1\nb.avi 2\n")
    return files


@pytest.mark.parametrize("format", ["list", "sthv1", "sthv2", "kinetics"])
def test_annotation_file_formats(files, format):
    annotation_file, labels = files[format]
    records, names = read_annotations(
        format, "val", annotation_file=annotation_file, labels=labels, root="videos"
    )
    assert len(records) >= 1 and records[0].path.startswith("videos")
    assert all(0 <= r.label < len(names) for r in records)


@pytest.mark.parametrize("format, train, val", [("ucf101", 1, 0), ("hmdb51", 0, 0)])
def test_split_folder_formats_read_their_test_list_as_val(splits, format, train, val):
    train_records, names = read_annotations(format, "train", splits_dir=str(splits[format]))
    val_records, _ = read_annotations(format, "val", splits_dir=str(splits[format]))
    assert [r.label for r in train_records] == [train]
    assert [r.label for r in val_records] == [val]
    assert train_records[0].path.endswith(".avi")


def test_missing_files_are_named(files):
    with pytest.raises(AnnotationError, match="sthv1 format needs its label file"):
        read_annotations("sthv1", "train", annotation_file=files["sthv1"][0])
    with pytest.raises(AnnotationError, match="needs the train annotation file"):
        read_annotations("list", "train")
    with pytest.raises(AnnotationError, match="split folder"):
        read_annotations("ucf101", "val")
    with pytest.raises(ValueError, match="format"):
        read_annotations("csv", "train", annotation_file=files["list"][0])
    with pytest.raises(ValueError, match="subset"):
        read_annotations("list", "test", annotation_file=files["list"][0])


def test_frame_templates():
    assert frame_template_of("sthv1") == "{:05d}.jpg"
    assert {frame_template_of(f) for f in FORMATS if f != "sthv1"} == {"img_{:05d}.jpg"}


def test_the_table_says_which_formats_need_what():
    assert [f for f in FORMATS if annotation_format(f).split_folder] == ["ucf101", "hmdb51"]
    assert [f for f in FORMATS if annotation_format(f).labels == "required"] == ["sthv1", "sthv2"]
    with pytest.raises(ValueError, match="Received: format='csv'"):
        annotation_format("csv")
