"""Fixtures and hooks for the tests in this folder."""

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Record each phase's report on the test item (``item.rep_call``), so a fixture can
    tell in its teardown whether the test failed (the browser tests take a screenshot then)."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def one_torch_thread():
    """Run the test on one torch thread (tiny models train fastest so, and alike on every
    machine), and give the next test back the thread count it had."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
