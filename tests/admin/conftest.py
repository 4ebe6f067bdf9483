"""A real browser (Debian's Chromium) for the admin's browser tests; the staff users they
log in as come from ``tests.helpers.staff``, a plugin of the root conftest."""

import pytest

from tests.helpers import browser

# The browser tests' fixtures: Chromium's path and a staff member who may cancel.
chromium = browser.chromium
staff_member = browser.staff_member


@pytest.fixture
def in_browser(chromium, live_server, staff_member):
    """``in_browser(scenario)`` runs ``scenario(page)`` logged in to the admin;
    ``in_browser.start(scenario)`` runs it in the background (see ``browser.Handshake``)."""
    return browser.BrowserRunner(chromium, live_server.url)
