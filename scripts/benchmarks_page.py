"""BENCHMARKS.md, generated: the newest saved result of each benchmark, newest first, one table
each. The results are ``benchmarks/results/*.json`` (written by a benchmark's ``--save``, beside the
section it appends to ``benchmarks/history.md``); this page is made from them and never edited.

    python scripts/benchmarks_page.py           # write BENCHMARKS.md
    python scripts/benchmarks_page.py --check   # exit 1 when BENCHMARKS.md is not what the results make
    python scripts/benchmarks_page.py --seed    # (once) the results from the history's newest sections
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "BENCHMARKS.md"
RESULTS = ROOT / "benchmarks" / "results"
HISTORY = ROOT / "benchmarks" / "history.md"
SECTION = re.compile(r"^## (.+) \((\d{4}-\d\d-\d\d \d\d:\d\d(?:-\d\d:\d\d)? UTC)\)$", re.M)


def result_key(command: str, title: str) -> str:
    """Which benchmark a saved section belongs to: the script, and the clip or set it ran on
    (bench_loop on three clips is three tables); a section with no script, its title."""
    try:
        words = shlex.split(command.strip("` "))
    except ValueError:
        words = command.split()
    script = next((Path(w).stem for w in words if w.endswith(".py") and "scripts/" in w), None)
    if script is None:
        return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60]
    extra = []
    for flag in ("--clip", "--clips", "--only", "--cadence"):
        if flag in words and words.index(flag) + 1 < len(words):
            extra.append(re.sub(r"[^a-z0-9]+", "-", Path(words[words.index(flag) + 1]).stem.lower()).strip("-"))
    if "--real" in words:
        extra.append("real")
    # A comparison of variants (bench_loop --variant ...) is its own table, named by a digest of
    # them: their text (environments, overrides) would make a name past a file system's 255 bytes.
    variants = [words[k + 1] for k, w in enumerate(words[:-1]) if w == "--variant"]
    if variants:
        extra.append("variants-" + hashlib.sha1("\n".join(variants).encode()).hexdigest()[:8])
    # Config overrides (the coherence suite at video.cadence=2 is its own table).
    extra += [re.sub(r"[^a-z0-9]+", "-", w.lower()).strip("-") for w in words[words.index(next(
        (x for x in words if x.endswith(".py")), words[0])) + 1:]
              if "=" in w and not w.startswith("-") and w not in variants]
    return "-".join([script, *extra])


def save_result(title: str, stamp: str, machine: str, command: str, body: str) -> Path:
    """Store one benchmark's newest result (replacing its last) and remake BENCHMARKS.md."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{result_key(command, title)}.json"
    path.write_text(json.dumps({"title": title, "stamp": stamp, "machine": machine, "command": command,
                                "body": body.rstrip()}, indent=1) + "\n")
    PAGE.write_text(page())
    return path


def page() -> str:
    """BENCHMARKS.md's text from the saved results."""
    results = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))]
    results.sort(key=lambda r: r["stamp"], reverse=True)
    head = ["# Benchmarks", "",
            "The newest result of each benchmark, newest first, each with the machine and the command that",
            "measured it. Generated from `benchmarks/results/` by `python scripts/benchmarks_page.py` (a",
            "benchmark's `--save` does it); every earlier figure is in [the history](benchmarks/history.md).",
            "Speed is quoted as ratios measured in one run: machines differ, and so does one VM between hours.",
            "", "| benchmark | measured |", "|---|---|"]
    head += [f"| [{r['title']}](#{_anchor(r)}) | {r['stamp']} |" for r in results]
    parts = ["\n".join(head)]
    for r in results:
        parts.append(f"## {r['title']} ({r['stamp']})\n\n- machine: {r['machine']}\n- command: `{r['command']}`\n\n"
                     f"{r['body']}")
    return "\n\n".join(parts) + "\n"


def _anchor(r: dict) -> str:
    text = f"{r['title']} ({r['stamp']})".lower()
    return re.sub(r"[^a-z0-9 _-]", "", text).replace(" ", "-")


def seed() -> None:
    """The results from the history: the newest section of each benchmark."""
    text = HISTORY.read_text()
    marks = list(SECTION.finditer(text))
    for m, nxt in zip(marks, [*marks[1:], None]):
        block = text[m.end(): nxt.start() if nxt else len(text)].strip("\n")
        machine = re.search(r"^- machine: (.+)$", block, re.M)
        command = re.search(r"^- commands?: (.+)$", block, re.M)
        body = block[command.end():].strip("\n") if command else block
        save_result(m.group(1), m.group(2), machine.group(1) if machine else "see the history",
                    command.group(1).strip().strip("`") if command else "see the history", body)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--seed", action="store_true")
    args = ap.parse_args()
    if args.seed:
        seed()
    if args.check:
        if PAGE.read_text() != page():
            print("BENCHMARKS.md is not what benchmarks/results/ make: run python scripts/benchmarks_page.py",
                  file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(page())
    return 0


if __name__ == "__main__":
    sys.exit(main())
