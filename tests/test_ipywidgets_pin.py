"""The test command's second widget run really uses Colab's ipywidgets.

``tools/run_tests.py`` runs the widget tests and notebooks again with
ipywidgets 7.7.1 first on ``PYTHONPATH`` and sets ``LLM101_EXPECT_IPYWIDGETS``;
this file is part of that run (it mentions ipywidgets), so the run fails if
the pinned version is not the one imported, here or in a child process (as a
notebook kernel started by nbval is). In a plain ``pytest`` run it is skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

EXPECTED = os.environ.get("LLM101_EXPECT_IPYWIDGETS")


@pytest.mark.skipif(not EXPECTED, reason="runs in the test command's ipywidgets 7 step")
def test_the_pinned_ipywidgets_is_the_one_imported():
    import ipywidgets

    assert ipywidgets.__version__ == EXPECTED
    probe = "import ipywidgets; print(ipywidgets.__version__)"  # what a notebook kernel sees
    child = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert child.stdout.strip() == EXPECTED, child.stderr
