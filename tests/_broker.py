"""A real mosquitto broker for the MQTT tests: own config, free port, started and stopped by pid.

``Mosquitto.start`` polls until the port accepts connections (no sleeps); ``stop`` sends
SIGTERM to its pid (mosquitto then saves its persistence file) and ``start`` again reuses the
same port, for the broker-restart test. Helpers make TLS certificates with the ``openssl``
command and password files with ``mosquitto_passwd``.
"""

from __future__ import annotations

import asyncio
import getpass
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import pytest

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
START_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def require_command(path: str) -> str:
    found = shutil.which(path)
    if found is None and Path(path).is_file():
        found = path
    if found is None:
        pytest.fail(f"{path} is not installed (apt-get install mosquitto openssl)")
    return found


class Mosquitto:
    """One mosquitto process on 127.0.0.1 with a config written into ``directory``."""

    def __init__(self, directory: Path, *, extra_config: str = "", persistent: bool = False):
        require_command(MOSQUITTO)
        self.directory = directory
        self.port = free_port()
        self.log_path = directory / "mosquitto.log"
        self.config_path = directory / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            # As root, mosquitto would switch to user "mosquitto", which cannot read tmp_path.
            f"user {getpass.getuser()}",
            f"persistence {'true' if persistent else 'false'}",
            f"persistence_location {directory}/",
            "log_type error",
            "log_type warning",
            "log_type notice",
            extra_config or "allow_anonymous true",
        ]
        self.config_path.write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.process is None, "mosquitto is already running"
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config_path)], stdout=log, stderr=log
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.01)  # polling the port, not waiting for readiness blindly
        self.stop()
        pytest.fail(f"mosquitto did not start on port {self.port}:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@asynccontextmanager
async def subscriber(
    broker: Mosquitto, *topics: str, **client_options: object
) -> AsyncIterator[aiomqtt.Client]:
    """A connected aiomqtt client subscribed (QoS 1) to ``topics``."""
    async with aiomqtt.Client("127.0.0.1", broker.port, **client_options) as client:  # type: ignore[arg-type]
        for name in topics:
            await client.subscribe(name, qos=1)
        yield client


async def next_message(
    client: aiomqtt.Client, accept: Callable[[aiomqtt.Message], bool] = lambda m: True
) -> aiomqtt.Message:
    """The next message ``accept`` takes (others are skipped); fails after 10 s."""
    async with asyncio.timeout(10):
        async for message in client.messages:
            if accept(message):
                return message
    raise AssertionError("the subscription ended")


async def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    """Poll ``condition`` on the event loop until it holds."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.005)


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path


def make_tls_files(directory: Path) -> TlsFiles:
    """A throw-away CA and a server certificate for localhost / 127.0.0.1, made by openssl."""
    openssl = require_command("openssl")
    ca_key, ca_cert = directory / "ca.key", directory / "ca.crt"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.crt"
    extensions = directory / "server.ext"
    extensions.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"]

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True)

    run("req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca_cert), "-subj", "/CN=test CA")
    run("req", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost")
    signing = ["-CA", str(ca_cert), "-CAkey", str(ca_key), "-CAcreateserial", "-days", "1"]
    run("x509", "-req", "-in", str(csr), *signing, "-out", str(cert), "-extfile", str(extensions))
    return TlsFiles(ca_cert=ca_cert, server_cert=cert, server_key=key)


def make_password_file(directory: Path, username: str, password: str) -> Path:
    path = directory / "passwords"
    passwd = require_command("mosquitto_passwd")
    subprocess.run([passwd, "-b", "-c", str(path), username, password], check=True)
    path.chmod(0o600)
    return path


# A runner's process that connects a sink, says so, and waits to be killed (for the last will).
SINK_PROCESS = """
import asyncio, sys
from cadence.sinks.mqtt import MqttSink

async def main():
    async with MqttSink(runner=sys.argv[1], hostname="127.0.0.1", port=int(sys.argv[2])) as sink:
        while not sink.connected:
            await asyncio.sleep(0.005)
        print("connected", flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


@asynccontextmanager
async def sink_process(runner: str, broker: Mosquitto) -> AsyncIterator[asyncio.subprocess.Process]:
    """A separate process with a connected MqttSink; the caller kills it (SIGKILL by pid)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SINK_PROCESS, runner, str(broker.port),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        async with asyncio.timeout(30):
            line = await process.stdout.readline()
        assert line == b"connected\n", f"sink process said {line!r}"
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
