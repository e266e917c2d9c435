"""The audio sink: a cue for every alert, an optional spoken message, and a metronome.

Sound is the runner's main channel, so this sink must never hold up the pipeline: ``publish``
only puts an alert into a bounded queue (what overflows is counted in ``dropped``) and a named
background task renders and plays it.

Playback goes through an external player that reads a WAV file on its standard input, started
with :func:`asyncio.create_subprocess_exec` so the event loop never waits on the sound card.
Unless ``player`` names one, the first of PipeWire's ``pw-play``, PulseAudio's ``paplay``,
ALSA's ``aplay`` and SoX's ``play`` found on ``PATH`` is used: every Linux install (a Raspberry
Pi included) has one of them, and none needs a Python audio binding. At start the sink plays
20 ms of silence; if there is no player, or it fails (no sound card, no sound server), the sink
logs ONE warning naming why and keeps taking alerts silently for the rest of the run. A player
that hangs counts as failing: each sound gets its duration + ``player_grace_s`` to finish (the
metronome stream: ``player_grace_s`` to take each block), after which the player and whatever
it started are killed, so a stuck sound server never silences the later alerts unannounced.
Spoken messages are rendered by ``espeak-ng --stdout`` and played the same way; without
espeak-ng, or when it fails or takes longer than ``speech_timeout_s``, the sink warns once and
plays cues only.

The metronome streams an endless click track into one long-running player. Beat k sits at
sample ``origin + round(k * 60 / spm * fs)`` of that stream, so the sound card's clock, not the
event loop, times the beats; the stream is written in short blocks, block n due at
``start + n * block_s`` on the monotonic clock minus a small lead, so nothing drifts.
:meth:`AudioSink.set_metronome` switches it on, off or to another rate at run time.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import math
import os
import shutil
import signal
import wave
from collections.abc import Sequence
from typing import Self

import numpy as np

from cadence.errors import ConfigurationError
from cadence.events import Alert, PipelineOutput
from cadence.sinks.tones import (
    CueKind,
    beat_interval_samples,
    check_metronome_spm,
    check_sample_rate,
    click_onsets,
    pcm16,
    render_click_block,
    render_cue,
    wav_bytes,
    wav_stream_header,
)

logger = logging.getLogger(__name__)

# Players that read a WAV on standard input, in order of preference.
PLAYER_CANDIDATES: tuple[tuple[str, ...], ...] = (
    ("pw-play", "-"),
    ("paplay",),
    ("aplay", "-q", "-"),
    ("play", "-q", "-t", "wav", "-"),
)
SPEECH_COMMAND: tuple[str, ...] = ("espeak-ng", "--stdout")

# The metronome stream is written this far ahead of real time: enough to ride out a busy event
# loop, short enough that switching the rate is heard at once.
_METRONOME_LEAD_S = 0.15
_METRONOME_BLOCK_S = 0.05
_PROBE_S = 0.02
# For a sound whose header cannot be read: its length as the slowest common format, 8 kHz
# 16-bit mono, which overestimates the duration of any real one.
_FALLBACK_BYTES_PER_S = 16000


def find_player() -> tuple[str, ...] | None:
    """The first of :data:`PLAYER_CANDIDATES` installed on this machine, or ``None``."""
    for argv in PLAYER_CANDIDATES:
        path = shutil.which(argv[0])
        if path is not None:
            return (path, *argv[1:])
    return None


def _stderr_tail(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines()]
    lines = [line for line in lines if line]
    return lines[-1] if lines else "no message"


async def _start(argv: Sequence[str], *, capture_stdout: bool) -> asyncio.subprocess.Process:
    # Its own session, so that stopping it also stops whatever it started (a wrapper script's
    # children would otherwise hold the pipes open).
    return await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE if capture_stdout else asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """Kill a player started by :func:`_start`, with its children, and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    await proc.wait()


def wav_duration_s(wav: bytes) -> float:
    """How long a WAV sounds, from its format and size (the header's frame count may be a
    placeholder in a streamed WAV, as espeak-ng writes it)."""
    try:
        with wave.open(io.BytesIO(wav), "rb") as reader:
            bytes_per_s = reader.getframerate() * reader.getsampwidth() * reader.getnchannels()
    except (wave.Error, EOFError):
        bytes_per_s = 0
    return len(wav) / (bytes_per_s if bytes_per_s > 0 else _FALLBACK_BYTES_PER_S)


async def _run(
    argv: Sequence[str], stdin_bytes: bytes, *, timeout_s: float
) -> tuple[int, bytes, bytes]:
    """Run a command fed ``stdin_bytes``; kill it on timeout (TimeoutError) or cancellation."""
    proc = await _start(argv, capture_stdout=True)
    try:
        async with asyncio.timeout(timeout_s):
            out, err = await proc.communicate(stdin_bytes)
    except BaseException:
        await _stop(proc)
        raise
    assert proc.returncode is not None
    return proc.returncode, out, err


class AudioSink:
    """Alert cues, spoken messages and a metronome through the machine's audio player.

    Parameters
    ----------
    metronome_spm
        Start with the metronome on at this rate (steps per minute); ``None`` leaves it off.
    speak
        Speak each raised alert's message after its cue (needs espeak-ng).
    cue_on_clear
        Play the soft "all clear" cue when an alert is cleared.
    sample_rate_hz
        Sample rate of the cues and the click track.
    player
        Command that plays a WAV read from its standard input, e.g. ``("aplay", "-q", "-")``;
        ``None`` picks the first installed of :data:`PLAYER_CANDIDATES`.
    speech_command
        Command that reads text on standard input and writes a WAV to standard output.
    queue_size
        Alerts waiting to be played; more are dropped and counted in ``dropped``.
    player_grace_s
        Time a player gets beyond a sound's duration to finish it (and the metronome stream to
        take a block); a player that overruns it is killed and the sink goes silent.
    speech_timeout_s
        Time the speech command gets to render a message; overrun, spoken messages go off.
    """

    def __init__(
        self,
        *,
        metronome_spm: float | None = None,
        speak: bool = True,
        cue_on_clear: bool = True,
        sample_rate_hz: int = 22050,
        player: Sequence[str] | None = None,
        speech_command: Sequence[str] = SPEECH_COMMAND,
        queue_size: int = 16,
        player_grace_s: float = 3.0,
        speech_timeout_s: float = 10.0,
    ) -> None:
        if metronome_spm is not None:
            check_metronome_spm(metronome_spm)
        check_sample_rate(sample_rate_hz)
        if player is not None and not player:
            raise ConfigurationError("player must be a non-empty command, or None to find one")
        if not speech_command:
            raise ConfigurationError("speech_command must be a non-empty command")
        if queue_size < 1:
            raise ConfigurationError(f"queue_size must be at least 1, got {queue_size}")
        for name, value in (
            ("player_grace_s", player_grace_s),
            ("speech_timeout_s", speech_timeout_s),
        ):
            if not (math.isfinite(value) and value > 0):
                raise ConfigurationError(f"{name} must be a number of seconds > 0, got {value!r}")
        self._player_grace_s = player_grace_s
        self._speech_timeout_s = speech_timeout_s
        self._metronome_spm = metronome_spm
        self._speak = speak
        self._cue_on_clear = cue_on_clear
        self._fs_hz = sample_rate_hz
        self._player_arg = tuple(player) if player is not None else None
        self._speech_command = tuple(speech_command)
        self._queue: asyncio.Queue[Alert] = asyncio.Queue(maxsize=queue_size)
        self._cues: dict[CueKind, bytes] = {
            kind: wav_bytes(render_cue(kind, sample_rate_hz), sample_rate_hz)
            for kind in ("low_cadence", "overstride", "all_clear")
        }
        self._ready = asyncio.Event()
        self._metronome_changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.player: tuple[str, ...] | None = None
        self.speech: tuple[str, ...] | None = None
        self.silent_reason: str | None = None
        self.dropped = 0
        self.handled = 0
        self.played = 0

    @property
    def metronome_spm(self) -> float | None:
        return self._metronome_spm

    def set_metronome(self, spm: float | None) -> None:
        """Switch the metronome to ``spm`` steps per minute, or off with ``None``."""
        if spm is not None:
            check_metronome_spm(spm)
        self._metronome_spm = spm
        self._metronome_changed.set()

    def publish(self, item: PipelineOutput) -> None:
        """Queue an alert for its cue; other items are not for this sink. Returns at once."""
        if not isinstance(item, Alert):
            return
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self.dropped += 1

    async def __aenter__(self) -> Self:
        self.player = self._player_arg if self._player_arg is not None else find_player()
        if self.player is None:
            names = ", ".join(argv[0] for argv in PLAYER_CANDIDATES)
            self._go_silent(f"no audio player installed (looked for {names})")
        if self._speak:
            path = shutil.which(self._speech_command[0])
            if path is None:
                logger.warning(
                    "%s not found: alerts get their cue but no spoken message",
                    self._speech_command[0],
                )
            else:
                self.speech = (path, *self._speech_command[1:])
        self._tasks = [
            asyncio.create_task(self._play_alerts(), name="cadence-audio-alerts"),
            asyncio.create_task(self._run_metronome(), name="cadence-audio-metronome"),
        ]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for task in self._tasks:
            task.cancel()
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        # A task that failed (rather than being cancelled) is a bug: do not hide it.
        for result in results:
            if isinstance(result, Exception):
                raise result

    def _go_silent(self, reason: str) -> None:
        """Stop making sound for the rest of the run, saying why exactly once."""
        if self.silent_reason is None:
            self.silent_reason = reason
            logger.warning("audio off for this run, alerts continue silently: %s", reason)
            self._metronome_changed.set()

    async def _play(self, wav: bytes) -> None:
        if self.silent_reason is not None or self.player is None:
            return
        timeout_s = wav_duration_s(wav) + self._player_grace_s
        try:
            code, _, err = await _run(self.player, wav, timeout_s=timeout_s)
        except TimeoutError:
            self._go_silent(
                f"{self.player[0]} did not finish a sound within {timeout_s:.1f} s (its duration"
                f" + player_grace_s={self._player_grace_s:g} s): stopped it"
            )
            return
        except OSError as error:
            self._go_silent(f"cannot start {self.player[0]}: {error}")
            return
        if code != 0:
            self._go_silent(f"{self.player[0]} exited with {code}: {_stderr_tail(err)}")
        else:
            self.played += 1

    async def _render_speech(self, text: str) -> bytes | None:
        if self.speech is None or self.silent_reason is not None or not text:
            return None
        try:
            code, wav, err = await _run(
                self.speech, text.encode(), timeout_s=self._speech_timeout_s
            )
        except TimeoutError:
            code, wav = -1, b""
            err = f"no answer within speech_timeout_s={self._speech_timeout_s:g} s".encode()
        except OSError as error:
            code, wav, err = -1, b"", str(error).encode()
        if code != 0 or not wav:
            logger.warning(
                "%s failed (%s), spoken messages are off: %s",
                self.speech[0],
                code,
                _stderr_tail(err),
            )
            self.speech = None
            return None
        return wav

    async def _play_alerts(self) -> None:
        await self._play(wav_bytes(np.zeros(round(_PROBE_S * self._fs_hz)), self._fs_hz))
        self._ready.set()
        while True:
            alert = await self._queue.get()
            if alert.state == "raised":
                # Speech renders while the cue plays: the words follow the cue without a pause.
                _, speech = await asyncio.gather(
                    self._play(self._cues[alert.kind]), self._render_speech(alert.message)
                )
                if speech is not None:
                    await self._play(speech)
            elif self._cue_on_clear:
                await self._play(self._cues["all_clear"])
            self.handled += 1

    async def _run_metronome(self) -> None:
        await self._ready.wait()
        while True:
            self._metronome_changed.clear()
            spm, player = self._metronome_spm, self.player
            if spm is not None and player is not None and self.silent_reason is None:
                await self._stream_clicks(player, spm)
            else:
                await self._metronome_changed.wait()

    async def _stream_clicks(self, player: tuple[str, ...], spm: float) -> None:
        """Feed the click track to one player until the metronome is switched off."""
        try:
            proc = await _start(player, capture_stdout=False)
        except OSError as error:
            self._go_silent(f"cannot start {player[0]}: {error}")
            return
        assert proc.stdin is not None
        loop = asyncio.get_running_loop()
        block = round(_METRONOME_BLOCK_S * self._fs_hz)
        lead = round(_METRONOME_LEAD_S * self._fs_hz)
        origin = written = 0
        start_s = loop.time()
        stopped_reading = False
        try:
            try:
                proc.stdin.write(wav_stream_header(self._fs_hz))
                while self._metronome_spm is not None and self.silent_reason is None:
                    if self._metronome_spm != spm:
                        origin = _next_origin(
                            spm, self._metronome_spm, origin, written, self._fs_hz
                        )
                        spm = self._metronome_spm
                    samples = render_click_block(
                        spm=spm,
                        origin_sample=origin,
                        start_sample=written,
                        n_samples=block,
                        sample_rate_hz=self._fs_hz,
                    )
                    self._metronome_changed.clear()
                    proc.stdin.write(pcm16(samples))
                    # The pipe holds over a second of sound: a player that leaves it full for
                    # the grace period has stopped playing.
                    async with asyncio.timeout(self._player_grace_s):
                        await proc.stdin.drain()
                    written += block
                    due_s = start_s + (written - lead) / self._fs_hz
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout_at(due_s):
                            await self._metronome_changed.wait()
                proc.stdin.close()
            except (BrokenPipeError, ConnectionResetError):
                stopped_reading = True
            async with asyncio.timeout(_METRONOME_LEAD_S + self._player_grace_s):
                _, err = await proc.communicate()
        except TimeoutError:
            await _stop(proc)
            self._go_silent(
                f"{player[0]} hung on the metronome stream "
                f"(player_grace_s={self._player_grace_s:g} s): stopped it"
            )
            return
        except BaseException:
            await _stop(proc)
            raise
        if proc.returncode != 0:
            self._go_silent(f"{player[0]} exited with {proc.returncode}: {_stderr_tail(err)}")
        elif stopped_reading:
            # Restarting a player that quits at once would spawn processes in a busy loop.
            self._go_silent(f"{player[0]} stopped reading the metronome stream")


def _next_origin(old_spm: float, new_spm: float, origin: int, position: int, fs_hz: int) -> int:
    """Origin for a new rate: its first beat one new interval after the last beat played."""
    old_interval = beat_interval_samples(old_spm, fs_hz)
    lookback = math.ceil(old_interval) + 1
    past = click_onsets(
        spm=old_spm,
        origin_sample=origin,
        start_sample=max(origin, position - lookback),
        stop_sample=position,
        sample_rate_hz=fs_hz,
    )
    last_beat = int(past[-1]) if past.size else origin
    return max(position, last_beat + round(beat_interval_samples(new_spm, fs_hz)))
