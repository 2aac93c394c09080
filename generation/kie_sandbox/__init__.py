"""The KIE simulator (docs/kie-sandbox.md): KIE's HTTP API on a local port, for `make run` and tests."""

from .core import FAIL_PROMPT_MARKER, KieSandbox
from .tasks import SandboxTask

__all__ = ["FAIL_PROMPT_MARKER", "KieSandbox", "SandboxTask"]
