"""The review page end to end in a real headless Chromium against a real uvicorn server.

Debian's ``chromium`` driven by Playwright for Python through its ``executable_path`` (no
browser download). Skipped, saying why, only when /usr/bin/chromium or playwright is missing;
on CI (``CI`` set) a missing browser is a failure instead.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import uvicorn
from test_review_page import PASSWORD, SCRIPT_TEXT, fill_queue, item_of, scored_threads

from moderation.reviewqueue import ReviewQueue
from moderation.service.app import create_app
from moderation.service.auth import add_user
from moderation.service.settings import ServiceSettings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; .ci/run installs it")
    pytest.skip(reason)


if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
    _missing(f"{CHROMIUM} not found (Debian package 'chromium')")
try:
    from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, sync_playwright
except ImportError:
    _missing("playwright for Python is not installed (pip install playwright; no browser download)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def scored() -> tuple[pd.DataFrame, dict[str, float]]:
    return scored_threads()


@pytest.fixture
def server(
    tmp_path: Path, scored: tuple[pd.DataFrame, dict[str, float]]
) -> Iterator[dict[str, Any]]:
    """The service (`create_app`) in uvicorn on a free loopback port, on a fresh SQLite queue."""
    url = fill_queue(tmp_path / "queue.db", scored)
    users = tmp_path / "moderators.txt"
    add_user(users, "ana", PASSWORD)
    app = create_app(ServiceSettings(queue_url=url, users_file=users, session_secret="k"))
    config = uvicorn.Config(app, host="127.0.0.1", port=_free_port(), log_level="warning")
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uvicorn_server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield {"base": f"http://127.0.0.1:{config.port}", "queue": url}
    finally:
        uvicorn_server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/review")
    assert "/review/sign-in?next=" in page.url
    page.fill("input[name=name]", "ana")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{base}/review")


def test_moderator_signs_in_reviews_approves_and_signs_out(
    page: Page, server: dict[str, Any], tmp_path: Path
) -> None:
    base = server["base"]
    dialogs: list[str] = []
    blocked: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            blocked.append(message.text)

    page.on("dialog", on_dialog)
    page.on("console", on_console)

    # Anonymous: every page sends to the sign-in form.
    page.goto(f"{base}/review/items/1")
    assert page.url.startswith(f"{base}/review/sign-in?next=")
    assert page.locator("h1").inner_text() == "Sign in"

    sign_in(page, base)
    assert "Signed in as" in page.locator("header").inner_text()
    item = item_of(server["queue"], "bus-6")
    entries = page.locator("li.entry")
    assert entries.count() >= 2
    assert page.locator(f'li.entry[data-item="{item}"]').count() == 1

    # The item: the comment's markup is text, its insult is highlighted, its parent is shown.
    page.click(f'li.entry[data-item="{item}"] a.open')
    page.wait_for_url(f"{base}/review/items/{item}")
    lead = page.locator("li.comment.lead p.text")
    assert lead.inner_text() == SCRIPT_TEXT
    assert (
        page.locator("li.comment.lead p.who")
        .inner_text()
        .startswith("<img src=x onerror=alert(1)>")
    )
    marks = [m.inner_text() for m in page.locator("li.comment.lead mark.span").all()]
    assert any("idiot" in m for m in marks), marks
    assert "A 20% increase is steep" in page.locator("blockquote.context").inner_text()
    assert page.locator("dd.article").inner_text() == "Council approves 20% bus fare increase"
    assert page.evaluate("document.scripts.length") == 0
    assert page.evaluate("document.images.length") == 0
    highlight = page.locator("li.comment.lead mark.span").first
    assert highlight.evaluate("m => getComputedStyle(m).backgroundColor") == "rgb(255, 224, 138)"

    # It renders: a full-page screenshot of a sensible size that is not blank.
    shot = page.screenshot(full_page=True)
    (tmp_path / "review-item.png").write_bytes(shot)
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    image = Image.open(io.BytesIO(shot)).convert("L")
    width, height = image.size
    assert width == 1200 and 600 <= height <= 20000
    low, high = image.getextrema()
    assert (
        isinstance(low, int) and isinstance(high, int) and high - low > 100
    )  # text on a background, not one flat colour
    histogram = image.histogram()
    assert max(histogram) < 0.98 * width * height  # not almost all one shade

    # Approve: back on the queue, the item is gone and the decision is in the database.
    page.fill("input[name=note]", "quoting, not insulting")
    page.click("button[value=approve]")
    page.wait_for_url(f"{base}/review?decided={item}")
    assert f"Item {item} decided." in page.locator("p.notice").inner_text()
    assert page.locator(f'li.entry[data-item="{item}"]').count() == 0
    with ReviewQueue(server["queue"]) as queue:
        decided = queue.item(item).item
    assert (decided["status"], decided["decided_by"], decided["note"]) == (
        "approved",
        "ana",
        "quoting, not insulting",
    )

    # Sign out: the page is closed again.
    page.click("button:has-text('Sign out')")
    page.wait_for_url(f"{base}/review/sign-in")
    page.goto(f"{base}/review")
    assert "/review/sign-in" in page.url

    assert dialogs == []  # no injected script ever ran
    assert blocked == []  # and the page itself needs nothing the policy forbids


def test_a_form_posted_from_another_site_is_refused(page: Page, server: dict[str, Any]) -> None:
    """A signed-in moderator lured to a page that posts a decision: CSRF and SameSite stop it."""
    base = server["base"]
    sign_in(page, base)
    item = item_of(server["queue"], "bus-6")
    page.goto("about:blank")  # another site: an opaque origin
    page.set_content(
        f'<form id="f" method="post" action="{base}/review/items/{item}/decision">'
        '<input name="decision" value="reject"><input name="version" value="0">'
        '<input name="csrf_token" value="guess"></form>'
    )
    page.evaluate("document.getElementById('f').submit()")
    # SameSite=Lax keeps the session cookie off the cross-site POST, so the server sees nobody
    # and sends the browser to sign in; already signed in there, it lands on the item.
    page.wait_for_url(f"{base}/review/items/{item}")
    assert page.locator("dd.status").inner_text() == "pending"
    with ReviewQueue(server["queue"]) as queue:
        assert queue.item(item).item["status"] == "pending"
