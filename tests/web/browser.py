"""Chromium for the desktop's tests: Debian's chromium driven by Playwright (never
`playwright install`), axe-core's accessibility check, screenshots for the docs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = Path(__file__).with_name("axe-core-4.14.1.min.js")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SERIOUS = ("serious", "critical")


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Browser, **options: Any) -> Page:
    page = browser.new_page(viewport={"width": 1280, "height": 860}, **options)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    return page


def axe_problems(page: Page) -> list[dict[str, Any]]:
    """Serious and critical violations axe-core finds in the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # evaluated through the debugging protocol: the page's CSP (no inline script)
        # stays as it is for the app
        page.evaluate("() => {" + AXE.read_text(encoding="utf-8") + "\n}")
    result: dict[str, Any] = page.evaluate("axe.run(document)")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["html"] for n in v["nodes"]][:3]}
        for v in result["violations"]
        if v["impact"] in SERIOUS
    ]


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


async def axe_problems_async(page: Any) -> list[dict[str, Any]]:
    """:func:`axe_problems` for a page of Playwright's asyncio API."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate("() => {" + AXE.read_text(encoding="utf-8") + "\n}")
    result: dict[str, Any] = await page.evaluate("axe.run(document)")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["html"] for n in v["nodes"]][:3]}
        for v in result["violations"]
        if v["impact"] in SERIOUS
    ]
