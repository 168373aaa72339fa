"""The driver contracts as coroutines, for asyncio users.

Every method of a driver becomes a coroutine that runs the blocking call in a
worker thread, so the event loop is never blocked; ``iterate_*`` methods and
``download_object_as_stream`` become async iterators that fetch each item in a
worker thread::

    from driver_core import aio

    async with aio.get_driver("storage", "aws", region="eu-west-1") as s3:
        await s3.upload_object("bucket", "key", b"data")
        async for obj in s3.iterate_objects("bucket"):
            print(obj.name)
        nodes = await compute.create_nodes(specs, concurrency=10)

Drivers are thread-safe, so many coroutines can share one. Pass ``executor``
to bound or isolate the threads (the default is the event loop's executor).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Executor
from typing import Any

from . import get_driver as _get_driver

_STREAMING = frozenset({"download_object_as_stream"})
_DONE = object()


class AsyncDriver:
    """Wraps a driver of any kind; attribute access gives coroutine versions of its methods."""

    def __init__(self, driver: Any, *, executor: Executor | None = None) -> None:
        self.driver = driver
        self.executor = executor

    async def _run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    async def _iterate(self, fn: Callable[..., Iterator[Any]], *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        iterator = await self._run(fn, *args, **kwargs)
        try:
            while (item := await self._run(next, iterator, _DONE)) is not _DONE:
                yield item
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                await self._run(close)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.driver, name)
        if not callable(attr) or name.startswith("_"):
            return attr
        if name.startswith("iterate_") or name in _STREAMING:

            @functools.wraps(attr)
            def iterate(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
                return self._iterate(attr, *args, **kwargs)

            return iterate

        @functools.wraps(attr)
        async def call(*args: Any, **kwargs: Any) -> Any:
            return await self._run(attr, *args, **kwargs)

        return call

    async def aclose(self) -> None:
        await self._run(self.driver.close)

    async def __aenter__(self) -> AsyncDriver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncDriver({self.driver!r})"


def get_driver(kind: str, provider: str, *, executor: Executor | None = None, **options: Any) -> AsyncDriver:
    """Like :func:`driver_core.get_driver`, with every method a coroutine."""
    return AsyncDriver(_get_driver(kind, provider, **options), executor=executor)
