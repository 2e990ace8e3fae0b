"""Waiting with a deadline without losing cancellation.

Python 3.11's ``asyncio.wait_for`` can swallow a cancellation that arrives as its timeout
fires (cpython gh-86296, fixed in 3.12), which leaves a cancelled loop running forever; the
``asyncio.timeout`` context manager counts cancellations correctly, so the local cluster
waits with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

__all__ = ["wait_until"]


async def wait_until(awaitable: Awaitable[object], timeout_s: float) -> bool:
    """Awaits ``awaitable`` for at most ``timeout_s``; True when it finished in time."""
    try:
        async with asyncio.timeout(max(timeout_s, 0.0)):
            await awaitable
    except TimeoutError:
        return False
    return True
