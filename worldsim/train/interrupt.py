"""Ctrl-C and SIGTERM in a training loop: finish the step under way, save a checkpoint, return (no traceback)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable


def catch_stop_signals() -> tuple[list[int], Callable[[], None]]:
    """(requests, restore): from now on SIGINT and SIGTERM only append to ``requests``, which the loop checks
    between steps; ``restore()`` puts the previous handlers back. Off the main thread nothing is caught."""
    requests: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        return requests, lambda: None
    old = {
        sig: signal.signal(sig, lambda signum, frame: requests.append(signum))
        for sig in (signal.SIGINT, signal.SIGTERM)
    }

    def restore() -> None:
        for sig, handler in old.items():
            signal.signal(sig, handler)

    return requests, restore
