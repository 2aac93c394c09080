"""Fixtures that run the KIE simulator over real HTTP."""

import pytest

from generation.kie_sandbox.core import KieSandbox


@pytest.fixture
def kie_sandbox(settings):
    """Yield a running KieSandbox on a free port; KIE_API_BASE/KIE_UPLOAD_BASE point at it.

    Tasks finish fast (0.05-0.2 s) so tests stay quick; change `.latency` or call
    `.set_latency()` for slower ones. Models are validated against catalog.seed.SEED_MODELS.
    """
    sandbox = KieSandbox(latency=(0.05, 0.2), seed=1234).start()
    settings.KIE_API_BASE = sandbox.base_url
    settings.KIE_UPLOAD_BASE = sandbox.base_url
    try:
        yield sandbox
    finally:
        sandbox.stop()
