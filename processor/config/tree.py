"""Pass 1 of loading: YAML text -> plain data, with the line of every key and list item.

``yaml.compose`` keeps marks on the node tree; PyYAML's own constructor throws them away. So the
tree is composed and flattened here, recording where each key was written, and duplicate keys,
which PyYAML would otherwise silently overwrite (losing an SLI), are problems.
"""

from __future__ import annotations

from typing import Any

import yaml

from processor.errors import ConfigError, ConfigProblem

__all__ = ["EXTENSION_PREFIX", "Loc", "YamlTree", "compose", "dotted"]

# Where a value is in the document: keys and list indexes from the top, ("slis", "api", "kind").
Loc = tuple[str | int, ...]

# Top-level keys starting with this are ignored, as in docker compose: a place for `&anchors`.
EXTENSION_PREFIX = "x-"

_PLAIN_COLLECTION_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


def dotted(loc: Loc) -> str:
    """The field as problems show it: ``slis.api.kind``, ``alerts[2].expr``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class YamlTree:
    """Builds plain data from a composed YAML node tree and remembers where each key was."""

    def __init__(self, loader: yaml.SafeLoader, source: str):
        self.loader = loader
        self.source = source
        self.lines: dict[Loc, int] = {}
        self.problems: list[ConfigProblem] = []
        self.data: Any = None
        self._flattened: set[int] = set()

    def problem(self, line: int, loc: Loc, message: str) -> None:
        self.problems.append(ConfigProblem(self.source, line, dotted(loc), message))

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        self.lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_COLLECTION_TAGS:
            # Only scalars go through PyYAML's constructor, which would reject the tag there.
            self.problem(node.start_mark.line + 1, loc, f"unsupported YAML tag {node.tag!r}")
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, loc)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, loc + (i,)) for i, item in enumerate(node.value)]
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            self.problem(node.start_mark.line + 1, loc, str(exc.problem))
            return None

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[str, Any]:
        if id(node) not in self._flattened:  # an alias revisits an already flattened node
            self._check_duplicates(node, loc)
            try:
                self.loader.flatten_mapping(node)  # resolves `<<: *anchor` merge keys
            except yaml.MarkedYAMLError as exc:
                self.problem(node.start_mark.line + 1, loc, str(exc.problem))
            self._flattened.add(id(node))
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(line, loc, "a key must be a plain name, not a list or mapping")
                continue
            # The raw text, so that `on:` or `1:` stay the strings the author typed.
            key = key_node.value
            self.lines[loc + (key,)] = line
            out[key] = self.build(value_node, loc + (key,))
        return out

    def _check_duplicates(self, node: yaml.MappingNode, loc: Loc) -> None:
        first_line: dict[str, int] = {}
        what = {("slis",): "SLI name", ("slos",): "SLO name"}.get(loc, "key")
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            line = key_node.start_mark.line + 1
            if key_node.value in first_line:
                self.problem(
                    line,
                    loc + (key_node.value,),
                    f"duplicate {what} {key_node.value!r} (first defined on line {first_line[key_node.value]})",
                )
            else:
                first_line[key_node.value] = line


def compose(text: str, source: str) -> YamlTree | None:
    """Parse YAML; raise ConfigError on a syntax error. None means an empty document."""
    try:
        loader = yaml.SafeLoader(text)  # checks for unprintable characters already
    except yaml.reader.ReaderError as exc:
        raise ConfigError([_reader_problem(exc, text, source)]) from exc
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            raise ConfigError([_syntax_problem(exc, source)]) from exc
        except yaml.reader.ReaderError as exc:
            raise ConfigError([_reader_problem(exc, text, source)]) from exc
        except yaml.YAMLError as exc:
            raise ConfigError([ConfigProblem(source, None, "", f"YAML error: {exc}")]) from exc
        if node is None:
            return None
        tree = YamlTree(loader, source)
        tree.data = tree.build(node, ())
        return tree
    finally:
        loader.dispose()


def _reader_problem(exc: yaml.reader.ReaderError, text: str, source: str) -> ConfigProblem:
    """A character YAML does not allow (a control character), at its line."""
    line = text.count("\n", 0, exc.position) + 1 if isinstance(exc.position, int) else None
    char = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
    return ConfigProblem(source, line, "", f"YAML does not allow the character {char} ({exc.reason})")


def _syntax_problem(exc: yaml.MarkedYAMLError, source: str) -> ConfigProblem:
    if exc.context and exc.context_mark is not None and exc.problem_mark is not None and (
            exc.problem or "").startswith("found unexpected end of stream"):
        # What runs to the end of the file (an unclosed quote) is at fault where it opens.
        what = exc.context.removeprefix("while scanning ").removeprefix("while parsing ")
        return ConfigProblem(source, exc.context_mark.line + 1, "", f"YAML syntax error: {what} that starts on this line"
                             " is never closed: it runs to the end of the file")
    mark = exc.problem_mark or exc.context_mark
    detail = exc.problem or ""
    if exc.context:
        detail = f"{detail} ({exc.context}" + (
            f" on line {exc.context_mark.line + 1})" if exc.context_mark else ")"
        )
    line = mark.line + 1 if mark is not None else None
    return ConfigProblem(source, line, "", f"YAML syntax error: {detail}")
