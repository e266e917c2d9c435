"""How to reach an MQTT broker (address, TLS, credentials).

Shared by the MQTT sink and ``cadence watch``. aiomqtt is imported only when a client is made.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cadence.errors import ConfigurationError

if TYPE_CHECKING:
    import aiomqtt

# How long one broker operation (CONNACK, PUBACK, SUBACK, DISCONNECT) may take before the
# connection is treated as broken and made again.
BROKER_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """Where the broker is and how to log in; checked on construction."""

    hostname: str = "localhost"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    tls_ca_file: Path | None = None
    keepalive_s: int = 15

    def __post_init__(self) -> None:
        if not self.hostname:
            raise ConfigurationError("the MQTT broker hostname is empty")
        if not 1 <= self.port <= 65535:
            raise ConfigurationError(f"MQTT port {self.port} is not in 1-65535")
        if self.password is not None and self.username is None:
            raise ConfigurationError("an MQTT password needs a username")
        if self.tls_ca_file is not None:
            if not self.tls:
                raise ConfigurationError(
                    f"a TLS CA file ({self.tls_ca_file}) is given but TLS is off: turn TLS on"
                )
            if not self.tls_ca_file.is_file():
                raise ConfigurationError(f"TLS CA file {self.tls_ca_file} does not exist")
        if self.keepalive_s < 1:
            raise ConfigurationError(f"MQTT keepalive_s must be at least 1, not {self.keepalive_s}")

    def client(
        self, *, identifier: str | None = None, will: aiomqtt.Will | None = None
    ) -> aiomqtt.Client:
        """A new, unconnected client for these settings (needs a running event loop)."""
        import aiomqtt

        tls_params = None
        if self.tls:
            ca = None if self.tls_ca_file is None else str(self.tls_ca_file)
            tls_params = aiomqtt.TLSParameters(ca_certs=ca)
        return aiomqtt.Client(
            self.hostname,
            self.port,
            username=self.username,
            password=self.password,
            identifier=identifier,
            will=will,
            keepalive=self.keepalive_s,
            timeout=BROKER_TIMEOUT_S,
            tls_params=tls_params,
        )

    @contextlib.asynccontextmanager
    async def connected(
        self, *, identifier: str | None = None, will: aiomqtt.Will | None = None
    ) -> AsyncIterator[aiomqtt.Client]:
        """A connected client (raises aiomqtt.MqttError if the broker cannot be reached).

        Unlike ``async with client``, a cancellation while connecting is safe: paho finishes
        the attempt in its thread and keeps the socket, so the attempt is let finish and the
        connection closed, rather than left for the garbage collector after the loop is gone.
        """
        client = self.client(identifier=identifier, will=will)
        entering = asyncio.create_task(client.__aenter__(), name="cadence-mqtt-connect")
        try:
            await asyncio.shield(entering)
        except asyncio.CancelledError:
            await asyncio.wait({entering})
            if not entering.cancelled() and entering.exception() is None:
                await client.__aexit__(None, None, None)
            raise
        finally:
            # A failed task holds its error, whose traceback holds this frame: break the cycle
            # so that what the error holds (paho's socket of a failed TLS handshake) goes now.
            del entering
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_exit(client)
            yield client
