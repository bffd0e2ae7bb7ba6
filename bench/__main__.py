"""Run the benches and print one table: `make bench`, or `make bench ARGS="rate_limit"`.

A bench is a module in this folder with ``run() -> list[dict]``; each dict is one figure:
name, figure, unit, target, ratio (≥ 1.0 means the target is met) and a note. The exit status
is 1 when any target is missed, so CI can run it. A bench that needs something this run lacks (e.g.
PostgreSQL) has ``unavailable() -> str | None``: asked for by name it is refused with that reason,
in a run of every bench it is skipped with it.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path

from bench.harness import prepare_django

COLUMNS = ["bench", "name", "figure", "unit", "target", "ratio", "met", "note"]


def discover() -> dict[str, object]:
    """Every bench module, by name (modules without run() are helpers)."""
    found = {}
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"bench.{info.name}")
        if callable(getattr(module, "run", None)):
            found[info.name] = module
    return found


def run_benches(names: list[str]) -> list[dict]:
    benches = discover()
    unknown = [name for name in names if name not in benches]
    if unknown:
        raise SystemExit(f"Unknown bench {', '.join(unknown)}; known: {', '.join(sorted(benches))}.")
    rows = []
    for name in names or sorted(benches):
        reason = getattr(benches[name], "unavailable", lambda: None)()
        if reason and names:
            raise SystemExit(reason)
        if reason:
            print(f"skipping {name}: {reason}", file=sys.stderr, flush=True)
            continue
        print(f"running {name}...", file=sys.stderr, flush=True)
        started = time.monotonic()
        for row in benches[name].run():
            rows.append({"bench": name, **row})
        print(f"  {name} took {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    return rows


def cell(row: dict, column: str) -> str:
    value = row.get(column, "")
    if column == "met":
        return "yes" if row.get("ratio", 0) >= 1.0 else "NO"
    if column == "ratio":
        return f"{value:.2f}"
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(rows: list[dict]) -> str:
    cells = [COLUMNS] + [[cell(row, column) for column in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip() for line in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    prepare_django()
    rows = run_benches(argv)
    print(table(rows))
    return 0 if all(row["ratio"] >= 1.0 for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
