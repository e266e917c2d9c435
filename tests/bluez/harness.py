"""A private BlueZ for tests: a dbus-daemon of our own and BlueZoo with two emulated adapters.

``BluezEnvironment.start()`` writes a bus configuration into a temporary directory, starts
``dbus-daemon`` on it, starts BlueZoo (run-time patched, see ``bluezoo_patched.py``) as the
``org.bluez`` service with adapters hci0 (the central) and hci1 (the peripheral), and waits
until hci1 reports ``Powered``. Every wait polls; every process is stopped by its own pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

DBUS_DAEMON = "dbus-daemon"
DBUS_SEND = "dbus-send"
CENTRAL_ADAPTER = "hci0"
PERIPHERAL_ADAPTER = "hci1"
CENTRAL_ADDRESS = "00:AA:01:00:00:00"
PERIPHERAL_ADDRESS = "00:AA:01:00:00:01"
START_TIMEOUT_S = 20.0
POLL_INTERVAL_S = 0.02
STOP_TIMEOUT_S = 5.0

# Anyone may own any name and talk to anyone: the bus exists only for one test session.
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
  </policy>
</busconfig>
"""


class HarnessError(RuntimeError):
    """The private bus or the emulator did not come up."""


def missing_tools() -> list[str]:
    """Programs the harness needs that are not installed (Debian package: dbus)."""
    return [tool for tool in (DBUS_DAEMON, DBUS_SEND) if shutil.which(tool) is None]


@dataclass
class BluezEnvironment:
    """A running private system bus with BlueZoo on it; ``address`` is the bus address."""

    workdir: Path
    address: str = ""
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    started_in_s: float = 0.0

    @classmethod
    def start(cls) -> BluezEnvironment:
        begin = time.monotonic()
        env = cls(Path(tempfile.mkdtemp(prefix="cadence-bluez-")))
        try:
            env._start_bus()
            env._start_bluezoo()
            env._wait_powered(PERIPHERAL_ADAPTER)
            env._wait_powered(CENTRAL_ADAPTER)
        except BaseException:
            env.stop()
            raise
        env.started_in_s = time.monotonic() - begin
        return env

    def _start_bus(self) -> None:
        socket = self.workdir / "system_bus_socket"
        config = self.workdir / "bus.conf"
        config.write_text(BUS_CONFIG.format(socket=socket))
        daemon = subprocess.Popen(
            [DBUS_DAEMON, f"--config-file={config}", "--nofork", "--nopidfile", "--print-address"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.processes.append(daemon)
        assert daemon.stdout is not None
        # The daemon prints its address once it listens: reading it is the readiness check.
        line = daemon.stdout.readline().decode().strip()
        if not line:
            raise HarnessError(f"dbus-daemon exited with {daemon.wait()} before listening")
        self.address = line

    def _start_bluezoo(self) -> None:
        log = open(self.workdir / "bluezoo.log", "wb")  # noqa: SIM115 - closed with the process
        bluezoo = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).with_name("bluezoo_patched.py")),
                "--auto-enable",
                "--scan-interval=1",
                f"--adapter={CENTRAL_ADDRESS}",
                f"--adapter={PERIPHERAL_ADDRESS}",
            ],
            env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": self.address},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.processes.append(bluezoo)

    def _wait_powered(self, adapter: str) -> None:
        command = [
            DBUS_SEND,
            f"--bus={self.address}",
            "--print-reply=literal",
            "--dest=org.bluez",
            f"/org/bluez/{adapter}",
            "org.freedesktop.DBus.Properties.Get",
            "string:org.bluez.Adapter1",
            "string:Powered",
        ]
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise HarnessError(f"pid {process.pid} exited early:\n{self.log_tail()}")
            reply = subprocess.run(command, capture_output=True, text=True, check=False)
            if reply.returncode == 0 and "true" in reply.stdout:
                return
            time.sleep(POLL_INTERVAL_S)
        raise HarnessError(f"{adapter} not powered after {START_TIMEOUT_S} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        log = self.workdir / "bluezoo.log"
        if not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Stop BlueZoo, then the bus, each by its pid; remove the temporary directory."""
        for process in reversed(self.processes):
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
                try:
                    process.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    os.kill(process.pid, signal.SIGKILL)
                    process.wait()
            if process.stdout is not None:
                process.stdout.close()
        self.processes.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)
