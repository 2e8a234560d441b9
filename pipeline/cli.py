"""The ``render`` command: arguments, overrides and exit codes; nothing else."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from pipeline import __version__
from pipeline.errors import DreamreelError

EXIT_OK, EXIT_CONFIG, EXIT_MEDIA, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 2, 3, 130, 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into the same clean stop as Ctrl-C (state saved, lock released)."""


# Set by the handler as well: a library that turns any interrupt into a plain KeyboardInterrupt
# (Ray's blocking calls do) must not turn "terminated" (143) into "interrupted" (130).
_terminated = threading.Event()


def _on_sigterm(signum: int, frame: object) -> None:
    _terminated.set()
    raise Terminated()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="render",
        description="Render a DeepDream still, atlas, video or zoom loop from a YAML config.",
        epilog="exit codes: 0 done, 2 config error, 3 media error, 130 interrupted, 143 terminated "
               "(run the same command again to resume)",
    )
    p.add_argument("config", nargs="?", type=Path, help="YAML config file")
    p.add_argument("overrides", nargs="*", metavar="dotted.key=value",
                   help="override config keys, e.g. dream.steps=3 size.width=256")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and the plan; write nothing")
    p.add_argument("--force", action="store_true", help="overwrite an existing output and start the job over; with --timeline, "
                   "replace timeline files a person changed")
    p.add_argument("--preview", type=int, metavar="N",
                   help="video, zoom: dream every Nth frame small into one contact-sheet PNG")
    p.add_argument("--preview-at", metavar="MOMENTS",
                   help="video/zoom: dream chosen moments into the contact sheet: times (12.5, 0:42.5), frames "
                        "(f120), beats (beat:64) or onsets (onsets, onsets:0.7), comma-separated")
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
    from pipeline.errors import ConfigError
    from pipeline.models.net import layer_shapes
    from pipeline.models.registry import get_spec, model_names

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
    """Entry point of ``render``; returns the process exit code."""
    args = _parser().parse_intermixed_args(argv)
    if threading.current_thread() is threading.main_thread():
        _terminated.clear()
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        if args.list_layers:
            return _list_layers(args.list_layers)
        if args.self_test is not None:
            if args.config is not None:
                print("render: error: --self-test takes no CONFIG (it makes its own inputs)", file=sys.stderr)
                return EXIT_CONFIG
            from pipeline.selftest import self_test

            return self_test(args.self_test)
        if args.config is None:
            _parser().print_usage(sys.stderr)
            print("render: error: a CONFIG file is needed (or --list-layers MODEL)", file=sys.stderr)
            return EXIT_CONFIG
        if args.preview is not None and args.preview_at is not None:
            print("render: error: --preview N and --preview-at MOMENTS: give one of them", file=sys.stderr)
            return EXIT_CONFIG
        if (args.preview is not None or args.preview_at is not None) and args.segment is not None:
            print("render: error: --preview and --segment: a farm task dreams its segment and nothing else; "
                  "preview with its own command", file=sys.stderr)
            return EXIT_CONFIG
        if args.preview is not None and args.preview < 1:
            print("render: error: --preview takes a whole number of frames, 1 or more", file=sys.stderr)
            return EXIT_CONFIG
        from pipeline.config import load_config

        cfg = load_config(args.config, args.overrides)
        if args.timeline:
            if args.segment is not None or args.dry_run or args.preview is not None or args.preview_at is not None:
                print("render: error: --timeline dreams nothing; use it without --segment, --dry-run, --preview and "
                      "--preview-at (a preview made first shows on the timeline's filmstrip)", file=sys.stderr)
                return EXIT_CONFIG
            from pipeline.rendering.overview import render_timeline

            done = render_timeline(cfg, force=args.force)
            for note in done["notes"]:
                print(f"render: note: {note}", file=sys.stderr)
            print(f"render: wrote {', '.join(done['timeline'])}", file=sys.stderr)
            return EXIT_OK
        if args.dry_run:
            from pipeline.models.registry import get_spec
            from pipeline.models.weights import locate_weights
            from pipeline.rendering.plan import describe

            print(describe(cfg))
            # The plan says MISSING; the exit code says it too, as the render would fail on it.
            locate_weights(get_spec(cfg.dream.model), cfg.dream.weights)
            return EXIT_OK
        from pipeline.runtime import tune_process

        tune_process(retain_memory=cfg.render.retain_memory)
        from pipeline.rendering.run import run_render

        facts = run_render(cfg, force=args.force, preview=args.preview, segment=args.segment,
                           preview_at=args.preview_at)
        if args.segment is not None:
            ranges = ", ".join(f"{a}-{b - 1}" for a, b in facts["segment_frames"])
            which = ",".join(map(str, args.segment))
            print(f"render: dreamed segment{'s' if len(args.segment) > 1 else ''} {which} (frames {ranges}: "
                  f"{facts['frames_dreamed']} dreamed now) in {facts.get('seconds', 0):.1f} s; run without "
                  "--segment to assemble", file=sys.stderr)
            return EXIT_OK
        out = facts.get("preview", cfg.output)
        print(f"render: wrote {out} in {facts.get('seconds', 0):.1f} s", file=sys.stderr)
        return EXIT_OK
    except DreamreelError as exc:
        print(f"render: error: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # `render --list-layers X | head`: the reader left; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt as exc:
        print("render: interrupted; what was rendered is kept, run the same command again to resume",
              file=sys.stderr)
        return EXIT_TERMINATED if isinstance(exc, Terminated) or _terminated.is_set() else EXIT_INTERRUPTED


def one_line(message: str, limit: int = 380) -> str:
    """An error message as one line of at most ``limit`` characters: the last guard against a
    message that quotes a huge or multi-line value (the messages themselves cut values short)."""
    text = " ".join(message.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


if __name__ == "__main__":
    raise SystemExit(main())
