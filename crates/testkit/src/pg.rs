//! [`PgCluster`]: a throwaway PostgreSQL cluster in a temporary directory.
//!
//! PostgreSQL refuses to run as root, and tests here run as root, so when we are root the
//! server binaries run as the `postgres` user (through `runuser`) on a directory that user
//! owns. `psql` needs no such care: it connects over TCP with the superuser's password.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use tempfile::TempDir;

const SUPERUSER: &str = "postgres";

/// A PostgreSQL cluster listening on 127.0.0.1 on its own port, stopped and deleted on drop.
///
/// Host connections need the superuser's password (scram-sha-256), as in production, so the
/// code under test exercises real password authentication.
pub struct PgCluster {
    dir: TempDir,
    port: u16,
    password: String,
}

impl PgCluster {
    /// Starts a throwaway PostgreSQL cluster: initdb with scram-sha-256 password auth for host
    /// connections, listening on 127.0.0.1 only on a free port, unix socket dir inside its own
    /// temp dir. Blocking.
    pub fn start() -> PgCluster {
        let dir = tempfile::Builder::new()
            .prefix("testkit-pg-")
            .tempdir()
            .expect("cannot create a temporary directory for PostgreSQL");
        let password = random_password();
        let pwfile = dir.path().join("pwfile");
        fs::write(&pwfile, &password).expect("cannot write the PostgreSQL password file");
        give_to_postgres(dir.path());

        let data = data_dir(dir.path());
        let output = server_command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", SUPERUSER, "-E", "UTF8", "--no-locale"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .current_dir(dir.path())
            .output()
            .expect("cannot run initdb");
        check("initdb", &output);
        fs::remove_file(&pwfile).expect("cannot remove the PostgreSQL password file");

        // Overwrite what initdb generated: only TCP from 127.0.0.1 with a password, plus the
        // private unix socket without one.
        let hba = "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n";
        fs::write(data.join("pg_hba.conf"), hba).expect("cannot write pg_hba.conf");
        append_conf(
            &data,
            &format!(
                "listen_addresses = '127.0.0.1'\n\
                 unix_socket_directories = '{}'\n\
                 fsync = off\n\
                 synchronous_commit = off\n\
                 full_page_writes = off\n\
                 max_connections = 100\n",
                dir.path().display()
            ),
        );

        let mut cluster = PgCluster {
            dir,
            port: 0,
            password,
        };
        // The port is free when picked but may be taken before postgres binds it: retry.
        let mut last_log = String::new();
        for _ in 0..5 {
            cluster.port = crate::free_port();
            append_conf(&data, &format!("port = {}\n", cluster.port));
            let output = cluster.pg_ctl(&["-w", "-t", "60", "start"]);
            if output.status.success() {
                return cluster;
            }
            last_log = fs::read_to_string(cluster.log_file()).unwrap_or_default();
            if !last_log.contains("already in use") {
                break;
            }
        }
        panic!("PostgreSQL did not start; its log:\n{last_log}");
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser's name: `postgres`.
    pub fn superuser(&self) -> &str {
        SUPERUSER
    }

    /// The superuser's random password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// `postgres://postgres:PASSWORD@127.0.0.1:PORT/DATABASE` (the password is alphanumeric,
    /// so it needs no escaping).
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/{database}",
            self.password, self.port
        )
    }

    /// Runs SQL with psql as the superuser over TCP and returns its unaligned, tuples-only
    /// output; panics with psql's stderr on any error.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let mut child = Command::new(pg_bin("psql"))
            .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-U", SUPERUSER, "-d", database])
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-f", "-"])
            .env("PGPASSWORD", &self.password)
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run psql");
        child
            .stdin
            .take()
            .expect("psql stdin")
            .write_all(sql.as_bytes())
            .expect("cannot write SQL to psql");
        let output = child.wait_with_output().expect("cannot wait for psql");
        if !output.status.success() {
            panic!(
                "psql failed on database {database:?}: {}\nSQL: {sql}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Restarts the server (`pg_ctl restart -m fast`) on the same port; blocks until it is up.
    pub fn restart(&self) {
        let output = self.pg_ctl(&["-w", "-t", "60", "-m", "fast", "restart"]);
        check("pg_ctl restart", &output);
    }

    /// Turns on TLS with a fresh test CA and a server certificate for `127.0.0.1`/`localhost`
    /// ([`crate::certs::TestCerts`]), and restarts; returns the CA certificate's PEM file.
    /// With `only_tls`, host connections without TLS are refused (`hostssl` in pg_hba.conf).
    pub fn enable_ssl(&self, only_tls: bool) -> PathBuf {
        let data = data_dir(self.dir.path());
        let certs = crate::certs::TestCerts::make(&self.dir.path().join("certs"));
        for (from, name) in [(&certs.cert, "server.crt"), (&certs.key, "server.key")] {
            fs::copy(from, data.join(name)).expect("cannot copy the server certificate");
        }
        give_to_postgres(self.dir.path());
        let _ = Command::new("chmod")
            .arg("600")
            .arg(data.join("server.key"))
            .output();
        append_conf(
            &data,
            "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n",
        );
        if only_tls {
            let hba = "local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n";
            fs::write(data.join("pg_hba.conf"), hba).expect("cannot write pg_hba.conf");
        }
        self.restart();
        certs.ca
    }

    /// Stops the server (`pg_ctl stop -m fast`); the data stays until the cluster is dropped.
    pub fn stop(&self) {
        let output = self.pg_ctl(&["-w", "-t", "60", "-m", "fast", "stop"]);
        check("pg_ctl stop", &output);
    }

    fn log_file(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    fn pg_ctl(&self, args: &[&str]) -> Output {
        server_command("pg_ctl")
            .arg("-D")
            .arg(data_dir(self.dir.path()))
            .arg("-l")
            .arg(self.log_file())
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("cannot run pg_ctl")
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        // Immediate: nothing in a throwaway cluster is worth a clean shutdown.
        let _ = self.pg_ctl(&["-w", "-t", "30", "-m", "immediate", "stop"]);
    }
}

fn data_dir(dir: &Path) -> PathBuf {
    dir.join("data")
}

fn append_conf(data: &Path, lines: &str) {
    // Later settings override earlier ones, so appending is enough.
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(data.join("postgresql.conf"))
        .expect("cannot open postgresql.conf");
    file.write_all(lines.as_bytes())
        .expect("cannot write postgresql.conf");
}

pub(crate) fn check(what: &str, output: &Output) {
    if !output.status.success() {
        panic!(
            "{what} failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout).trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
}

fn random_password() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), 24)
}

fn is_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false)
    })
}

/// Makes `dir` (recursively) owned by the postgres user when we are root, so initdb and the
/// server, which run as that user, can use it.
fn give_to_postgres(dir: &Path) {
    if !is_root() {
        return;
    }
    let output = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(dir)
        .output()
        .expect("cannot run chown");
    check("chown to the postgres user", &output);
}

/// A command for a server-side binary (initdb, pg_ctl), run as `postgres` when we are root.
fn server_command(binary: &str) -> Command {
    let path = pg_bin(binary);
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(path);
        command
    } else {
        Command::new(path)
    }
}

/// Finds a PostgreSQL binary on PATH, else in the newest /usr/lib/postgresql/<version>/bin.
fn pg_bin(binary: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(binary))
            .find(|candidate| candidate.is_file())
    });
    if let Some(path) = on_path {
        return path;
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let path = entry.path().join("bin").join(binary);
            path.is_file().then_some((version, path))
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, path)) => path,
        None => panic!(
            "PostgreSQL binary {binary:?} not found on PATH or in /usr/lib/postgresql/*/bin; \
             install the PostgreSQL server (e.g. apt-get install postgresql)"
        ),
    }
}
