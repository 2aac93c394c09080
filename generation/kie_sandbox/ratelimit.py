"""KIE's createTask limit: at most N accepted calls in any sliding window of S seconds."""

import threading
from collections import deque


class SlidingWindow:
    """Count accepted calls; refuse one when `limit` were accepted in the last `window` seconds.

    `calls` keeps the accepted timestamps (the newest 10 000) so tests and the benchmark can check
    the rate KIE saw; `rejected` counts refusals.
    """

    def __init__(self):
        self.calls = deque(maxlen=10_000)
        self.rejected = 0
        self._lock = threading.Lock()

    def admit(self, now, *, limit, window):
        """Return True and record the call when it fits in the window, else count a refusal."""
        with self._lock:
            recent = 0
            for stamp in reversed(self.calls):
                if stamp <= now - window:
                    break
                recent += 1
            if recent >= limit:
                self.rejected += 1
                return False
            self.calls.append(now)
            return True
