"""The simulator's delivery options as one frozen value: validation, JSON, part choice."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.gsm.pdu import Deliver, decode_pdu
from drivers.gsm.simulator import ControlServer, Delivery, ModemMachine, SimulatedModem


def machine() -> ModemMachine:
    return ModemMachine(now=lambda: 0.0, wall_clock=lambda: 1_767_225_600.0)


def test_delivery_is_frozen_and_keeps_parts_as_tuples() -> None:
    delivery = Delivery(order=[2, 1], duplicate=[1], drop=[3])  # type: ignore[arg-type]
    assert (delivery.order, delivery.duplicate, delivery.drop) == ((2, 1), (1,), (3,))
    with pytest.raises(dataclasses.FrozenInstanceError):
        delivery.mode = "cmt"  # type: ignore[misc]
    assert hash(delivery) == hash(Delivery(order=(2, 1), duplicate=(1,), drop=(3,)))


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"mode": "smoke"}, "mode must be"),
        ({"order": "12"}, "'order' must be a list of integers"),
        ({"duplicate": [1, "2"]}, "'duplicate' must be a list of integers"),
        ({"drop": [True]}, "'drop' must be a list of integers"),
        ({"timestamp": "yesterday"}, "'timestamp' must be"),
        ({"reference": 1.5}, "'reference' must be an integer"),
        ({"interval": -1}, "'interval' must be >= 0"),
        ({"ucs2": 1}, "'ucs2' must be true or false"),
    ],
)
def test_bad_delivery_options_are_refused_with_the_field_named(
    fields: dict[str, object], error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        Delivery(**fields)  # type: ignore[arg-type]


def test_select_orders_duplicates_and_drops_parts() -> None:
    assert Delivery().select(3) == [1, 2, 3]
    assert Delivery(order=(3, 1), duplicate=(1,), drop=(2,)).select(3) == [3, 1, 1]
    assert Delivery(duplicate=(2,), drop=(2,)).select(2) == [1]
    with pytest.raises(ValueError, match=r"out of range 1\.\.2"):
        Delivery(drop=(3,)).select(2)


parts = st.lists(st.integers(min_value=1, max_value=9), max_size=4).map(tuple)


@given(
    order=st.none() | parts,
    duplicate=parts,
    drop=parts,
    mode=st.sampled_from(["auto", "cmti", "cmt"]),
    ucs2=st.booleans(),
    timestamp=st.none()
    | st.integers(min_value=0, max_value=2_000_000_000)
    | st.datetimes(timezones=st.just(UTC)),
    reference=st.none() | st.integers(min_value=0, max_value=255),
    interval=st.floats(min_value=0, max_value=60),
)
def test_json_round_trip_keeps_every_field(**fields: object) -> None:
    delivery = Delivery(**fields)  # type: ignore[arg-type]
    assert Delivery.from_json(delivery.to_json()) == delivery


def test_to_json_names_only_what_differs_from_the_default() -> None:
    assert Delivery().to_json() == {}
    stamp = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert Delivery(mode="cmt", timestamp=stamp).to_json() == {
        "mode": "cmt",
        "timestamp": "2026-01-02T03:04:05+00:00",
    }


def test_machine_delivers_as_the_value_says() -> None:
    m = machine()
    stamp = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    count, pdus = m.deliver_sms(
        "+85512345678", "x" * 300, Delivery(order=(2,), timestamp=stamp, reference=77)
    )
    assert count == 2 and len(pdus) == 1
    decoded = decode_pdu(pdus[0])
    assert isinstance(decoded, Deliver) and decoded.concat is not None
    assert (decoded.concat.sequence, decoded.concat.reference) == (2, 77)
    assert decoded.timestamp == stamp


def test_raw_pdu_with_an_unknown_mode_is_refused_and_nothing_is_queued() -> None:
    m = machine()
    with pytest.raises(ValueError, match="mode must be"):
        m.deliver_raw_pdu("00DEADBEEF", mode="smoke")  # type: ignore[arg-type]
    assert len(m.network_queue) == 0


async def test_control_op_refuses_bad_options_and_delivers_nothing(tmp_path: Path) -> None:
    modem = SimulatedModem(tmp_path / "ttySIM0")  # not started: the op needs no pty
    server = ControlServer(modem, tmp_path / "sim.sock")
    reply = await server.handle(
        b'{"op": "deliver_sms", "sender": "+85512345678", "text": "hi", "order": "1"}'
    )
    assert reply == {"ok": False, "error": "deliver_sms: 'order' must be a list of integers"}
    assert modem.state()["storage"]["used"] == 0 and modem.state()["network_pending"] == 0
    reply = await server.handle(
        b'{"op": "deliver_sms", "sender": "+85512345678", "text": "hi", "mode": "cmti",'
        b' "timestamp": "2026-01-02T03:04:05+00:00"}'
    )
    assert reply["ok"] is True and reply["parts"] == 1
    assert modem.state()["storage"]["used"] == 1
