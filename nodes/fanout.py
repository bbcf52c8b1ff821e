"""Concurrent model calls that leave nothing behind: when one call fails, its siblings are cancelled before the
failure propagates, so a node retry never overlaps orphaned requests."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def gather_or_cancel(*calls: Coroutine[Any, Any, T]) -> list[T]:
    """The results of `calls`, run concurrently, in order. The first failure cancels the calls still running and
    is raised as it is (not as an `ExceptionGroup`), so retry policies that match its type still apply.

    Example:
        >>> asyncio.run(gather_or_cancel(asyncio.sleep(0, result=1), asyncio.sleep(0, result=2)))
        [1, 2]
    """
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(call) for call in calls]
    except BaseExceptionGroup as failures:
        raise failures.exceptions[0] from None
    return [task.result() for task in tasks]
