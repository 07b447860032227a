"""The widget's pure parts: the page protocol, visitor cookies, origins, the queue's state
as a page sees it."""

from __future__ import annotations

import json

import pytest

from base.errors import Rejected
from switch.widget import protocol as p
from switch.widget.routes import origin_allowed
from switch.widget.service import queue_status
from switch.widget.visitor import VisitorKeys, cookie_header

SECRET = "ab" * 32


def parse(frame: object, max_message: int = 20) -> p.ClientFrame:
    return p.parse_frame(json.dumps(frame), max_message)


def rejected(frame: object, max_message: int = 20) -> str:
    with pytest.raises(Rejected) as info:
        p.parse_frame(frame if isinstance(frame, str) else json.dumps(frame), max_message)
    return info.value.code


def test_a_message_is_kept_as_written_but_for_control_characters() -> None:
    assert parse({"type": "send", "id": "m-1", "text": "<b>hi</b>\r\nok\x07"}) == p.Send(
        "m-1", "<b>hi</b>\nok"
    )


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "send", "id": "m1", "text": "x" * 21}, "too_long"),
        ({"type": "send", "id": "m1", "text": " \n\t"}, "empty"),
        ({"type": "send", "id": "bad id!", "text": "hi"}, "invalid_frame"),
        ({"type": "send", "id": "m1", "text": 5}, "invalid_frame"),
        ({"type": "typing", "on": "yes"}, "invalid_frame"),
        ({"type": "seen", "ids": ["a"] * 201}, "invalid_frame"),
        ({"type": "seen", "ids": ["a"], "status": "lost"}, "invalid_frame"),
        ({"type": "code", "code": "12ab"}, "invalid_code"),
        ({"type": "phone", "number": ""}, "invalid_phone"),
        ({"type": "nonsense"}, "invalid_frame"),
        (["send"], "invalid_frame"),
        ("not json", "invalid_frame"),
        ("x" * (p.MAX_FRAME + 1), "too_long"),
    ],
)
def test_bad_frames_are_refused_with_a_code_the_page_can_show(frame: object, code: str) -> None:
    assert rejected(frame) == code


def test_digits_in_the_widgets_languages_are_read_as_digits() -> None:
    assert parse({"type": "code", "code": "۱۲۳۴۵۶"}) == p.EnterCode("123456")
    assert parse({"type": "phone", "number": "០១២ ៣៤៥ ៦៧៨"}) == p.LeavePhone("012 345 678")
    assert parse({"type": "callback"}) == p.AskCallback()


def test_a_visitor_cookie_is_signed_and_a_forged_one_names_nobody() -> None:
    keys = VisitorKeys(SECRET)
    cookie = keys.cookie("0123456789abcdef")
    assert keys.visitor(cookie) == "0123456789abcdef"
    assert keys.visitor("0123456789abcdee" + cookie[16:]) is None  # another visitor's name
    assert keys.visitor("0123456789abcdef.forged") is None
    assert VisitorKeys("cd" * 32).visitor(cookie) is None  # another switch's cookie
    assert keys.visitor(None) is None and keys.visitor("x" * 200) is None
    assert keys.code_hash("0123456789abcdef", "+85512345678", "123456") != keys.code_hash(
        "fedcba9876543210", "+85512345678", "123456"
    )  # a code is bound to the visitor who asked for it
    assert "HttpOnly" in cookie_header(cookie, max_age=60, secure=False)
    assert "SameSite=None; Secure" in cookie_header(cookie, max_age=60, secure=True)


def test_origins() -> None:
    allowed = ["https://shop.example"]
    assert origin_allowed("https://shop.example", "switch:8080", allowed)
    assert origin_allowed("HTTPS://SHOP.EXAMPLE", "switch:8080", allowed)
    assert not origin_allowed("https://evil.example", "switch:8080", allowed)
    assert not origin_allowed("https://shop.example.evil", "switch:8080", allowed)
    assert origin_allowed("http://switch:8080", "switch:8080", allowed)  # its own pages
    assert origin_allowed("https://any.example", "switch:8080", ["*"])
    assert origin_allowed(None, "switch:8080", allowed)  # not a browser page


@pytest.mark.parametrize(
    ("row", "open_now", "status"),
    [
        ({"agents_for_chat": 2, "agents_signed_in": 2}, True, "open"),
        ({"agents_for_chat": 0, "agents_signed_in": 2}, True, "busy"),
        ({"agents_for_chat": 0, "agents_signed_in": 0}, True, "no_agents"),
        (None, True, "no_agents"),
        ({"agents_for_chat": 2, "agents_signed_in": 2}, False, "closed"),
    ],
)
def test_the_queue_as_a_page_sees_it(
    row: dict[str, int] | None, open_now: bool, status: str
) -> None:
    assert queue_status(row, open_now=open_now) == status
