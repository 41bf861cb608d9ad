"""The repository is self-contained: no code, script or manual reads outside the clone.

The real test media live in `tests/testdata/real/` (see its `SOURCE.md`). This test reads
every file of the checkout that git tracks or would track (`.gitignore` honoured) whose
content runs or instructs: Python, shell, configuration, the notebook, `.ci/run` and the
README. It leaves out `benchmarks/results/`, which holds recorded logs and the commands
that made them: those are history (a command run on another machine may name its
folders) and nothing runs them.
"""

import re
import subprocess

import pytest

from tests.conftest import REPO

CHECKED_SUFFIXES = (".py", ".sh", ".cfg", ".toml", ".ipynb")
CHECKED_NAMES = (".ci/run", "README.md")
RECORDS = "benchmarks/results/"
SELF = "tests/test_self_contained.py"  # its examples of what is refused would match

# `../shared`, `"..", "shared"`, `shared/testdata`, `"shared", "testdata"`, `/ "testdata"`.
OUTSIDE = re.compile(r"\.\.\W{1,6}shared\b|\bshared\W{1,6}testdata\b")


def checked_files():
    """Paths, relative to the repository, of the files this test reads."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return [
        path
        for path in listed
        if (path.endswith(CHECKED_SUFFIXES) or path in CHECKED_NAMES)
        and not path.startswith(RECORDS)
        and path != SELF
        and (REPO / path).is_file()
    ]


def references_outside(text):
    """The lines of `text` that point outside the clone, as `line number: line`."""
    return [
        f"{number}: {line.strip()}"
        for number, line in enumerate(text.splitlines(), 1)
        if OUTSIDE.search(line)
    ]


@pytest.mark.parametrize(
    "line",
    [
        'REAL_MEDIA = REPO.parent / "shared" / "testdata" / "real"',
        'DEMO = os.path.join(REPO, "..", "shared", "testdata", "real", "demo.mp4")',
        'VIDEO = "../../shared/testdata/real/demo.mp4"',
        "KERAS_STW_TESTDATA=../shared/real pytest",
    ],
)
def test_a_reference_outside_the_clone_is_found(line):
    assert references_outside(f"import os\n{line}\n") == [f"2: {line}"]


def test_no_file_reads_outside_the_clone():
    files = checked_files()
    # The scan must see the files it is there for.
    assert {"tests/conftest.py", "benchmarks/loader.py", ".ci/run"} <= set(files)
    found = {
        path: lines
        for path in files
        if (lines := references_outside((REPO / path).read_text(encoding="utf-8")))
    }
    assert found == {}


def test_the_real_media_are_in_the_repository():
    media = REPO / "tests" / "testdata" / "real"
    assert (media / "SOURCE.md").read_text(encoding="utf-8").count("Apache-2.0") == 1
    for name in ("demo.mp4", "test.avi", "frames_img/img_00010.jpg", "label_map_k400.txt"):
        assert (media / name).stat().st_size > 0, name
