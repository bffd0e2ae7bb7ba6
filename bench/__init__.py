"""Speed and limit measurements, run by `make bench` (python -m bench [name ...]).

Each module here with a ``run() -> list[dict]`` is one bench; see bench/__main__.py for the table
it feeds. Benches run against a throwaway SQLite file, or the database in DATABASE_URL when set,
and the Redis in REDIS_URL (`make bench` starts a private one); never against var/db.sqlite3.
"""
