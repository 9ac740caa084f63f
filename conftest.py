"""Root pytest configuration, shared by the unit tests and the nbval notebook run."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "tools"))

from offline_env import configure_offline_env  # noqa: E402

# Set before any test runs, so notebook kernels started by nbval inherit it too.
configure_offline_env()
