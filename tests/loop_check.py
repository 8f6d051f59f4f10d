"""Measures whether an awaitable leaves the event loop free while it runs."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable


async def run_counting_ticks(awaitable: Awaitable[Any]) -> tuple[Any, int]:
    """Await ``awaitable`` while a 1 ms ticker runs; returns (result, ticks seen).

    A call that blocks the loop (work done in the coroutine itself) lets the
    ticker run at most once; one that runs in a worker thread lets it tick on.
    """
    ticks = 0
    running = True

    async def ticker() -> None:
        nonlocal ticks
        while running:
            await asyncio.sleep(0.001)
            ticks += 1

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)  # let the ticker start
    ticks = 0
    try:
        result = await awaitable
    finally:
        running = False
        await task
    return result, ticks
