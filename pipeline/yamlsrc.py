"""YAML loading that remembers where every key came from, for line-numbered errors."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from pipeline.errors import ConfigError

Path_ = tuple[str | int, ...]


@dataclass
class SourceMap:
    """Where each key of a loaded document stands: ``lines[('dream', 'steps')] == 7``."""

    name: str
    lines: dict[Path_, int] = field(default_factory=dict)
    overrides: dict[Path_, str] = field(default_factory=dict)

    def where(self, path: Path_) -> str:
        """``file:line`` for the deepest known ancestor of ``path``, or the override that set it."""
        for n in range(len(path), -1, -1):
            sub = tuple(path[:n])
            if sub in self.overrides:
                return f"override {self.overrides[sub]!r}"
            if sub in self.lines:
                return f"{self.name}:{self.lines[sub]}"
        return self.name


def load_yaml(text: str, name: str) -> tuple[Any, SourceMap]:
    """Parse ``text`` with the safe loader; return the data and its source map.

    Raises ConfigError ``name:line: problem`` when the text is not YAML.
    """
    loader = None
    try:
        loader = yaml.SafeLoader(text)  # the reader already refuses some characters here
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        context, cmark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and cmark is not None and (mark is None or cmark.line != mark.line):
            problem += f" ({context} that starts at line {cmark.line + 1})"
        raise ConfigError(f"{where}: YAML does not parse: {problem}") from None
    finally:
        if loader is not None:
            loader.dispose()
    smap = SourceMap(name)
    if node is not None:
        _record_lines(node, (), smap.lines)
    return data, smap


def _record_lines(node: yaml.Node, path: Path_, out: dict[Path_, int]) -> None:
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            out[path + (key,)] = key_node.start_mark.line + 1
            _record_lines(value_node, path + (key,), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[path + (i,)] = item.start_mark.line + 1
            _record_lines(item, path + (i,), out)


def apply_override(data: dict, smap: SourceMap, text: str) -> None:
    """Apply one ``dotted.key=value`` override in place; the value is parsed as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r}: expected dotted.key=value")
    parts = key.strip().split(".")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    if "layers" in parts[:-1]:
        # Layer names contain dots ("features.13"): inside the layer map, the rest of the
        # dotted key is one name.
        i = parts.index("layers")
        parts = parts[: i + 1] + [".".join(parts[i + 1 :])]
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value
    smap.overrides[tuple(parts)] = text
