"""The beat model's training corpus: random songs (scripts/beatgen.py) rendered with every General
MIDI soundfont Debian ships, made to sound recorded, and stored as the model's input features with
their exact beats and downbeats.

Each song: MIDI -> fluidsynth (a random soundfont, reverb and chorus on or off, a random gain) ->
now and then a small speed change (tempo and pitch together, as a tape or a resampled file) ->
through the bundled ffmpeg: EQ, compression, echo, soft clipping, band limits, then a lossy round
trip (mp3, aac or opus at 48-192 kbit/s) -> noise -> ``log_bands`` at 22.05 kHz. Beats are the
tempo map's, moved by the soundfont's measured latency and the lead-in, scaled by the speed.

Shards of ``SHARD`` songs (``shard_00012.npz``) are written atomically, so a stopped run resumes
where it stopped; a shard's songs come from its seeds alone, whatever ran before.

    apt-get install fluidsynth fluid-soundfont-gm timgm6mb-soundfont musescore-general-soundfont-small csound-soundfont
    python scripts/beatcorpus.py --out corpus/beats --songs 3600 --jobs 2
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.beatgen import KICK, Song, random_song, write_midi  # noqa: E402

RATE = 22050
SHARD = 40
# Every General MIDI soundfont Debian ships, with how often it is drawn (MuseScore's sf3 takes 3 s
# to load, so it is drawn less).
SOUNDFONTS = {
    "/usr/share/sounds/sf2/FluidR3_GM.sf2": 0.35,  # fluid-soundfont-gm, MIT
    "/usr/share/sounds/sf2/TimGM6mb.sf2": 0.25,  # timgm6mb-soundfont, GPL-2
    "/usr/share/sounds/sf2/sf_GMbank.sf2": 0.25,  # csound-soundfont, LGPL-2.1+
    "/usr/share/sounds/sf3/MuseScore_General.sf3": 0.15,  # musescore-general-soundfont-small, MIT
}
# The corpus's seeds start here; scripts/bench_beats.py's held-out generated songs start at
# HELD_OUT_SEED, which no corpus of fewer than that many songs reaches.
HELD_OUT_SEED = 10_000_000


def available_fonts() -> dict[str, float]:
    fonts = {f: w for f, w in SOUNDFONTS.items() if Path(f).is_file()}
    if not fonts:
        raise SystemExit("no General MIDI soundfont: apt-get install fluidsynth fluid-soundfont-gm")
    return fonts


def fluidsynth(mid: Path, font: str, rng: np.random.Generator) -> np.ndarray:
    """``mid`` rendered mono float32 at RATE with ``font``, reverb and chorus drawn at random."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.wav"
        opts = ["-R", str(int(rng.random() < 0.7)), "-C", str(int(rng.random() < 0.4)),
                "-o", f"synth.reverb.room-size={rng.uniform(0.1, 0.8):.2f}",
                "-o", f"synth.reverb.level={rng.uniform(0.2, 0.9):.2f}"]
        subprocess.run(["fluidsynth", "-ni", "-q", *opts, "-g", f"{rng.uniform(0.3, 0.9):.2f}", "-r", str(RATE),
                        "-F", str(out), font, str(mid)], check=True, capture_output=True, stdin=subprocess.DEVNULL)
        with wave.open(str(out)) as w:
            ch, raw = w.getnchannels(), w.readframes(w.getnframes())
    return (np.frombuffer(raw, np.int16).astype(np.float32) / 32768.0).reshape(-1, ch).mean(axis=1)


_LATENCY: dict[str, float] = {}


def latency(font: str) -> float:
    """Seconds from a note's MIDI time to its first sound with ``font`` (a lone kick at 1 s)."""
    if font not in _LATENCY:
        song = Song([(2.0, 9, KICK, 120, 0.5)], {9: 0}, np.full(4, 120.0), 4, 1, (4, 4))
        with tempfile.TemporaryDirectory() as tmp:
            mid = Path(tmp) / "kick.mid"
            write_midi(song, mid)
            x = np.abs(fluidsynth(mid, font, np.random.default_rng(0)))
        _LATENCY[font] = float(np.flatnonzero(x > 0.02 * x.max())[0] / RATE - 1.0)
    return _LATENCY[font]


def ffmpeg_chain(rng: np.random.Generator) -> tuple[str, str]:
    """An ffmpeg audio filter chain that makes a clean render sound produced and recorded, and a
    lossy codec to round-trip through: (filters, codec args as one string)."""
    f = []
    if rng.random() < 0.6:
        f.append(f"bass=g={rng.uniform(-8, 10):.1f}:f={rng.uniform(60, 200):.0f}")
    if rng.random() < 0.6:
        f.append(f"treble=g={rng.uniform(-10, 8):.1f}:f={rng.uniform(2000, 6000):.0f}")
    if rng.random() < 0.3:
        f.append(f"equalizer=f={rng.uniform(300, 3000):.0f}:t=q:w=1:g={rng.uniform(-9, 9):.1f}")
    if rng.random() < 0.5:
        f.append(f"acompressor=threshold={rng.uniform(0.03, 0.3):.3f}:ratio={rng.uniform(2, 10):.1f}:"
                 f"attack={rng.uniform(1, 30):.0f}:release={rng.uniform(30, 300):.0f}:makeup={rng.uniform(1, 4):.1f}")
    if rng.random() < 0.2:
        d = rng.uniform(20, 90)
        f.append(f"aecho=0.8:0.7:{d:.0f}|{d * 1.7:.0f}:{rng.uniform(0.1, 0.4):.2f}|{rng.uniform(0.05, 0.3):.2f}")
    if rng.random() < 0.25:
        f.append(f"volume={rng.uniform(2, 6):.1f},asoftclip=type={rng.choice(['tanh', 'atan', 'cubic'])}")
    if rng.random() < 0.15:
        f.append(f"highpass=f={rng.uniform(80, 400):.0f}")
    if rng.random() < 0.15:
        f.append(f"lowpass=f={rng.uniform(3000, 9000):.0f}")
    f.append("alimiter=limit=0.95:level=false")
    codec = rng.choice(["mp3", "aac", "opus", "none"], p=[0.35, 0.25, 0.25, 0.15])
    rate = int(rng.choice([48, 64, 96, 128, 192]))
    args = {"mp3": f"-c:a libmp3lame -b:a {rate}k -f mp3", "aac": f"-c:a aac -b:a {rate}k -f adts",
            "opus": f"-c:a libopus -b:a {rate}k -f ogg", "none": "-c:a pcm_s16le -f wav"}[codec]
    return ",".join(f), args


def produce(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``x`` through ``ffmpeg_chain``'s filters and codec and back, mono float32 at RATE."""
    filters, codec = ffmpeg_chain(rng)
    y = _through_ffmpeg(x, filters, codec)
    # A codec's priming samples (AAC in ADTS keeps its 1024) would move every beat: cut them.
    lag = codec_delay(codec)
    return y[lag:] if lag > 0 else np.concatenate([np.zeros(-lag, np.float32), y])


def _through_ffmpeg(x: np.ndarray, filters: str, codec: str) -> np.ndarray:
    from imageio_ffmpeg import get_ffmpeg_exe

    ff = get_ffmpeg_exe()
    with tempfile.TemporaryDirectory() as tmp:
        coded = Path(tmp) / "coded"
        # Opus only takes 48 kHz; the others get it too, as a file from the world would have.
        subprocess.run([ff, "-v", "error", "-f", "f32le", "-ar", str(RATE), "-ac", "1", "-i", "-", "-af", filters,
                        "-ar", "48000", *codec.split(), "-y", str(coded)], input=x.astype(np.float32).tobytes(),
                       check=True, capture_output=True)
        raw = subprocess.run([ff, "-v", "error", "-i", str(coded), "-f", "f32le", "-ac", "1", "-ar", str(RATE), "-"],
                             check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.float32).copy()


_DELAY: dict[str, int] = {}


def codec_delay(codec: str) -> int:
    """Samples (at RATE) by which ``codec``'s round trip delays a sound: measured once on white
    noise, whose cross-correlation has one peak (music's repeats would offer several)."""
    if codec not in _DELAY:
        x = np.random.default_rng(0).normal(0, 0.1, RATE).astype(np.float32)
        y = _through_ffmpeg(x, "anull", codec)
        n, most = min(x.size, y.size), 4096
        size = 1 << int(np.ceil(np.log2(2 * n)))
        c = np.fft.irfft(np.fft.rfft(y[:n], size) * np.conj(np.fft.rfft(x[:n], size)), size)
        lags = np.r_[np.arange(0, most + 1), np.arange(-most, 0)]
        _DELAY[codec] = int(lags[np.argmax(c[lags])])
    return _DELAY[codec]


def make_audio(seed: int, seconds: float, fonts: dict[str, float]) -> dict:
    """One song of the corpus from ``seed``: ``samples`` (mono float32 at RATE), ``beats`` and
    ``downbeats`` (seconds), ``meter`` and ``recipe``."""
    rng = np.random.default_rng(seed + 1_000_000_007)
    song = random_song(seed, seconds)
    font = str(rng.choice(list(fonts), p=np.array(list(fonts.values())) / sum(fonts.values())))
    with tempfile.TemporaryDirectory() as tmp:
        mid = Path(tmp) / "song.mid"
        write_midi(song, mid)
        x = fluidsynth(mid, font, rng)
    beats = song.beat_times()[:-1] + latency(font)
    lead = rng.uniform(0, 1.5) if rng.random() < 0.5 else 0.0
    x = np.concatenate([np.zeros(int(lead * RATE), np.float32), x])
    beats = beats + lead
    speed = rng.uniform(0.94, 1.06) if rng.random() < 0.3 else 1.0
    if speed != 1.0:  # played faster or slower: tempo and pitch move together
        n = int(x.size / speed)
        x = np.interp(np.arange(n) * speed, np.arange(x.size), x).astype(np.float32)
        beats = beats / speed
    if rng.random() < 0.9:
        x = produce(x, rng)
    if rng.random() < 0.4:
        noise = rng.normal(0, 1, x.size).astype(np.float32)
        if rng.random() < 0.5:  # pinkish: a one-pole low-pass of white noise
            noise = np.asarray(np.frombuffer(np.cumsum(noise * 0.05).astype(np.float32), np.float32))
            noise -= np.convolve(noise, np.ones(2205) / 2205, mode="same")
        level = np.sqrt(np.mean(x ** 2) + 1e-12) / np.sqrt(np.mean(noise ** 2) + 1e-12) * 10 ** (-rng.uniform(15, 45) / 20)
        x = x + level * noise
    x *= 10 ** (rng.uniform(-20, 0) / 20) / max(float(np.abs(x).max()), 1e-6)
    end = x.size / RATE
    # The last beats ring out: a beat is labelled while the song still plays it.
    last = song.time_of(np.array([song.bars * song.meter - 1e-6]))[0] / speed + lead + latency(font)
    keep = beats < min(end, last + 1e-3)
    beats = beats[keep]
    idx = np.flatnonzero(keep)
    downbeats = beats[idx % song.meter == 0]
    return {"samples": x.astype(np.float32), "beats": beats, "downbeats": downbeats, "meter": song.meter,
            "recipe": dict(song.recipe, font=Path(font).stem, speed=f"{speed:.3f}"), "seed": seed}


def make_example(seed: int, seconds: float, fonts: dict[str, float]) -> dict:
    """``make_audio``'s song as the model reads it: ``features`` float16 [frames, bands] in place of
    the samples."""
    from dreamreel.rhythm.spectrum import log_bands

    e = make_audio(seed, seconds, fonts)
    e["features"] = log_bands(e.pop("samples"), RATE).astype(np.float16)
    return e


def write_shard(path: Path, examples: list[dict]) -> None:
    """``examples`` as one npz, written atomically (a temporary name, then a rename)."""
    feats = [e["features"] for e in examples]
    data = {
        "features": np.concatenate(feats), "frames": np.cumsum([0] + [f.shape[0] for f in feats]),
        "beats": np.concatenate([e["beats"] for e in examples]),
        "beat_index": np.cumsum([0] + [e["beats"].size for e in examples]),
        "downbeats": np.concatenate([e["downbeats"] for e in examples]),
        "downbeat_index": np.cumsum([0] + [e["downbeats"].size for e in examples]),
        "meter": np.array([e["meter"] for e in examples]), "seed": np.array([e["seed"] for e in examples]),
        "recipe": np.array([json.dumps(e["recipe"]) for e in examples]),
    }
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **data)
    os.replace(tmp, path)


def read_shard(path: Path) -> list[dict]:
    """The examples of one shard (as make_example returns them, features float16)."""
    with np.load(path) as npz:
        z = {k: npz[k] for k in npz.files}  # each npz[k] reads its array again: once only
    fr, bi, di = z["frames"], z["beat_index"], z["downbeat_index"]
    return [{"features": z["features"][fr[i]:fr[i + 1]], "beats": z["beats"][bi[i]:bi[i + 1]],
             "downbeats": z["downbeats"][di[i]:di[i + 1]], "meter": int(z["meter"][i]), "seed": int(z["seed"][i]),
             "recipe": json.loads(str(z["recipe"][i]))} for i in range(fr.size - 1)]


def _shard_job(args: tuple[Path, int, int, float]) -> str:
    path, first, count, seconds = args
    fonts = available_fonts()
    write_shard(path, [make_example(s, seconds, fonts) for s in range(first, first + count)])
    return path.name


def build(out: Path, songs: int, jobs: int, seconds: float, first_seed: int = 0) -> list[Path]:
    """Shards of ``songs`` songs under ``out`` (those already there are kept): their paths."""
    from multiprocessing import get_context

    from tqdm import tqdm

    out.mkdir(parents=True, exist_ok=True)
    todo, paths = [], []
    for k in range(0, songs, SHARD):
        path = out / f"shard_{(first_seed + k) // SHARD:05d}.npz"
        paths.append(path)
        if not path.exists():
            todo.append((path, first_seed + k, min(SHARD, songs - k), seconds))
    with get_context("spawn").Pool(jobs) as pool:
        for _ in tqdm(pool.imap_unordered(_shard_job, todo), total=len(todo), desc="shards", unit="shard"):
            pass
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("corpus/beats"))
    ap.add_argument("--songs", type=int, default=3600)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--first-seed", type=int, default=0)
    args = ap.parse_args()
    build(args.out, args.songs, args.jobs, args.seconds, args.first_seed)


if __name__ == "__main__":
    main()
