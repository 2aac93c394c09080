"""Play the worker in tests: send to the KIE simulator and re-read until a generation ends."""

import time

from generation import pipeline


def run_until_terminal(generation, *, dispatch=True, timeout=10):
    """Dispatch (unless told not to), then refresh from KIE until `generation` is terminal; return it."""
    if dispatch:
        pipeline.generations_dispatch(max_seconds=5)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pipeline.generation_refresh(generation_id=generation.pk)
        generation.refresh_from_db()
        if generation.is_terminal:
            return generation
        time.sleep(0.05)
    raise AssertionError(f"{generation.public_id} still {generation.status}")
