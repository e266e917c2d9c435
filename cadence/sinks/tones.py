"""Sound synthesis for the audio sink: alert cues, the metronome click track, WAV encoding.

Pure numpy: no audio device, no asyncio. Samples are float64 in [-1, 1]; :func:`pcm16` turns
them into the 16-bit mono PCM that every player reads.

The cues are built to be told apart without looking: "cadence low" is two short *rising* beeps
(880 Hz then 1175 Hz, "step it up"), "overstride" a *lower* double knock (440 Hz, fast decay),
the "all clear" one soft 660 Hz tone. Each is under 400 ms and fades in and out over a few
milliseconds so the speaker does not click.
"""

from __future__ import annotations

import io
import math
import os
import struct
import wave
from dataclasses import dataclass
from os import PathLike
from typing import BinaryIO, Literal

import numpy as np
from numpy.typing import NDArray

from cadence.errors import ConfigurationError

Samples = NDArray[np.float64]
CueKind = Literal["low_cadence", "overstride", "all_clear"]

DEFAULT_SAMPLE_RATE_HZ = 22050
MIN_METRONOME_SPM = 30.0
MAX_METRONOME_SPM = 300.0

# Fades this long remove the clicks a tone makes when it starts or stops mid-cycle.
_FADE_S = 0.005
# Metronome click: a short decaying 1.5 kHz burst, loud and sharp-edged so it cuts through
# traffic noise and its onset is unambiguous.
_CLICK_HZ = 1500.0
_CLICK_S = 0.02
_CLICK_DECAY_S = 0.004
_CLICK_AMPLITUDE = 0.8


@dataclass(frozen=True, slots=True)
class Beep:
    """One tone of a cue: a sine starting at ``start_s`` that optionally decays (a knock)."""

    frequency_hz: float
    start_s: float
    duration_s: float
    amplitude: float
    decay_time_s: float | None = None


CUE_DESIGNS: dict[CueKind, tuple[Beep, ...]] = {
    "low_cadence": (
        Beep(880.0, 0.0, 0.09, 0.5),
        Beep(1175.0, 0.14, 0.09, 0.5),
    ),
    "overstride": (
        Beep(440.0, 0.0, 0.08, 0.7, decay_time_s=0.03),
        Beep(440.0, 0.15, 0.08, 0.7, decay_time_s=0.03),
    ),
    "all_clear": (Beep(660.0, 0.0, 0.18, 0.25),),
}


def check_sample_rate(sample_rate_hz: int) -> None:
    """Raise :class:`ConfigurationError` unless ``sample_rate_hz`` is a usable audio rate."""
    if not 8000 <= sample_rate_hz <= 96000:
        raise ConfigurationError(
            f"sample_rate_hz must be between 8000 and 96000, got {sample_rate_hz}"
        )


def check_metronome_spm(spm: float) -> None:
    """Raise :class:`ConfigurationError` unless ``spm`` is a usable metronome rate."""
    if not MIN_METRONOME_SPM <= spm <= MAX_METRONOME_SPM:
        raise ConfigurationError(
            f"metronome rate must be between {MIN_METRONOME_SPM:g} and "
            f"{MAX_METRONOME_SPM:g} steps/min, got {spm:g}"
        )


def render_beep(beep: Beep, sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ) -> Samples:
    """One beep on its own (from its start, ``duration_s`` long) with raised-cosine fades."""
    n = round(beep.duration_s * sample_rate_hz)
    t_s = np.arange(n) / sample_rate_hz
    tone = beep.amplitude * np.sin(2.0 * np.pi * beep.frequency_hz * t_s)
    if beep.decay_time_s is not None:
        tone *= np.exp(-t_s / beep.decay_time_s)
    n_fade = min(round(_FADE_S * sample_rate_hz), n // 2)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(n_fade) / n_fade)
    tone[:n_fade] *= ramp
    tone[n - n_fade :] *= ramp[::-1]
    return tone


def render_cue(kind: CueKind, sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ) -> Samples:
    """The cue for an alert kind (or the all clear), ready to play."""
    check_sample_rate(sample_rate_hz)
    beeps = CUE_DESIGNS[kind]
    end_s = max(b.start_s + b.duration_s for b in beeps)
    out = np.zeros(round(end_s * sample_rate_hz) + 1)
    for beep in beeps:
        tone = render_beep(beep, sample_rate_hz)
        start = round(beep.start_s * sample_rate_hz)
        out[start : start + tone.size] += tone
    return out


def _click(sample_rate_hz: int) -> Samples:
    n = round(_CLICK_S * sample_rate_hz)
    t_s = np.arange(n) / sample_rate_hz
    # Starting at sine phase 0 the burst opens without a DC step; the decay ends it near silence.
    return _CLICK_AMPLITUDE * np.sin(2.0 * np.pi * _CLICK_HZ * t_s) * np.exp(-t_s / _CLICK_DECAY_S)


def beat_interval_samples(spm: float, sample_rate_hz: int) -> float:
    """Samples between metronome beats (not rounded: beats are placed at rounded multiples)."""
    return 60.0 * sample_rate_hz / spm


def click_onsets(
    *, spm: float, origin_sample: int, start_sample: int, stop_sample: int, sample_rate_hz: int
) -> NDArray[np.int64]:
    """Beat onsets in ``[start_sample, stop_sample)`` of the track whose beat k is at
    ``origin_sample + round(k * 60 / spm * sample_rate_hz)`` (k ≥ 0).

    Every beat is placed from the origin, never from the previous beat, so rounding never
    accumulates: each interval is within one sample of 60/spm.
    """
    interval = beat_interval_samples(spm, sample_rate_hz)
    k_first = max(0, math.floor((start_sample - origin_sample) / interval) - 1)
    k_last = max(0, math.ceil((stop_sample - origin_sample) / interval) + 1)
    k = np.arange(k_first, k_last + 1)
    onsets = origin_sample + np.round(k * interval).astype(np.int64)
    return onsets[(onsets >= start_sample) & (onsets < stop_sample)]


def render_click_block(
    *,
    spm: float,
    origin_sample: int,
    start_sample: int,
    n_samples: int,
    sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ,
) -> Samples:
    """Samples ``[start_sample, start_sample + n_samples)`` of an endless click track.

    Blocks join seamlessly: concatenating consecutive blocks gives exactly the samples of one
    long render, so the live sink can stream the track in small pieces.
    """
    check_metronome_spm(spm)
    check_sample_rate(sample_rate_hz)
    click = _click(sample_rate_hz)
    stop = start_sample + n_samples
    out = np.zeros(n_samples)
    onsets = click_onsets(
        spm=spm,
        origin_sample=origin_sample,
        start_sample=start_sample - click.size + 1,
        stop_sample=stop,
        sample_rate_hz=sample_rate_hz,
    )
    for onset in onsets.tolist():
        lo = max(onset, start_sample)
        hi = min(onset + click.size, stop)
        out[lo - start_sample : hi - start_sample] = click[lo - onset : hi - onset]
    return out


def render_metronome(
    spm: float, duration_s: float, sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ
) -> Samples:
    """A click track at ``spm`` beats per minute, first beat at sample 0."""
    return render_click_block(
        spm=spm,
        origin_sample=0,
        start_sample=0,
        n_samples=round(duration_s * sample_rate_hz),
        sample_rate_hz=sample_rate_hz,
    )


def pcm16(samples: Samples) -> bytes:
    """Little-endian signed 16-bit PCM; anything beyond [-1, 1] is clipped, not wrapped."""
    scaled = np.round(np.clip(samples, -1.0, 1.0) * 32767.0)
    return scaled.astype("<i2").tobytes()


def write_wav(
    target: str | PathLike[str] | BinaryIO,
    samples: Samples,
    sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ,
) -> None:
    """Write mono 16-bit WAV to a path or a binary file object."""
    check_sample_rate(sample_rate_hz)
    destination = os.fspath(target) if isinstance(target, str | PathLike) else target
    with wave.open(destination, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate_hz)
        out.writeframes(pcm16(samples))


def wav_bytes(samples: Samples, sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ) -> bytes:
    """A whole WAV file in memory, for a player that reads it on its standard input."""
    buffer = io.BytesIO()
    write_wav(buffer, samples, sample_rate_hz)
    return buffer.getvalue()


def wav_stream_header(sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ) -> bytes:
    """A mono 16-bit WAV header for a stream of unknown length (PCM follows, open-ended).

    The sizes are set near the format's maximum, as espeak-ng does on its standard output;
    players read such a stream until it ends.
    """
    check_sample_rate(sample_rate_hz)
    data_bytes = 0x7FFF_F000
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        data_bytes + 36,
        b"WAVE",
        b"fmt ",
        16,
        1,  # PCM
        1,  # mono
        sample_rate_hz,
        sample_rate_hz * 2,
        2,
        16,
        b"data",
        data_bytes,
    )
