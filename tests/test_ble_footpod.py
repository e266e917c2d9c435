"""The RSC footpod source and scanning against a real peer: bleak's BlueZ backend, a private
D-Bus, BlueZoo (patched, see tests/bluez/bluezoo_patched.py) and the virtual footpod."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable

import numpy as np
import pytest
from bluez.fixtures import (
    FOOTPOD_NAME,
    FOOTPOD_TRACE,
    RSC_INTERVAL_S,
    WAIT_S,
    bluez,
    close_bleak_bus,
    collect,
    footpod,
    requires_dbus,
)
from bluez.harness import CENTRAL_ADAPTER, PERIPHERAL_ADDRESS, BluezEnvironment

from cadence.alerts import LowCadenceRule
from cadence.datasets import bundled_trace
from cadence.errors import SensorError
from cadence.events import Alert, Metrics, SourceEvent, SourceStatus, StreamGap, SummaryRecord
from cadence.pipeline import Pipeline
from cadence.trace import read_truth, truth_path_for
from sensors.footpod import RscFootpod
from sensors.scan import scan
from sim.footpod import VirtualFootpod

pytestmark = requires_dbus
__all__ = ["bluez", "close_bleak_bus", "footpod"]  # fixtures, used by name


def rsc_source(**overrides: object) -> RscFootpod:
    arguments: dict[str, object] = {
        "name": FOOTPOD_NAME,
        "adapter": CENTRAL_ADAPTER,
        "expected_interval_s": RSC_INTERVAL_S,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.5,
        "find_timeout_s": 5.0,
        "seed": 1,
    }
    arguments.update(overrides)
    return RscFootpod(**arguments)  # type: ignore[arg-type]


def dropped(seen: list[SourceEvent]) -> bool:
    return any(isinstance(e, SourceStatus) and e.state == "disconnected" for e in seen)


def records(events: list[SourceEvent]) -> list[SummaryRecord]:
    return [event for event in events if isinstance(event, SummaryRecord)]


def count_records(n: int) -> Callable[[list[SourceEvent]], bool]:
    return lambda seen: len(records(seen)) >= n


async def test_scan_finds_the_footpod(footpod: VirtualFootpod) -> None:
    found = await scan(
        adapter=CENTRAL_ADAPTER,
        timeout_s=WAIT_S,
        until=lambda sensors: any(s.name == FOOTPOD_NAME for s in sensors),
    )
    (pod,) = [sensor for sensor in found if sensor.name == FOOTPOD_NAME]
    assert pod.address == PERIPHERAL_ADDRESS
    assert [str(kind) for kind in pod.kinds] == ["footpod (RSC)", "accelerometer (PMD)"]
    assert isinstance(pod.rssi, int)


async def test_rsc_records_decode_to_the_served_values(footpod: VirtualFootpod) -> None:
    async with rsc_source() as source:
        events = await collect(aiter(source), count_records(12))
    assert isinstance(events[0], SourceStatus)
    assert events[0].state == "connected"
    assert source.features is not None
    assert source.features.total_distance
    got = records(events)
    served = [measurement for _, measurement in footpod.served_rsc[: len(got)]]
    # Every notification arrives, in order, with the values the footpod encoded (speed in
    # 1/256 m/s, distance in 0.1 m).
    assert [r.cadence_spm for r in got] == [float(m.cadence_spm) for m in served]
    assert [r.distance_m for r in got] == [m.total_distance_m for m in served]
    assert [r.speed_mps for r in got] == [round(m.speed_mps * 256) / 256 for m in served]
    assert all(r.running for r in got)
    assert np.all(np.diff([r.t_s for r in got]) > 0)
    # Independent check: once a few steps are in, the cadence is the force plates' step rate.
    truth_path = truth_path_for(bundled_trace(FOOTPOD_TRACE))
    assert truth_path is not None
    foot_on = read_truth(truth_path).foot_on_s
    truth_spm = 60 * (foot_on.size - 1) / (foot_on[-1] - foot_on[0])
    steady = [r.cadence_spm for r in got[4:] if r.cadence_spm is not None]
    assert steady
    assert all(abs(spm - truth_spm) < 0.03 * truth_spm for spm in steady)


async def test_peripheral_drops_are_noticed_and_the_stream_resumes(
    footpod: VirtualFootpod,
) -> None:
    drops = 3  # a run survives any number of drops
    async with rsc_source() as source:
        stream = aiter(source)
        before = await collect(stream, count_records(2))
        for drop in range(drops):
            assert await footpod.drop_link() == 1
            after = await collect(stream, count_records(2))
            states = [event.state for event in after if isinstance(event, SourceStatus)]
            assert states[:2] == ["disconnected", "connected"], f"drop {drop}"
            (gap,) = [event for event in after if isinstance(event, StreamGap)]
            # The gap runs from the last record before the drop to the first one after it,
            # and comes before that record.
            assert gap.start_s == records(before)[-1].t_s
            assert gap.end_s == records(after)[0].t_s
            assert after.index(gap) < after.index(records(after)[0])
            before = after
    assert source.drops == drops
    assert source.connections == drops + 1


async def test_silence_is_a_drop(footpod: VirtualFootpod) -> None:
    async with rsc_source() as source:
        stream = aiter(source)
        await collect(stream, count_records(2))
        footpod.go_silent(4 * RSC_INTERVAL_S * source.silence_periods)
        after = await collect(stream, dropped)
        after += await collect(stream, count_records(2))
    disconnects = [e for e in after if isinstance(e, SourceStatus) and e.state == "disconnected"]
    assert disconnects
    assert disconnects[0].detail.startswith("no data for")
    assert any(isinstance(event, StreamGap) for event in after)


async def test_malformed_packets_are_counted_and_skipped(
    footpod: VirtualFootpod, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cadence.sensors")
    async with rsc_source() as source:
        stream = aiter(source)
        first = records(await collect(stream, count_records(1)))
        for _ in range(3):
            assert footpod.send_malformed_rsc()
        sent_before = len(footpod.served_rsc)
        # Notifications arrive in order: record number sent_before + 1 came after the bad ones.
        await collect(stream, count_records(sent_before + 1 - len(first)))
        # Later records still arrive, and the three bad ones are counted but logged once.
        assert source.bad_packets == 3
    bad = [r for r in caplog.records if "bad packet" in r.getMessage()]
    assert len(bad) == 1
    assert "RSC measurement" in bad[0].getMessage()


async def test_footpod_records_drive_metrics_and_alerts(footpod: VirtualFootpod) -> None:
    """The pipeline turns footpod records into per-second metrics and alert decisions, as it
    does for accelerometer streams."""
    rule = LowCadenceRule(
        target_spm=230, window_s=2, clear_window_s=1, min_duration_s=1, cooldown_s=0
    )

    class Rules:
        def update(self, metrics: Metrics) -> list[Alert]:
            alert = rule.update(metrics)
            return [] if alert is None else [alert]

    async with rsc_source() as source:
        pipeline = Pipeline(info=source.info, rules=Rules())
        stream = aiter(source)
        seen: list[SourceEvent] = []
        async with asyncio.timeout(WAIT_S):
            while not (pipeline.totals and pipeline.totals.alerts):
                event = await anext(stream)
                seen.append(event)
                pipeline.feed(event)
    assert pipeline.totals is not None
    metrics = pipeline.totals.metrics
    assert metrics
    served = {float(r.cadence_spm) for r in records(seen) if r.cadence_spm}
    assert {m.cadence_spm for m in metrics if m.cadence_spm} <= served
    assert {m.speed_mps for m in metrics if m.speed_mps} == {round(3.33 * 256) / 256}
    (alert,) = pipeline.totals.alerts
    assert (alert.kind, alert.state) == ("low_cadence", "raised")
    assert alert.value is not None
    assert alert.value < 230


# The commands as a user runs them (cadence/cli.py wires the same register functions in).
COMMAND_RUNNER = """
import argparse, sys
from cadence.commands import scan, sim
parser = argparse.ArgumentParser(prog="cadence")
commands = parser.add_subparsers(required=True)
scan.register(commands)
sim.register(commands)
args = parser.parse_args(sys.argv[1:])
sys.exit(args.run(args))
"""


def test_sim_and_scan_commands(bluez: BluezEnvironment) -> None:
    trace = str(bundled_trace(FOOTPOD_TRACE))
    name = "cadence cli footpod"
    command = [sys.executable, "-c", COMMAND_RUNNER]
    peripheral = subprocess.Popen(
        [*command, "sim", "footpod", "--trace", trace, "--adapter", "hci1", "--name", name],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert peripheral.stdout is not None
        # It says so once the application and the advertisement are registered.
        assert "advertising on hci1" in peripheral.stdout.readline()
        found = subprocess.run(
            [
                *command,
                "scan",
                "--adapter",
                CENTRAL_ADAPTER,
                "--json",
                "--limit=1",
                f"--timeout={WAIT_S}",
            ],
            capture_output=True,
            text=True,
            timeout=WAIT_S + 10,
            check=True,
        )
        sensors = [json.loads(line) for line in found.stdout.splitlines()]
        assert sensors == [
            {
                "name": name,
                "address": PERIPHERAL_ADDRESS,
                "rssi_dbm": sensors[0]["rssi_dbm"],
                "kind": ["footpod", "accelerometer"],
                "found_by": ["service", "service"],
            }
        ]
    finally:
        os.kill(peripheral.pid, signal.SIGTERM)
        assert peripheral.wait(10) == 0
        assert peripheral.stdout is not None
        peripheral.stdout.close()


async def test_a_footpod_that_is_not_there_is_a_clear_error(bluez: BluezEnvironment) -> None:
    with pytest.raises(SensorError, match=r"no RSC footpod found \(nobody\) within 1\.5 s"):
        async with rsc_source(name="nobody", find_timeout_s=1.5):
            pass
