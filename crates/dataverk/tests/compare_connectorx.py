#!/usr/bin/env python3
"""Compare a dataverk Parquet file with what ConnectorX reads for the same query.

    dataverk read-sql SOURCE "SELECT ... ORDER BY ..." --output F.parquet
    python3 compare_connectorx.py POSTGRES_URL F.parquet "SELECT ... ORDER BY ..."

The query may also be given as a file ending in .sql. It must order its rows (ORDER BY) so that
row i is the same row in both reads. ConnectorX reads it with `read_sql(url, query,
return_type="arrow")`; when it fails on the whole query (one unsupported column fails all of
them), every column is read on its own, and when a column fails, its rows one by one (up to
--max-row-probes rows) to name the values ConnectorX cannot read.

Prints one line per column: `same`, `same values, other type`, `DIFFERENT` with the first
differing rows, or `connectorx FAILED` with its error. Values are compared after putting both
sides in one form: floats by repr (NaN equals NaN, -0.0 differs from 0.0), decimals by numeric
value (1.50 equals 1.5000000000), dates and times as their raw count of days or microseconds
(so years past 9999 or before 1 AD compare without Python's datetime), lists element-wise.

Exit status 0 even when columns differ: this is a report for people, not a test. It is not run
by `make test`; it needs pyarrow and connectorx (pandas is not needed).
"""

import argparse
import contextlib
import decimal
import os
import sys

os.environ.setdefault("RUST_BACKTRACE", "0")

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

try:
    import connectorx as cx  # noqa: E402
except ImportError:  # pragma: no cover
    sys.exit("connectorx is not installed: pip install connectorx pyarrow")

MICROS = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": None}


@contextlib.contextmanager
def quiet_stderr():
    """Silences file descriptor 2: ConnectorX's Rust panics print a message and backtrace
    there before they come back as a Python exception, whose text we report instead."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def cx_read(url, sql):
    """ConnectorX's Arrow table for `sql`, or the text of its error (panics included)."""
    try:
        with quiet_stderr():
            return cx.read_sql(url, sql, return_type="arrow"), None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # a Rust panic is a pyo3 PanicException (a BaseException)
        return None, f"{type(e).__name__}: {str(e).strip().splitlines()[0][:200]}"


def column_sql(query, columns, index):
    """`query` reduced to its column `index`, chosen by position: names may repeat."""
    aliases = ", ".join(f"c{i}" for i in range(columns))
    return f"WITH dataverk_q({aliases}) AS (\n{query}\n) SELECT c{index} FROM dataverk_q"


def normalize(array):
    """The values of an Arrow array as comparable Python values (see the module doc)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks else pa.array([], array.type)
    t = array.type
    if pa.types.is_dictionary(t):
        return normalize(array.dictionary_decode())
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        flat = normalize(array.flatten())
        offsets = array.offsets.to_pylist()
        base = offsets[0]
        out = []
        for row in range(len(array)):
            if not array[row].is_valid:
                out.append(None)
            else:
                out.append(flat[offsets[row] - base : offsets[row + 1] - base])
        return out
    if pa.types.is_floating(t):
        return [None if v is None else repr(float(v)) for v in array.to_pylist()]
    if pa.types.is_decimal(t):
        return [None if v is None else v.normalize() for v in array.to_pylist()]
    if pa.types.is_date32(t):
        return [("days", v) for v in array.cast(pa.int32()).to_pylist()]
    if pa.types.is_date64(t):
        return [
            ("days", None if v is None else v // 86_400_000)
            for v in array.cast(pa.int64()).to_pylist()
        ]
    if pa.types.is_timestamp(t) or pa.types.is_time(t):
        raw = array.cast(pa.int64() if t.bit_width == 64 else pa.int32()).to_pylist()
        factor = MICROS[t.unit]
        if factor is None:  # nanoseconds
            return [("us", None if v is None else v // 1000) for v in raw]
        return [("us", None if v is None else v * factor) for v in raw]
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        return array.to_pylist()
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return array.to_pylist()
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return array.to_pylist()
    try:
        return array.to_pylist()
    except (ValueError, OverflowError) as e:  # values Python's types cannot hold
        return [f"<{e}>"] * len(array)


def same(a, b):
    """Whether two normalized values are equal; a `("days"|"us", None)` pair is a NULL."""
    if isinstance(a, tuple):
        a = a[1]
    if isinstance(b, tuple):
        b = b[1]
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, decimal.Decimal) or isinstance(b, decimal.Decimal):
        # A decimal on one side, maybe its exact text (dataverk's numeric beyond
        # Decimal128) on the other.
        try:
            return decimal.Decimal(a) == decimal.Decimal(b)
        except (TypeError, ValueError, decimal.InvalidOperation):
            return False
    return a == b and type(a) is type(b) or (a is None and b is None)


def plain(v):
    """A normalized value without the unit tags of dates and times."""
    if isinstance(v, tuple):
        return v[1]
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


def show(v):
    text = repr(plain(v))
    return text if len(text) <= 60 else text[:57] + "..."


def compatible(ours, theirs):
    """Whether two Arrow types differ only in ways a reader would not notice (large vs small
    offsets)."""
    pairs = [
        (pa.types.is_string, pa.types.is_large_string),
        (pa.types.is_binary, pa.types.is_large_binary),
    ]
    if ours == theirs:
        return True
    for small, large in pairs:
        if (small(ours) or large(ours)) and (small(theirs) or large(theirs)):
            return True
    if (pa.types.is_list(ours) or pa.types.is_large_list(ours)) and (
        pa.types.is_list(theirs) or pa.types.is_large_list(theirs)
    ):
        return compatible(ours.value_type, theirs.value_type)
    return False


def probe_rows(url, sql, rows):
    """Reads each row of `sql` on its own: per row, ConnectorX's normalized value, or None
    and its error."""
    probes = []
    for row in range(rows):
        table, error = cx_read(url, f"SELECT * FROM (\n{sql}\n) AS q OFFSET {row} LIMIT 1")
        if table is not None and table.num_rows == 1:
            probes.append((normalize(table.column(0))[0], None))
        else:
            probes.append((None, error or f"{table.num_rows} rows instead of 1"))
    return probes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="postgresql://user:password@host:port/database")
    parser.add_argument("parquet", help="the file `dataverk read-sql ... --output` wrote")
    parser.add_argument("query", help="the query dataverk ran, or a .sql file holding it")
    parser.add_argument("--max-row-probes", type=int, default=50)
    parser.add_argument("--examples", type=int, default=3, help="differing rows shown per column")
    args = parser.parse_args()

    query = args.query
    if query.endswith(".sql") and os.path.isfile(query):
        with open(query) as f:
            query = f.read()
    query = query.strip().rstrip(";").strip()

    # ParquetFile, not read_table: the dataset API refuses repeated column names.
    ours = pq.ParquetFile(args.parquet).read()
    names = ours.schema.names
    theirs, whole_error = cx_read(args.url, query)
    if theirs is not None and theirs.num_columns != ours.num_columns:
        sys.exit(
            f"ConnectorX gave {theirs.num_columns} columns, the Parquet file has "
            f"{ours.num_columns}: is it the same query?"
        )
    if whole_error:
        print(f"ConnectorX fails on the whole query ({whole_error}); reading column by column\n")
    else:
        theirs_names = theirs.schema.names
        if theirs_names != names:
            print(f"column names differ:\n  dataverk:   {names}\n  connectorx: {theirs_names}\n")

    width = max([len(n) for n in names] + [6])
    counts = {"same": 0, "other type": 0, "different": 0, "failed": 0}
    for i, name in enumerate(names):
        ours_col = ours.column(i)
        label = f"{name:<{width}}"
        if theirs is not None:
            theirs_col, error = theirs.column(i), None
        else:
            sql = column_sql(query, len(names), i)
            table, error = cx_read(args.url, sql)
            theirs_col = table.column(0) if table is not None else None
        if error:
            counts["failed"] += 1
            print(f"{label}  connectorx FAILED  {error}")
            if len(ours_col) <= args.max_row_probes:
                sql = column_sql(query, len(names), i)
                probes = probe_rows(args.url, sql, len(ours_col))
                if all(error for _, error in probes):
                    print(f"{'':<{width}}    on every row, NULLs included: the type itself")
                    continue
                values = normalize(ours_col)
                for row, (value, error) in enumerate(probes):
                    if error:
                        print(f"{'':<{width}}    row {row} (dataverk {show(values[row])}): {error}")
                    elif not same(values[row], value):
                        print(
                            f"{'':<{width}}    row {row}, read alone: dataverk "
                            f"{show(values[row])}, connectorx {show(value)}"
                        )
            continue
        if len(theirs_col) != len(ours_col):
            counts["different"] += 1
            print(f"{label}  DIFFERENT  {len(ours_col)} rows vs connectorx {len(theirs_col)}")
            continue
        a, b = normalize(ours_col), normalize(theirs_col)
        diffs = [row for row in range(len(a)) if not same(a[row], b[row])]
        types = f"dataverk {ours_col.type}, connectorx {theirs_col.type}"
        if diffs:
            counts["different"] += 1
            print(f"{label}  DIFFERENT in {len(diffs)} of {len(a)} rows ({types})")
            for row in diffs[: args.examples]:
                print(
                    f"{'':<{width}}    row {row}: dataverk {show(a[row])}, "
                    f"connectorx {show(b[row])}"
                )
        elif compatible(ours_col.type, theirs_col.type):
            counts["same"] += 1
            print(f"{label}  same  ({ours_col.type})")
        else:
            counts["other type"] += 1
            print(f"{label}  same values, other type  ({types})")
    print(
        f"\n{len(names)} columns: {counts['same']} same, {counts['other type']} same values in "
        f"another type, {counts['different']} different, "
        f"{counts['failed']} ConnectorX could not read"
    )


if __name__ == "__main__":
    main()
