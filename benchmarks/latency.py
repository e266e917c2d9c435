"""Latency from the sample that completes a step to its outputs, in one run (issue 5).

A synthetic run (or a trace) is delivered in 20-sample BLE-sized chunks. For every chunk the
host time it arrived is noted; the pipeline then runs as in a live session, with a real
AudioSink (its queue; playback goes to a player that discards the sound), a real MqttSink to a
real mosquitto on loopback, and a subscriber on that broker. Measured:

(a) chunk arrival -> the contact (the step's own metrics: on, off, GCT) published to the sinks,
    and -> the per-second Metrics when the chunk closes a second;
(b) chunk arrival -> an alert queued in the audio sink, and -> the same alert received by an
    MQTT subscriber on loopback.

Real alerts are rare (hysteresis, cooldown), so besides the real AlertRules a probe rule raises
an alert every second; it travels the same path. Target: p99 <= 50 ms.

    python benchmarks/latency.py [--minutes 5] [--speed 10] [--trace FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Self

import aiomqtt
import numpy as np

from cadence.alerts import AlertRules
from cadence.contacts import Contact
from cadence.events import Alert, Metrics, PipelineOutput, SourceEvent, SourceInfo
from cadence.pipeline import run_pipeline
from cadence.profile import RunnerProfile
from cadence.sinks.audio import AudioSink
from cadence.sinks.mqtt import MqttSink
from sim.replay import TraceReplay
from sim.synthetic import RunnerConfig, simulate, write_run

TARGET_P99_MS = 50.0
RUNNER = "latency"


class TimedSource:
    """Wraps a source and notes the host time each event arrived (before it is processed)."""

    def __init__(self, inner: TraceReplay) -> None:
        self.inner = inner
        self.arrived_at = 0.0

    @property
    def info(self) -> SourceInfo:
        return self.inner.info

    async def __aenter__(self) -> Self:
        await self.inner.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.inner.__aexit__(*exc_info)

    def __aiter__(self) -> AsyncIterator[SourceEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[SourceEvent]:
        async for event in self.inner:
            self.arrived_at = time.perf_counter()
            yield event


class Probe:
    """A sink placed after the audio sink: when it sees an item, the audio queue has it."""

    def __init__(self, source: TimedSource) -> None:
        self.source = source
        self.contact_ms: list[float] = []
        self.metrics_ms: list[float] = []
        self.alert_ms: list[float] = []
        self.alert_arrivals: dict[tuple[float, str], float] = {}

    def publish(self, item: PipelineOutput) -> None:
        elapsed_ms = (time.perf_counter() - self.source.arrived_at) * 1000.0
        if isinstance(item, Contact):
            self.contact_ms.append(elapsed_ms)
        elif isinstance(item, Metrics):
            self.metrics_ms.append(elapsed_ms)
        elif isinstance(item, Alert):
            self.alert_ms.append(elapsed_ms)
            self.alert_arrivals[(round(item.t_s, 6), item.message)] = self.source.arrived_at

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class ProbeRules:
    """The real rules, plus one probe alert per second so there are enough to take a p99."""

    def __init__(self, real: AlertRules) -> None:
        self.real = real
        self.real_alerts = 0

    def update(self, metrics: Metrics) -> list[Alert]:
        alerts = self.real.update(metrics)
        self.real_alerts += len(alerts)
        probe = Alert(metrics.t_s, "low_cadence", "raised", f"probe {metrics.t_s:g}")
        return [*alerts, probe]


async def subscribe(
    port: int, received: dict[tuple[float, str], float], ready: asyncio.Event
) -> None:
    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.subscribe(f"cadence/{RUNNER}/alerts", qos=1)
        ready.set()
        async for message in client.messages:
            body = json.loads(bytes(message.payload))  # type: ignore[arg-type]
            received[(round(float(body["t_s"]), 6), str(body["message"]))] = time.perf_counter()


def start_mosquitto(directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    executable = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    config = directory / "mosquitto.conf"
    # As root, mosquitto would otherwise switch to the "mosquitto" user.
    user = getpass.getuser()
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nuser {user}\n")
    process = subprocess.Popen([executable, "-c", str(config)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, port
        except OSError:
            time.sleep(0.01)
    process.kill()
    raise SystemExit(f"mosquitto did not start on port {port}")


def percentiles(values_ms: list[float]) -> str:
    if not values_ms:
        return "no samples"
    p50, p99, top = np.percentile(values_ms, [50, 99, 100])
    return f"n={len(values_ms):5d}  p50 {p50:7.3f} ms  p99 {p99:7.3f} ms  max {top:7.3f} ms"


async def measure(trace_path: Path, speed: float, port: int) -> None:
    source = TimedSource(TraceReplay(trace_path, speed=speed, chunk_samples=20))
    probe = Probe(source)
    audio = AudioSink(player=("sh", "-c", "cat >/dev/null"), speak=False)
    mqtt = MqttSink(runner=RUNNER, port=port, hostname="127.0.0.1")
    rules = ProbeRules(AlertRules(profile=RunnerProfile(target_cadence_spm=170.0)))
    received: dict[tuple[float, str], float] = {}
    ready = asyncio.Event()
    subscriber = asyncio.create_task(subscribe(port, received, ready), name="latency-subscriber")
    await asyncio.wait_for(ready.wait(), 10)
    await run_pipeline(source, rules=rules, sinks=[audio, probe, mqtt])
    deadline = time.monotonic() + 5
    while len(received) < len(probe.alert_arrivals) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    subscriber.cancel()
    await asyncio.gather(subscriber, return_exceptions=True)
    mqtt_ms = [
        (received[key] - arrived) * 1000.0
        for key, arrived in probe.alert_arrivals.items()
        if key in received
    ]
    print(f"replay at {speed:g}x of {trace_path.name}, 20-sample chunks")
    print(f"(a) step -> contact published    {percentiles(probe.contact_ms)}")
    print(f"(a) step -> per-second metrics   {percentiles(probe.metrics_ms)}")
    print(f"(b) alert -> audio queue         {percentiles(probe.alert_ms)}")
    print(f"(b) alert -> MQTT subscriber     {percentiles(mqtt_ms)}")
    lost = len(probe.alert_arrivals) - len(mqtt_ms)
    print(
        f"    alerts: {rules.real_alerts} from the real rules, the rest probes; {lost} not received"
    )
    worst = max(np.percentile(v, 99) for v in (probe.contact_ms, probe.alert_ms, mqtt_ms) if v)
    verdict = "met" if worst <= TARGET_P99_MS else "NOT met"
    print(f"target p99 <= {TARGET_P99_MS:g} ms: {verdict} (worst p99 {worst:.3f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--speed", type=float, default=10.0, help="replay speed (1 = real time)")
    parser.add_argument("--trace", type=Path, help="a trace instead of the synthetic run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cadence-latency-") as scratch:
        folder = Path(scratch)
        trace_path = args.trace
        if trace_path is None:
            config = RunnerConfig(
                duration_s=args.minutes * 60.0, cadence_points=((0.0, 172.0),), fs_hz=100.0
            )
            trace_path, _, _ = write_run(folder / "run.csv", simulate(config))
        broker, port = start_mosquitto(folder)
        try:
            asyncio.run(measure(trace_path, args.speed, port))
        finally:
            broker.terminate()
            broker.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
