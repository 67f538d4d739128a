"""Browser fixtures: Debian's chromium driven by Python Playwright (sync API), a page that may
fetch nothing from outside the app, and workers running in background threads.

No browser is downloaded (it cannot be here): the tests use /usr/bin/chromium, which
`bash scripts/test.sh` installs as root with `apt-get install chromium fonts-thai-tlwg`. Without
it every browser test fails (never skips) with a message saying so.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.dispatch import Dispatcher
from bot.worker import Worker

CHROMIUM = Path(os.environ.get("SAMOE_CHROMIUM", "/usr/bin/chromium"))
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Every wait in these tests (Playwright's auto-waiting `expect` and actions) ends within this.
TIMEOUT_MS = 10_000
#: A phone: the page must be readable at 360 px and up.
VIEWPORT = {"width": 390, "height": 800}


@pytest.fixture(scope="package")
def browser():
    """One chromium for the browser tests (a package-scoped Playwright)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium. Install it with "
            "`apt-get install -y chromium fonts-thai-tlwg` (bash scripts/test.sh does so as root).",
            pytrace=False,
        )
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser, base_url):
    """A fresh browser profile (empty localStorage) that may load only this app's addresses.

    Anything else is refused and reported: the page must fetch nothing from outside."""
    ctx = browser.new_context(
        viewport=VIEWPORT, locale="th-TH", timezone_id="Asia/Bangkok", base_url=base_url
    )
    ctx.set_default_timeout(TIMEOUT_MS)
    outside: list[str] = []

    def only_this_app(route):
        url = route.request.url
        if url.startswith(base_url + "/"):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    ctx.route("**/*", only_this_app)
    errors: list[str] = []
    ctx.on("weberror", lambda error: errors.append(str(error.error)))
    yield ctx
    ctx.close()
    assert outside == [], f"the page fetched from outside the app: {outside}"
    assert errors == [], f"script errors on the page: {errors}"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so a fixture can tell that the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(context, request, tmp_path):
    """A tab; when the test fails, what it showed is printed and a screenshot kept."""
    tab = context.new_page()
    yield tab
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed and not tab.is_closed():
        tab.screenshot(path=str(tmp_path / "failed.png"))
        print(f"page at failure: {tab.url} (screenshot {tmp_path / 'failed.png'})")
        print(tab.locator("body").inner_text())


@pytest.fixture
def run_worker(app) -> Iterator[Callable[[Dispatcher | None], Worker]]:
    """Start a worker thread (the app's dispatcher, or the one given) for the rest of the test."""
    running: list[tuple[Worker, threading.Event, threading.Thread]] = []

    def start(dispatcher: Dispatcher | None = None) -> Worker:
        worker = Worker(app, dispatcher or app.extensions["samoe.dispatcher"],
                        name=f"browser-test-{len(running)}")
        stop = threading.Event()

        def loop() -> None:
            with app.app_context():
                worker.run(stop, idle=0.1)

        thread = threading.Thread(target=loop, name=worker.name, daemon=True)
        thread.start()
        running.append((worker, stop, thread))
        return worker

    yield start
    for _worker, stop, _thread in running:
        stop.set()
    for worker, _stop, thread in running:
        thread.join(timeout=15)
        worker.client.close()
        assert not thread.is_alive(), f"{worker.name} did not stop"
