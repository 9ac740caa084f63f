"""Fixtures and hooks for the tests in this folder."""

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Record each phase's report on the test item (``item.rep_call``), so a fixture can
    tell in its teardown whether the test failed (the browser tests take a screenshot then)."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
