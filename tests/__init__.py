"""The course's tests (a package, so ``tests.offline_env`` is importable from the root)."""
