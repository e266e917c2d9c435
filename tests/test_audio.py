"""The sound itself (pitch, pattern, timing of rendered WAVs) and the audio sink's behaviour.

Sound is checked by writing WAV files, reading them back with ``wave`` and measuring them with
estimators written here, independent of the synthesis code. The sink is driven with real
external commands as its player: a shell command that captures what it is fed into WAV files,
a slow one that sleeps, SoX pointed at a sound card that does not exist.
"""

from __future__ import annotations

import asyncio
import io
import logging
import math
import os
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from cadence.errors import ConfigurationError
from cadence.events import Alert, Metrics
from cadence.sinks import Sink
from cadence.sinks.audio import AudioSink, find_player, wav_duration_s
from cadence.sinks.tones import (
    render_click_block,
    render_cue,
    render_metronome,
    wav_bytes,
    write_wav,
)

FS_HZ = 22050
# The sound design from issue 5: rising 880/1175 Hz beeps for low cadence, a 440 Hz double
# knock for overstriding, one soft tone (660 Hz) for the all clear.
DESIGN_PITCHES_HZ = {
    "low_cadence": [880.0, 1175.0],
    "overstride": [440.0, 440.0],
    "all_clear": [660.0],
}
Signal = NDArray[np.float64]


def read_wav(source: Path | bytes) -> tuple[Signal, int]:
    handle = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    with wave.open(handle, "rb") as wav:
        assert wav.getnchannels() == 1
        assert wav.getsampwidth() == 2
        fs = wav.getframerate()
        raw = wav.readframes(wav.getnframes())
    return np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0, fs


def sounding_segments(x: Signal, fs: int, *, level: float = 0.02) -> list[Signal]:
    """Stretches louder than ``level`` (2 ms peak envelope), split at 10 ms of quiet."""
    window = max(1, round(0.002 * fs))
    padded = np.concatenate([np.abs(x), np.zeros(window)])
    envelope = np.array([padded[i : i + window].max() for i in range(x.size)])
    loud = np.flatnonzero(envelope > level)
    if loud.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(loud) > round(0.010 * fs))
    starts = np.concatenate([[loud[0]], loud[breaks + 1]])
    ends = np.concatenate([loud[breaks], [loud[-1]]])
    return [x[s : e + 1] for s, e in zip(starts, ends, strict=True)]


def fft_pitch_hz(segment: Signal, fs: int) -> float:
    n_fft = 1 << 17
    spectrum = np.abs(np.fft.rfft(segment * np.hanning(segment.size), n_fft))
    return float(np.argmax(spectrum) * fs / n_fft)


def zero_crossing_pitch_hz(segment: Signal, fs: int) -> float:
    """Frequency from the time between the first and last upward zero crossing."""
    signs = np.signbit(segment)
    ups = np.flatnonzero(signs[:-1] & ~signs[1:])
    # Interpolate each crossing between its two samples for sub-sample precision.
    exact = ups + segment[ups] / (segment[ups] - segment[ups + 1])
    return float((exact.size - 1) * fs / (exact[-1] - exact[0]))


def click_onsets_s(x: Signal, fs: int) -> Signal:
    """Onsets: first sample above 10 % of the peak after at least 50 ms below it."""
    loud = np.flatnonzero(np.abs(x) > 0.1 * np.abs(x).max())
    starts = loud[np.concatenate([[True], np.diff(loud) > round(0.050 * fs)])]
    return np.asarray(starts / fs, dtype=np.float64)


def pitch_pattern(x: Signal, fs: int) -> list[float]:
    return [fft_pitch_hz(seg, fs) for seg in sounding_segments(x, fs)]


@pytest.mark.parametrize("kind", ["low_cadence", "overstride", "all_clear"])
def test_cue_pitches_match_the_design(kind: str, tmp_path: Path) -> None:
    path = tmp_path / f"{kind}.wav"
    write_wav(path, render_cue(kind), FS_HZ)  # type: ignore[arg-type]
    x, fs = read_wav(path)
    segments = sounding_segments(x, fs)
    expected = DESIGN_PITCHES_HZ[kind]
    assert len(segments) == len(expected)
    for segment, pitch in zip(segments, expected, strict=True):
        assert fft_pitch_hz(segment, fs) == pytest.approx(pitch, rel=0.01)
        assert zero_crossing_pitch_hz(segment, fs) == pytest.approx(pitch, rel=0.01)


@pytest.mark.parametrize("kind", ["low_cadence", "overstride", "all_clear"])
def test_cues_are_short_unclipped_and_fade_in_and_out(kind: str, tmp_path: Path) -> None:
    path = tmp_path / f"{kind}.wav"
    write_wav(path, render_cue(kind), FS_HZ)  # type: ignore[arg-type]
    x, fs = read_wav(path)
    assert 0.1 < x.size / fs < 0.4
    peak = np.abs(x).max()
    assert 0.2 < peak < 32767 / 32768  # audible, and no sample at full scale
    # Fades: the cue starts and ends at silence and takes more than a millisecond to reach a
    # quarter of its peak (a tone switched on abruptly gets there within a quarter period).
    edge = round(0.001 * fs)
    assert abs(x[0]) < 0.01 * peak
    assert abs(x[-1]) < 0.01 * peak
    assert np.abs(x[:edge]).max() < 0.25 * peak
    assert np.abs(x[-edge:]).max() < 0.25 * peak


def test_cues_are_told_apart_by_pitch_and_pattern() -> None:
    patterns = {
        kind: tuple(round(p / 10) for p in pitch_pattern(render_cue(kind), FS_HZ))  # type: ignore[arg-type]
        for kind in DESIGN_PITCHES_HZ
    }
    assert len(set(patterns.values())) == 3
    low, knock, clear = patterns["low_cadence"], patterns["overstride"], patterns["all_clear"]
    assert low[1] > low[0]  # rising
    assert max(knock) < min(low)  # lower
    assert len(clear) == 1
    # The all clear is soft next to the alerts.
    assert np.abs(render_cue("all_clear")).max() < 0.5 * np.abs(render_cue("low_cadence")).max()


@pytest.mark.parametrize("spm", [150.0, 170.0, 180.5, 200.0])
def test_metronome_beats_are_within_2_ms_of_the_interval(spm: float, tmp_path: Path) -> None:
    path = tmp_path / "metronome.wav"
    duration_s = 20.0
    write_wav(path, render_metronome(spm, duration_s, FS_HZ), FS_HZ)
    x, fs = read_wav(path)
    assert x.size == duration_s * fs
    onsets = click_onsets_s(x, fs)
    interval_s = 60.0 / spm
    assert onsets.size == math.ceil(duration_s / interval_s)  # beats at k intervals in [0, 20 s)
    assert np.abs(np.diff(onsets) - interval_s).max() <= 0.002
    # No drift: beat k is at k intervals from the first, not just one interval from the last.
    assert np.abs(onsets - np.arange(onsets.size) * interval_s).max() <= 0.002


def test_click_track_blocks_join_into_the_whole_track() -> None:
    rng = np.random.default_rng(5)
    whole = render_metronome(173.3, 6.0, FS_HZ)
    sizes = rng.integers(1, 3000, size=400)
    blocks: list[Signal] = []
    start = 0
    while start < whole.size:
        n = int(min(sizes[len(blocks) % sizes.size], whole.size - start))
        blocks.append(
            render_click_block(spm=173.3, origin_sample=0, start_sample=start, n_samples=n)
        )
        start += n
    np.testing.assert_array_equal(np.concatenate(blocks), whole)


def test_wav_written_to_path_and_file_object_is_the_same(tmp_path: Path) -> None:
    cue = render_cue("overstride")
    write_wav(tmp_path / "a.wav", cue, FS_HZ)
    write_wav(str(tmp_path / "b.wav"), cue, FS_HZ)
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()
    assert (tmp_path / "a.wav").read_bytes() == wav_bytes(cue, FS_HZ)


@pytest.mark.parametrize("spm", [0.0, 10.0, 400.0])
def test_metronome_rate_out_of_range_is_refused(spm: float) -> None:
    with pytest.raises(ConfigurationError, match="metronome rate"):
        render_metronome(spm, 1.0)
    with pytest.raises(ConfigurationError, match="metronome rate"):
        AudioSink(metronome_spm=spm)


def test_sink_arguments_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="queue_size"):
        AudioSink(queue_size=0)
    with pytest.raises(ConfigurationError, match="sample_rate_hz"):
        AudioSink(sample_rate_hz=1000)
    with pytest.raises(ConfigurationError, match="player"):
        AudioSink(player=())
    with pytest.raises(ConfigurationError, match="player_grace_s"):
        AudioSink(player_grace_s=0.0)
    with pytest.raises(ConfigurationError, match="speech_timeout_s"):
        AudioSink(speech_timeout_s=math.nan)


# --- the sink, with real commands as players -------------------------------------------------


def capture_player(directory: Path) -> tuple[str, ...]:
    """A player that saves each WAV it is fed, named by the time it started (so in order)."""
    directory.mkdir(exist_ok=True)
    return ("sh", "-c", 'exec cat > "$0/$(date +%s%N).wav"', str(directory))


def captured(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.wav"), key=lambda p: int(p.stem))


async def wait_until(condition: object, timeout_s: float = 20.0) -> None:
    """Poll ``condition()`` until it is true (the sink works in its own task)."""
    assert callable(condition)
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.01)


def alert(kind: str, state: str = "raised", message: str = "") -> Alert:
    return Alert(t_s=1.0, kind=kind, state=state, message=message)  # type: ignore[arg-type]


async def handle(sink: AudioSink, *alerts: Alert) -> None:
    """Publish the alerts and wait until the sink has dealt with every one of them."""
    done = sink.handled + len(alerts)
    for item in alerts:
        sink.publish(item)
    await wait_until(lambda: sink.handled == done)


async def test_alerts_reach_the_player_as_their_cues(tmp_path: Path) -> None:
    out = tmp_path / "played"
    async with AudioSink(player=capture_player(out), speak=False) as sink:
        assert isinstance(sink, Sink)
        sink.publish(alert("low_cadence"))
        sink.publish(Metrics(t_s=1.0, activity="running"))  # not for the audio sink
        sink.publish(alert("overstride"))
        sink.publish(alert("low_cadence", "cleared"))
        await wait_until(lambda: sink.handled == 3)
    assert sink.silent_reason is None
    assert sink.dropped == 0
    files = captured(out)
    assert len(files) == 4  # the start-up probe, then one cue per alert
    probe, *cues = (read_wav(f) for f in files)
    assert np.abs(probe[0]).max() == 0.0
    for (x, fs), kind in zip(cues, ["low_cadence", "overstride", "all_clear"], strict=True):
        assert pitch_pattern(x, fs) == pytest.approx(DESIGN_PITCHES_HZ[kind], rel=0.01)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
async def test_raised_alert_is_spoken_after_its_cue(tmp_path: Path) -> None:
    out = tmp_path / "played"
    async with AudioSink(player=capture_player(out), speak=True) as sink:
        sink.publish(alert("overstride", message="Shorter steps, land under your hips"))
        await wait_until(lambda: sink.handled == 1)
    files = captured(out)
    assert len(files) == 3  # probe, cue, speech
    cue, fs = read_wav(files[1])
    assert pitch_pattern(cue, fs) == pytest.approx(DESIGN_PITCHES_HZ["overstride"], rel=0.01)
    with wave.open(str(files[2]), "rb") as speech_wav:
        fs = speech_wav.getframerate()
        speech = np.frombuffer(speech_wav.readframes(10**7), dtype="<i2") / 32768.0
    assert speech.size / fs > 1.0  # a sentence, not a blip
    assert np.sqrt(np.mean(speech**2)) > 0.01


async def test_metronome_stream_keeps_time_and_changes_rate(tmp_path: Path) -> None:
    out = tmp_path / "played"

    def seconds_streamed() -> float:
        files = captured(out)
        return (files[-1].stat().st_size - 44) / (2 * FS_HZ) if len(files) == 2 else 0.0

    async with AudioSink(player=capture_player(out), speak=False, metronome_spm=150.0) as sink:
        await wait_until(lambda: seconds_streamed() > 3.0)
        sink.set_metronome(180.5)
        assert sink.metronome_spm == 180.5
        await wait_until(lambda: seconds_streamed() > 7.0)
        sink.set_metronome(None)
    assert sink.silent_reason is None
    track = captured(out)[1].read_bytes()[44:]
    x = np.frombuffer(track[: len(track) // 2 * 2], dtype="<i2") / 32768.0
    intervals = np.diff(click_onsets_s(x, FS_HZ))
    slow, fast = 60.0 / 150.0, 60.0 / 180.5
    is_slow = np.abs(intervals - slow) <= 0.002
    is_fast = np.abs(intervals - fast) <= 0.002
    assert np.all(is_slow | is_fast)
    n_slow = int(is_slow.sum())
    assert n_slow >= 6
    assert is_fast.sum() >= 8
    assert np.all(is_slow[:n_slow])  # every slow beat came before the change, none after


async def test_publish_does_not_wait_for_a_slow_player(tmp_path: Path) -> None:
    started = tmp_path / "player.pid"
    slow_player = ("sh", "-c", 'echo $$ > "$0"; exec sleep 60', str(started))
    # A grace long enough that the player is still busy when the test looks.
    async with AudioSink(
        player=slow_player, speak=False, queue_size=4, player_grace_s=120.0
    ) as sink:
        await wait_until(started.exists)  # the player is busy with the start-up probe
        for _ in range(10):
            sink.publish(alert("low_cadence"))
        # All ten returned while the player is still busy: four wait, six are counted as dropped.
        assert sink.handled == 0
        assert sink.dropped == 6
        pid = int(started.read_text())
        os.kill(pid, 0)  # still playing
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # and stopped with the sink


def audio_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "cadence.sinks.audio" and r.levelno == logging.WARNING
    ]


@pytest.mark.skipif(shutil.which("sox") is None, reason="SoX is not installed")
async def test_no_sound_card_gives_one_warning_and_the_sink_keeps_taking_alerts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    no_card = ("sox", "-q", "-t", "wav", "-", "-t", "alsa", "hw:99,0")
    async with AudioSink(player=no_card, speak=False, metronome_spm=170.0) as sink:
        await handle(sink, *(alert(k) for k in ["low_cadence", "overstride"] * 2))
        sink.set_metronome(175.0)
        await handle(sink, alert("low_cadence", "cleared"))
        assert sink.handled == 5
    assert sink.played == 0
    assert sink.dropped == 0
    warnings = audio_warnings(caplog)
    assert len(warnings) == 1
    assert "sox exited with" in warnings[0]
    assert sink.silent_reason is not None
    assert sink.silent_reason in warnings[0]  # the warning says why


async def test_missing_player_command_gives_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with AudioSink(player=(str(tmp_path / "no-such-player"),), speak=False) as sink:
        sink.publish(alert("overstride"))
        sink.publish(alert("overstride", "cleared"))
        await wait_until(lambda: sink.handled == 2)
    warnings = audio_warnings(caplog)
    assert len(warnings) == 1
    assert "cannot start" in warnings[0]
    assert "no-such-player" in warnings[0]


async def test_no_player_or_espeak_installed_warns_once_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: nothing is installed
    async with AudioSink(speak=True, metronome_spm=180.0) as sink:
        assert sink.player is None
        for _ in range(3):
            sink.publish(alert("low_cadence", message="Cadence low"))
        await wait_until(lambda: sink.handled == 3)
    warnings = audio_warnings(caplog)
    assert len(warnings) == 2
    assert any("no audio player installed" in w and "aplay" in w for w in warnings)
    assert any("espeak-ng not found" in w for w in warnings)


@pytest.mark.skipif(
    not Path("/dev/snd").exists() or find_player() is None,
    reason="no sound card (/dev/snd) or no audio player on this machine",
)
async def test_plays_through_this_machines_sound_card() -> None:
    async with AudioSink(speak=False) as sink:
        sink.publish(alert("low_cadence"))
        await wait_until(lambda: sink.handled == 1)
    assert sink.silent_reason is None
    assert sink.played == 2  # the start-up probe and the cue


def hung_player(directory: Path) -> tuple[tuple[str, ...], Path]:
    """A player script that never finishes, and the file its child's pid is written to.

    It waits on a ``sleep 60`` it started, so stopping it must take its process group.
    """
    directory.mkdir(exist_ok=True)
    pid_file = directory / "sleep.pid"
    script = directory / "hung-player"
    script.write_text(f'#!/bin/sh\nsleep 60 &\necho $! > "{pid_file}"\nwait\n')
    script.chmod(0o755)
    return (str(script),), pid_file


def alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def test_a_hung_player_is_stopped_with_one_warning_and_alerts_keep_draining(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    player, pid_file = hung_player(tmp_path)
    async with AudioSink(player=player, speak=False, player_grace_s=0.5) as sink:
        await wait_until(pid_file.exists)  # the player hangs on the start-up probe
        pid = int(pid_file.read_text())
        for kind in ["low_cadence", "overstride", "low_cadence"]:
            sink.publish(alert(kind))
        assert sink.handled == 0  # publish returned while the player hangs
        await wait_until(lambda: sink.handled == 3)
        assert not alive(pid)  # the player's child went with it
        await handle(sink, alert("low_cadence", "cleared"))
    assert sink.dropped == 0
    assert sink.played == 0
    warnings = audio_warnings(caplog)
    assert len(warnings) == 1
    assert "hung-player did not finish a sound within 0.5 s" in warnings[0]
    assert "player_grace_s=0.5 s" in warnings[0]
    assert not alive(pid)


async def test_a_cue_gets_its_duration_plus_the_grace_to_play(tmp_path: Path) -> None:
    # A player that takes 0.3 s longer than the sound: within a 1 s grace, so it plays.
    out = tmp_path / "played"
    out.mkdir()
    slow = ("sh", "-c", 'cat > "$0/$(date +%s%N).wav"; sleep 0.3', str(out))
    async with AudioSink(player=slow, speak=False, player_grace_s=1.0) as sink:
        sink.publish(alert("overstride"))
        await wait_until(lambda: sink.handled == 1)
    assert sink.silent_reason is None
    assert sink.played == 2


async def test_a_hung_metronome_player_is_stopped_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # It takes the start-up probe, then never reads the click stream.
    directory = tmp_path / "player"
    directory.mkdir()
    pid_file = directory / "sleep.pid"
    script = directory / "stuck-player"
    script.write_text(
        f'#!/bin/sh\nif [ -e "{pid_file}" ]; then sleep 60 & echo $! > "{pid_file}.2"; wait;'
        f' fi\ncat > /dev/null\ntouch "{pid_file}"\n'
    )
    script.chmod(0o755)
    async with AudioSink(
        player=(str(script),), speak=False, metronome_spm=170.0, player_grace_s=0.5
    ) as sink:
        await wait_until(lambda: sink.silent_reason is not None)
        pid = int(Path(f"{pid_file}.2").read_text())
        sink.publish(alert("low_cadence"))
        await wait_until(lambda: sink.handled == 1)
    warnings = audio_warnings(caplog)
    assert len(warnings) == 1
    assert "stuck-player hung on the metronome stream (player_grace_s=0.5 s)" in warnings[0]
    assert not alive(pid)


async def test_a_hung_speech_command_turns_speech_off_and_cues_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "played"
    async with AudioSink(
        player=capture_player(out),
        speak=True,
        speech_command=("sleep", "60"),
        speech_timeout_s=0.3,
    ) as sink:
        sink.publish(alert("low_cadence", message="Cadence low"))
        sink.publish(alert("overstride", message="Overstriding"))
        await wait_until(lambda: sink.handled == 2)
    assert sink.speech is None
    assert sink.silent_reason is None
    assert len(captured(out)) == 3  # probe and two cues, no speech
    warnings = audio_warnings(caplog)
    assert len(warnings) == 1
    assert "speech_timeout_s=0.3 s" in warnings[0]


def test_wav_duration_comes_from_the_format_and_size_not_the_frame_count() -> None:
    one_second = wav_bytes(np.zeros(FS_HZ), FS_HZ)
    assert wav_duration_s(one_second) == pytest.approx(1.0, abs=0.01)
    # A streamed WAV (espeak-ng --stdout) carries a placeholder data size.
    streamed = one_second[:40] + (0x7FFFFFFF).to_bytes(4, "little") + one_second[44:]
    assert wav_duration_s(streamed) == pytest.approx(1.0, abs=0.01)
    # Not a WAV: as long as it would be at 8 kHz 16-bit mono, the longest plausible.
    assert wav_duration_s(b"\x01" * 32000) == pytest.approx(2.0)
