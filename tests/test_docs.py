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
    """The keys the hand-written reference describes (the generator reads them for its table)."""
    return set(gen_config_reference.described())


def test_the_generated_key_list_is_what_the_code_says():
    text = gen_config_reference.render()
    assert (ROOT / "docs" / "reference" / "config-keys.md").read_text() == text, \
        "docs/reference/config-keys.md is stale: run python docs/gen_config_reference.py"


def test_the_defaults_the_reference_states_are_the_codes():
    """config.md once gave channels_last a default of true (it was auto): each default it states
    must be the code's (numbers compared as numbers; a key whose code default is null may say in
    words what it becomes)."""
    said = gen_config_reference.described()
    wrong = []
    for _, _, rows in gen_config_reference.sections():
        for key, _, default in rows:
            doc = said.get(key, said.get("audio") if key == "audio.file" else None)
            if doc is None or default == "`null`":
                continue
            tokens = re.findall(r"`([^`]+)`", doc[0]) or [doc[0]]
            if not any(_same(tok, default.strip("`")) for tok in tokens):
                wrong.append(f"{key}: reference {doc[0]!r}, code {default!r}")
    assert wrong == []


def _same(a: str, b: str) -> bool:
    try:
        return [float(x) for x in re.findall(r"-?[\d.]+", a)] == [float(x) for x in re.findall(r"-?[\d.]+", b)] \
            and re.sub(r"[-\d.\s,\[\]]", "", a) == re.sub(r"[-\d.\s,\[\]]", "", b)
    except ValueError:
        return a == b


def test_every_key_is_described_and_every_described_key_exists():
    code = set(gen_config_reference.keys())
    docs = documented_keys()
    # `audio` and `audio.file` are one key: `audio: FILE` is the shorthand.
    assert code - docs - {"audio.file"} == set(), "keys the reference does not describe"
    assert docs - code - {"audio"} == set(), "keys the reference describes that the code does not have"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The manual built once, strict (a broken link or anchor fails the build)."""
    pytest.importorskip("mkdocs")
    out = tmp_path_factory.mktemp("site") / "site"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_the_site_builds_with_no_broken_link(site):
    # The offline plugin writes page.html, not page/index.html: links that open from disk.
    assert (site / "reference" / "config-keys.html").is_file()


def test_every_page_opens_offline_with_no_outside_request_and_no_console_error(site):
    """From file://, as a user who unzipped the site: every page loads with no request leaving its
    folder (no Google Fonts, no unpkg shim) and no console error, and the search box finds a
    word of the manual (it was missing: a JS error on search_index.js)."""
    import time

    from tests.browser import Browser, find_chromium

    if find_chromium() is None:
        pytest.skip("no Chromium browser on PATH (apt-get install chromium, or set DREAMREEL_CHROMIUM)")
    pages = sorted(p for p in site.rglob("*.html") if p.name != "404.html")
    assert len(pages) >= 20
    with Browser() as b:
        for page in pages:
            b.events.clear()
            b.open(page)
            outside = [u for u in b.requests() if not u.startswith(("file:", "data:", "blob:"))]
            assert outside == [] and b.errors() == [], (page.relative_to(site), outside, b.errors())
        b.events.clear()
        b.open(site / "guides" / "farms.html")
        b.evaluate("""(() => { const i = document.querySelector('.md-search__input'); i.focus();
            i.value = 'ProRes'; i.dispatchEvent(new Event('input', {bubbles: true}));
            i.dispatchEvent(new KeyboardEvent('keyup', {key: 's', bubbles: true})); return true; })()""")
        found: list[str] = []
        for _ in range(80):
            found = b.evaluate("[...document.querySelectorAll('.md-search-result__item a')].map(a => a.href)")
            if found:
                break
            time.sleep(0.25)
        assert any("editors.html" in u for u in found), found
        assert b.errors() == []


def test_benchmarks_md_is_the_newest_saved_result_of_each_benchmark():
    """BENCHMARKS.md is generated from benchmarks/results/ (newest first, one table each); an edit
    by hand or a result saved without the page would leave them apart."""
    sys.path.insert(0, str(ROOT))
    from scripts.benchmarks_page import page, result_key

    text = (ROOT / "BENCHMARKS.md").read_text()
    assert text == page(), "BENCHMARKS.md is stale: run python scripts/benchmarks_page.py"
    stamps = re.findall(r"^## .+ \((\d{4}-\d\d-\d\d \d\d:\d\d)", text, re.M)
    assert stamps == sorted(stamps, reverse=True) and len(stamps) >= 10
    # A run with other settings or on another clip is its own table, not a newer default row.
    coherence = "python scripts/bench_coherence.py --only-dreamreel"
    assert result_key(coherence, "t") == "bench_coherence"
    assert result_key(coherence + " video.cadence=2", "t") == "bench_coherence-video-cadence-2"
    assert result_key("python scripts/bench_loop.py --clip /x/pan120.mp4", "t") == "bench_loop-pan120"
    # A comparison of variants is its own table, named short whatever its variants say.
    loop = "python scripts/bench_loop.py --variant 'a=' --variant 'b=" + "+video.cadence=2," * 20 + "'"
    key = result_key(loop, "t")
    assert re.fullmatch(r"bench_loop-variants-[0-9a-f]{8}", key) and key != result_key(loop + " --variant c=", "t")


def test_every_command_and_flag_is_in_the_cli_reference():
    """The CLI reference names every subcommand and every flag the parser takes."""
    from dreamreel import cli

    text = (ROOT / "docs" / "reference" / "cli.md").read_text()
    flags = {o for a in cli._parser()._actions for o in a.option_strings if o.startswith("--") and o != "--help"}
    missing = sorted(f for f in flags if not re.search(re.escape(f) + r"(?![\w-])", text))
    assert missing == []
    assert all(f"dreamreel {name}" in text for name in cli.COMMANDS)


def test_the_error_examples_are_what_the_command_prints(tmp_path):
    """errors.md's examples drifted from the messages (issue 38): the config ones are made again
    here, from configs/clip.yaml with one line broken, and must be the page's lines exactly; the
    media ones must be the code's wording."""
    from tests.warm import WARM

    page = (ROOT / "docs" / "reference" / "errors.md").read_text()
    examples = re.search(r"```\n(dreamreel: error: .*?)```", page, re.S).group(1).splitlines()
    (tmp_path / "configs").mkdir()
    clip = (ROOT / "configs" / "clip.yaml").read_text()
    cases = [("  steps: 8", "  stpes: 8", []), ("  model: mobilenet_v2", "  model: alexnet", []),
             (None, None, ["video.crf=99"]), ("  steps: 8", "  steps: -1", [])]
    for (old, new, overrides), want in zip(cases, examples):
        assert old is None or old in clip
        (tmp_path / "configs" / "clip.yaml").write_text(clip if old is None else clip.replace(old, new))
        proc = WARM.run(["render", "configs/clip.yaml", *overrides], tmp_path, 120)
        assert proc.returncode == 2 and proc.stderr.strip() == want
    code = "".join(p.read_text() for p in (ROOT / "dreamreel").rglob("*.py"))
    for line in examples[len(cases):]:
        message = line.split(": ", 3)[-1]
        fixed = [part for part in re.split(r"\b\d+\b|\([^)]*\)", message) if len(part.strip()) > 12]
        assert fixed and all(part.strip(" ;:") in code for part in fixed), line
