"""Parsing chunks of rows on every core, in file order, with only a few chunks in memory at once.

phonenumbers parses about 14,000-18,000 numbers a second on one core, so a million rows need
both cores. The worker processes are started with "spawn": they import only rows.py and
phonenumbers, not Django, so each stays near 30 MB. (Forked ones measured worse: the garbage
collector touches every object they inherit, copying the parent's whole heap into each child.)
Spawn imports the parent's __main__ again, which needs the usual `if __name__ == "__main__"`
guard: manage.py, rq and pytest have it.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator

from contacts.importing.rows import Contact, Rejection, process_chunk

RawRow = tuple[int, list[str] | None, str]
Parsed = tuple[int, int, list[Contact], list[Rejection]]  # rows in the chunk, its last row number, ...

_plan: dict = {}


def _start(plan: dict) -> None:
    global _plan  # noqa: PLW0603 - each worker process keeps the plan it was started with
    _plan = plan


def _work(rows: list[RawRow]) -> tuple[list[Contact], list[Rejection]]:
    return process_chunk(_plan, rows)


def default_processes() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def parse_chunks(plan: dict, chunks: Iterable[list[RawRow]], processes: int) -> Iterator[Parsed]:
    """Yield (row count, last row number, contacts, rejections) per chunk, in file order.

    One process means no pool (small files, and the preview)."""
    if processes <= 1:
        for rows in chunks:
            yield len(rows), rows[-1][0], *process_chunk(plan, rows)
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes, initializer=_start, initargs=(plan,)) as pool:
        pending: deque = deque()
        for rows in chunks:
            pending.append((len(rows), rows[-1][0], pool.apply_async(_work, (rows,))))
            del rows
            if len(pending) > processes:  # backpressure: never read far ahead of the writer
                count, last, result = pending.popleft()
                yield count, last, *result.get()
        while pending:
            count, last, result = pending.popleft()
            yield count, last, *result.get()


def chunked(rows: Iterable[RawRow], size: int) -> Iterator[list[RawRow]]:
    chunk: list[RawRow] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
