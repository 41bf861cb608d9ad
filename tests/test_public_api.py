"""The programs in `examples/` and `benchmarks/` use keras-stw's public API only.

Public means exported: a name in the `__all__` of `keras_stw` or of a subpackage that
`keras_stw.__all__` lists (`layers`, `models`, `convert`) or that the README documents (`data`,
`evaluation`, `training`, `export`, `cli`, the programs' shared command-line
options, and `validation`, the argument checks they refuse bad flag values with). A
program fails this test when it imports or reads anything else of `keras_stw`, touches
a private attribute (`x._name`) of anything, or edits `sys.path` or `sys.modules` to
reach code. If a program needs a private thing,
the package is missing a public one.
"""

import ast
import importlib
import json
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
PROGRAMS = sorted(
    path.relative_to(REPO).as_posix()
    for folder in ("examples", "benchmarks")
    for pattern in ("*.py", "*.ipynb")
    for path in (REPO / folder).glob(pattern)
)
PUBLIC_SUBPACKAGES = (
    "cli",
    "convert",
    "data",
    "evaluation",
    "export",
    "layers",
    "models",
    "training",
    "validation",
)


def _is_private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _public_module(dotted):
    """The module `dotted` if it is `keras_stw` or a public subpackage, else `None`."""
    parts = dotted.split(".")
    if parts[0] != "keras_stw" or len(parts) > 2:
        return None
    if len(parts) == 2 and parts[1] not in PUBLIC_SUBPACKAGES:
        return None
    return importlib.import_module(dotted)


class PublicApiChecker(ast.NodeVisitor):
    """Collects `(line, problem)` for every use of a non-public name in a program."""

    def __init__(self):
        self.problems = []
        self.modules = {}  # local name -> dotted module name, for keras_stw and sys

    def flag(self, node, problem):
        self.problems.append((node.lineno, problem))

    def visit_Import(self, node):
        for alias in node.names:
            if any(_is_private(part) for part in alias.name.split(".")):
                self.flag(node, f"imports the private module {alias.name}")
            root = alias.name.split(".")[0]
            if root == "keras_stw" and _public_module(alias.name) is None:
                self.flag(node, f"imports {alias.name}, which is not a public module")
            if root in ("keras_stw", "sys"):
                local = alias.asname or root
                self.modules[local] = alias.name if alias.asname else root

    def visit_ImportFrom(self, node):
        source = node.module or ""
        if any(_is_private(part) for part in source.split(".")):
            self.flag(node, f"imports from the private module {source}")
        for alias in node.names:
            if _is_private(alias.name):
                self.flag(node, f"imports the private name {source}.{alias.name}")
            if source == "sys" and alias.name in ("path", "modules"):
                self.flag(node, f"imports sys.{alias.name}")
        if source.split(".")[0] != "keras_stw":
            return
        module = _public_module(source)
        if module is None:
            self.flag(node, f"imports from {source}, which is not a public module")
            return
        for alias in node.names:
            dotted = f"{source}.{alias.name}"
            if source == "keras_stw" and alias.name in PUBLIC_SUBPACKAGES:
                self.modules[alias.asname or alias.name] = dotted
            elif alias.name not in module.__all__:
                self.flag(node, f"imports {dotted}, which {source} does not export")

    def visit_Call(self, node):
        # getattr(x, "_name") and import_module("keras_stw.private") are the same back
        # doors as x._name and an import statement.
        function = node.func
        name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
        position = {"getattr": 1, "setattr": 1, "delattr": 1, "import_module": 0}.get(name)
        position = 0 if name == "__import__" else position
        argument = node.args[position] if position is not None and node.args[position:] else None
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            text = argument.value
            if any(_is_private(part) for part in text.split(".")):
                self.flag(node, f"{name} reaches the private {text}")
            elif position == 0 and text.split(".")[0] == "keras_stw" and not _public_module(text):
                self.flag(node, f"{name} imports {text}, which is not a public module")
        self.generic_visit(node)

    def visit_Attribute(self, node):
        if _is_private(node.attr):
            self.flag(node, f"uses the private attribute .{node.attr}")
        chain = []
        value = node
        while isinstance(value, ast.Attribute):
            chain.insert(0, value.attr)
            value = value.value
        root = self.modules.get(value.id) if isinstance(value, ast.Name) else None
        if root == "sys" and chain[0] in ("path", "modules"):
            self.flag(node, f"uses sys.{chain[0]}")
        elif root is not None and root != "sys":
            if not isinstance(node.ctx, ast.Load):
                self.flag(node, f"patches {root}.{'.'.join(chain)}")
            self._check_chain(node, root, chain)
        # Only the outermost attribute of a chain is checked whole.
        inner = node.value
        while isinstance(inner, ast.Attribute):
            if _is_private(inner.attr):
                self.flag(node, f"uses the private attribute .{inner.attr}")
            inner = inner.value
        self.visit(inner)

    def _check_chain(self, node, dotted, chain):
        for attr in chain:
            module = _public_module(dotted)
            if module is None:
                self.flag(node, f"uses {dotted}, which is not a public module")
                return
            if dotted == "keras_stw" and attr in PUBLIC_SUBPACKAGES:
                dotted = f"{dotted}.{attr}"
                continue
            if attr not in module.__all__ and not attr.startswith("__"):
                self.flag(node, f"uses {dotted}.{attr}, which {dotted} does not export")
            return


def check_source(source):
    """The problems of a program's source: a list of `(line, problem)`."""
    checker = PublicApiChecker()
    checker.visit(ast.parse(source))
    return sorted(set(checker.problems))


def program_source(path):
    text = (REPO / path).read_text(encoding="utf-8")
    if not path.endswith(".ipynb"):
        return text
    cells = json.loads(text)["cells"]
    code = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
    # IPython magics and shell escapes are not Python; blank them, keeping line numbers.
    lines = [line for cell in code for line in cell.splitlines()]
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)


@pytest.mark.parametrize("path", PROGRAMS)
def test_program_uses_the_public_api_only(path):
    problems = check_source(program_source(path))
    assert not problems, f"{path}:\n" + "\n".join(f"  line {n}: {p}" for n, p in problems)


def test_every_example_and_benchmark_is_checked():
    assert "examples/train.py" in PROGRAMS
    assert "examples/quickstart.ipynb" in PROGRAMS
    assert "benchmarks/speed.py" in PROGRAMS


@pytest.mark.parametrize(
    "source, problem",
    [
        ("from keras_stw.models.backbones import NORMALIZATION", "not a public module"),
        ("from keras_stw.models import video_resnet as v, _MODEL_FUNCTIONS", "private name"),
        ("from keras_stw.data import annotations", "does not export"),
        ("import keras_stw.surgery", "not a public module"),
        ("import keras_stw\nkeras_stw.surgery.DEFAULT_STAGES", "does not export"),
        ("from keras_stw import data\ndata.dataset.video_dataset", "does not export"),
        ("import keras_stw as k\nk.layers.temporal_ops.shift_frames", "does not export"),
        ("block = object()\nblock.twm._taps = None", "private attribute ._taps"),
        ("import sys\nsys.path.insert(0, '..')", "uses sys.path"),
        ("import sys as s\ns.modules['keras_stw'] = None", "uses sys.modules"),
        ("from sys import modules", "imports sys.modules"),
        ("import keras_stw\nkeras_stw.STFM = object", "patches keras_stw.STFM"),
        ("import importlib\nimportlib.import_module('keras_stw.data.clips')", "not a public"),
        ("setattr(object(), '_taps', None)", "reaches the private _taps"),
    ],
)
def test_the_check_finds(source, problem):
    problems = check_source(source)
    assert any(problem in p for _, p in problems), problems


def test_the_check_passes_public_use():
    source = (
        "import keras_stw\nfrom keras_stw import data, layers\nimport keras_stw.export as ex\n"
        "keras_stw.create_model('stw_resnet50')\nlayers.STWBlock(8)\ndata.read_list\n"
        "ex.export_saved_model\nkeras_stw.models.VideoResNet\nkeras_stw.__version__\n"
        "import sys\nsys.argv[1:]\n"
    )
    assert check_source(source) == []
