"""The Python readers that `make bench` compares dataverk with, one per process.

    python readers.py TOOL QUERY [--partition-on COL --partitions N] [--settings FILE]

TOOL is one of connectorx-arrow, connectorx-pandas, pandas-sqlalchemy, polars-sqlalchemy, or
dataverk-python-pandas / dataverk-python-polars (this repository's Python package, reading the
source "bench" of the settings FILE). The others' database URL comes from $BENCH_PG_URL (never
from the command line, where `ps` would show the password). Prints one JSON line: rows, columns, read_s (from just before the library is asked
to connect to the result in memory: interpreter start and imports are left out, since they are
no part of reading) and the result's size in memory as the library reports it.
"""

import argparse
import json
import os
import sys
import time


def connectorx(url, query, return_type, partition_on, partitions):
    import connectorx as cx

    kwargs = {}
    if partition_on:
        kwargs = {"partition_on": partition_on, "partition_num": partitions}
    started = time.perf_counter()
    result = cx.read_sql(url, query, return_type=return_type, **kwargs)
    return result, time.perf_counter() - started


def sqlalchemy_engine(url):
    import sqlalchemy

    return sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg2://", 1))


def dataverk_python(settings, query, return_type, partition_on, partitions):
    import dataverk

    kwargs = {}
    if partition_on:
        kwargs = {"partition_on": partition_on, "partitions": partitions}
    started = time.perf_counter()
    with dataverk.Client(settings_file=settings, env_file=None) as dv:
        result = dv.read_sql("bench", query, return_type=return_type, progress=False, **kwargs)
    return result, time.perf_counter() - started


def read(tool, url, query, partition_on, partitions, settings):
    """The result and the seconds it took."""
    if tool in ("dataverk-python-pandas", "dataverk-python-polars"):
        return dataverk_python(settings, query, tool.rsplit("-", 1)[1], partition_on, partitions)
    if tool == "connectorx-arrow":
        return connectorx(url, query, "arrow", partition_on, partitions)
    if tool == "connectorx-pandas":
        return connectorx(url, query, "pandas", partition_on, partitions)
    if partition_on:
        sys.exit(f"{tool} cannot read in partitions")
    if tool == "pandas-sqlalchemy":
        import pandas

        started = time.perf_counter()
        engine = sqlalchemy_engine(url)
        frame = pandas.read_sql(query, engine)
        return frame, time.perf_counter() - started
    if tool == "polars-sqlalchemy":
        import polars

        started = time.perf_counter()
        engine = sqlalchemy_engine(url)
        frame = polars.read_database(query, connection=engine)
        return frame, time.perf_counter() - started
    sys.exit(f"unknown tool {tool!r}")


def size_of(result):
    """Bytes the result holds, as its own library counts them."""
    if hasattr(result, "nbytes") and not hasattr(result, "memory_usage"):
        return int(result.nbytes)  # pyarrow.Table
    if hasattr(result, "memory_usage"):
        return int(result.memory_usage(deep=True).sum())  # pandas.DataFrame
    if hasattr(result, "estimated_size"):
        return int(result.estimated_size())  # polars.DataFrame
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("tool")
    parser.add_argument("query")
    parser.add_argument("--partition-on")
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--settings", help="the dataverk settings file (dataverk-python-* only)")
    args = parser.parse_args()
    url = os.environ.get("BENCH_PG_URL", "")
    result, seconds = read(args.tool, url, args.query, args.partition_on, args.partitions, args.settings)
    print(
        json.dumps(
            {
                "rows": int(result.shape[0] if hasattr(result, "shape") else result.num_rows),
                "columns": int(result.shape[1] if hasattr(result, "shape") else result.num_columns),
                "read_s": round(seconds, 6),
                "result_bytes": size_of(result),
            }
        )
    )


if __name__ == "__main__":
    main()
