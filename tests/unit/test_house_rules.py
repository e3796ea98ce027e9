"""Guards of the design that a test can keep: the engine stays pure, __all__ stays honest."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import processor

ENGINE_DIR = Path(processor.__file__).parent / "engine"
FORBIDDEN_IN_ENGINE = {"time", "asyncio", "nats", "structlog", "logging", "socket", "random"}


@pytest.mark.parametrize("path", sorted(ENGINE_DIR.glob("*.py")), ids=lambda p: p.name)
def test_the_engine_imports_no_clock_io_or_logging(path):
    tree = ast.parse(path.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert set() == imported & FORBIDDEN_IN_ENGINE
    assert "datetime.now" not in path.read_text()


def _modules():
    for info in pkgutil.walk_packages(processor.__path__, "processor."):
        yield info.name


@pytest.mark.parametrize("name", sorted(_modules()))
def test_every_name_in_dunder_all_exists(name):
    module = importlib.import_module(name)
    for exported in getattr(module, "__all__", []):
        assert hasattr(module, exported), f"{name}.__all__ names {exported!r}, which does not exist"
