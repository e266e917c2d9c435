"""Throughput and memory of the contact detector on a 3-hour trace built from real data.

The trace is ``adept-hip-run-25min`` (100 Hz hip, 25 min outdoor run) repeated with its time axis
shifted to be continuous, cut at 3 h (1.08 M samples); it is written once to
``benchmarks/out/three-hours.csv`` and reused. Measured, median of ``--runs`` runs with the data
in memory, the runs of (a)-(c) taken in turn:

a. batch detection: ``detect_contact_columns`` (contacts as arrays, the batch form for long
   recordings), and as ``detect_contacts`` gives them (a ``Contact`` object each) beside it;
b. streaming in 20-sample chunks (``ContactDetector.update`` then ``finish``);
c. a baseline: 4th-order Butterworth 0.5-5 Hz ``sosfiltfilt`` of the acceleration magnitude and
   ``find_peaks``;
d. the memory streaming needs for 30 min and for 3 h (separate processes);
e. end to end, ``cadence analyze three-hours.csv --json`` against a pandas + scipy script.

Usage: python benchmarks/throughput.py [--runs N] [--skip-end-to-end]
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import math
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.signal import butter, find_peaks, sosfiltfilt

from cadence.contacts import ContactColumns
from cadence.detector import ContactDetector, detect_contact_columns
from cadence.trace import Trace, read_trace, write_trace

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCE_TRACE = REPO_ROOT.parent / "shared" / "data" / "traces" / "adept-hip-run-25min.csv"
OUT_DIR = REPO_ROOT / "benchmarks" / "out"
THREE_HOURS_CSV = OUT_DIR / "three-hours.csv"
# The memory probes load arrays from here: parsing the CSV would peak above what streaming needs.
THREE_HOURS_NPZ = OUT_DIR / "three-hours.npz"

LONG_S = 3 * 3600.0
SHORT_S = 30 * 60.0
WARM_UP_S = 60.0  # enough to trigger numba compilation before anything is timed
CHUNK_SAMPLES = 20
BASELINE_BAND_HZ = (0.5, 5.0)
BASELINE_MIN_STEP_INTERVAL_S = 0.25  # 240 spm

BATCH_VS_BASELINE_TARGET = 0.5
STREAMING_TARGET_SAMPLES_PER_S = 1e6
STREAMING_TARGET_US_PER_CHUNK = 20.0
# "Flat" memory: 3 h may need at most 10 % or 1 MiB more than 30 min, whichever is larger.
FLAT_MEMORY_RATIO = 1.1
FLAT_MEMORY_SLACK_MIB = 1.0

PANDAS_SCRIPT = """\
import sys
import numpy as np
import pandas as pd
from scipy.signal import butter, find_peaks, sosfiltfilt
frame = pd.read_csv(sys.argv[1], comment="#")
fs_hz = (len(frame) - 1) / (frame["t"].iloc[-1] - frame["t"].iloc[0])
acc = frame[[c for c in ("ax", "ay", "az") if c in frame]].to_numpy()
sos = butter(4, [0.5, 5.0], btype="bandpass", fs=fs_hz, output="sos")
peaks, _ = find_peaks(sosfiltfilt(sos, np.sqrt((acc**2).sum(axis=1))), distance=int(0.25 * fs_hz))
print(len(peaks))
"""

FloatArray = npt.NDArray[np.float64]


# --- the 3-hour trace -------------------------------------------------------------------------


def build_long_trace(source: Trace, duration_s: float) -> Trace:
    """Repeat the source end to end, each copy starting one sample period after the last."""
    period_s = float(source.t[-1] - source.t[0]) + 1.0 / source.fs_hz
    copies = math.ceil(duration_s / period_s)
    t = np.concatenate([source.t - source.t[0] + k * period_s for k in range(copies)])
    keep = t < duration_s
    note = f"{source.metadata.get('note', '')}; repeated {copies}x and cut at {duration_s:.0f} s"
    return dataclasses.replace(
        source,
        metadata={**source.metadata, "note": note.lstrip("; ")},
        t=t[keep],
        acc=np.tile(source.acc, (copies, 1))[keep],
        gyro=np.tile(source.gyro, (copies, 1))[keep],
    )


def load_three_hours() -> Trace:
    if not THREE_HOURS_CSV.exists():
        print(f"writing {THREE_HOURS_CSV.relative_to(REPO_ROOT)} from {SOURCE_TRACE.name} ...")
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        write_trace(THREE_HOURS_CSV, build_long_trace(read_trace(SOURCE_TRACE), LONG_S))
    return read_trace(THREE_HOURS_CSV)


# --- what is timed ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Recording:
    """What the detector is given, in memory; saved as .npz for the memory probes."""

    t: FloatArray
    acc: FloatArray
    fs_hz: float
    placement: str
    up_vector: tuple[float, ...] | None

    @classmethod
    def from_trace(cls, trace: Trace) -> Recording:
        if trace.placement is None:
            raise SystemExit(f"{trace.source}: no placement in its metadata")
        return cls(trace.t, trace.acc, trace.fs_hz, trace.placement, trace.up_vector)

    @classmethod
    def load(cls, path: Path) -> Recording:
        with np.load(path) as arrays:
            up_vector = tuple(float(v) for v in arrays["up_vector"]) or None
            return cls(
                arrays["t"],
                arrays["acc"],
                float(arrays["fs_hz"]),
                str(arrays["placement"]),
                up_vector,
            )

    def save(self, path: Path) -> None:
        up_vector = np.array(self.up_vector or (), dtype=np.float64)
        np.savez(
            path,
            t=self.t,
            acc=self.acc,
            fs_hz=self.fs_hz,
            placement=self.placement,
            up_vector=up_vector,
        )

    def head(self, duration_s: float) -> Recording:
        n_samples = int(np.searchsorted(self.t, self.t[0] + duration_s))
        return dataclasses.replace(self, t=self.t[:n_samples], acc=self.acc[:n_samples])


def detect_columns(recording: Recording) -> ContactColumns:
    return detect_contact_columns(
        recording.t,
        recording.acc,
        fs_hz=recording.fs_hz,
        placement=recording.placement,
        up_vector=recording.up_vector,
    )


def detect_batch(recording: Recording) -> int:
    return len(detect_columns(recording))


def detect_batch_objects(recording: Recording) -> int:
    """What ``detect_contacts`` does: the columns, then a Contact object each."""
    return len(detect_columns(recording).contacts())


def stream(recording: Recording) -> int:
    """Feed 20-sample chunks; keep only a count so memory reflects the detector alone."""
    detector = ContactDetector(
        fs_hz=recording.fs_hz, placement=recording.placement, up_vector=recording.up_vector
    )
    t, acc = recording.t, recording.acc
    n_contacts = 0
    for start in range(0, t.size, CHUNK_SAMPLES):
        stop = start + CHUNK_SAMPLES
        n_contacts += len(detector.update(t[start:stop], acc[start:stop]).contacts)
    return n_contacts + len(detector.finish().contacts)


def baseline_peaks(recording: Recording) -> int:
    magnitude = np.sqrt((recording.acc**2).sum(axis=1))
    sos = butter(4, BASELINE_BAND_HZ, btype="bandpass", fs=recording.fs_hz, output="sos")
    distance = int(BASELINE_MIN_STEP_INTERVAL_S * recording.fs_hz)
    peaks, _ = find_peaks(sosfiltfilt(sos, magnitude), distance=distance)
    return int(peaks.size)


def median_seconds(run: Callable[[], object], runs: int) -> float:
    return interleaved_median_seconds({"run": run}, runs)["run"]


def interleaved_median_seconds(
    runs: dict[str, Callable[[], object]], rounds: int
) -> dict[str, float]:
    """Median time of each run over rounds that take one of each in turn: on a shared
    machine the load drifts, and measured side by side the ratios hold still."""
    durations: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            durations[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in durations.items()}


# --- memory, measured in a child process per duration ----------------------------------------


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def measure_stream_memory(duration_s: float) -> dict[str, float]:
    """Runs in the child: RSS growth of an untraced stream, then tracemalloc's peak of a traced
    one (tracemalloc sees Python allocations, RSS also numba's)."""
    recording = Recording.load(THREE_HOURS_NPZ).head(duration_s)
    stream(recording.head(WARM_UP_S))
    gc.collect()
    rss_before_mib = maxrss_mib()
    stream(recording)
    rss_growth_mib = maxrss_mib() - rss_before_mib
    gc.collect()
    tracemalloc.start()
    stream(recording)
    traced_peak_mib = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return {"rss_growth_mib": rss_growth_mib, "traced_peak_mib": traced_peak_mib}


def stream_memory_in_child(duration_s: float) -> dict[str, float]:
    command = [sys.executable, str(Path(__file__).resolve()), "--memory-probe", str(duration_s)]
    finished = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    result: dict[str, float] = json.loads(finished.stdout.splitlines()[-1])
    return result


def memory_is_flat(short_mib: float, long_mib: float) -> bool:
    return long_mib <= max(short_mib * FLAT_MEMORY_RATIO, short_mib + FLAT_MEMORY_SLACK_MIB)


# --- end to end -------------------------------------------------------------------------------


def cadence_cli() -> list[str]:
    entry_point = Path(sys.executable).with_name("cadence")
    return [str(entry_point)] if entry_point.exists() else [sys.executable, "-m", "cadence.cli"]


def median_subprocess_seconds(command: Sequence[str], runs: int) -> float | None:
    """After one warm-up run (None if that fails, with its error shown)."""
    warm_up = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT)
    if warm_up.returncode != 0:
        print(f"  {' '.join(command)} failed:\n{warm_up.stderr.strip()[-2000:]}")
        return None
    return median_seconds(
        lambda: subprocess.run(command, stdout=subprocess.DEVNULL, check=True, cwd=REPO_ROOT), runs
    )


# --- report -----------------------------------------------------------------------------------


def verdict(met: bool) -> str:
    return "ok" if met else "FAIL"


def print_row(measure: str, value: str, target: str, met: bool | None) -> None:
    print(f"{measure:<52} {value:>22}  {target:<20} {'' if met is None else verdict(met)}")


def run_benchmarks(args: argparse.Namespace) -> dict[str, object]:
    recording = Recording.from_trace(load_three_hours())
    n_samples = recording.t.size
    n_chunks = math.ceil(n_samples / CHUNK_SAMPLES)
    hours = (recording.t[-1] - recording.t[0]) / 3600
    print(f"{n_samples} samples, {hours:.2f} h at {recording.fs_hz:g} Hz, {recording.placement}")
    detect_batch(recording.head(WARM_UP_S))
    stream(recording.head(WARM_UP_S))

    seconds = interleaved_median_seconds(
        {
            "batch": lambda: detect_batch(recording),
            "objects": lambda: detect_batch_objects(recording),
            "streaming": lambda: stream(recording),
            "baseline": lambda: baseline_peaks(recording),
        },
        args.runs,
    )
    batch_s, objects_s = seconds["batch"], seconds["objects"]
    streaming_s, baseline_s = seconds["streaming"], seconds["baseline"]
    batch_rate, streaming_rate = n_samples / batch_s, n_samples / streaming_s
    baseline_rate = n_samples / baseline_s
    us_per_chunk = streaming_s / n_chunks * 1e6

    recording.save(THREE_HOURS_NPZ)
    memory = {"30 min": stream_memory_in_child(SHORT_S), "3 h": stream_memory_in_child(LONG_S)}

    end_to_end: dict[str, float | None] = {}
    if not args.skip_end_to_end:
        print("timing end to end ...")
        cli = [*cadence_cli(), "analyze", str(THREE_HOURS_CSV), "--json"]
        pandas = [sys.executable, "-c", PANDAS_SCRIPT, str(THREE_HOURS_CSV)]
        end_to_end["cadence analyze"] = median_subprocess_seconds(cli, args.runs)
        end_to_end["pandas script"] = median_subprocess_seconds(pandas, args.runs)

    print()
    print_row("measure", "value", "target", None)
    print_row("(a) batch, contacts as arrays", f"{batch_rate / 1e6:.2f} M samples/s", "", None)
    print_row(
        "    batch, a Contact object each",
        f"{n_samples / objects_s / 1e6:.2f} M samples/s",
        "",
        None,
    )
    print_row(
        "(b) streaming, 20-sample chunks",
        f"{streaming_rate / 1e6:.2f} M samples/s",
        ">= 1 M samples/s",
        streaming_rate >= STREAMING_TARGET_SAMPLES_PER_S,
    )
    print_row(
        "    per chunk",
        f"{us_per_chunk:.1f} us",
        f"<= {STREAMING_TARGET_US_PER_CHUNK:g} us",
        us_per_chunk <= STREAMING_TARGET_US_PER_CHUNK,
    )
    print_row(
        "(c) baseline: band-pass + find_peaks", f"{baseline_rate / 1e6:.2f} M samples/s", "", None
    )
    print_row(
        "    batch / baseline",
        f"{batch_rate / baseline_rate:.2f}x",
        f">= {BATCH_VS_BASELINE_TARGET}x",
        batch_rate / baseline_rate >= BATCH_VS_BASELINE_TARGET,
    )
    for key, label in (("rss_growth_mib", "RSS growth"), ("traced_peak_mib", "tracemalloc peak")):
        short_mib, long_mib = memory["30 min"][key], memory["3 h"][key]
        print_row(
            f"(d) streaming memory, {label}, 30 min / 3 h",
            f"{short_mib:.2f} / {long_mib:.2f} MiB",
            "flat",
            memory_is_flat(short_mib, long_mib),
        )
    cli_s, pandas_s = end_to_end.get("cadence analyze"), end_to_end.get("pandas script")
    if cli_s is not None and pandas_s is not None:
        print_row(
            "(e) end to end: cadence analyze / pandas",
            f"{cli_s:.2f} s / {pandas_s:.2f} s",
            "cadence <= pandas",
            cli_s <= pandas_s,
        )
        print_row("    ratio", f"{cli_s / pandas_s:.2f}x", "<= 1x", None)
    elif not args.skip_end_to_end:
        print_row("(e) end to end", "not measured", "see the error above", None)

    return {
        "samples": n_samples,
        "batch_samples_per_s": batch_rate,
        "batch_objects_samples_per_s": n_samples / objects_s,
        "streaming_samples_per_s": streaming_rate,
        "streaming_us_per_chunk": us_per_chunk,
        "baseline_samples_per_s": baseline_rate,
        "stream_memory": memory,
        "end_to_end_s": end_to_end,
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per measure (median)")
    parser.add_argument("--skip-end-to-end", action="store_true", help="skip (e)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the numbers here")
    # Internal: the child process of (d), given the seconds of data to stream.
    parser.add_argument("--memory-probe", type=float, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.memory_probe is not None:
        print(json.dumps(measure_stream_memory(args.memory_probe)))
        return 0
    if not THREE_HOURS_CSV.exists() and not SOURCE_TRACE.exists():
        print(f"{SOURCE_TRACE} not found: cannot build the 3-hour trace")
        return 1
    results = run_benchmarks(args)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
