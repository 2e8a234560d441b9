"""The ffmpeg command lines, built by pure functions (tested as argument lists), and one runner.

The ffmpeg binary is the one imageio-ffmpeg bundles, so every machine runs the same build.
"""
from __future__ import annotations

import re
import subprocess
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

from dreamreel.errors import MediaError

QUIET = ["-nostdin", "-hide_banner", "-loglevel", "error"]
# Tag and convert as BT.709, limited range: what players assume for HD H.264.
BT709 = ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv"]
# Audio codecs an MP4 can carry as they are; anything else is re-encoded to AAC.
# Audio codecs copied as they are into an H.264 output: the ones both MP4 and MOV carry and
# common players decode. Opus and FLAC are re-encoded to AAC: MOV cannot hold them (a .mov with
# codec h264 from such a source failed to encode after every frame was dreamed), and in MP4
# QuickTime and many players do not play them.
MP4_AUDIO_COPY = {"aac", "mp3", "alac", "ac3", "eac3"}


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the bundled ffmpeg binary."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def fps_arg(fps: Fraction) -> str:
    """A frame rate as ffmpeg takes it exactly: ``30000/1001``, ``25``."""
    return str(fps.numerator) if fps.denominator == 1 else f"{fps.numerator}/{fps.denominator}"


def decode_args(src: Path, fps: Fraction, size: tuple[int, int], start: int = 0, count: int | None = None) -> list[str]:
    """Arguments that decode frames ``start .. start+count-1`` of ``src`` as raw RGB24 on stdout.

    size is (h, w). The fps filter makes variable-rate input constant-rate at ``fps``; trimming
    by frame number after it keeps the range exact whatever the keyframes are.
    """
    h, w = size
    chain = [f"fps={fps_arg(fps)}"]
    if start or count:
        end = f":end_frame={start + count}" if count else ""
        chain.append(f"trim=start_frame={start}{end},setpts=PTS-STARTPTS")
    chain.append(f"scale={w}:{h}:flags=bicubic+accurate_rnd+full_chroma_int")
    chain.append("format=rgb24")
    return [
        *QUIET, "-i", str(src), "-map", "0:v:0", "-an", "-sn", "-dn",
        # passthrough: the fps filter already made the rate constant; the muxer must not pad or drop.
        "-vf", ",".join(chain), "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1",
    ]


def audio_input_args(src: Path, start_seconds: float) -> list[str]:
    """Input arguments for an audio source, seeking to ``start_seconds`` (accurate seek)."""
    seek = ["-ss", f"{start_seconds:.6f}"] if start_seconds > 0 else []
    return [*seek, "-i", str(src)]


# ProRes flavours: (prores_ks profile, pixel format). 422 HQ is what editors ingest without a
# transcode; 4444 keeps full chroma for grading.
PRORES = {"prores": ("3", "yuv422p10le"), "prores4444": ("4", "yuv444p10le")}
VIDEO_CODECS = ("h264", *PRORES)


def encode_video_args(
    frames_pattern: str,
    fps: Fraction,
    out: Path,
    crf: int,
    preset: str,
    audio: tuple[Path, float, bool] | None,
    duration: float,
    codec: str = "h264",
    timecode: str | None = None,
) -> list[str]:
    """Arguments that encode a numbered PNG sequence (``dir/%06d.png``) to MP4 or MOV.

    codec: "h264" (yuv420p, crf/preset, ``+faststart``), "prores" (ProRes 422 HQ, yuv422p10le)
    or "prores4444" (yuv444p10le); the container follows ``out``'s suffix (.mp4 or .mov).
    audio: (source, start seconds, copy codec?) or None, cut to ``duration`` seconds, the video's
    length; ProRes gets 24-bit PCM, as editors expect beside it. ``timecode`` (``HH:MM:SS:FF``)
    becomes the file's start timecode (a tmcd track). BT.709 tags throughout.
    """
    mov = Path(out).suffix.lower() == ".mov"
    args = [*QUIET, "-y", "-framerate", fps_arg(fps), "-start_number", "0", "-i", frames_pattern]
    if audio is not None:
        args += audio_input_args(audio[0], audio[1])
    args += ["-map", "0:v:0"]
    if audio is not None:
        args += ["-map", "1:a:0?"]
    if codec in PRORES:
        profile, pix_fmt = PRORES[codec]
        args += [
            "-vf", f"scale=out_color_matrix=bt709:out_range=tv:flags=bicubic+accurate_rnd+full_chroma_int,"
                   f"format={pix_fmt},setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv",
            "-c:v", "prores_ks", "-profile:v", profile, "-pix_fmt", pix_fmt, "-vendor", "apl0", *BT709,
            "-r", fps_arg(fps),
        ]
    else:
        args += [
            "-vf", "scale=out_color_matrix=bt709:out_range=tv:flags=bicubic+accurate_rnd+full_chroma_int,"
                   "format=yuv420p,setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv",
            "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p", *BT709,
            "-r", fps_arg(fps),
        ]
    if audio is not None:
        if codec in PRORES:
            args += ["-c:a", "pcm_s24le"]
        else:
            args += ["-c:a", "copy"] if audio[2] else ["-c:a", "aac", "-b:a", "192k"]
        args += ["-t", f"{duration:.6f}"]
    if timecode:
        args += ["-timecode", timecode]
    args += ["-movflags", "+faststart", "-f", "mov" if mov else "mp4", str(out)]
    return args


def encode_gif_args(frames_pattern: str, fps: Fraction, out: Path, max_width: int = 480) -> list[str]:
    """Arguments for a looping GIF through a palette made from the clip itself.

    GIF stores 1/100 s delays, so very high rates are capped at 50 fps; frames wider than
    ``max_width`` are scaled down to keep the file a sensible size.
    """
    rate = min(fps, Fraction(50))
    graph = (
        f"[0:v]fps={fps_arg(rate)},scale='min({max_width},iw)':-2:flags=lanczos,split[a][b];"
        "[a]palettegen=stats_mode=diff:max_colors=256[p];"
        "[b][p]paletteuse=dither=sierra2_4a:diff_mode=rectangle"
    )
    return [*QUIET, "-y", "-framerate", fps_arg(fps), "-start_number", "0", "-i", frames_pattern,
            "-filter_complex", graph, "-loop", "0", "-f", "gif", str(out)]


def encode_webp_args(frames_pattern: str, fps: Fraction, out: Path, quality: int = 82) -> list[str]:
    """Arguments for a looping animated WebP."""
    return [*QUIET, "-y", "-framerate", fps_arg(fps), "-start_number", "0", "-i", frames_pattern,
            "-c:v", "libwebp_anim", "-lossless", "0", "-quality", str(quality), "-loop", "0",
            "-pix_fmt", "yuva420p", "-f", "webp", str(out)]


def run_ffmpeg(args: list[str], what: str) -> None:
    """Run the bundled ffmpeg with ``args`` (a list: no shell); MediaError with its last line on failure."""
    try:
        proc = subprocess.run([ffmpeg_exe(), *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, check=False)
    except OSError as exc:
        raise MediaError(f"cannot run ffmpeg for {what}: {exc.strerror}") from None
    if proc.returncode != 0:
        raise MediaError(f"{what}: ffmpeg failed: {last_line(proc.stderr)}")


def last_line(stderr: bytes) -> str:
    """The last non-empty line ffmpeg printed, which names the problem."""
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    if not lines:
        return "no message"
    # Drop ffmpeg's "[h264 @ 0x55d...]" context prefixes: addresses mean nothing to a user.
    return re.sub(r"^(\[[^\]]*\]\s*)+", "", lines[-1]) or lines[-1]
