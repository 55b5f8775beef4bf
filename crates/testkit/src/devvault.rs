//! [`DevVault`]: a devvault server running in-process on its own thread and tokio runtime, so
//! that blocking tests and async tests alike can use it, and so that stopping it drops every
//! task and connection it had.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

/// An in-process devvault server on 127.0.0.1, stopped on drop.
pub struct DevVault {
    config: devvault::Config,
    addr: SocketAddr,
    root_token: String,
    running: Option<Running>,
}

struct Running {
    shutdown: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

impl DevVault {
    /// Starts devvault in-process on 127.0.0.1:0 with this config.
    pub fn start(config: devvault::Config) -> DevVault {
        let mut config = config;
        // Fix the root token now so that it survives restarts.
        let root_token = config
            .root_token
            .get_or_insert_with(|| {
                use rand::distr::{Alphanumeric, SampleString};
                format!("hvs.{}", Alphanumeric.sample_string(&mut rand::rng(), 24))
            })
            .clone();
        let (addr, running) = launch(config.clone(), "127.0.0.1:0".parse().unwrap())
            .unwrap_or_else(|err| panic!("devvault did not start: {err}"));
        DevVault {
            config,
            addr,
            root_token,
            running: Some(running),
        }
    }

    /// Starts devvault serving HTTPS with `certs`' server certificate.
    pub fn start_tls(config: devvault::Config, certs: &crate::certs::TestCerts) -> DevVault {
        let mut config = config;
        config.tls = Some(devvault::TlsFiles {
            cert_file: certs.cert.clone(),
            key_file: certs.key.clone(),
        });
        DevVault::start(config)
    }

    /// The server's address, e.g. `http://127.0.0.1:PORT` or `https://…` (the form of
    /// `VAULT_ADDR`).
    pub fn addr(&self) -> String {
        let scheme = if self.config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// The root token.
    pub fn root_token(&self) -> &str {
        &self.root_token
    }

    /// Stops the server (closes the listener, drops all in-memory state; does NOT revoke
    /// leases). Does nothing if it is already stopped.
    pub fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.shutdown.send(());
            let _ = running.thread.join();
        }
    }

    /// Starts a fresh server (fresh in-memory state, same config) on the SAME port.
    pub fn restart(&mut self) {
        self.stop();
        // The old listener is closed, but retry briefly in case the OS is slow to free it.
        let mut last_err = String::new();
        for _ in 0..50 {
            match launch(self.config.clone(), self.addr) {
                Ok((_, running)) => {
                    self.running = Some(running);
                    return;
                }
                Err(err) => last_err = err,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("devvault did not restart on {}: {last_err}", self.addr);
    }

    /// Convenience: write a KV secret through the HTTP API with the root token (handles v1/v2
    /// by mount config). `path` is the logical path, e.g. `secret/kubeflow/my-ns`.
    pub fn put_kv(&self, path: &str, data: serde_json::Value) {
        let path = path.trim_matches('/');
        let mount = self
            .config
            .kv
            .iter()
            .filter(|kv| {
                let mount = kv.mount.trim_matches('/');
                path == mount || path.starts_with(&format!("{mount}/"))
            })
            .max_by_key(|kv| kv.mount.trim_matches('/').len())
            .unwrap_or_else(|| panic!("put_kv: {path:?} is not under any configured kv mount"));
        let (api_path, body) = if mount.version == 2 {
            let mount_path = mount.mount.trim_matches('/');
            let rest = path[mount_path.len()..].trim_start_matches('/');
            (
                format!("{mount_path}/data/{rest}"),
                serde_json::json!({ "data": data }),
            )
        } else {
            (path.to_string(), data)
        };
        let status = self.http_post(&api_path, &body.to_string());
        assert!(
            (200..300).contains(&status.0),
            "put_kv {path:?}: devvault answered {}: {}",
            status.0,
            status.1
        );
    }

    /// A minimal blocking HTTP/1.1 POST, so testkit needs no HTTP client of its own.
    /// devvault's counters (`GET sys/devvault/stats`): `creds_issued`, `logins`, ....
    pub fn stats(&self) -> serde_json::Value {
        let (status, body) = self.http("GET", "sys/devvault/stats", "");
        assert_eq!(status, 200, "devvault stats: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("stats JSON");
        v["data"].clone()
    }

    /// How many credentials devvault has issued for `creds_path` (`<mount>/creds/<role>`).
    pub fn creds_issued(&self, creds_path: &str) -> u64 {
        self.stats()["creds_issued"][creds_path]
            .as_u64()
            .unwrap_or(0)
    }

    /// Injects a fault (`POST sys/devvault/faults`), e.g.
    /// `{"path_prefix": "postgresql/", "status": 503, "count": 3}` or `{"delay_ms": 500}`.
    pub fn inject_fault(&self, fault: serde_json::Value) {
        let (status, body) = self.http("POST", "sys/devvault/faults", &fault.to_string());
        assert!(
            (200..300).contains(&status),
            "devvault faults: {status} {body}"
        );
    }

    /// Clears every injected fault.
    pub fn clear_faults(&self) {
        let (status, body) = self.http("DELETE", "sys/devvault/faults", "");
        assert!(
            (200..300).contains(&status),
            "devvault faults: {status} {body}"
        );
    }

    fn http_post(&self, path: &str, body: &str) -> (u16, String) {
        self.http("POST", path, body)
    }

    fn http(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        assert!(
            self.config.tls.is_none(),
            "testkit's devvault helpers speak plain HTTP: give a TLS server its secrets in the config"
        );
        let mut stream = TcpStream::connect(self.addr).expect("cannot connect to devvault");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("set_read_timeout");
        let request = format!(
            "{method} /v1/{path} HTTP/1.1\r\nHost: {}\r\nX-Vault-Token: {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            self.root_token,
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .expect("cannot send to devvault");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .expect("cannot read devvault's answer");
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default();
        (status, body)
    }
}

impl Drop for DevVault {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts a server on its own thread and runtime; returns once it listens.
fn launch(config: devvault::Config, addr: SocketAddr) -> Result<(SocketAddr, Running), String> {
    let (ready_tx, ready_rx) = mpsc::channel::<Result<SocketAddr, String>>();
    let (shutdown, shutdown_rx) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("devvault".to_string())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(err) => {
                    let _ = ready_tx.send(Err(format!("cannot build a tokio runtime: {err}")));
                    return;
                }
            };
            runtime.block_on(async move {
                match devvault::Server::start(config, addr).await {
                    Ok(server) => {
                        let _ = ready_tx.send(Ok(server.local_addr()));
                        let _ = shutdown_rx.await;
                        server.stop().await;
                    }
                    Err(err) => {
                        let _ = ready_tx.send(Err(err.to_string()));
                    }
                }
            });
            // Dropping the runtime here ends every task the server still had.
        })
        .map_err(|err| format!("cannot spawn the devvault thread: {err}"))?;
    match ready_rx.recv() {
        Ok(Ok(addr)) => Ok((addr, Running { shutdown, thread })),
        Ok(Err(err)) => {
            let _ = thread.join();
            Err(err)
        }
        Err(_) => {
            let _ = thread.join();
            Err("the devvault thread ended before it was ready".to_string())
        }
    }
}
