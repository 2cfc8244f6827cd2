"""Read the next chunk while this one is written: a producer thread with its own database
connection runs a generator of chunks one step ahead of the consumer.

    for chunk in prefetched(read_chunks):   # read_chunks() -> Iterator, runs in the thread
        write(chunk)

The thread's connection sees only committed rows, so callers turn this off inside a
transaction (tests run in one); psycopg waits for the server without holding the GIL, so the
database's work overlaps Python's. At most `depth` chunks wait in memory.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

from django.db import connection

_DONE = object()


def prefetched(produce: Callable[[], Iterator], *, enabled: bool = True, depth: int = 1) -> Iterator:
    if not enabled:
        yield from produce()
        return
    box: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def run():
        try:
            for item in produce():
                while not stop.is_set():
                    try:
                        box.put(("item", item), timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put(("done", _DONE))
        except BaseException as exc:  # handed to the consumer, which raises it
            box.put(("error", exc))
        finally:
            connection.close()

    thread = threading.Thread(target=run, name="export-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, item = box.get()
            if kind == "done":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # let the producer notice `stop` (it may be blocked on put)
            try:
                box.get_nowait()
            except queue.Empty:
                pass
            thread.join(timeout=0.1)
