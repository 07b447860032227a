"""The core's side of store-before-delete: parts kept durably, read back after a
restart, and the whole message recorded once with its parts' records removed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from base.clock import FakeClock
from drivers.gsm import InboundPart, InboundSms
from switch.config import parse_config
from switch.core import Core
from switch.sms_inbound import INPART_NS, InboundRecorder, part_from_json, part_json
from switch.store import Store

SENDER = "+85512345678"
STAMP = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def part(sequence: int, text: str, modem: str = "gsm1") -> InboundPart:
    return InboundPart(
        modem_id=modem,
        key=f"key-{modem}-{sequence}",
        sender=SENDER,
        reference=7,
        total=3,
        sequence=sequence,
        text=text,
        fingerprint=f"fp-{sequence}",
        smsc_timestamp=STAMP,
        received_at=1000.0 + sequence,
    )


def sms(parts: list[InboundPart]) -> InboundSms:
    return InboundSms(
        modem_id="gsm1",
        sender=SENDER,
        text="".join(p.text for p in parts),
        parts=3,
        incomplete=False,
        missing=(),
        idempotency_key="message-key",
        smsc_timestamp=STAMP,
        received_at=2000.0,
        part_keys=tuple(p.key for p in parts),
    )


async def open_core(path: Path) -> Core:
    cfg = parse_config(
        {"store": {"path": str(path)}, "api": {"tokens": ["secret-token-for-tests"]}}
    )
    return Core(cfg, await Store.open(cfg.store.path), FakeClock())


def test_a_part_survives_its_json_form() -> None:
    p = part(2, "ជំរាប")
    assert part_from_json(part_json(p)) == p
    single = InboundPart("gsm1", "k", "Smart", None, 1, 1, "x", "f", None, 1.0)
    assert part_from_json(part_json(single)) == single


async def test_parts_are_kept_once_and_read_back_after_a_restart(tmp_path: Path) -> None:
    core = await open_core(tmp_path / "s.db")
    inbound = InboundRecorder(core)
    first, second = part(1, "ab"), part(2, "cd")
    await inbound.part_received(first)
    await inbound.part_received(first)  # read again after a crash before its delete
    await inbound.part_received(second)
    await inbound.part_received(part(1, "other modem", modem="gsm2"))
    await core.close()

    core = await open_core(tmp_path / "s.db")  # kill -9 and start again
    inbound = InboundRecorder(core)
    kept = sorted(inbound.stored_parts("gsm1"), key=lambda p: p.sequence)
    assert kept == [first, second]
    assert [p.text for p in inbound.stored_parts("gsm2")] == ["other modem"]
    assert not inbound.part_recorded(first.key)
    await core.close()


async def test_the_message_is_recorded_once_and_takes_its_parts_records_away(
    tmp_path: Path,
) -> None:
    core = await open_core(tmp_path / "s.db")
    inbound = InboundRecorder(core)
    parts = [part(1, "ab"), part(2, "cd"), part(3, "ef")]
    for p in parts[:2]:
        await inbound.part_received(p)
    whole = sms(parts)
    await inbound.sms_received(whole)
    await inbound.sms_received(whole)  # handed over again: recorded once
    assert inbound.stored_parts("gsm1") == []
    assert core.store.scan(INPART_NS) == []
    assert all(inbound.part_recorded(p.key) for p in parts)
    await inbound.part_received(parts[0])  # a late copy cannot come back as a waiting part
    assert inbound.stored_parts("gsm1") == []
    [contact] = await core.contacts_by_phone(SENDER)
    journey = await core.journey(contact.contact_id)
    assert [(e["kind"], e["text"]) for e in journey] == [("message_in", "abcdef")]
    await core.close()
