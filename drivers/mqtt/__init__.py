"""MQTT: the box's link to its fleet (telemetry, operational events, remote commands).

- :mod:`drivers.mqtt.settings` — :class:`MqttSettings`, what the app tells the driver;
- :mod:`drivers.mqtt.wire` — topics under ``edge/<box_id>/``, commands in, replies out
  (sans-IO);
- :mod:`drivers.mqtt.outbox` — the bounded queues that wait for the broker;
- :mod:`drivers.mqtt.link` — :class:`MqttLink`, the one connection (aiomqtt), with
  reconnect, last will and the command tasks.

The driver knows nothing of the switch: it publishes what it is given and hands the
commands it receives to a callback. The app uses only the names exported here; the
link (and aiomqtt with it) is loaded on first use, so a switch without ``[mqtt]`` does
not pay for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from drivers.mqtt.settings import MqttSettings
from drivers.mqtt.wire import BadCommand, Command, Topics, valid_box_id

if TYPE_CHECKING:
    from drivers.mqtt.link import CommandHandler, MqttLink

_LAZY = {"CommandHandler": "drivers.mqtt.link", "MqttLink": "drivers.mqtt.link"}

__all__ = [
    "BadCommand",
    "Command",
    "CommandHandler",
    "MqttLink",
    "MqttSettings",
    "Topics",
    "valid_box_id",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'drivers.mqtt' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
