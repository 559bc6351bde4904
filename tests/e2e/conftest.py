"""Fixtures of the browser tests: Debian's Chromium through Playwright, app servers, screenshots."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import expect

from tests.e2e.ui import Steps
from tests.fixtures.app_server import AppServer, server_starter
from tests.fixtures.browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORT
from tests.fixtures.tools import missing

# expect() waits for the page's state; its 5 s default is a bound a loaded machine's script runs
# can pass (a signed-in page drawn after more than 5 s at a load of 11 on 2 cores). The same 30 s
# as the contexts' actions: a page that never gets there still fails.
expect.set_options(timeout=30_000)


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole session (Debian's; `playwright install` cannot work)."""
    if not CHROMIUM.exists():
        missing("Chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_context(browser) -> Iterator[Callable]:
    """Make fresh browser contexts (separate cookies and sessions); closed after the test."""
    made = []

    def make(**kwargs):
        context = browser.new_context(viewport=VIEWPORT, accept_downloads=True, **kwargs)
        context.set_default_timeout(30_000)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()


@pytest.fixture
def page(new_context):
    """A page in a fresh browser context."""
    return new_context().new_page()


@pytest.fixture
def steps(request) -> Steps:
    """Numbered screenshots of this test under tests/e2e/artifacts/<test>/."""
    return Steps(request.node.name)


@pytest.fixture(scope="module")
def start_server(tmp_path_factory, browser) -> Iterator[Callable[..., AppServer]]:
    """Start app servers for a module (env and secrets per server); all stopped at its end."""
    with server_starter(tmp_path_factory) as start:
        yield start


@pytest.fixture(scope="module")
def app_server(start_server) -> AppServer:
    """A server on the embedded defaults (local analyser, SQLite, folder store), per module."""
    return start_server()
