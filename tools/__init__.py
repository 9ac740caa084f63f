"""Maintainer tools: ``python -m tools.run_tests`` (``make test``) and
``python -m tools.regenerate_notebooks`` (``make notebooks``)."""
