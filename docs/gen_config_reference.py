"""Every config key, its type, range and default, generated from the pydantic models in
dreamreel/config.py, so the list cannot drift from the code.

    python docs/gen_config_reference.py          # writes docs/reference/config-keys.md
    python docs/gen_config_reference.py --check  # exit 1 when that file is not what the code says

What each key does is written by hand in docs/reference/config.md; tests/test_docs.py checks that
every key here is described there and that nothing described there is missing here.
"""
from __future__ import annotations

import argparse
import math
import sys
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from dreamreel.config import Config, SchedRange  # noqa: E402

OUT = ROOT / "docs" / "reference" / "config-keys.md"


def _num(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def _bounds(metadata: list) -> list:
    """Constraint objects of a field, with those inside a FieldInfo (``Annotated[int, Field(ge=2)]``)."""
    out = []
    for m in metadata:
        out += [m, *getattr(m, "metadata", [])]
    return out


def describe(annotation: Any, metadata: list) -> str:
    """A reader's name for a field's type and range."""
    for m in metadata:
        if isinstance(m, SchedRange):
            kind = "whole number" if m.integer else "number"
            lo = "" if m.lo == -math.inf else f"{_num(m.lo)} {'<' if m.lo_open else '<='} "
            hi = "" if m.hi == math.inf else f" <= {_num(m.hi)}"
            return f"schedulable {kind}" + (f", {lo}x{hi}" if lo or hi else "")
    ge = next((getattr(m, "ge") for m in _bounds(metadata) if getattr(m, "ge", None) is not None), None)
    le = next((getattr(m, "le") for m in _bounds(metadata) if getattr(m, "le", None) is not None), None)
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return f"`{args[0]}`" if len(args) == 1 else "one of " + ", ".join(f"`{a}`" for a in args)
    if origin in (Union, types.UnionType):
        parts = [describe(a, metadata if a is not type(None) else []) for a in args]
        return " or ".join(p for p in parts)
    if getattr(annotation, "__metadata__", None) is not None:  # Annotated[...]
        return describe(args[0] if args else annotation.__origin__, list(annotation.__metadata__) + metadata)
    if origin is dict:
        return f"map of name: {describe(args[1], [])}"
    if origin in (list, tuple):
        inner = ", ".join(describe(a, []) for a in args if a is not Ellipsis)
        return f"{'list' if origin is list else 'pair'} of {inner}"
    if annotation is type(None):
        return "`null`"
    if annotation is bool:
        return "`true` or `false`"
    name = {int: "whole number", float: "number", str: "text", Path: "path"}.get(annotation, getattr(annotation, "__name__", str(annotation)))
    if ge is not None or le is not None:
        name += f", {'' if ge is None else _num(ge) + ' <= '}x{'' if le is None else ' <= ' + _num(le)}"
    return name


def default_of(field) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default
    if isinstance(value, BaseModel):
        return ""
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if hasattr(value, "source"):  # a Schedule: what the user would write
        value = value.source
    if isinstance(value, dict):
        return "`{" + ", ".join(f"{k}: {getattr(v, 'source', v)}" for k, v in value.items()) + "}`"
    if isinstance(value, (tuple, list)):
        return "`[" + ", ".join(str(getattr(v, "source", v)) for v in value) + "]`"
    return f"`{value}`"


def sections(model: type[BaseModel] = Config, prefix: str = "") -> list[tuple[str, str, list[tuple[str, str, str]]]]:
    """(section name, its docstring, rows of (dotted key, type, default)), the top level first."""
    rows, nested = [], []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            nested += sections(ann, f"{prefix}{name}.")
            continue
        rows.append((f"{prefix}{name}", describe(ann, list(field.metadata)), default_of(field)))
    doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    return [(prefix.rstrip(".") or "top level", doc, rows)] + nested


def described() -> dict[str, tuple[str, str]]:
    """What docs/reference/config.md says of each key: {dotted key: (default, meaning)}, from the
    backticked names in the first column of its tables, prefixed by their section (``## `dream:```)."""
    import re

    found: dict[str, tuple[str, str]] = {}
    prefix = ""
    for line in (ROOT / "docs" / "reference" / "config.md").read_text().splitlines():
        head = re.match(r"^#+ `(\w+):`", line)
        if head:
            prefix = head.group(1) + "."
        elif re.match(r"^#+ ", line):
            prefix = ""
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            first, default, meaning = cells[0], cells[1], " | ".join(cells[2:])
            for name in re.findall(r"`([\w.]+)`", first):
                found[name if name.startswith(prefix) else prefix + name] = (default, meaning)
    return found


def keys() -> list[str]:
    """Every leaf key of the config, dotted."""
    return [k for _, _, rows in sections() for k, _, _ in rows]


def render() -> str:
    out = ["# Every config key", "",
           "<!-- Generated by docs/gen_config_reference.py from dreamreel/config.py: do not edit. -->", "",
           "Each key with its type, range and default, read from the code, and what it does, from the",
           "[config reference](config.md) (where each section says more). *Schedulable* keys take a",
           "number, an expression or keyframes ([Schedules](../guides/zoom-and-schedules.md#schedules)).", ""]
    meaning = {k: m for k, (_, m) in described().items()}
    for name, doc, rows in sections():
        out += [f"## `{name}`" if name != "top level" else "## Top level", ""]
        if doc:
            out += [doc, ""]
        out += ["| key | type | default | what it does |", "|---|---|---|---|"]
        out += [f"| `{k}` | {t.replace('|', '&#124;')} | {d} | {meaning.get(k, meaning.get('audio' if k == 'audio.file' else k, ''))} |"
                for k, t, d in rows]
        out.append("")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    text = render()
    if args.check:
        current = OUT.read_text() if OUT.exists() else ""
        if current != text:
            print(f"{OUT.relative_to(ROOT)} is stale: run python docs/gen_config_reference.py")
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
