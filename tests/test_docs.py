"""The manual: the generated key list matches the code, every key is described in the hand-written
reference and nothing described there is missing from the code, and the site builds with no
broken link or anchor (mkdocs --strict)."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "docs"))
import gen_config_reference  # noqa: E402


def documented_keys() -> set[str]:
    """The keys the hand-written reference describes: the backticked names in the first column of
    its tables, prefixed by their section (``## `dream:` ...``)."""
    found: set[str] = set()
    prefix = ""
    for line in (ROOT / "docs" / "reference" / "config.md").read_text().splitlines():
        head = re.match(r"^#+ `(\w+):`", line)
        if head:
            prefix = head.group(1) + "."
        elif re.match(r"^#+ ", line):
            prefix = ""
        if line.startswith("| `"):
            first = line.split("|")[1]
            for name in re.findall(r"`([\w.]+)`", first):
                found.add(name if name.startswith(prefix) else prefix + name)
    return found


def test_the_generated_key_list_is_what_the_code_says():
    text = gen_config_reference.render()
    assert (ROOT / "docs" / "reference" / "config-keys.md").read_text() == text, \
        "docs/reference/config-keys.md is stale: run python docs/gen_config_reference.py"


def test_every_key_is_described_and_every_described_key_exists():
    code = set(gen_config_reference.keys())
    docs = documented_keys()
    # `audio` and `audio.file` are one key: `audio: FILE` is the shorthand.
    assert code - docs - {"audio.file"} == set(), "keys the reference does not describe"
    assert docs - code - {"audio"} == set(), "keys the reference describes that the code does not have"


def test_the_site_builds_with_no_broken_link(tmp_path):
    pytest.importorskip("mkdocs")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "config-keys" / "index.html").is_file()
