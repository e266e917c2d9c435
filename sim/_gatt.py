"""A GATT server and LE advertisement on BlueZ's documented D-Bus API (dbus-fast).

Objects follow ``doc/org.bluez.GattService.rst``, ``org.bluez.GattCharacteristic.rst`` and
``org.bluez.LEAdvertisement.rst``: the application exports an ObjectManager whose objects are the
services and characteristics, and registers it with ``GattManager1.RegisterApplication``;
notifications are ``PropertiesChanged`` signals of a characteristic's ``Value``. The same code
serves as a real peripheral on any Linux machine with BlueZ (a Raspberry Pi) and against the
BlueZoo emulator in the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any

from dbus_fast import DBusError, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusSignature
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property

BLUEZ = "org.bluez"
GATT_MANAGER = "org.bluez.GattManager1"
ADVERTISING_MANAGER = "org.bluez.LEAdvertisingManager1"
ADAPTER = "org.bluez.Adapter1"
DEVICE = "org.bluez.Device1"

Options = Annotated[dict[str, Variant], DBusSignature("a{sv}")]
Bytes = Annotated[bytes, DBusSignature("ay")]
Str = Annotated[str, DBusSignature("s")]
StrList = Annotated[list[str], DBusSignature("as")]
Path = Annotated[str, DBusSignature("o")]
Bool = Annotated[bool, DBusSignature("b")]
# A method without a reply value (dbus-fast reads the signature from the annotation).
NoReply = Annotated[None, DBusSignature("")]

ReadHandler = Callable[[], bytes]
WriteHandler = Callable[[bytes], None]
SubscribeHandler = Callable[[bool], None]


class GattService(ServiceInterface):
    """``org.bluez.GattService1``: a primary service."""

    def __init__(self, path: str, uuid: str) -> None:
        super().__init__("org.bluez.GattService1")
        self.path = path
        self.uuid = uuid

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> Str:  # noqa: N802 - D-Bus names
        return self.uuid

    @dbus_property(access=PropertyAccess.READ)
    def Primary(self) -> Bool:  # noqa: N802
        return True


class GattCharacteristic(ServiceInterface):
    """``org.bluez.GattCharacteristic1`` served from Python callbacks.

    ``notify(value)`` sends a notification (or an indication, by the flags) to the subscribed
    client; it does nothing while nobody is subscribed, like a real sensor.
    """

    def __init__(
        self,
        path: str,
        service: GattService,
        uuid: str,
        flags: Sequence[str],
        *,
        on_read: ReadHandler | None = None,
        on_write: WriteHandler | None = None,
        on_subscribe: SubscribeHandler | None = None,
    ) -> None:
        super().__init__("org.bluez.GattCharacteristic1")
        self.path = path
        self._service_path = service.path
        self._uuid = uuid
        self._flags = list(flags)
        self._on_read = on_read
        self._on_write = on_write
        self._on_subscribe = on_subscribe
        self._value = b""
        self.notifying = False

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> Str:  # noqa: N802
        return self._uuid

    @dbus_property(access=PropertyAccess.READ)
    def Service(self) -> Path:  # noqa: N802
        return self._service_path

    @dbus_property(access=PropertyAccess.READ)
    def Flags(self) -> StrList:  # noqa: N802
        return self._flags

    @dbus_property(access=PropertyAccess.READ)
    def Value(self) -> Bytes:  # noqa: N802
        return self._value

    @dbus_property(access=PropertyAccess.READ)
    def Notifying(self) -> Bool:  # noqa: N802
        return self.notifying

    @dbus_method()
    def ReadValue(self, options: Options) -> Bytes:  # noqa: N802
        if self._on_read is None:
            raise DBusError("org.bluez.Error.NotPermitted", "not readable")
        self._value = self._on_read()
        return self._value

    @dbus_method()
    def WriteValue(self, value: Bytes, options: Options) -> NoReply:  # noqa: N802
        if self._on_write is None:
            raise DBusError("org.bluez.Error.NotPermitted", "not writable")
        self._on_write(bytes(value))

    @dbus_method()
    def StartNotify(self) -> NoReply:  # noqa: N802
        self._set_notifying(True)

    @dbus_method()
    def StopNotify(self) -> NoReply:  # noqa: N802
        self._set_notifying(False)

    @dbus_method()
    def Confirm(self) -> NoReply:  # noqa: N802
        """The client received an indication; nothing waits on it here."""

    def _set_notifying(self, notifying: bool) -> None:
        if notifying == self.notifying:
            return
        self.notifying = notifying
        self.emit_properties_changed({"Notifying": notifying})
        if self._on_subscribe is not None:
            self._on_subscribe(notifying)

    def notify(self, value: bytes) -> bool:
        """Send ``value`` to the subscriber; False if nobody is subscribed."""
        if not self.notifying:
            return False
        self._value = bytes(value)
        self.emit_properties_changed({"Value": self._value})
        return True


class Advertisement(ServiceInterface):
    """``org.bluez.LEAdvertisement1``: a connectable, discoverable peripheral."""

    def __init__(self, path: str, *, local_name: str, service_uuids: Sequence[str]) -> None:
        super().__init__("org.bluez.LEAdvertisement1")
        self.path = path
        self._local_name = local_name
        self._service_uuids = list(service_uuids)

    @dbus_property(access=PropertyAccess.READ)
    def Type(self) -> Str:  # noqa: N802
        return "peripheral"

    @dbus_property(access=PropertyAccess.READ)
    def ServiceUUIDs(self) -> StrList:  # noqa: N802
        return self._service_uuids

    @dbus_property(access=PropertyAccess.READ)
    def LocalName(self) -> Str:  # noqa: N802
        return self._local_name

    @dbus_property(access=PropertyAccess.READ)
    def Discoverable(self) -> Bool:  # noqa: N802
        return True

    @dbus_method()
    def Release(self) -> NoReply:  # noqa: N802
        """BlueZ dropped the advertisement (adapter reset); nothing to free."""


class GattApplication:
    """Services and characteristics under one object path, plus their advertisement."""

    def __init__(self, root: str, *, local_name: str) -> None:
        self.root = root
        self.local_name = local_name
        self.services: list[GattService] = []
        self.characteristics: list[GattCharacteristic] = []

    def add_service(self, uuid: str) -> GattService:
        service = GattService(f"{self.root}/service{len(self.services)}", uuid)
        self.services.append(service)
        return service

    def add_characteristic(
        self, service: GattService, uuid: str, flags: Sequence[str], **handlers: Any
    ) -> GattCharacteristic:
        path = f"{service.path}/char{len(self.characteristics)}"
        characteristic = GattCharacteristic(path, service, uuid, flags, **handlers)
        self.characteristics.append(characteristic)
        return characteristic

    async def register(
        self, bus: MessageBus, adapter_path: str, *, advertised: Sequence[str] | None = None
    ) -> None:
        """Export everything and register the application and its advertisement with BlueZ;
        the advertisement lists ``advertised`` service UUIDs (default: every service's)."""
        for service in self.services:
            bus.export(service.path, service)
        for characteristic in self.characteristics:
            bus.export(characteristic.path, characteristic)
        advertisement = Advertisement(
            f"{self.root}/advertisement",
            local_name=self.local_name,
            service_uuids=(
                [service.uuid for service in self.services] if advertised is None else advertised
            ),
        )
        bus.export(advertisement.path, advertisement)
        adapter = await bluez_interface(bus, adapter_path)
        await adapter.get_interface(GATT_MANAGER).call_register_application(self.root, {})
        await adapter.get_interface(ADVERTISING_MANAGER).call_register_advertisement(
            advertisement.path, {}
        )


async def bluez_interface(bus: MessageBus, path: str) -> Any:
    """A proxy object for a BlueZ object (adapter or device)."""
    introspection = await bus.introspect(BLUEZ, path)
    return bus.get_proxy_object(BLUEZ, path, introspection)
