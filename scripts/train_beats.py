"""Train the beat and downbeat network (dreamreel/rhythm/network.py) on the generated corpus
(scripts/beatcorpus.py): one command, seeded, resumable, with a progress bar and a log.

    python scripts/train_beats.py                       # corpus/beats, 3600 songs; writes the shipped weights
    python scripts/train_beats.py --steps 20 --songs 8 --out /tmp/try   # a tiny run

It builds whatever corpus shards are missing (and a validation set from seeds the corpus never
uses), then trains: random 15 s crops, 16 a batch, AdamW with a one-cycle learning rate, binary
cross-entropy on beat and downbeat frames (their neighbours count half, as Böck's widened targets),
level changes (-30 to +10 dB) and dropped treble bands drawn on the fly. Every ``--every`` steps it
scores the validation songs (beat and downbeat F-measure, 70 ms, on peaks of the activation),
writes a line to ``OUT/train.log`` and a checkpoint (``OUT/checkpoint.pt``, atomically); run the same
command again and it goes on from there with the same batches it would have drawn. At the end it
writes the weights and their card's facts to ``--weights``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dreamreel.rhythm.network import BeatNet  # noqa: E402
from dreamreel.rhythm.spectrum import HOP  # noqa: E402
from scripts.beatcorpus import HELD_OUT_SEED, RATE, build, read_shard  # noqa: E402

FPS = RATE / HOP
VALIDATION_SEED = HELD_OUT_SEED - 100_000  # monitored while training; the benchmark's held-out songs are apart
CROP = 1500  # frames a training example: 15 s
WEIGHTS = ROOT / "dreamreel" / "models" / "beatnet.pt"
REFERENCE = ROOT / "tests" / "data" / "beatnet_reference.npz"


def targets(times: np.ndarray, frames: int) -> np.ndarray:
    """float32 [frames]: 1 on the frame nearest each time (seconds), 0.5 on its neighbours."""
    out = np.zeros(frames, np.float32)
    f = np.round(np.asarray(times) * FPS).astype(int)
    for d, v in ((-1, 0.5), (1, 0.5), (0, 1.0)):
        g = f + d
        g = g[(g >= 0) & (g < frames)]
        out[g] = np.maximum(out[g], v)
    return out


def load(paths: list[Path]) -> list[dict]:
    songs = []
    for p in paths:
        for e in read_shard(p):
            n = e["features"].shape[0]
            e["target"] = np.stack([targets(e["beats"], n), targets(e["downbeats"], n)])
            songs.append(e)
    return songs


def batch(songs: list[dict], rng: np.random.Generator, size: int, crop: int) -> tuple[torch.Tensor, ...]:
    """``size`` random crops: bands [B, crop, F], targets [B, 2, crop], mask [B, crop]."""
    bands = np.zeros((size, crop, songs[0]["features"].shape[1]), np.float32)
    tgt = np.zeros((size, 2, crop), np.float32)
    mask = np.zeros((size, crop), np.float32)
    for i, k in enumerate(rng.integers(0, len(songs), size)):
        e = songs[int(k)]
        n = e["features"].shape[0]
        a = int(rng.integers(0, max(1, n - crop))) if rng.random() < 0.85 else 0  # songs start at the start too
        m = min(crop, n - a)
        x = e["features"][a:a + m].astype(np.float32)
        gain = 10 ** (rng.uniform(-30, 10) / 20)
        x = np.log1p(np.expm1(x) * gain)
        if rng.random() < 0.1:  # a dull recording: the treble gone
            x[:, int(rng.integers(x.shape[1] // 2, x.shape[1])):] = 0.0
        bands[i, :m], tgt[i, :, :m], mask[i, :m] = x, e["target"][:, a:a + m], 1.0
    return torch.from_numpy(bands), torch.from_numpy(tgt), torch.from_numpy(mask)


def normaliser(songs: list[dict], net: BeatNet, rng: np.random.Generator) -> None:
    """Set the network's per-input mean and spread from a sample of the corpus."""
    with torch.no_grad():
        x, _, mask = batch(songs, rng, min(64, len(songs) * 4), CROP)
        net.mean.zero_()
        net.std.fill_(1.0)
        inp = net.inputs(x).transpose(1, 2)[mask.bool()]
        net.mean.copy_(inp.mean(0))
        net.std.copy_(inp.std(0).clamp_min(1e-3))


def peaks(act: np.ndarray, threshold: float = 0.4, gap: int = 7) -> np.ndarray:
    """Frames where ``act`` is above ``threshold`` and the largest within ``gap`` frames."""
    pad = np.pad(act, gap, constant_values=-1.0)
    win = np.lib.stride_tricks.sliding_window_view(pad, 2 * gap + 1).max(axis=1)
    return np.flatnonzero((act >= threshold) & (act >= win))


def f_measure(ref: np.ndarray, est: np.ndarray, window: float = 0.07) -> float:
    """Beat F-measure: each reference beat matched by at most one estimate within ``window`` s."""
    if ref.size == 0 and est.size == 0:
        return 1.0
    if ref.size == 0 or est.size == 0:
        return 0.0
    used = np.zeros(est.size, bool)
    hits = 0
    for r in ref:
        j = np.flatnonzero(~used & (np.abs(est - r) <= window))
        if j.size:
            used[j[np.argmin(np.abs(est[j] - r))]] = True
            hits += 1
    p, r = hits / est.size, hits / ref.size
    return 0.0 if hits == 0 else 2 * p * r / (p + r)


def validate(net: BeatNet, songs: list[dict]) -> tuple[float, float]:
    """Mean beat and downbeat F of peaks of the activations on ``songs``."""
    net.eval()
    fb, fd = [], []
    with torch.no_grad():
        for e in songs:
            act = torch.sigmoid(net(torch.from_numpy(e["features"].astype(np.float32))[None]))[0].numpy()
            fb.append(f_measure(e["beats"], peaks(act[0]) / FPS))
            fd.append(f_measure(e["downbeats"], peaks(act[1], gap=20) / FPS))
    net.train()
    return float(np.mean(fb)), float(np.mean(fd))


def learning_rate(step: int, steps: int, peak: float) -> float:
    """One cycle: a linear warm-up over 5 % of the steps, then a cosine down to 1 % of ``peak``."""
    warm = max(1, steps // 20)
    if step < warm:
        return peak * (step + 1) / warm
    f = (step - warm) / max(1, steps - warm)
    return peak * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * f)))


def save_atomic(obj: dict, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def train(args: argparse.Namespace) -> dict:
    from tqdm import tqdm

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    # Trained weights drive ELU's exponential into subnormal floats, which x86 computes 10-12x
    # slower: after 2,000 steps a step took 0.85 s instead of 0.26 s. Flushed to zero, they cost nothing.
    torch.set_flush_denormal(True)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    log = (out / "train.log").open("a")

    def say(text: str) -> None:
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}"
        log.write(line + "\n")
        log.flush()
        tqdm.write(line)

    trained_from = commit()  # the code this run trains with, whatever is committed while it runs
    train_paths = build(args.corpus, args.songs, args.jobs, args.seconds)
    val_paths = build(args.corpus / "validation", args.validation, args.jobs, args.seconds, VALIDATION_SEED)
    songs, val = load(train_paths), load(val_paths)
    say(f"corpus: {len(songs)} songs ({sum(e['features'].shape[0] for e in songs) / FPS / 3600:.1f} h), "
        f"validation {len(val)}")
    net = BeatNet(songs[0]["features"].shape[1], channels=args.channels, layers=args.layers)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    ckpt_path = out / "checkpoint.pt"
    step, running = 0, None
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=True)
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        step, running = int(ck["step"]), ck.get("running")
        say(f"resumed at step {step}")
    else:
        normaliser(songs, net, np.random.default_rng([args.seed, 0]))
    bce = torch.nn.BCEWithLogitsLoss(reduction="none")
    net.train()
    bar = tqdm(total=args.steps, initial=step, desc="training", unit="step")
    scores = (float("nan"), float("nan"))
    while step < args.steps:
        # The batch of a step comes from the seed and the step alone: a resumed run draws the same.
        rng = np.random.default_rng([args.seed, 1, step])
        torch.manual_seed(args.seed * 1_000_003 + step)
        x, y, mask = batch(songs, rng, args.batch, CROP)
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, args.steps, args.lr)
        loss = ((bce(net(x), y) * mask[:, None]).sum() / mask.sum() / 2)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        bar.update(1)
        bar.set_postfix(loss=f"{running:.4f}")
        if step % args.every == 0 or step == args.steps:
            scores = validate(net, val)
            say(f"step {step}: loss {running:.4f}, validation beat F {scores[0]:.3f}, downbeat F {scores[1]:.3f}")
            save_atomic({"model": net.state_dict(), "optimizer": opt.state_dict(), "step": step, "running": running},
                        ckpt_path)
    bar.close()
    card = {"hparams": net.hparams, "steps": args.steps, "batch": args.batch, "crop_frames": CROP, "seed": args.seed,
            "songs": len(songs), "hours": round(sum(e["features"].shape[0] for e in songs) / FPS / 3600, 2),
            "validation": {"songs": len(val), "beat_f": round(scores[0], 4), "downbeat_f": round(scores[1], 4)},
            "commit": trained_from, "fps": FPS, "rate": RATE, "licence": "MIT (dreamreel)"}
    args.weights.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.to(torch.float32) for k, v in net.state_dict().items()}
    save_atomic({"model": state, "card": json.dumps(card)}, args.weights)
    say(f"wrote {args.weights}: {json.dumps(card)}")
    if args.weights.resolve() == WEIGHTS.resolve():
        write_reference()
    return card


def write_reference() -> None:
    """The shipped weights' activations on samples/beat.wav, which tests/test_beat_model.py
    checks the package reproduces."""
    from dreamreel.media.audio import read_audio
    from dreamreel.rhythm import model

    model.load_net.cache_clear()
    act = model.activations(read_audio(ROOT / "samples" / "beat.wav"), RATE)
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(REFERENCE, activations=act)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=ROOT / "corpus" / "beats")
    ap.add_argument("--songs", type=int, default=3600)
    ap.add_argument("--validation", type=int, default=80)
    ap.add_argument("--seconds", type=float, default=30.0, help="length of each generated song")
    ap.add_argument("--out", type=Path, default=ROOT / "corpus" / "run", help="log and checkpoint folder")
    ap.add_argument("--weights", type=Path, default=WEIGHTS)
    ap.add_argument("--steps", type=int, default=4500)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--channels", type=int, default=48)
    ap.add_argument("--layers", type=int, default=9)
    ap.add_argument("--every", type=int, default=250, help="validate and checkpoint this often (steps)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes rendering the corpus")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads training")
    train(ap.parse_args())


if __name__ == "__main__":
    main()
