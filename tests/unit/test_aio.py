"""driver_core.aio: coroutines that never block the event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from driver_core import aio


def test_calls_run_in_threads_and_the_loop_keeps_ticking(tmp_path: Path) -> None:
    async def main() -> tuple[int, list[str], bytes, set[int]]:
        async with aio.get_driver("storage", "local", endpoint=str(tmp_path)) as storage:
            threads: set[int] = set()
            original = storage.driver.upload_object

            def slow_upload(*args: object, **kwargs: object) -> object:
                threads.add(threading.get_ident())
                time.sleep(0.3)  # a blocking call: the loop must go on meanwhile
                return original(*args, **kwargs)

            storage.driver.upload_object = slow_upload
            await storage.create_container("aio-test")
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                for _ in range(10):
                    await asyncio.sleep(0.01)
                    ticks += 1

            await asyncio.gather(storage.upload_object("aio-test", "a", b"x" * 10), ticker())
            await storage.upload_object("aio-test", "b", b"y")
            names = [o.name async for o in storage.iterate_objects("aio-test")]
            data = b"".join([c async for c in storage.download_object_as_stream("aio-test", "a", chunk_size=3)])
            return ticks, names, data, threads

    ticks, names, data, threads = asyncio.run(main())
    assert ticks == 10  # all ticks happened while the upload slept
    assert names == ["a", "b"]
    assert data == b"x" * 10
    assert threading.get_ident() not in threads


def test_errors_and_plain_attributes_pass_through(tmp_path: Path) -> None:
    from driver_core import errors

    async def main() -> None:
        dns = aio.get_driver("dns", "local", endpoint=str(tmp_path))
        assert dns.provider == "local"
        zone = await dns.create_zone("aio.test")
        await dns.create_record(zone, "www", "A", ["192.0.2.1"])
        assert [r.name async for r in dns.iterate_records(zone) if r.type == "A"] == ["www"]
        try:
            await dns.get_record(zone, "nope", "A")
        except errors.NotFound:
            pass
        else:
            raise AssertionError("NotFound expected")
        await dns.aclose()

    asyncio.run(main())
