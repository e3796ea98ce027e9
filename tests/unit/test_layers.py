"""The import layering of docs/architecture.md, kept by a test.

Bottom to top: vocabulary and errors; the config language's core (predicates, parsing, the frozen
model); SLI kinds; the rest of the config language (the loader's sections); the engine; the bus
edge; the runtime; the simulator (public bus API only); the command line. A module may import
from its own layer and the layers below, never above; the engine and the kinds stay pure.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import processor

ROOT = Path(processor.__file__).parent
CONFIG_CORE = tuple(
    f"processor.config.{m}" for m in ("predicate", "parse", "model", "tree", "problems", "fields")
)
BASE = ("processor.vocabulary", "processor.errors")

# layer -> the module prefixes it may import (its own included)
ALLOWED = {
    "vocabulary": ("processor.vocabulary",),
    "errors": ("processor.errors",),
    "config-core": (*BASE, *CONFIG_CORE),
    "kinds": (*BASE, *CONFIG_CORE, "processor.kinds"),
    "config": (*BASE, "processor.config", "processor.kinds"),
    "engine": (*BASE, "processor.config", "processor.kinds", "processor.engine"),
    "bus": (*BASE, *CONFIG_CORE, "processor.bus"),
    "runtime": (*BASE, "processor.config", "processor.kinds", "processor.engine", "processor.bus", "processor.runtime"),
    "simulate": (*BASE, "processor.config.parse", "processor.bus", "processor.simulate"),
    "replay": (*BASE, "processor.config", "processor.kinds", "processor.engine", "processor.bus", "processor.runtime",
               "processor.simulate", "processor.kafka", "processor.replay"),
    "client": (*BASE, "processor.bus", "processor.client"),
    "ops": (*BASE, "processor.config", "processor.bus", "processor.runtime", "processor.replay", "processor.client",
            "processor.ops"),
    # the Kafka edge (slo run --source kafka): the runtime's parts with faust in front of them
    "kafka": (*BASE, "processor.config", "processor.kinds", "processor.engine", "processor.bus", "processor.runtime",
              "processor.kafka"),
    "cli": ("processor",),
}
PURE_LAYERS = ("kinds", "engine", "config-core", "vocabulary")
FORBIDDEN_IN_PURE = {"time", "asyncio", "nats", "structlog", "logging", "socket", "random"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> str:
    if module in CONFIG_CORE:
        return "config-core"
    if module == "processor.cli":
        return "cli"
    if module == "processor":
        return "vocabulary"  # the package's empty __init__
    return module.split(".")[1]


MODULES = sorted((_module_name(p), p) for p in ROOT.rglob("*.py"))


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_a_module_imports_only_from_its_layer_and_below(module, path):
    allowed = ALLOWED[_layer(module)]
    own = [i for i in _imports(path) if _within(i, "processor")]
    # "from processor.bus import x" names a module or a name; either must be allowed.
    wrong = sorted(i for i in own if not any(_within(i, p) or _within(p, i) for p in allowed))
    assert [] == wrong


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_only_the_kafka_edge_imports_faust_or_a_kafka_client(module, path):
    # The kafka extra is optional: `pip install slo-processor` must run everything else without it.
    if _layer(module) == "kafka":
        return
    top_level = {i.split(".")[0] for i in _imports(path)}
    assert set() == top_level & {"faust", "aiokafka", "mode"}


PURE_MODULES = [m for m in MODULES if _layer(m[0]) in PURE_LAYERS]


@pytest.mark.parametrize(("module", "path"), PURE_MODULES, ids=[m for m, _ in PURE_MODULES])
def test_pure_layers_import_no_clock_io_or_logging(module, path):
    top_level = {i.split(".")[0] for i in _imports(path)}
    assert set() == top_level & FORBIDDEN_IN_PURE
    assert "datetime.now" not in path.read_text()


def _package_of(module: str) -> str:
    """The package a module belongs to (a package belongs to itself)."""
    path = ROOT.parent.joinpath(*module.split("."))
    return module if path.is_dir() else module.rsplit(".", 1)[0]


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_no_module_imports_another_packages_private_names(module, path):
    importer = _package_of(module) if path.name != "__init__.py" else module
    wrong = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("processor")):
            continue
        parts = node.module.split(".")
        for alias in node.names:
            if any(p.startswith("_") for p in parts):
                owner = ".".join(parts[: next(i for i, p in enumerate(parts) if p.startswith("_"))])
            elif alias.name.startswith("_"):
                owner = _package_of(node.module)
            else:
                continue
            if not _within(importer, owner):
                wrong.append(f"{node.module}.{alias.name}")
    assert [] == wrong


# The engine's per-event loop is the one function allowed past the limit; its comment says why.
LONG_FUNCTIONS_ALLOWED = {("processor.engine.core", "_per_event")}


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_modules_and_functions_stay_small(module, path):
    source = path.read_text()
    assert source.count("\n") <= 600, f"{module} has {source.count(chr(10))} lines"
    long = [
        f"{node.name}: {node.end_lineno - node.lineno + 1} lines"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > 60
        and (module, node.name) not in LONG_FUNCTIONS_ALLOWED
    ]
    assert [] == long
