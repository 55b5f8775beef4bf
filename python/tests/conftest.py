"""The real parts the tests run against, started once per session the way demo/run.sh does:
a throwaway PostgreSQL cluster (scram-sha-256 over 127.0.0.1, run as `postgres` when we are
root) and the repository's devvault with KV v2, Kubernetes auth and a database secrets mount.
The tests then see only the seed's variables (VKS_VAULT_ADDR, VKS_AUTH_PATH, VKS_KV_PATH,
K8S_SERVICEACCOUNT_PATH), as a Kubeflow pod would.
"""

import glob
import json
import os
import secrets
import shutil
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "demo"))
import helpers  # noqa: E402  (demo/helpers.py: the service-account folder, the seed's settings)

NAMESPACE = "pytest-team"
DATABASE = "testdb"
ROLE = f"{DATABASE}-admin"
CREDS_PATH = f"postgresql/preprod-fss/creds/{ROLE}"
# Creds whose leases last 3 s: a long-lived client must keep replacing them.
SHORT_CREDS_PATH = f"postgresql/preprod-fss/creds/{DATABASE}-short"
SHORT_TTL_SECONDS = 3
# Creds under a role the namespace's policy does not allow: Vault answers 403.
DENIED_CREDS_PATH = "postgresql/preprod-fss/creds/otherdb-admin"
SEED_SETTINGS = (
    "{\n"
    '  "db_connection_strings": { "postgres_database": "${POSTGRES_CREDENTIALS}" },\n'
    '  "db_vault_path":         { "postgres_database": "${POSTGRES_CREDS_PATH}" }\n'
    "}\n"
)
# Variables that would give the library another way to Vault or the database than the seed's.
OTHER_VARIABLES = [
    "APPLICATION_NAME",
    "VAULT_ADDR",
    "VAULT_TOKEN",
    "VAULT_NAMESPACE",
    "DATAVERK_VAULT_KV_PATH",
    "DATAVERK_SETTINGS",
    "DEVVAULT_ROOT_TOKEN",
    "POSTGRES_CREDENTIALS",
    "POSTGRES_CREDS_PATH",
    "PGPASSWORD",
]


@dataclass
class Stack:
    pg_port: int
    pg_password: str
    root_token: str
    vault_addr: str
    serviceaccount: Path

    def secrets(self):
        """Values that must never appear in a message."""
        token = (self.serviceaccount / "token").read_text()
        return [self.pg_password, self.root_token, token]


def random_secret():
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(32))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_root():
    return os.geteuid() == 0


def as_pg(args, **kwargs):
    """Runs a PostgreSQL server binary, as `postgres` when we are root (it refuses root)."""
    if is_root():
        args = ["runuser", "-u", "postgres", "--"] + args
    return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs)


def find_pg_bin():
    initdb = shutil.which("initdb")
    if initdb:
        return Path(os.path.realpath(initdb)).parent
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True):
        if os.access(f"{d}/initdb", os.X_OK):
            return Path(d)
    pytest.fail(
        "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin; "
        "install them, e.g. apt-get install -y postgresql"
    )


def find_devvault():
    """target/release/devvault, else target/debug/devvault (built by `cargo test`), else built."""
    for profile in ("release", "debug"):
        path = ROOT / "target" / profile / "devvault"
        if path.exists():
            return path
    subprocess.run(["cargo", "build", "--release", "-p", "devvault"], cwd=ROOT, check=True)
    return ROOT / "target" / "release" / "devvault"


def start_postgres(pg_bin, pg_dir, password):
    """initdb and start a cluster in pg_dir; returns its port."""
    pwfile = pg_dir / "pwfile"
    pwfile.write_text(password + "\n")
    if is_root():
        shutil.chown(pwfile, "postgres", "postgres")
    as_pg(
        [str(pg_bin / "initdb"), "-D", str(pg_dir / "data"), "-U", "postgres", "-E", "UTF8", "--no-locale",
         "--auth-host=scram-sha-256", "--auth-local=trust", f"--pwfile={pwfile}"],
        cwd=pg_dir,
    )
    pwfile.unlink()
    (pg_dir / "data" / "pg_hba.conf").write_text(
        "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
    )
    with open(pg_dir / "data" / "postgresql.conf", "a") as f:
        f.write(
            f"listen_addresses = '127.0.0.1'\nunix_socket_directories = '{pg_dir}'\n"
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
        )
    for _ in range(5):
        port = free_port()
        with open(pg_dir / "data" / "postgresql.conf", "a") as f:
            f.write(f"port = {port}\n")
        try:
            as_pg([str(pg_bin / "pg_ctl"), "-D", str(pg_dir / "data"), "-l", str(pg_dir / "postgres.log"),
                   "-w", "-t", "60", "start"], cwd=pg_dir)
            return port
        except subprocess.CalledProcessError:
            log = (pg_dir / "postgres.log").read_text(errors="replace")
            if "already in use" not in log:
                raise RuntimeError(f"PostgreSQL did not start:\n{log[-2000:]}")
    raise RuntimeError("PostgreSQL did not start: no free port after 5 attempts")


def psql(pg_bin, port, password, database, sql):
    exe = pg_bin / "psql" if (pg_bin / "psql").exists() else shutil.which("psql")
    env = dict(os.environ, PGPASSWORD=password, PGCONNECT_TIMEOUT="10")
    out = subprocess.run(
        [str(exe), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-h", "127.0.0.1", "-p", str(port),
         "-U", "postgres", "-d", database, "-f", "-"],
        input=sql, env=env, check=True, capture_output=True, text=True,
    )
    return out.stdout.strip()


TEST_DATA = f"""
CREATE ROLE "{ROLE}" NOLOGIN;
GRANT USAGE, CREATE ON SCHEMA public TO "{ROLE}";
CREATE TABLE flights (
    id        int PRIMARY KEY,
    carrier   text,
    dep_delay double precision,
    distance  numeric(8,2),
    day       date,
    time_hour timestamptz
);
INSERT INTO flights
SELECT i,
       (ARRAY['UA', 'AA', 'B6', NULL])[1 + i % 4],
       CASE WHEN i % 10 = 0 THEN NULL ELSE i * 0.5 END,
       i * 1.25,
       DATE '2013-01-01' + i % 365,
       TIMESTAMPTZ '2013-01-01 05:00:00+00' + i * INTERVAL '1 hour'
FROM generate_series(1, 1000) AS i;
ALTER TABLE flights OWNER TO "{ROLE}";
"""


def devvault_config(port, password):
    return {
        "kv": [{"mount": "secret", "version": 2}],
        "policies": {
            NAMESPACE: [
                f"secret/data/kubeflow/{NAMESPACE}",
                "sys/internal/ui/mounts/*",
                CREDS_PATH,
                SHORT_CREDS_PATH,
                "sys/leases/*",
            ]
        },
        "kubernetes": [
            {
                "mount": "kubernetes",
                "roles": {
                    NAMESPACE: {
                        "bound_service_account_namespaces": [NAMESPACE],
                        "bound_service_account_names": ["default"],
                        "policies": [NAMESPACE],
                        "ttl": "1h",
                    }
                },
            }
        ],
        "database": [
            {
                "mount": "postgresql/preprod-fss",
                "connection_url": f"postgres://postgres:{password}@127.0.0.1:{port}/{DATABASE}",
                "roles": {
                    name: {
                        "creation_statements": [
                            "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' "
                            "VALID UNTIL '{{expiration}}';",
                            f'GRANT "{ROLE}" TO "{{{{name}}}}";',
                        ],
                        "default_ttl": ttl,
                        "max_ttl": max_ttl,
                    }
                    for name, ttl, max_ttl in (
                        (ROLE, "10m", "1h"),
                        (f"{DATABASE}-short", f"{SHORT_TTL_SECONDS}s", f"{2 * SHORT_TTL_SECONDS}s"),
                        ("otherdb-admin", "10m", "1h"),
                    )
                },
            }
        ],
    }


def vault_write(addr, token, path, body):
    request = urllib.request.Request(
        f"{addr}/v1/{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"X-Vault-Token": token, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


@pytest.fixture(scope="session")
def stack():
    """PostgreSQL with database testdb and table flights (1000 rows), devvault handing out its
    credentials, the seed's two secrets in KV, and the seed's variables in the environment."""
    pg_bin = find_pg_bin()
    devvault = find_devvault()
    base = Path(tempfile.mkdtemp(prefix="dataverk-pytest-"))
    pg_dir = base / "pg"
    pg_dir.mkdir(mode=0o700)
    if is_root():
        shutil.chown(base, "postgres", "postgres")
        shutil.chown(pg_dir, "postgres", "postgres")
    vault = None
    saved = {k: os.environ.get(k) for k in OTHER_VARIABLES + ["VKS_VAULT_ADDR", "VKS_AUTH_PATH", "VKS_KV_PATH", "K8S_SERVICEACCOUNT_PATH"]}
    try:
        password = random_secret()
        port = start_postgres(pg_bin, pg_dir, password)
        psql(pg_bin, port, password, "postgres", f"CREATE DATABASE {DATABASE};")
        psql(pg_bin, port, password, DATABASE, TEST_DATA)

        root_token = "hvs." + random_secret()
        config = base / "devvault.json"
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(devvault_config(port, password), f)
        addr_file = base / "vault.addr"
        vault = subprocess.Popen(
            [str(devvault), "--config", str(config), "--listen", "127.0.0.1:0", "--addr-file", str(addr_file)],
            env=dict(os.environ, DEVVAULT_ROOT_TOKEN=root_token),
            stdout=open(base / "devvault.log", "w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while not (addr_file.exists() and addr_file.read_text().strip()):
            if vault.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("devvault did not start:\n" + (base / "devvault.log").read_text()[-2000:])
            time.sleep(0.05)
        addr = addr_file.read_text().strip()
        if not addr.startswith(("http://", "https://")):
            addr = "http://" + addr
        vault_write(
            addr,
            root_token,
            f"secret/data/kubeflow/{NAMESPACE}",
            {
                "data": {
                    "POSTGRES_CREDENTIALS": f"postgres://user:pass@127.0.0.1:{port}/{DATABASE}",
                    "POSTGRES_CREDS_PATH": CREDS_PATH,
                }
            },
        )
        serviceaccount = base / "serviceaccount"
        helpers.serviceaccount(str(serviceaccount), NAMESPACE)

        for k in OTHER_VARIABLES:
            os.environ.pop(k, None)
        os.environ.update(
            VKS_VAULT_ADDR=addr,
            VKS_AUTH_PATH="auth/kubernetes/login",
            VKS_KV_PATH="secret/kubeflow",
            K8S_SERVICEACCOUNT_PATH=str(serviceaccount),
        )
        yield Stack(port, password, root_token, addr, serviceaccount)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if vault is not None:
            vault.terminate()
            vault.wait(timeout=10)
        if (pg_dir / "data" / "postmaster.pid").exists():
            try:
                as_pg([str(pg_bin / "pg_ctl"), "-D", str(pg_dir / "data"), "-m", "fast", "-w", "-t", "60", "stop"])
            except subprocess.CalledProcessError:
                pass
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def seed_dir(stack, tmp_path, monkeypatch):
    """A working directory holding a settings.json in the seed's shape, as a notebook's would."""
    (tmp_path / "settings.json").write_text(SEED_SETTINGS)
    monkeypatch.chdir(tmp_path)
    return tmp_path
