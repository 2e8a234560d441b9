"""Every `dreamreel` command the README, Getting started and the guides show runs as written
(issue 38: Getting started's own suggestions stopped with "output exists" and "unknown layer").

The commands are read from the pages themselves: the lines of fenced blocks and the inline code
that start with `dreamreel` and name a config. Each runs as a user would type it, made tiny
(small frames, one step, few frames: settings the command does not set itself) and writing into a
temporary folder; the commands of one fenced block run in order on the same outputs (a farm task,
then the assembly), as the page means them."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.warm import dreamreel

PAGES = ["README.md", "docs/index.md", "docs/getting-started.md", *sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "docs" / "guides").glob("*.md"))]
# Commands shown that this test cannot run here, each with the reason.
NOT_HERE = {
    "render.address=auto": "joins a running Ray cluster (tests/farm/test_ray.py runs the backend on a local one)",
    "render.backend=ray": "starts Ray (tests/farm/test_ray.py runs the same render on a local cluster)",
}
# The user's file in the farm guide is the sample config; a job array's index is a number.
SUBSTITUTE = {"clip.yaml": "configs/clip.yaml", "$SLURM_ARRAY_TASK_ID": "7"}
TINY = {"size.width": "64", "dream.steps": "1", "dream.octaves": "1", "video.steps_after_first": "1",
        "atlas.cell": "32", "atlas.channels": "2",
        # The farm guide asks for 40 segments of a long clip: the sample's 100 frames make 40 only
        # with short hand-overs (at most count // (preroll + crossover + 1) segments).
        "render.preroll": "1", "render.crossover": "0"}
SHORT = {"frames.count": "8", "zoom.frames": "8", "zoom.warmup": "2"}


def commands() -> list[tuple[str, int, list[str]]]:
    """(page, block number, [command, ...]) for every fenced block and inline span with commands.
    Getting started is one sequence, in the order a new user follows it (its suggestions run
    after the renders they vary: the first still exists when `dream.steps=4` is tried)."""
    found = []
    for page in PAGES:
        text = (ROOT / page).read_text()
        if page == "docs/getting-started.md":
            spans = re.findall(r"^```[^\n]*\n(.*?)^```|`(dreamreel [^`]+\.yaml[^`]*)`", text, re.M | re.S)
            seq = [ln.strip() for block, span in spans for ln in (block.splitlines() if block else [span])
                   if ln.strip().startswith("dreamreel ") and ".yaml" in ln]
            found.append((page, 0, seq))
            continue
        blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.M | re.S)
        for b, block in enumerate(blocks):
            lines = [ln.split("  #")[0].strip() for ln in block.splitlines()]
            cmds = [ln for ln in lines if ln.startswith("dreamreel ") and ".yaml" in ln]
            if cmds:
                found.append((page, b, cmds))
        prose = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
        for i, span in enumerate(re.findall(r"`(dreamreel [^`]+\.yaml[^`]*)`", prose)):
            found.append((page, 1000 + i, [span]))
    return found


def tiny(command: str, out: Path) -> list[str]:
    """``command``'s arguments (after ``dreamreel``), made tiny and writing into ``out``."""
    for a, b in SUBSTITUTE.items():
        command = re.sub(rf"(?<![\w/]){re.escape(a)}", b, command)
    args = shlex.split(command)[1:]
    given = {a.split("=", 1)[0] for a in args if "=" in a and not a.startswith("-")}
    config = next(a for a in args if a.endswith(".yaml"))
    extra = [f"{k}={v}" for k, v in TINY.items() if k not in given]
    # Moments and segments name frames of the real length: leave the length alone for those.
    if args[0] != "preview" and "render.segments" not in given:
        extra += [f"{k}={v}" for k, v in SHORT.items() if k not in given]
    named = next((a for a in args if a.startswith("output=")), None)
    if named is not None:
        args[args.index(named)] = f"output={out / Path(named.split('=', 1)[1]).name}"
    else:
        import yaml

        default = yaml.safe_load((ROOT / config).read_text())["output"]
        extra.append(f"output={out / Path(default).name}")
    return [*args, *extra]


CASES = commands()


def test_the_pages_show_commands_to_run():
    shown = [c for _, _, cmds in CASES for c in cmds]
    assert len(shown) >= 15
    assert "dreamreel render configs/still.yaml" in shown and "dreamreel timeline configs/musicvideo.yaml" in shown


@pytest.mark.slow
@pytest.mark.parametrize("page, block, cmds", CASES, ids=[f"{p}#{b}" for p, b, _ in CASES])
def test_every_command_on_the_pages_runs_as_written(page, block, cmds, tmp_path):
    for command in cmds:
        skip = next((why for word, why in NOT_HERE.items() if word in command), None)
        if skip:
            continue
        proc = dreamreel(*tiny(command, tmp_path), seconds=300)
        assert proc.returncode == 0, f"{page}: {command}\n{proc.stderr[-1500:]}"
