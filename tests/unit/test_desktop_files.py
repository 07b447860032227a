"""The desktop's files as shipped: every catalogue has every key with the same
placeholders, every key the scripts use exists, the page loads only its own files, and
its CSS uses logical properties (a right-to-left page mirrors without rules of its own)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from switch.desktop import STATIC, page_headers

LANGUAGES = ("en", "km", "th", "fa")


def catalogue(code: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((STATIC / "i18n" / f"{code}.json").read_text("utf-8"))
    return data


@pytest.mark.parametrize("code", LANGUAGES[1:])
def test_every_catalogue_has_the_english_keys_and_placeholders(code: str) -> None:
    english, other = catalogue("en"), catalogue(code)
    assert set(other) == set(english)
    for key, text in english.items():
        wanted = sorted(re.findall(r"\{(\w+)\}", text))
        assert sorted(re.findall(r"\{(\w+)\}", other[key])) == wanted, (code, key)
        assert other[key].strip(), (code, key)


def test_every_key_the_scripts_use_is_in_the_catalogue() -> None:
    english = catalogue("en")
    used: set[str] = set()
    prefixes: set[str] = set()
    for script in STATIC.glob("*.js"):
        text = script.read_text("utf-8")
        used |= set(re.findall(r"""\bt(?:Parts)?\("([a-z0-9_.]+)"[,)]""", text))
        prefixes |= set(re.findall(r"""\bt\(`([a-z_]+)\.\$\{""", text))
    assert used and not used - set(english), used - set(english)
    for prefix in prefixes:  # t(`state.${x}`): the family exists
        assert any(k.startswith(prefix + ".") for k in english), prefix


def test_the_page_loads_nothing_from_elsewhere() -> None:
    for path in [*STATIC.glob("*.js"), *STATIC.glob("*.html"), *STATIC.glob("*.css")]:
        text = path.read_text("utf-8")
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), path.name
        assert "http://" not in text and "https://" not in text, path.name


def test_the_styles_use_logical_properties_only() -> None:
    css = (STATIC / "app.css").read_text("utf-8")
    physical = re.findall(
        r"(?<![-\w])(margin|padding|border)-(left|right|top|bottom)\b|(?<![-\w])(left|right)\s*:|text-align:\s*(left|right)|float:\s*(left|right)",
        css,
    )
    assert physical == []


def test_the_desktop_is_small() -> None:
    total = sum(p.stat().st_size for p in Path(STATIC).rglob("*") if p.is_file())
    assert total < 300_000  # everything, all four catalogues included


def test_the_page_may_connect_to_the_edges_websockets_only() -> None:
    plain = page_headers([])["Content-Security-Policy"]
    assert "connect-src 'self';" in plain
    policy = page_headers(["ws://10.0.0.5:8080", "wss://box.lan:8443", "ws://x;script-src *"])[
        "Content-Security-Policy"
    ]
    assert "connect-src 'self' ws://10.0.0.5:8080 wss://box.lan:8443;" in policy
    assert "script-src 'self';" in policy and "script-src *" not in policy


def test_the_desk_loads_the_browser_phone_from_the_switch() -> None:
    text = (STATIC / "deskphone.js").read_text("utf-8")
    modules = re.findall(r'"(/static/phone/\w+\.js)"', text)
    web = STATIC.parent.parent / "web" / "static" / "phone"
    assert modules and all((web / Path(m).name).is_file() for m in modules)
