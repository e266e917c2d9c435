"""The ``cadence`` command: one small function per subcommand.

Heavy modules (the numba-backed detector and trace reader) are imported inside the subcommands so
``cadence --help`` starts instantly.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from cadence.contacts import Contact
from cadence.errors import CadenceError, ConfigurationError, TraceFormatWarning
from cadence.placement import placement_is_leg
from cadence.summary import Summary, summarize

if TYPE_CHECKING:
    from cadence.trace import Trace

PROG = "cadence"
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE
DEMO_TRACE = "alcantara-sacrum-run-t03"
# Subcommand modules under cadence.commands, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "run",
    "replay",
    "simulate",
    "profile",
    "watch",
    "scan",
    "sim",
)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit code (2 for errors)."""
    args = build_parser().parse_args(argv)
    _log_to_stderr()
    try:
        with _warnings_to_stderr():
            result: int = args.run(args)
            return result
    except CadenceError as error:
        return _fail(str(error))
    except BrokenPipeError:
        # The reader went away (`cadence analyze ... | head`): nothing left to say to it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except OSError as error:
        return _fail(_describe_os_error(error))
    except KeyboardInterrupt:
        print(f"{PROG}: stopped", file=sys.stderr)
        return EXIT_INTERRUPTED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Running-form coach: steps, cadence and ground contact time from an "
        "accelerometer worn on the body.",
    )
    subcommands = parser.add_subparsers(title="commands", dest="command", required=True)
    _add_analyze(subcommands)
    for name in COMMAND_MODULES:
        importlib.import_module(f"cadence.commands.{name}").register(subcommands)
    return parser


def _add_analyze(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    analyze = subcommands.add_parser(
        "analyze",
        help="find the steps in a recorded trace and report cadence and ground contact time",
        description="Find every foot contact in a recorded trace (CSV v1) and report the "
        "number of steps, the cadence while moving (steps per minute) and the median ground "
        "contact time.",
    )
    analyze.add_argument(
        "trace",
        nargs="?",
        type=Path,
        metavar="TRACE",
        help="trace CSV file, recorded session folder, or FIT activity file "
        f"(default: the bundled demo run {DEMO_TRACE})",
    )
    analyze.add_argument(
        "--placement",
        metavar="P",
        help="where the sensor was worn, e.g. sacrum, lower_back, hip (trunk) or shank, "
        "ankle, foot (one leg); default: the placement written in the trace",
    )
    analyze.add_argument(
        "--json", action="store_true", help="print one JSON object instead of a report"
    )
    analyze.set_defaults(run=_run_analyze)


def _run_analyze(args: argparse.Namespace) -> int:
    from cadence.detector import detect_contacts

    if args.trace is not None and args.trace.suffix.lower() == ".fit":
        return _analyze_fit(args.trace, as_json=args.json)

    trace = _read_samples(args.trace if args.trace is not None else _demo_trace_path())
    placement = _choose_placement(args.placement, trace.placement)
    leg_mounted = placement_is_leg(placement)
    update = detect_contacts(
        trace.t, trace.acc, fs_hz=trace.fs_hz, placement=placement, up_vector=trace.up_vector
    )
    summary = summarize(update.contacts, update.gaps, leg_mounted=leg_mounted)
    if args.json:
        report = analysis_json(trace, placement, summary, update.contacts)
        print(json.dumps(report, allow_nan=False))
    else:
        print_analysis(sys.stdout, trace, placement, summary, update.contacts)
    return 0


def _analyze_fit(path: Path, *, as_json: bool) -> int:
    """A watch's or footpod's FIT file: its summary records through the live metrics."""
    import asyncio

    from cadence.fit import FitSource, read_fit
    from cadence.pipeline import run_pipeline
    from cadence.summary import summarize_metrics

    activity = read_fit(path)
    totals = asyncio.run(run_pipeline(FitSource(activity)))
    summary = summarize_metrics(totals.metrics)
    report: dict[str, Any] = {
        "source": str(path),
        "kind": "footpod",
        "sport": activity.sport,
        "device": activity.device,
        "records": len(activity.records),
        "duration_s": _round_s(activity.records[-1].t_s if activity.records else 0.0),
        "moving_s": _round_s(summary.moving_s),
        "n_steps": summary.n_steps,
        "cadence_spm": _round_or_none(summary.cadence_spm, 1),
        "gct_ms": _round_or_none(summary.gct_ms, 1),
        "step_length_m": _round_or_none(summary.step_length_m, 3),
        "speed_mps": _round_or_none(summary.speed_mps, 2),
        "gaps": [
            {"start_s": _round_s(g.start_s), "end_s": _round_s(g.end_s), "reason": g.reason}
            for g in activity.gaps
        ],
        "damage": activity.damage,
    }
    if as_json:
        print(json.dumps(report, allow_nan=False))
        return 0
    labels = {"step_length_m": "step length m", "speed_mps": "speed m/s", "gct_ms": "GCT ms"}
    for key, value in report.items():
        if key == "gaps":
            value = len(value)
        if value is not None:
            print(f"{labels.get(key, key.replace('_', ' ')):<14} {value}")
    return 0


def _read_samples(path: Path) -> Trace:
    """A trace CSV file, or the samples of a recording's session folder."""
    from cadence.recording import read_recording
    from cadence.trace import read_trace

    if not path.is_dir():
        return read_trace(path)
    recording = read_recording(path)
    if recording.samples is None:
        raise CadenceError(f"{path}: the recording holds no accelerometer samples")
    if not recording.complete:
        print(f"{PROG}: warning: {path}: the run did not end cleanly", file=sys.stderr)
    return recording.samples


def _demo_trace_path() -> Path:
    from cadence.datasets import bundled_trace

    return bundled_trace(DEMO_TRACE)


def _choose_placement(from_option: str | None, from_trace: str | None) -> str:
    if from_option:
        return from_option
    if from_trace:
        return from_trace
    raise ConfigurationError(
        "the trace does not say where the sensor was worn: "
        "pass --placement (e.g. --placement sacrum or --placement shank)"
    )


def analysis_json(
    trace: Trace, placement: str, summary: Summary, contacts: Sequence[Contact]
) -> dict[str, Any]:
    """The analysis as JSON-ready values: times in s to the ms, cadence to 0.1 spm."""
    return {
        "source": trace.source,
        "placement": placement,
        "fs_hz": round(float(trace.fs_hz), 3),
        "duration_s": _round_s(trace.duration_s),
        "n_steps": summary.n_steps,
        "n_contacts": summary.n_contacts,
        "n_bouts": summary.n_bouts,
        "moving_s": _round_s(summary.moving_s),
        "cadence_spm": _round_or_none(summary.cadence_spm, 1),
        "gct_ms": _round_or_none(summary.gct_ms, 1),
        "gaps": [
            {"start_s": _round_s(g.start_s), "end_s": _round_s(g.end_s)} for g in summary.gaps
        ],
        "contacts": [
            {"on_s": _round_s(c.on_s), "off_s": _round_s(c.off_s), "leg": c.leg} for c in contacts
        ],
    }


def print_analysis(
    out: TextIO, trace: Trace, placement: str, summary: Summary, contacts: Sequence[Contact]
) -> None:
    """A readable report: the figures first, then one line per contact."""
    kind = "one leg" if placement_is_leg(placement) else "trunk"
    rows = [
        ("source", trace.source),
        ("placement", f"{placement} ({kind})"),
        ("rate", f"{trace.fs_hz:.1f} Hz"),
        ("duration", f"{trace.duration_s:.2f} s"),
        ("steps", _describe_steps(summary)),
        ("cadence", _or_dash(summary.cadence_spm, "{:.1f} spm")),
        ("GCT", _or_dash(summary.gct_ms, "{:.1f} ms (median)")),
        ("gaps", _describe_gaps(summary)),
    ]
    for label, value in rows:
        print(f"{label:<10} {value}", file=out)
    if contacts:
        print(file=out)
        print(f"{'#':>5} {'on s':>9} {'off s':>9} {'GCT ms':>7}  leg", file=out)
        for number, c in enumerate(contacts, start=1):
            gct_ms = 1000.0 * c.gct_s
            leg = c.leg or "-"
            print(f"{number:>5} {c.on_s:>9.3f} {c.off_s:>9.3f} {gct_ms:>7.1f}  {leg}", file=out)


def _describe_steps(summary: Summary) -> str:
    bouts = "bout" if summary.n_bouts == 1 else "bouts"
    return f"{summary.n_steps} ({summary.n_bouts} {bouts}, {summary.moving_s:.2f} s moving)"


def _describe_gaps(summary: Summary) -> str:
    if not summary.gaps:
        return "none"
    total_s = sum(g.duration_s for g in summary.gaps)
    spans = ", ".join(f"{g.start_s:.3f}-{g.end_s:.3f} s" for g in summary.gaps)
    return f"{len(summary.gaps)} ({total_s:.3f} s without samples: {spans})"


def _or_dash(value: float | None, template: str) -> str:
    return "-" if value is None else template.format(value)


def _round_s(seconds: float) -> float:
    return round(float(seconds), 3)


def _round_or_none(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


@contextmanager
def _warnings_to_stderr() -> Iterator[None]:
    """Show trace warnings as one ``cadence: warning:`` line each; the run goes on."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", TraceFormatWarning)
        show_other = warnings.showwarning

        def show(
            message: Warning | str,
            category: type[Warning],
            filename: str,
            lineno: int,
            file: TextIO | None = None,
            line: str | None = None,
        ) -> None:
            if issubclass(category, TraceFormatWarning):
                print(f"{PROG}: warning: {message}", file=sys.stderr)
            else:
                show_other(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield


class _CommandLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{PROG}: {record.levelname.lower()}: {record.getMessage()}"


def _log_to_stderr() -> None:
    """Sinks and sensors report trouble through logging: one ``cadence: warning:`` line each."""
    logger = logging.getLogger("cadence")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_CommandLineFormatter())
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)


def _fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def _describe_os_error(error: OSError) -> str:
    if error.filename is None:
        return str(error)
    return f"{error.filename}: {error.strerror or error}"


if __name__ == "__main__":
    sys.exit(main())
