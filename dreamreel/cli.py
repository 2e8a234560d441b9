"""The ``dreamreel`` command: its subcommands, their arguments, overrides and exit codes; nothing else.

``dreamreel render CONFIG [key=value ...] [flags]`` takes every flag; ``timeline``, ``preview``,
``self-test`` and ``layers`` are the same actions under the names people look for, translated into
``render``'s arguments so each is checked in one place."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from dreamreel import __version__
from dreamreel.errors import DreamreelError

EXIT_OK, EXIT_CONFIG, EXIT_MEDIA, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 2, 3, 130, 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into the same clean stop as Ctrl-C (state saved, lock released)."""


# Set by the handler as well: a library that turns any interrupt into a plain KeyboardInterrupt
# (Ray's blocking calls do) must not turn "terminated" (143) into "interrupted" (130).
_terminated = threading.Event()


def _on_sigterm(signum: int, frame: object) -> None:
    _terminated.set()
    raise Terminated()


COMMANDS = {
    "render": "render a still, atlas, video or zoom loop from a YAML config (takes every flag)",
    "timeline": "write OUTPUT.timeline.html/.json/.png: the music, every schedule, cuts; nothing dreamed",
    "preview": "dream chosen moments (--at) or every Nth frame (--every) small into a contact sheet",
    "self-test": "check this machine in about a minute and print lines to paste into a bug report",
    "layers": "list a model's layers with their output shapes",
}
EPILOG = ("exit codes: 0 done, 2 config error, 3 media error, 130 interrupted, 143 terminated "
          "(run the same command again to resume)")


def _top_help() -> str:
    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {text}" for name, text in COMMANDS.items())
    return (f"usage: dreamreel COMMAND ...\n\nDeepDream for stills, video and infinite zoom loops.\n\n"
            f"commands:\n{rows}\n\n`dreamreel COMMAND --help` for each; `python -m dreamreel` is the same command.\n"
            f"{EPILOG}\n")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dreamreel render",
        description="Render a DeepDream still, atlas, video or zoom loop from a YAML config.",
        epilog=EPILOG,
    )
    p.add_argument("config", nargs="?", type=Path, help="YAML config file")
    p.add_argument("overrides", nargs="*", metavar="dotted.key=value",
                   help="override config keys, e.g. dream.steps=3 size.width=256")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and the plan; write nothing")
    p.add_argument("--force", action="store_true", help="overwrite an existing output and start the job over; with --timeline, "
                   "replace timeline files a person changed")
    p.add_argument("--preview", type=int, metavar="N",
                   help="video, zoom: every Nth frame as the render makes it, into one contact-sheet PNG (= preview "
                        "--every N)")
    p.add_argument("--preview-at", metavar="MOMENTS",
                   help="video, zoom: chosen moments into the contact sheet (= preview --at): times (12.5, 0:42.5), "
                        "frames (f120), beats (beat:64), bars (bar:16), onsets (onsets, onsets:0.7) or scene cuts "
                        "(cuts), comma-separated")
    p.add_argument("--segment", type=_segment_list, metavar="I[,J...]",
                   help="video: dream segment I (or segments I,J,... side by side, as one batch) of the plan into "
                        "the job folder and stop (a farm task); a plain run then assembles")
    p.add_argument("--timeline", action="store_true",
                   help="video/zoom: write OUTPUT.timeline.json/.html/.png (audio, every schedule at every frame, "
                        "cuts, segments) without dreaming")
    p.add_argument("--list-layers", metavar="MODEL", help="print MODEL's layer names with their output shapes")
    p.add_argument("--self-test", nargs="?", const="auto", metavar="DEVICE",
                   help="check this machine in about a minute (device, a still, a stopped and resumed render "
                        "compared bit for bit, host waits, the precision choice, frames a second at 640x360 "
                        "and 1080p) and print lines to paste into a bug report; DEVICE: auto (default), cpu, "
                        "cuda or cuda:N; exit 1 on a failure")
    p.add_argument("--version", action="version", version=f"dreamreel {__version__}")
    return p


def _config_parser(command: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"dreamreel {command}", description=description, epilog=EPILOG)
    p.add_argument("config", type=Path, help="YAML config file")
    p.add_argument("overrides", nargs="*", metavar="dotted.key=value", help="override config keys, e.g. size.width=256")
    return p


def _translate(command: str, rest: list[str]) -> list[str]:
    """A subcommand's arguments as ``render``'s (parsed by the subcommand's own parser first, so its
    ``--help`` and errors name it)."""
    if command == "render":
        return rest
    if command == "timeline":
        p = _config_parser("timeline", COMMANDS["timeline"])
        p.add_argument("--force", action="store_true", help="replace timeline files a person changed")
        a = p.parse_intermixed_args(rest)
        return [str(a.config), *a.overrides, "--timeline", *(["--force"] if a.force else [])]
    if command == "preview":
        p = _config_parser("preview", COMMANDS["preview"] + "; OUTPUT.preview.png and .json")
        which = p.add_mutually_exclusive_group(required=True)
        which.add_argument("--at", metavar="MOMENTS",
                           help="times (12.5, 0:42.5), frames (f120), beats (beat:64), bars (bar:16), onsets (onsets, "
                                "onsets:0.7) or scene cuts (cuts), comma-separated")
        which.add_argument("--every", type=int, metavar="N", help="every Nth frame")
        a = p.parse_intermixed_args(rest)
        how = ["--preview-at", a.at] if a.at is not None else ["--preview", str(a.every)]
        return [str(a.config), *a.overrides, *how]
    if command == "self-test":
        p = argparse.ArgumentParser(prog="dreamreel self-test", description=COMMANDS["self-test"], epilog=EPILOG)
        p.add_argument("device", nargs="?", default="auto", help="auto (default), cpu, cuda or cuda:N")
        return ["--self-test", p.parse_args(rest).device]
    p = argparse.ArgumentParser(prog="dreamreel layers", description=COMMANDS["layers"])
    p.add_argument("model", help="a model name, e.g. mobilenet_v2")
    return ["--list-layers", p.parse_args(rest).model]


def _segment_list(text: str) -> tuple[int, ...]:
    """``--segment``'s value: segment numbers (0 or more), comma-separated, each once."""
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isascii() and p.isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r}: segment numbers, 0 or more, comma-separated (e.g. 3 or 0,4)")
    out = tuple(int(p) for p in parts)
    if len(set(out)) != len(out):
        raise argparse.ArgumentTypeError(f"{text!r}: a segment is named twice")
    return out


def _list_layers(model: str) -> int:
    from dreamreel.errors import ConfigError
    from dreamreel.models.net import layer_shapes
    from dreamreel.models.registry import get_spec, model_names

    if model not in model_names():
        raise ConfigError(f"--list-layers: unknown model {model!r}; valid choices: {', '.join(model_names())}")
    size = (299, 299) if model == "inception_v3" else (224, 224)
    spec = get_spec(model)
    print(f"# {model}: output shape [channels, height, width] at {size[1]}x{size[0]} input")
    for name, shape in layer_shapes(model, size):
        mark = "  (suggested)" if name in spec.suggested else ""
        print(f"{name:<16} {list(shape)}{mark}")
    print("# any sub-module name works too; append :N to target channel N, e.g. features.13:42")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``dreamreel``; returns the process exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        (sys.stdout if argv else sys.stderr).write(_top_help())
        return EXIT_OK if argv else EXIT_CONFIG
    if argv[0] == "--version":
        print(f"dreamreel {__version__}")
        return EXIT_OK
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        hint = (f"; did you mean `dreamreel render {command}`?"
                if command.endswith((".yaml", ".yml")) or Path(command).is_file() else "")
        print(f"dreamreel: error: unknown command {command!r}; valid choices: {', '.join(COMMANDS)}{hint}",
              file=sys.stderr)
        return EXIT_CONFIG
    return _render(_parser().parse_intermixed_args(_translate(command, rest)))


def _render(args: argparse.Namespace) -> int:
    if threading.current_thread() is threading.main_thread():
        _terminated.clear()
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        if args.list_layers:
            return _list_layers(args.list_layers)
        if args.self_test is not None:
            if args.config is not None:
                print("dreamreel: error: --self-test takes no CONFIG (it makes its own inputs)", file=sys.stderr)
                return EXIT_CONFIG
            from dreamreel.selftest import self_test

            return self_test(args.self_test)
        if args.config is None:
            _parser().print_usage(sys.stderr)
            print("dreamreel: error: a CONFIG file is needed (or --list-layers MODEL)", file=sys.stderr)
            return EXIT_CONFIG
        if args.preview is not None and args.preview_at is not None:
            print("dreamreel: error: --preview N and --preview-at MOMENTS: give one of them", file=sys.stderr)
            return EXIT_CONFIG
        if (args.preview is not None or args.preview_at is not None) and args.segment is not None:
            print("dreamreel: error: --preview and --segment: a farm task dreams its segment and nothing else; "
                  "preview with its own command", file=sys.stderr)
            return EXIT_CONFIG
        if args.preview is not None and args.preview < 1:
            print("dreamreel: error: --preview takes a whole number of frames, 1 or more", file=sys.stderr)
            return EXIT_CONFIG
        from dreamreel.config import load_config

        cfg = load_config(args.config, args.overrides)
        if args.timeline:
            if args.segment is not None or args.dry_run or args.preview is not None or args.preview_at is not None:
                print("dreamreel: error: --timeline dreams nothing; use it without --segment, --dry-run, --preview and "
                      "--preview-at (a preview made first shows on the timeline's filmstrip)", file=sys.stderr)
                return EXIT_CONFIG
            from dreamreel.inspect.timeline import render_timeline

            done = render_timeline(cfg, force=args.force)
            for note in done["notes"]:
                print(f"dreamreel: note: {note}", file=sys.stderr)
            print(f"dreamreel: wrote {', '.join(done['timeline'])}", file=sys.stderr)
            return EXIT_OK
        if args.dry_run:
            from dreamreel.models.registry import get_spec
            from dreamreel.models.weights import locate_weights
            from dreamreel.jobs.plan import describe

            print(describe(cfg))
            # The plan says MISSING; the exit code says it too, as the render would fail on it.
            locate_weights(get_spec(cfg.dream.model), cfg.dream.weights)
            return EXIT_OK
        from dreamreel.runtime import tune_process

        tune_process(retain_memory=cfg.render.retain_memory)
        from dreamreel.modes.run import run_render

        facts = run_render(cfg, force=args.force, preview=args.preview, segment=args.segment,
                           preview_at=args.preview_at)
        if args.segment is not None:
            ranges = ", ".join(f"{a}-{b - 1}" for a, b in facts["segment_frames"])
            which = ",".join(map(str, args.segment))
            print(f"dreamreel: dreamed segment{'s' if len(args.segment) > 1 else ''} {which} (frames {ranges}: "
                  f"{facts['frames_dreamed']} dreamed now) in {facts.get('seconds', 0):.1f} s; run without "
                  "--segment to assemble", file=sys.stderr)
            return EXIT_OK
        out = facts.get("preview", cfg.output)
        print(f"dreamreel: wrote {out} in {facts.get('seconds', 0):.1f} s", file=sys.stderr)
        return EXIT_OK
    except DreamreelError as exc:
        print(f"dreamreel: error: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # `dreamreel layers X | head`: the reader left; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt as exc:
        print("dreamreel: interrupted; what was rendered is kept, run the same command again to resume",
              file=sys.stderr)
        return EXIT_TERMINATED if isinstance(exc, Terminated) or _terminated.is_set() else EXIT_INTERRUPTED


def one_line(message: str, limit: int = 380) -> str:
    """An error message as one line of at most ``limit`` characters: the last guard against a
    message that quotes a huge or multi-line value (the messages themselves cut values short)."""
    text = " ".join(message.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


if __name__ == "__main__":
    raise SystemExit(main())
