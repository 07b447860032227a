"""Outgoing SMS state machine: queued -> sent -> delivered / failed."""

import pytest

from actors.sms_state import (
    TRANSITIONS,
    OutgoingSms,
    on_report,
    on_send_error,
    on_sent,
    on_unavailable,
)
from base.errors import ProtocolError


def msg(parts: int = 2) -> OutgoingSms:
    return OutgoingSms("m1", "+85512345678", "hi", "gsm1", parts, created_at=0.0)


def test_sent_once_every_part_has_a_reference_then_delivered_when_all_report() -> None:
    m = on_sent(msg(), [17, 18], now=1.0)
    assert m.status == "sent" and m.references == (17, 18)
    m = on_report(m, 18, "delivered", 2.0)
    assert m.status == "sent" and m.part_status == ("pending", "delivered")
    m = on_report(m, 17, "pending", 2.5)
    assert m.status == "sent"
    m = on_report(m, 17, "delivered", 3.0)
    assert m.status == "delivered"
    assert on_report(m, 17, "failed", 4.0) == m  # final: late reports change nothing


def test_any_part_failing_for_good_fails_the_message_and_says_why() -> None:
    m = on_report(on_sent(msg(), [1, 2], 1.0), 2, "failed", 2.0, status_code=0x41)
    assert m.status == "failed" and "part 2" in (m.error or "")


def test_transient_errors_retry_with_backoff_then_give_up() -> None:
    m = msg()
    m = on_send_error(m, "CMS 500", permanent=False, now=10.0, max_attempts=3, backoff=5.0)
    assert m.status == "queued" and m.next_attempt_at == 15.0
    m = on_send_error(m, "CMS 500", permanent=False, now=15.0, max_attempts=3, backoff=5.0)
    assert m.next_attempt_at == 25.0
    m = on_send_error(m, "CMS 500", permanent=False, now=25.0, max_attempts=3, backoff=5.0)
    assert m.status == "failed" and "gave up after 3" in (m.error or "")


def test_permanent_error_fails_at_once() -> None:
    m = on_send_error(msg(), "CMS 38 (barred)", permanent=True, now=1.0, max_attempts=5, backoff=5)
    assert m.status == "failed" and m.attempts == 1


def test_modem_unavailable_waits_without_using_an_attempt() -> None:
    m = on_unavailable(msg(), "modem not ready", 1.0, 5.0)
    assert m.status == "queued" and m.attempts == 0 and m.next_attempt_at == 6.0


def test_report_for_a_message_never_sent_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        on_report(msg(), 3, "delivered", 1.0)
    with pytest.raises(ProtocolError):
        on_report(on_sent(msg(), [1, 2], 1.0), 99, "delivered", 2.0)


def test_json_round_trip_and_table_is_closed() -> None:
    m = on_sent(msg(), [1, 2], 1.0)
    assert OutgoingSms.from_json(m.to_json()) == m
    targets = {t for row in TRANSITIONS.values() for t in row.values()}
    assert targets <= set(TRANSITIONS)
    assert TRANSITIONS["delivered"] == {} and TRANSITIONS["failed"] == {}
