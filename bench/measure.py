"""Runs every reader of `make bench` as its own process, several times, and writes the results.

bench/run.sh prepares everything (binaries, Python packages, a PostgreSQL cluster with the data,
a settings file) and then runs this script.

What is measured, for each reader and run:
  * time: for library readers, the seconds from just before the library connects to the whole
    result in memory, as the reader itself reports it (Python's start and imports are no part
    of reading); for command-line tools (psql, the dataverk CLI), the process' wall time.
  * wall: the process' wall time, for every reader.
  * peak RSS: the process' maximum resident set size as the kernel reports it to wait4(2), the
    same number as /usr/bin/time -v's "Maximum resident set size". The server's memory is not
    counted, for any reader.
  * statements: what the reader ran on the server (pg_stat_statements, first run only), to
    show which readers run the query more than once.
Runs are interleaved (round n runs every reader once), and the median of each reader's runs is
reported. Writes results.json (every run), results.md and
results.png to --results, and prints the ratios dataverk/ConnectorX, dataverk/pandas and
dataverk/limit.
"""

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

# Variables that would make the dataverk commands use Vault: the benchmark reads with the static
# URL of settings.json only.
VAULT_VARIABLES = [
    "VAULT_ADDR", "VAULT_TOKEN", "VAULT_NAMESPACE", "VKS_VAULT_ADDR", "VKS_AUTH_PATH",
    "VKS_KV_PATH", "DATAVERK_VAULT_KV_PATH", "DATAVERK_SETTINGS",
]
# Set on some machines for old OpenBLAS builds; they slow a current numpy. Unset for the Python
# readers only (see the machine notes), never for anything else.
OPENBLAS_VARIABLES = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"]

# Every reader, in the order they run and are shown: id, label, family, how its output is read.
READERS = [
    ("limit", "psql \\copy binary → /dev/null (the limit)", "limit", "psql"),
    ("dataverk-arrow", "dataverk library → Arrow", "dataverk", "json"),
    ("dataverk-arrow-partitioned", "dataverk library → Arrow, {p} partitions", "dataverk", "json"),
    ("dataverk-cli-parquet", "dataverk CLI → Parquet (streaming)", "dataverk", "cli"),
    ("dataverk-python-pandas", "dataverk Python → pandas", "dataverk", "json"),
    ("dataverk-python-polars", "dataverk Python → polars", "dataverk", "json"),
    ("connectorx-arrow", "ConnectorX → Arrow", "connectorx", "json"),
    ("connectorx-arrow-partitioned", "ConnectorX → Arrow, {p} partitions", "connectorx", "json"),
    ("connectorx-pandas", "ConnectorX → pandas", "connectorx", "json"),
    ("pandas-sqlalchemy", "pandas.read_sql (SQLAlchemy + psycopg2)", "pandas", "json"),
    ("polars-sqlalchemy", "polars.read_database (SQLAlchemy + psycopg2)", "polars", "json"),
]
READER_INFO = {r[0]: r for r in READERS}

MB = 1_000_000


def log(message=""):
    print(message, flush=True)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--settings", required=True, help="dataverk settings.json with the source 'bench'")
    p.add_argument("--dataverk", required=True, help="the dataverk CLI binary")
    p.add_argument("--read-arrow", required=True, help="the read_arrow example binary")
    p.add_argument("--psql", default="psql")
    p.add_argument("--python", default=sys.executable, help="a Python with bench/requirements.txt")
    p.add_argument("--results", default="bench/results")
    p.add_argument("--work", default="bench/work")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--partitions", type=int, default=2)
    p.add_argument("--scale", type=int, required=True, help="how many times flights was repeated")
    p.add_argument("--only", default="", help="comma-separated reader ids to run (default: all)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds one run may take")
    return p.parse_args()


class Bench:
    def __init__(self, args):
        self.args = args
        u = urllib.parse.urlsplit(os.environ["BENCH_PG_URL"])
        self.pg_env = {
            "PGHOST": u.hostname,
            "PGPORT": str(u.port or 5432),
            "PGUSER": urllib.parse.unquote(u.username or ""),
            "PGPASSWORD": urllib.parse.unquote(u.password or ""),
            "PGDATABASE": u.path.lstrip("/"),
        }
        self.work = Path(args.work)
        self.logs = self.work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        (self.work / "out").mkdir(parents=True, exist_ok=True)
        self.readers_py = str(Path(__file__).resolve().parent / "readers.py")
        self.only = {x for x in args.only.split(",") if x}
        self.statements = False

    def psql(self, sql):
        out = subprocess.run(
            [self.args.psql, "-X", "-A", "-t", "-q", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
            env={**os.environ, **self.pg_env}, capture_output=True, text=True,
        )
        if out.returncode != 0:
            raise RuntimeError(out.stderr.strip())
        return out.stdout.strip()

    def env_for(self, reader, family):
        env = dict(os.environ)
        for name in VAULT_VARIABLES:
            env.pop(name, None)
        if family in ("connectorx", "pandas", "polars") or reader.startswith("dataverk-python"):
            for name in OPENBLAS_VARIABLES:
                env.pop(name, None)
        else:
            env.pop("BENCH_PG_URL", None)  # dataverk reads settings.json; psql the PG* variables
        if family == "limit":
            env.update(self.pg_env)
        return env

    def command(self, reader, dataset):
        a, q = self.args, dataset["query"]
        partition = ["--partition-on", dataset["partition_on"], "--partitions", str(a.partitions)]
        if reader == "limit":
            return [a.psql, "-X", "-c", f"\\copy ({q}) to '/dev/null' (format binary)"]
        if reader == "dataverk-arrow":
            return [a.read_arrow, a.settings, "bench", q]
        if reader == "dataverk-arrow-partitioned":
            return [a.read_arrow, a.settings, "bench", q, *partition]
        if reader == "dataverk-cli-parquet":
            out = self.work / "out" / f"{dataset['id']}.parquet"
            return [a.dataverk, "read-sql", "bench", q, "--settings", a.settings, "--output", str(out)]
        if reader.startswith("dataverk-python"):
            return [a.python, self.readers_py, reader, q, "--settings", a.settings]
        if reader.endswith("-partitioned"):
            return [a.python, self.readers_py, reader.removesuffix("-partitioned"), q, *partition]
        return [a.python, self.readers_py, reader, q]

    def run_once(self, reader, dataset, n):
        """One run in its own process, reaped with wait4 for its own peak RSS."""
        _, _, family, kind = READER_INFO[reader]
        cmd = self.command(reader, dataset)
        stem = self.logs / f"{dataset['id']}.{reader}.{n}"
        load = os.getloadavg()[0]
        with open(f"{stem}.err", "wb") as err, open(f"{stem}.out", "wb") as out:
            started = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                    env=self.env_for(reader, family))
            deadline = started + self.args.timeout
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid == proc.pid:
                    break
                if time.perf_counter() > deadline:
                    proc.kill()
                    os.wait4(proc.pid, 0)
                    proc.returncode = -9
                    raise RuntimeError(f"timed out after {self.args.timeout:.0f} s")
                time.sleep(0.002)
            wall = time.perf_counter() - started
            proc.returncode = os.waitstatus_to_exitcode(status)
        stderr = Path(f"{stem}.err").read_text(errors="replace")
        stdout = Path(f"{stem}.out").read_text(errors="replace")
        if proc.returncode != 0:
            tail = " | ".join(stderr.strip().splitlines()[-3:])
            raise RuntimeError(f"exit status {proc.returncode}: {tail[:500]}")
        run = {
            "wall_s": round(wall, 4),
            "peak_rss_bytes": usage.ru_maxrss * 1024,  # kilobytes on Linux
            "user_s": round(usage.ru_utime, 3),
            "sys_s": round(usage.ru_stime, 3),
            "load_1m_before": round(load, 2),
        }
        if kind == "psql":
            m = re.search(r"COPY (\d+)", stdout)
            run["rows"] = int(m.group(1)) if m else None
            run["time_s"] = run["wall_s"]
        elif kind == "cli":
            m = re.search(r"wrote (\d+) rows", stderr)
            run["rows"] = int(m.group(1)) if m else None
            run["time_s"] = run["wall_s"]
            out_file = Path(cmd[cmd.index("--output") + 1])
            run["file_bytes"] = out_file.stat().st_size
            out_file.unlink()
        else:
            run.update(json.loads(stdout.strip().splitlines()[-1]))
            run["time_s"] = run["read_s"]
        return run

    def enable_statements(self):
        try:
            self.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            self.psql("SELECT pg_stat_statements_reset()")
            self.statements = True
        except RuntimeError as e:
            log(f"    (no statement counts: {e.splitlines()[0] if str(e) else e})")

    def reset_statements(self):
        if self.statements:
            self.psql("SELECT pg_stat_statements_reset()")

    def read_statements(self):
        """What ran since the last reset, except this script's own look-ups."""
        if not self.statements:
            return None
        rows = self.psql(
            "SELECT calls, rows, round(total_exec_time::numeric / 1000, 3), "
            "regexp_replace(query, '\\s+', ' ', 'g') FROM pg_stat_statements "
            "WHERE query !~* 'pg_stat_statements' ORDER BY total_exec_time DESC"
        )
        out = []
        for line in rows.splitlines():
            calls, nrows, secs, text = line.split("\t", 3)
            out.append({"calls": int(calls), "rows": int(nrows), "exec_s": float(secs), "query": text[:300]})
        return out

    def measure_round(self, dataset, reader, n, state):
        """Run `n` of `reader` into `state` (runs, error, statements); a failure ends its runs."""
        self.reset_statements()
        try:
            run = self.run_once(reader, dataset, n)
        except Exception as e:  # a reader that fails is reported, not fatal
            state["error"] = str(e)
            log(f"    {label(reader, self.args.partitions):40} run {n}: FAILED: {state['error']}")
            return
        if n == 1:
            state["statements"] = self.read_statements()
        if run.get("rows") != dataset["rows"]:
            state["error"] = f"returned {run.get('rows')} rows, expected {dataset['rows']}"
            log(f"    {label(reader, self.args.partitions):40} run {n}: WRONG: {state['error']}")
            return
        state["runs"].append(run)
        log(f"    {label(reader, self.args.partitions):40} {run['time_s']:8.2f} s  (wall {run['wall_s']:.2f} s)  "
            f"peak RSS {run['peak_rss_bytes'] / MB:8.1f} MB  load {run['load_1m_before']:.2f}")


def summarize(runs, error, statements, rows):
    s = {"runs": runs, "error": error, "statements": statements}
    if runs and not error:
        t = statistics.median(r["time_s"] for r in runs)
        s.update({
            "time_s": t,
            "wall_s": statistics.median(r["wall_s"] for r in runs),
            "peak_rss_bytes": int(statistics.median(r["peak_rss_bytes"] for r in runs)),
            "peak_rss_max_bytes": max(r["peak_rss_bytes"] for r in runs),
            "rows_per_s": rows / t if t > 0 else None,
        })
        for key in ("arrow_data_bytes", "arrow_allocated_bytes", "result_bytes", "file_bytes"):
            if key in runs[0]:
                s[key] = runs[0][key]
    return s


# The wide table's columns, as bench/run.sh creates them.
WIDE_COLUMNS = ["id", "i2", "i4", "i8", "f4", "f8", "amount", "ratio", "flag", "label", "code", "fixed",
                "day", "ts", "tstz", "clock", "span", "uid", "doc", "raw"]


def datasets(bench, scale):
    all_readers = [r[0] for r in READERS]
    found = [
        {
            "id": "flights",
            "title": f"flights × {scale}",
            "query": "SELECT * FROM flights",
            "partition_on": "month",
            "readers": all_readers,
        },
        {
            # ConnectorX cannot read interval (it panics: "not implemented: interval") and
            # Parquet has no place for Arrow's MonthDayNano intervals: the comparison leaves
            # that one column out, and "wide-all" reads it too.
            "id": "wide",
            "title": "wide: every supported type but interval",
            "query": "SELECT " + ", ".join(c for c in WIDE_COLUMNS if c != "span") + " FROM wide",
            "partition_on": "id",
            "readers": all_readers,
        },
        {
            "id": "wide-all",
            "title": "wide: every supported type",
            "query": "SELECT * FROM wide",
            "partition_on": "id",
            "readers": ["limit", "dataverk-arrow"],
        },
        {
            # Streaming: the CLI's peak RSS must not grow with the row count.
            "id": "flights1",
            "title": "flights × 1 (streaming check)",
            "query": "SELECT * FROM flights_base",
            "partition_on": "month",
            "readers": ["dataverk-cli-parquet"],
        },
    ]
    for d in found:
        d["rows"] = int(bench.psql(f"SELECT count(*) FROM ({d['query']}) AS q"))
        d["columns"] = int(bench.psql(f"SELECT count(*) FROM json_object_keys((SELECT row_to_json(q) FROM "
                                      f"({d['query']} LIMIT 1) AS q))"))
    return found


def machine():
    info = {"python": platform.python_version(), "platform": platform.platform(), "cores": os.cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return info


def versions(python):
    code = ("import json, importlib.metadata as m; print(json.dumps({p: m.version(p) for p in "
            "['dataverk', 'connectorx', 'pandas', 'polars', 'pyarrow', 'sqlalchemy', 'psycopg2-binary', 'numpy', 'tqdm']}))")
    try:
        return json.loads(subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout)
    except (subprocess.CalledProcessError, json.JSONDecodeError):
        return {}


def git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return None


# -- reporting -------------------------------------------------------------------------------

def label(reader, partitions):
    return READER_INFO[reader][1].format(p=partitions)


def fmt_s(x):
    return f"{x:.2f} s" if x is not None else "–"


def fmt_mb(x):
    return f"{x / MB:,.0f} MB" if x is not None else "–"


def ratio(results, dataset, a, b, key="time_s"):
    ra, rb = results[dataset].get(a, {}), results[dataset].get(b, {})
    if ra.get(key) and rb.get(key):
        return ra[key] / rb[key]
    return None


def ratios(results, partitions):
    """(text, value) pairs: dataverk's time over the others', flights first."""
    out = []
    for d in ("flights", "wide"):
        if d not in results:
            continue
        for a, b, what in [
            ("dataverk-arrow", "connectorx-arrow", "dataverk/ConnectorX (Arrow, 1 connection)"),
            ("dataverk-arrow-partitioned", "connectorx-arrow-partitioned",
             f"dataverk/ConnectorX (Arrow, {partitions} partitions)"),
            ("dataverk-arrow", "pandas-sqlalchemy", "dataverk/pandas.read_sql"),
            ("dataverk-python-pandas", "connectorx-pandas", "dataverk Python/ConnectorX (to pandas)"),
            ("dataverk-python-pandas", "pandas-sqlalchemy", "dataverk Python/pandas.read_sql (to pandas)"),
            ("dataverk-python-polars", "polars-sqlalchemy", "dataverk Python/polars.read_database (to polars)"),
            ("dataverk-arrow", "limit", "dataverk/limit (psql \\copy)"),
            ("dataverk-cli-parquet", "limit", "dataverk CLI to Parquet/limit"),
        ]:
            r = ratio(results, d, a, b)
            if r is not None:
                out.append((d, what, r))
    return out


def targets(results, partitions):
    """The issue's targets, each with the numbers and whether it holds (None: not measured)."""
    f = results.get("flights", {})
    t = []

    def add(name, ok, detail):
        t.append({"target": name, "holds": ok, "detail": detail})

    r = ratio(results, "flights", "dataverk-arrow", "limit")
    add("single connection within 1.15× the \\copy limit", None if r is None else r <= 1.15,
        "–" if r is None else f"{r:.2f}× ({fmt_s(f['dataverk-arrow']['time_s'])} vs {fmt_s(f['limit']['time_s'])})")
    r = ratio(results, "flights", "dataverk-arrow-partitioned", "connectorx-arrow-partitioned")
    add(f"with {partitions} partitions faster than ConnectorX with {partitions}", None if r is None else r < 1,
        "–" if r is None else f"{r:.2f}× ({fmt_s(f['dataverk-arrow-partitioned']['time_s'])} vs "
                              f"{fmt_s(f['connectorx-arrow-partitioned']['time_s'])})")
    r = ratio(results, "flights", "pandas-sqlalchemy", "dataverk-arrow")
    add("at least 7× faster than pandas.read_sql over SQLAlchemy", None if r is None else r >= 7,
        "–" if r is None else f"{r:.1f}× ({fmt_s(f['pandas-sqlalchemy']['time_s'])} vs {fmt_s(f['dataverk-arrow']['time_s'])})")
    r = ratio(results, "flights", "dataverk-python-pandas", "connectorx-pandas")
    add("the Python package to pandas at least as fast as ConnectorX to pandas", None if r is None else r <= 1,
        "–" if r is None else f"{r:.2f}× ({fmt_s(f['dataverk-python-pandas']['time_s'])} vs "
                              f"{fmt_s(f['connectorx-pandas']['time_s'])})")
    r = ratio(results, "flights", "dataverk-python-pandas", "pandas-sqlalchemy", key="peak_rss_bytes")
    add("the Python package to pandas in less memory than pandas.read_sql", None if r is None else r < 1,
        "–" if r is None else f"{r:.2f}× ({fmt_mb(f['dataverk-python-pandas']['peak_rss_bytes'])} vs "
                              f"{fmt_mb(f['pandas-sqlalchemy']['peak_rss_bytes'])} peak RSS)")
    dv = f.get("dataverk-arrow", {})
    if dv.get("peak_rss_bytes") and dv.get("arrow_data_bytes"):
        r = dv["peak_rss_bytes"] / dv["arrow_data_bytes"]
        add("peak RSS at most 1.5× the final Arrow data", r <= 1.5,
            f"{r:.2f}× ({fmt_mb(dv['peak_rss_bytes'])} peak, {fmt_mb(dv['arrow_data_bytes'])} of Arrow data, "
            f"{fmt_mb(dv['arrow_allocated_bytes'])} allocated)")
    else:
        add("peak RSS at most 1.5× the final Arrow data", None, "–")
    peaks = [(d, results[d]["dataverk-cli-parquet"]["peak_rss_bytes"]) for d in results
             if results[d].get("dataverk-cli-parquet", {}).get("peak_rss_bytes")]
    if peaks:
        add("streaming to Parquet under 300 MB RSS whatever the row count",
            all(p < 300 * MB for _, p in peaks), ", ".join(f"{d}: {fmt_mb(p)}" for d, p in peaks))
    st = f.get("dataverk-arrow", {}).get("statements")
    if st is not None:
        add("no extra statement that runs the query again (schema from the description)",
            sum(s["calls"] for s in st) == 1,
            "; ".join(f"{s['calls']}× {s['query'][:60]}" for s in st))
    return t


def markdown(meta, sets, results, partitions):
    lines = [
        "# dataverk read benchmark",
        "",
        f"`make bench` on {meta['date']}, dataverk {meta['commit']}: PostgreSQL {meta['postgres']} on the same "
        f"machine over 127.0.0.1 ({meta['machine'].get('cpu', '?')}, {meta['machine'].get('cores')} cores, "
        f"{meta['machine'].get('memory_gib')} GiB). Every reader runs as its own process; median of "
        f"{meta['runs']} runs. *Time* is the read as the library reports it (connect to result in memory, "
        "without Python's start and imports) and, for psql and the dataverk CLI, the process' wall time; "
        "*peak RSS* is the reader process' (wait4), without the server's.",
        "",
        "Packages: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + ".",
        "",
    ]
    for d in sets:
        res = results.get(d["id"], {})
        if not res:
            continue
        lines += [f"## {d['title']}: {d['rows']:,} rows, {d['columns']} columns", "",
                  f"`{d['query']}`" + (f", partitioned on `{d['partition_on']}`" if any(
                      r.endswith("partitioned") for r in res) else ""), "",
                  "| reader | time | rows/s | peak RSS | result in memory | time / limit | runs (s) |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        limit = res.get("limit", {}).get("time_s")
        for reader, s in res.items():
            name = label(reader, partitions)
            if s.get("error"):
                lines.append(f"| {name} | failed: {s['error'][:150].replace('|', '/')} | | | | | |")
                continue
            size = s.get("arrow_data_bytes") or s.get("result_bytes")
            if s.get("file_bytes"):
                size_text = f"{fmt_mb(s['file_bytes'])} file"
            else:
                size_text = fmt_mb(size) if size else "–"
            vs = f"{s['time_s'] / limit:.2f}×" if limit else "–"
            runs = ", ".join(f"{r['time_s']:.2f}" for r in s["runs"])
            lines.append(f"| {name} | {fmt_s(s['time_s'])} | {s['rows_per_s'] / 1e6:.2f} M | "
                         f"{fmt_mb(s['peak_rss_bytes'])} | {size_text} | {vs} | {runs} |")
        lines.append("")
    r = ratios(results, partitions)
    if r:
        lines += ["## Ratios (time of dataverk / time of the other; below 1 is faster)", "",
                  "| data | ratio | value |", "|---|---|---:|"]
        lines += [f"| {d} | {what} | {v:.2f} |" for d, what, v in r]
        lines.append("")
    lines += ["## The issue's targets (flights)", "", "| target | holds | numbers |", "|---|---|---|"]
    for t in targets(results, partitions):
        holds = {True: "yes", False: "**no**", None: "not measured"}[t["holds"]]
        lines.append(f"| {t['target']} | {holds} | {t['detail']} |")
    lines.append("")
    stmts = [(d, reader, s["statements"]) for d, res in results.items() for reader, s in res.items()
             if s.get("statements") and d == "flights"]
    if stmts:
        lines += ["## Statements on `flights` each reader ran on the server (first run; pg_stat_statements)", "",
                  "| reader | calls | statement |", "|---|---:|---|"]
        for _, reader, st in stmts:
            # The data query itself, not the drivers' session set-up.
            for s in (s for s in st if "flights" in s["query"]):
                lines.append(f"| {label(reader, partitions)} | {s['calls']} | `{s['query'][:120]}` |")
        lines.append("")
    lines += [f"Load average (1 min) before the runs: {meta['load_min']:.2f} to {meta['load_max']:.2f} "
              "(2 cores; anything above about 0.5 means other work shared the machine).", ""]
    return "\n".join(lines)


def chart(path, sets, results, partitions):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [d for d in sets if d["id"] in ("flights", "wide") and results.get(d["id"])]
    fig, axes = plt.subplots(len(shown), 2, figsize=(14, 4.2 * len(shown)), squeeze=False)
    colors = {"limit": "#7f7f7f", "dataverk": "#1f77b4", "connectorx": "#ff7f0e", "pandas": "#2ca02c",
              "polars": "#9467bd"}
    for row, d in enumerate(shown):
        res = [(r, s) for r, s in results[d["id"]].items() if not s.get("error")]
        names = [label(r, partitions) for r, _ in res][::-1]
        col = [colors[READER_INFO[r][2]] for r, _ in res][::-1]
        for ax, key, unit, title in [
            (axes[row][0], "time_s", 1, "median time, s"),
            (axes[row][1], "peak_rss_bytes", MB, "peak RSS of the reader, MB"),
        ]:
            values = [s[key] / unit for _, s in res][::-1]
            bars = ax.barh(names, values, color=col)
            ax.bar_label(bars, fmt="%.1f" if unit == 1 else "%.0f", padding=3, fontsize=8)
            ax.set_title(f"{d['id']}, {d['rows']:,} rows: {title}", fontsize=10)
            ax.tick_params(axis="y", labelsize=8)
            ax.margins(x=0.15)
        axes[row][1].set_yticklabels([])
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    args = parse_args()
    bench = Bench(args)
    results_dir = Path(args.results)
    results_dir.mkdir(parents=True, exist_ok=True)
    postgres = bench.psql("SHOW server_version")
    sets = datasets(bench, args.scale)
    bench.enable_statements()

    log("==> warming up: one \\copy of each table (page cache)")
    for d in sets:
        bench.run_once("limit", d, 0)

    results, loads = {}, []
    for d in sets:
        log(f"==> {d['title']}: {d['rows']:,} rows, {d['columns']} columns: {d['query']}")
        results[d["id"]] = {}
        # Interleaved rounds: round n runs every reader once, so a change in the machine's load
        # (these machines are shared) falls on every reader alike instead of on whichever ran then.
        readers = [r for r in d["readers"] if not bench.only or r in bench.only]
        state = {r: {"runs": [], "error": None, "statements": None} for r in readers}
        for n in range(1, args.runs + 1):
            log(f"  round {n} of {args.runs}")
            for reader in readers:
                if state[reader]["error"] is None:
                    bench.measure_round(d, reader, n, state[reader])
        for reader in readers:
            st = state[reader]
            s = summarize(st["runs"], st["error"], st["statements"], d["rows"])
            results[d["id"]][reader] = s
            loads += [r["load_1m_before"] for r in s["runs"]]
            if s.get("time_s"):
                log(f"  {label(reader, args.partitions):40} median {s['time_s']:.2f} s, "
                    f"{s['rows_per_s'] / 1e6:.2f} M rows/s, peak RSS {s['peak_rss_bytes'] / MB:.0f} MB")

    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_commit(),
        "postgres": postgres,
        "scale": args.scale,
        "runs": args.runs,
        "partitions": args.partitions,
        "machine": machine(),
        "versions": versions(args.python),
        "load_min": min(loads, default=0.0),
        "load_max": max(loads, default=0.0),
    }
    out = {"meta": meta, "datasets": sets, "results": results,
           "ratios": [{"data": d, "ratio": w, "value": v} for d, w, v in ratios(results, args.partitions)],
           "targets": targets(results, args.partitions)}
    (results_dir / "results.json").write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    (results_dir / "results.md").write_text(markdown(meta, sets, results, args.partitions))
    chart(results_dir / "results.png", sets, results, args.partitions)

    log("")
    log("==> ratios (dataverk's time / the other's; below 1 is faster)")
    for d, what, v in ratios(results, args.partitions):
        log(f"    {d:8} {what:45} {v:6.2f}")
    log("==> targets")
    for t in out["targets"]:
        holds = {True: "holds", False: "DOES NOT HOLD", None: "not measured"}[t["holds"]]
        log(f"    {holds:14} {t['target']}: {t['detail']}")
    log(f"==> wrote {results_dir}/results.md, results.png, results.json")


if __name__ == "__main__":
    main()
