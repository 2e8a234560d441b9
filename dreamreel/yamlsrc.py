"""YAML loading that remembers where every key came from, for line-numbered errors.

A config is a few kilobytes written by a person, so everything past what a person writes is
refused before it can cost memory or time: files that are not regular files or exceed
``MAX_CONFIG_BYTES``, nesting deeper than ``MAX_DEPTH``, aliases that expand past ``MAX_NODES``
values or refer to themselves, scalars longer than ``MAX_SCALAR`` characters, and a key given
twice in one mapping.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dreamreel.errors import ConfigError
from dreamreel.media.atomic import open_regular

Path_ = tuple[str | int, ...]

MAX_CONFIG_BYTES = 1 << 20  # 1 MiB: a config is a few KB
MAX_DEPTH = 32  # nested mappings and lists, aliases expanded
MAX_NODES = 20_000  # values once aliases are expanded
MAX_SCALAR = 20_000  # characters in one value (a long keyframe schedule is a few KB)
_MERGE_TAG = "tag:yaml.org,2002:merge"


def brief(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error lines that must stay one short line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + "...'" + f" ({len(text)} chars)"


class _Loader(yaml.SafeLoader):
    """YAML as 1.2 reads numbers: ``1:30`` and ``0:12.5`` stay text (YAML 1.1, PyYAML's default,
    makes them the base-60 numbers 90 and 12.5), so a schedule key written as a time is a time."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# PyYAML's own patterns without their sexagesimal alternatives.
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(
    r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"), list("-+0123456789"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(
    r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"), list("-+0123456789."))


@dataclass
class SourceMap:
    """Where each key of a loaded document stands: ``lines[('dream', 'steps')] == 7``."""

    name: str
    lines: dict[Path_, int] = field(default_factory=dict)
    overrides: dict[Path_, str] = field(default_factory=dict)  # key -> where it was set ("override '...'")

    def where(self, path: Path_) -> str:
        """``file:line`` of ``path``, or the override that set it or any of its ancestors
        (an override replaces the whole subtree, so the file's lines below it no longer apply)."""
        for n in range(len(path), -1, -1):
            sub = tuple(path[:n])
            if sub in self.overrides:
                return self.overrides[sub]
        for n in range(len(path), -1, -1):
            sub = tuple(path[:n])
            if sub in self.lines:
                return f"{self.name}:{self.lines[sub]}"
        return self.name


def read_config_text(path: Path) -> str:
    """The text of the config file at ``path``; ConfigError (one line) when it is missing, not a
    regular file (a FIFO, a device, a folder), larger than MAX_CONFIG_BYTES or not UTF-8."""
    path = Path(path)
    fd, problem = open_regular(path)
    if fd is None:
        raise ConfigError({"missing": f"{path}: config file not found",
                           "folder": f"{path}: config is a folder; give a YAML file",
                           "special": f"{path}: config is not a regular file (a pipe or device?); give a YAML file"}
                          .get(problem, f"{path}: cannot read config: {problem}"))
    try:
        data = os.read(fd, MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: config is larger than {MAX_CONFIG_BYTES // 1024} KiB; is this the right file?")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: config is not UTF-8 text (byte {exc.start})") from None


def load_yaml(text: str, name: str) -> tuple[Any, SourceMap]:
    """Parse ``text`` with the safe loader; return the data and its source map.

    Raises ConfigError ``name:line: problem`` when the text is not YAML or breaks the limits in
    the module docstring. The checks run on the parse events and the node graph, before any
    Python object is built, so a hostile document costs time and memory linear in its size.
    """
    node = None
    loader = None
    try:
        _check_depth(text, name)
        loader = _Loader(text)  # the reader already refuses some characters here
        node = loader.get_single_node()
        if node is not None:
            _check_graph(node, name)
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


def _check_depth(text: str, name: str) -> None:
    # The composer and constructor recurse once per level: count levels on the flat event
    # stream first, so deep nesting is a config error rather than a RecursionError.
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise ConfigError(f"{name}:{event.start_mark.line + 1}: config nests deeper than {MAX_DEPTH} levels")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, yaml.ScalarEvent) and len(event.value) > MAX_SCALAR:
            raise ConfigError(f"{name}:{event.start_mark.line + 1}: a value is {len(event.value)} characters "
                              f"long; at most {MAX_SCALAR} are allowed")


def _check_graph(root: yaml.Node, name: str) -> None:
    """Refuse recursive aliases, alias expansion past MAX_NODES or MAX_DEPTH, and duplicate keys.

    Each node is measured once (aliases share node objects), so "billion laughs" costs a few
    hundred steps here instead of billions of objects later."""
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded values, expanded depth)
    active: set[int] = set()

    def measure(node: yaml.Node) -> tuple[int, int]:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ConfigError(f"{name}:{node.start_mark.line + 1}: an alias refers to the value that contains it")
        active.add(key)
        size, depth = 1, 0
        if isinstance(node, yaml.MappingNode):
            _check_duplicates(node, name)
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            children = []
        for child in children:
            s, d = measure(child)
            size, depth = size + s, max(depth, d + 1)
            if size > MAX_NODES:
                raise ConfigError(f"{name}:{node.start_mark.line + 1}: aliases expand this config past "
                                  f"{MAX_NODES} values")
            if depth > MAX_DEPTH:
                raise ConfigError(f"{name}:{node.start_mark.line + 1}: aliases nest this config deeper than "
                                  f"{MAX_DEPTH} levels")
        active.discard(key)
        sizes[key] = (size, depth)
        return size, depth

    measure(root)


def _check_duplicates(node: yaml.MappingNode, name: str) -> None:
    seen: dict[str, int] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
            continue
        line = key_node.start_mark.line + 1
        if key_node.value in seen:
            raise ConfigError(f"{name}:{line}: key {brief(key_node.value)} is given twice "
                              f"(lines {seen[key_node.value]} and {line}); keep one")
        seen[key_node.value] = line


def _record_lines(node: yaml.Node, path: Path_, out: dict[Path_, int]) -> None:
    # Bounded: _check_graph has capped the expanded size and depth.
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
    """Apply one ``dotted.key=value`` override in place; the value is parsed as YAML, under the
    same limits as a config file, and errors name the override."""
    key, sep, raw = text.partition("=")
    label = brief(text, 80)
    if not sep or not key.strip():
        raise ConfigError(f"override {label}: expected dotted.key=value")
    parts = key.strip().split(".")
    if any(not p for p in parts):
        raise ConfigError(f"override {label}: {key.strip()!r} has an empty part; write e.g. dream.steps=3")
    if raw.strip():
        try:
            value, _ = load_yaml(raw, f"override {label}")
        except ConfigError as exc:
            if "YAML does not parse" not in str(exc):
                raise
            value = raw  # not YAML on its own (e.g. "0:(1), 10:(2)"): take it as a string
    else:
        value = None
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
    smap.overrides[tuple(parts)] = f"override {label}"
