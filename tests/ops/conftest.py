"""Reconciliation runs the real pipeline against the KIE simulator: reuse the generation tests' fixtures."""

from tests.generation.conftest import fund, kie, media, tasks  # noqa: F401 (fixtures)
