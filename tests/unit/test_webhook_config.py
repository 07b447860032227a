"""[[webhooks]]: validation with key paths, and the signature a receiver checks."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from actors.store import StoredEvent
from base.errors import ConfigError
from switch.config import parse_config
from switch.webhooks import payload, sign

TOKENS = {"api": {"tokens": ["secret-token-for-tests"]}}
GOOD = {"url": "https://crm.example/hook", "secret": "0123456789abcdef", "events": ["csat"]}


def errors(hook: dict[str, object], *more: dict[str, object]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        parse_config({**TOKENS, "webhooks": [hook, *more]})
    return info.value.errors


def test_a_good_webhook_and_every_kind() -> None:
    cfg = parse_config(
        {**TOKENS, "webhooks": [GOOD, {**GOOD, "url": "http://127.0.0.1:9/x", "events": ["*"]}]}
    )
    assert cfg.webhooks[0].kinds == ("csat",)
    assert "call_ended" in cfg.webhooks[1].kinds
    assert cfg.webhooks[0].hook_id != cfg.webhooks[1].hook_id


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        ({"url": "ftp://crm.example/"}, "webhooks[0].url", "http(s)"),
        ({"url": "https://user:pw@crm.example/"}, "webhooks[0].url", "credentials"),
        ({"secret": "short"}, "webhooks[0].secret", "16"),
        ({"events": ["call_endd"]}, "webhooks[0].events", "unknown journey kind"),
        ({"events": []}, "webhooks[0].events", "at least 1"),
        ({"retry_initial": 10, "retry_max": 5}, "webhooks[0]", "retry_max"),
        ({"colour": "red"}, "webhooks[0].colour", "unknown key"),
    ],
)
def test_bad_webhooks_are_named_by_key_path(
    change: dict[str, object], path: str, words: str
) -> None:
    found = errors({**GOOD, **change})
    assert any(p == path and words in m for p, m in found), found


def test_two_webhooks_with_one_url_are_refused() -> None:
    assert any("second webhook" in m for _, m in errors(GOOD, GOOD))


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = payload("crm", StoredEvent(7, "contact:c1", "csat", 0.0, {"channel": "sms", "score": 5}))
    assert json.loads(body) == {
        "delivery": "crm-7",
        "seq": 7,
        "kind": "csat",
        "contact_id": "c1",
        "channel": "sms",
        "at": "1970-01-01T00:00:00Z",
        "data": {"score": 5},
    }
    expected = hmac.new(b"secret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("secret", 1_700_000_000, body) == "sha256=" + expected
    assert sign("secret", 1_700_000_001, body) != sign("secret", 1_700_000_000, body)
