"""Headless Chromium for the browser tier: Debian's ``/usr/bin/chromium`` driven by
Playwright's Python client (never ``playwright install``: no browser download).

:class:`Browser` opens a page in a fresh context — with the worker's bearer token
as a header, or offline, where every request but ``file:`` is refused and
recorded — and waits until ``pages.js`` says every chart is drawn. :class:`Page`
reads what was drawn (the SVG text ECharts rendered, its computed colours) and
collects what must never happen: console errors, uncaught exceptions, dialogs
(an ``alert`` an injection would raise) and Content-Security-Policy violations.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser as PlaywrightBrowser
from playwright.sync_api import Page as PlaywrightPage
from playwright.sync_api import Route, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1440, "height": 900}
_WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


class Page:
    """One opened page and what it did."""

    def __init__(self, page: PlaywrightPage, refused: list[str], problems: list[str]) -> None:
        self.page = page
        self.requests_refused = refused
        self.problems = problems

    def evaluate(self, script: str) -> Any:
        return self.page.evaluate(script)

    def drawn(self) -> int:
        """How many charts ``pages.js`` drew."""
        return int(self.page.get_attribute("html", "data-drawn") or "0")

    def text(self, selector: str) -> str:
        return str(self.page.text_content(selector) or "").strip()

    def visible(self, selector: str) -> bool:
        return self.page.is_visible(selector)

    def wait_text(self, selector: str) -> str:
        self.page.wait_for_selector(selector, state="visible", timeout=10_000)
        return self.text(selector)

    def svg_texts(self, chart: str) -> list[str]:
        """Every text ECharts drew in the SVG of ``chart`` (a selector)."""
        found: list[str] = self.page.eval_on_selector_all(
            f"{chart} svg text", "els => els.map(e => e.textContent)"
        )
        return found

    def svg_text_fills(self, chart: str, text: str) -> list[str]:
        """The computed fill colour of every drawn text equal to ``text``."""
        fills: list[str] = self.page.eval_on_selector_all(
            f"{chart} svg text",
            "(els, t) => els.filter(e => e.textContent === t).map(e => getComputedStyle(e).fill)",
            text,
        )
        return fills

    def click_svg_text(self, chart: str, text: str, *, last: bool = False) -> None:
        """Click where ``text`` is drawn (ECharts routes a label's click to its node)."""
        box = self.page.eval_on_selector_all(
            f"{chart} svg text",
            """(els, t) => els.filter(e => e.textContent === t).map(e => {
                 const r = e.getBoundingClientRect();
                 return [r.x + r.width / 2, r.y + r.height / 2]; })""",
            text,
        )
        assert box, f"{text!r} is not drawn in {chart}"
        x, y = box[-1] if last else box[0]
        self.page.mouse.click(x, y)

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=True)

    def assert_clean(self) -> None:
        """No console error, uncaught exception, dialog or CSP violation so far."""
        violations = self.page.evaluate("window.__csp || []")
        assert not self.problems and not violations, (self.problems, violations)


class Browser:
    """A launched Chromium; each :meth:`open` gets a context of its own."""

    def __init__(self, browser: PlaywrightBrowser) -> None:
        self._browser = browser

    def open(self, url: str, *, token: str | None = None, offline: bool = False) -> Page:
        """Open ``url`` and wait (bounded) until its charts are drawn."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        context = self._browser.new_context(viewport=VIEWPORT, extra_http_headers=headers)
        refused: list[str] = []
        problems: list[str] = []
        if offline:

            def refuse(route: Route) -> None:
                if route.request.url.startswith("file:"):
                    route.continue_()
                else:
                    refused.append(route.request.url)
                    route.abort()

            context.route("**/*", refuse)
        context.add_init_script(_WATCH_CSP)
        page = context.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))

        def dialog(d: Any) -> None:
            problems.append(f"dialog: {d.message}")
            d.dismiss()

        page.on("dialog", dialog)
        response = page.goto(url)
        assert response is None or response.status == 200, (url, response.status)
        page.wait_for_selector("html[data-drawn]", state="attached", timeout=15_000)
        return Page(page, refused, problems)

    def status(self, url: str, *, token: str | None) -> int:
        """The HTTP status ``url`` answers (through the browser's own client)."""
        context = self._browser.new_context()
        try:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return context.request.get(url, headers=headers).status
        finally:
            context.close()


@contextmanager
def browser_session() -> Iterator[Browser]:
    """Chromium launched headless; a failed test (never a skip) when it is missing."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: install it with `apt-get install -y chromium`"
            " (.ci/run does)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield Browser(browser)
        finally:
            browser.close()
