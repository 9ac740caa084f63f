"""Root pytest configuration, shared by the unit tests and the nbval notebook run.

pytest puts this file's folder (the repository root) on ``sys.path`` before importing
it, so the ``tests`` package is importable here without editing ``sys.path``.
"""

from tests.offline_env import configure_offline_env

# Set before any test runs, so notebook kernels started by nbval inherit it too.
configure_offline_env()
