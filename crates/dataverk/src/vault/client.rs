//! The Vault HTTP client: login, token upkeep, retries, and reads that keep the lease envelope.
//!
//! Written on reqwest rather than a Vault crate because the convenience calls of the crates we
//! looked at (vaultrs) return only `data`, and the lease fields are what this project runs on.

use super::config::{VaultAuth, VaultConfig};
use super::envelope::{error_messages, kv_data, Envelope};
use crate::error::{Error, Result};
use crate::Secret;
use rand::Rng;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How transient Vault failures (network errors, timeouts, 429, 500, 502, 503) are retried:
/// exponential backoff with full jitter, bounded both in attempts and in total time.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The first backoff; doubled after each failure.
    pub base_delay: Duration,
    /// The longest single backoff.
    pub max_delay: Duration,
    /// No new attempt starts after this much time since the first.
    pub max_elapsed: Duration,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            max_elapsed: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The sleep before attempt `attempt + 1` (attempt counts from 1): a random duration up to
    /// `min(max_delay, base_delay * 2^(attempt-1))`. Full jitter spreads out many clients that
    /// failed at the same moment, so a recovering Vault is not hit by all of them at once.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let cap = exp.min(self.max_delay);
        let nanos = rand::rng().random_range(0..=cap.as_nanos() as u64);
        Duration::from_nanos(nanos)
    }
}

/// A Vault token and when to look after it.
struct TokenState {
    token: Secret,
    generation: u64,
    /// When to renew or log in again (two thirds into the TTL); `None` for tokens that never expire.
    refresh_at: Option<Instant>,
    renewable: bool,
}

/// A client for one Vault server.
pub struct VaultClient {
    http: reqwest::Client,
    config: VaultConfig,
    retry: RetryPolicy,
    token: Mutex<Option<TokenState>>,
    generation: std::sync::atomic::AtomicU64,
}

fn status_is_transient(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503)
}

impl VaultClient {
    /// A client for `config` with the default retry policy.
    pub fn new(config: VaultConfig) -> Result<Self> {
        Self::with_retry(config, RetryPolicy::default())
    }

    /// A client for `config` with a chosen retry policy.
    pub fn with_retry(config: VaultConfig, retry: RetryPolicy) -> Result<Self> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(retry.request_timeout)
            .connect_timeout(Duration::from_secs(5).min(retry.request_timeout));
        if let Some(path) = &config.ca_cert {
            let pem = std::fs::read(path).map_err(|e| {
                Error::VaultConfig(format!("cannot read VAULT_CACERT {}: {e}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                Error::VaultConfig(format!(
                    "VAULT_CACERT {} is not a PEM certificate bundle: {e}",
                    path.display()
                ))
            })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if config.skip_verify {
            tracing::warn!(
                addr = %config.addr,
                "VAULT_SKIP_VERIFY is set: Vault's TLS certificate is NOT verified; \
                 anyone on the network path can read tokens and secrets"
            );
            builder = builder.danger_accept_invalid_certs(true);
        }
        let http = builder
            .build()
            .map_err(|e| Error::VaultConfig(format!("cannot build the HTTP client: {e}")))?;
        Ok(VaultClient {
            http,
            config,
            retry,
            token: Mutex::new(None),
            generation: Default::default(),
        })
    }

    /// The configuration this client was built from.
    pub fn config(&self) -> &VaultConfig {
        &self.config
    }

    /// Vault's base address.
    pub fn addr(&self) -> &str {
        &self.config.addr
    }

    /// Whether a refused token can be replaced by logging in again.
    fn can_relogin(&self) -> bool {
        match &self.config.auth {
            VaultAuth::Kubernetes { .. } => true,
            // A token from ~/.vault-token may have been replaced by `vault login`.
            VaultAuth::Token { token, file } => token.is_none() && file.is_some(),
        }
    }

    /// One HTTP exchange with retries for transient failures. `None` for 204 No Content.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        token: Option<&Secret>,
        operation: &str,
    ) -> Result<Option<Envelope>> {
        let url = format!("{}/v1/{}", self.config.addr, path.trim_start_matches('/'));
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = self.http.request(method.clone(), &url);
            if let Some(token) = token {
                req = req.header("X-Vault-Token", token.expose());
            }
            if let Some(ns) = &self.config.namespace {
                req = req.header("X-Vault-Namespace", ns);
            }
            if let Some(body) = body {
                req = req.json(body);
            }
            let give_up =
                attempt >= self.retry.max_attempts || started.elapsed() >= self.retry.max_elapsed;
            let outcome = match req.send().await {
                Err(e) => Err(e),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    match resp.text().await {
                        Ok(text) => Ok((status, text)),
                        Err(e) => Err(e),
                    }
                }
            };
            match outcome {
                Err(e) if tls_refused(&e) => {
                    // Not transient: the same certificate will be refused again.
                    return Err(Error::VaultUnreachable {
                        addr: self.config.addr.clone(),
                        attempts: attempt,
                        message: format!(
                            "{}; Vault's TLS certificate was not accepted: set VAULT_CACERT to \
                             the PEM file of the CA that signed it",
                            describe_reqwest_error(&e)
                        ),
                    });
                }
                Err(e) => {
                    if give_up {
                        return Err(Error::VaultUnreachable {
                            addr: self.config.addr.clone(),
                            attempts: attempt,
                            message: describe_reqwest_error(&e),
                        });
                    }
                    tracing::debug!(%path, attempt, error = %describe_reqwest_error(&e), "Vault request failed; retrying");
                }
                Ok((status, text)) if status < 300 => {
                    tracing::debug!(%method, %path, status, "Vault request");
                    if status == 204 || text.trim().is_empty() {
                        return Ok(None);
                    }
                    return serde_json::from_str(&text).map(Some).map_err(|e| {
                        Error::VaultResponse {
                            path: path.to_string(),
                            message: format!("not a Vault JSON envelope: {e}"),
                        }
                    });
                }
                Ok((status, text)) => {
                    let messages = error_messages(&text);
                    if !status_is_transient(status) || give_up {
                        tracing::debug!(%method, %path, status, "Vault refused");
                        return Err(Error::Vault {
                            operation: operation.to_string(),
                            path: path.to_string(),
                            status,
                            messages,
                        });
                    }
                    tracing::debug!(%path, status, attempt, "Vault answered a transient error; retrying");
                }
            }
            let remaining = self.retry.max_elapsed.saturating_sub(started.elapsed());
            tokio::time::sleep(self.retry.backoff(attempt).min(remaining)).await;
        }
    }

    /// Logs in (or loads the static token) and returns the new token state.
    async fn login(&self) -> Result<TokenState> {
        let generation = self
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        match &self.config.auth {
            VaultAuth::Kubernetes {
                login_path,
                role,
                jwt_file,
            } => {
                let jwt = std::fs::read_to_string(jwt_file).map_err(|e| {
                    Error::VaultConfig(format!(
                        "cannot read the service-account token {}: {e}; set \
                         K8S_SERVICEACCOUNT_PATH to the folder holding `token`",
                        jwt_file.display()
                    ))
                })?;
                let jwt = Secret::new(jwt.trim());
                let body = json!({"role": role, "jwt": jwt.expose()});
                let env = self
                    .send(Method::POST, login_path, Some(&body), None, "login at")
                    .await?
                    .ok_or_else(|| Error::VaultResponse {
                        path: login_path.clone(),
                        message: "login returned no body".into(),
                    })?;
                let auth = env.auth.ok_or_else(|| Error::VaultResponse {
                    path: login_path.clone(),
                    message: "login response has no `auth` block".into(),
                })?;
                tracing::info!(role = %role, ttl_s = auth.lease_duration, "logged in to Vault (kubernetes)");
                Ok(TokenState {
                    refresh_at: refresh_point(auth.lease_duration),
                    renewable: auth.renewable,
                    token: auth.client_token,
                    generation,
                })
            }
            VaultAuth::Token { token, file } => {
                let token = match (token, file) {
                    (Some(t), _) => t.clone(),
                    (None, Some(file)) => {
                        let text = std::fs::read_to_string(file).map_err(|e| {
                            Error::VaultConfig(format!(
                                "no VAULT_TOKEN, and the token file {} cannot be read: {e}; \
                                 set VAULT_TOKEN or run `vault login`",
                                file.display()
                            ))
                        })?;
                        Secret::new(text.trim())
                    }
                    (None, None) => {
                        return Err(Error::VaultConfig(
                            "no Vault token: set VAULT_TOKEN, or HOME so that ~/.vault-token can be read".into(),
                        ))
                    }
                };
                // Learn the token's TTL so it can be renewed before it expires.
                let env = self
                    .send(
                        Method::GET,
                        "auth/token/lookup-self",
                        None,
                        Some(&token),
                        "token lookup at",
                    )
                    .await?
                    .unwrap_or_default();
                let data = env.data.unwrap_or_default();
                let ttl = data.get("ttl").and_then(Value::as_u64).unwrap_or(0);
                let renewable = data
                    .get("renewable")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                Ok(TokenState {
                    token,
                    generation,
                    refresh_at: refresh_point(ttl),
                    renewable,
                })
            }
        }
    }

    /// Renews the current token with `renew-self`, keeping it if that works.
    async fn renew_token(&self, state: &TokenState) -> Result<TokenState> {
        let env = self
            .send(
                Method::POST,
                "auth/token/renew-self",
                Some(&json!({})),
                Some(&state.token),
                "token renewal at",
            )
            .await?
            .and_then(|e| e.auth)
            .ok_or_else(|| Error::VaultResponse {
                path: "auth/token/renew-self".into(),
                message: "renewal returned no auth block".into(),
            })?;
        Ok(TokenState {
            refresh_at: refresh_point(env.lease_duration),
            renewable: env.renewable,
            token: env.client_token,
            generation: state.generation,
        })
    }

    /// A valid token: the cached one, or a renewed or new one when it is due. Concurrent callers
    /// wait on one lock, so a burst of requests causes a single login.
    async fn current_token(&self) -> Result<(Secret, u64)> {
        let mut guard = self.token.lock().await;
        let now = Instant::now();
        if let Some(state) = guard.as_ref() {
            if state.refresh_at.is_none_or(|at| now < at) {
                return Ok((state.token.clone(), state.generation));
            }
        }
        let next = match guard.take() {
            Some(state) if state.renewable => match self.renew_token(&state).await {
                Ok(renewed) => renewed,
                Err(e) => {
                    tracing::info!(error = %e, "Vault token renewal failed; logging in again");
                    self.login().await?
                }
            },
            _ => self.login().await?,
        };
        let out = (next.token.clone(), next.generation);
        *guard = Some(next);
        Ok(out)
    }

    /// Renews the token or logs in again when it is due; does nothing before the first login.
    /// Run in the background, so that leases created with the token (which Vault revokes with
    /// it) and the next request do not meet an expired token.
    pub async fn keep_token_alive(&self) -> Result<()> {
        if self.token.lock().await.is_none() {
            return Ok(());
        }
        self.current_token().await.map(|_| ())
    }

    /// Logs in (or checks the current token) now, so that a refused login shows up here.
    pub async fn ensure_token(&self) -> Result<()> {
        self.current_token().await.map(|_| ())
    }

    /// Time until the current token should be renewed; `None` before the first login or for
    /// tokens that never expire.
    pub async fn token_refresh_in(&self) -> Option<Duration> {
        let guard = self.token.lock().await;
        let at = guard.as_ref()?.refresh_at?;
        Some(at.saturating_duration_since(Instant::now()))
    }

    /// Forgets the token of `generation` after Vault refused it.
    async fn invalidate_token(&self, generation: u64) {
        let mut guard = self.token.lock().await;
        if guard.as_ref().is_some_and(|s| s.generation == generation) {
            *guard = None;
        }
    }

    /// An authenticated request; after a 403 it logs in again once and retries once.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        operation: &str,
    ) -> Result<Option<Envelope>> {
        let (token, generation) = self.current_token().await?;
        match self
            .send(method.clone(), path, body, Some(&token), operation)
            .await
        {
            Err(Error::Vault { status: 403, .. }) if self.can_relogin() => {
                tracing::info!(%path, "Vault answered 403; logging in again and retrying once");
                self.invalidate_token(generation).await;
                let (token, _) = self.current_token().await?;
                self.send(method, path, body, Some(&token), operation).await
            }
            other => other,
        }
    }

    /// Reads a logical path, keeping the whole envelope (lease id, duration, renewable).
    pub async fn read(&self, path: &str) -> Result<Envelope> {
        self.request(Method::GET, path, None, "read of")
            .await?
            .ok_or_else(|| Error::VaultResponse {
                path: path.to_string(),
                message: "empty response".into(),
            })
    }

    /// Writes to a logical path.
    pub async fn write(&self, path: &str, body: &Value) -> Result<Option<Envelope>> {
        self.request(Method::POST, path, Some(body), "write to")
            .await
    }

    /// Renews a lease, asking for `increment`; Vault may grant less.
    pub async fn renew_lease(&self, lease_id: &str, increment: Duration) -> Result<Envelope> {
        let body = json!({"lease_id": lease_id, "increment": increment.as_secs()});
        self.request(
            Method::PUT,
            "sys/leases/renew",
            Some(&body),
            "lease renewal at",
        )
        .await?
        .ok_or_else(|| Error::VaultResponse {
            path: "sys/leases/renew".into(),
            message: "empty response".into(),
        })
    }

    /// Revokes a lease now.
    pub async fn revoke_lease(&self, lease_id: &str) -> Result<()> {
        let body = json!({"lease_id": lease_id});
        self.request(
            Method::PUT,
            "sys/leases/revoke",
            Some(&body),
            "lease revocation at",
        )
        .await
        .map(|_| ())
    }

    /// Whether a lease still exists: `Ok(false)` when Vault says it is gone (400).
    pub async fn lease_exists(&self, lease_id: &str) -> Result<bool> {
        let body = json!({"lease_id": lease_id});
        match self
            .request(
                Method::PUT,
                "sys/leases/lookup",
                Some(&body),
                "lease lookup at",
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(Error::Vault { status: 400, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Which KV version serves `path`, and the mount it is on, asked the way Vault's CLI asks.
    /// When the preflight is not allowed, version 1 at the path as written is assumed.
    async fn kv_mount(&self, path: &str) -> (String, u8) {
        match self
            .request(
                Method::GET,
                &format!("sys/internal/ui/mounts/{path}"),
                None,
                "mount lookup of",
            )
            .await
        {
            Ok(Some(env)) => {
                let data = env.data.unwrap_or_default();
                let mount = data
                    .get("path")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let version = data
                    .pointer("/options/version")
                    .and_then(Value::as_str)
                    .unwrap_or("1");
                (mount, if version == "2" { 2 } else { 1 })
            }
            _ => (String::new(), 1),
        }
    }

    /// Reads a KV secret (version 1 or 2) as key → value.
    pub async fn kv_read(&self, path: &str) -> Result<BTreeMap<String, Secret>> {
        let path = path.trim_matches('/');
        let (mount, version) = self.kv_mount(path).await;
        let read_path = match path.strip_prefix(&mount) {
            Some(rest) if version == 2 && !mount.is_empty() => format!("{mount}data/{rest}"),
            _ => path.to_string(),
        };
        let env = self.read(&read_path).await?;
        let map = kv_data(&env, version).ok_or_else(|| Error::VaultResponse {
            path: read_path.clone(),
            message: format!("KV version {version} response without a data map"),
        })?;
        Ok(map
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), Secret::new(value))
            })
            .collect())
    }

    /// `sys/health`, unauthenticated and not retried: the HTTP status (200 active, 429 standby,
    /// 501 not initialised, 503 sealed) and the body.
    pub async fn health(&self) -> Result<(u16, Value)> {
        let url = format!("{}/v1/sys/health", self.config.addr);
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| Error::VaultUnreachable {
                addr: self.config.addr.clone(),
                attempts: 1,
                message: describe_reqwest_error(&e),
            })?;
        let status = resp.status().as_u16();
        let body = resp.json::<Value>().await.unwrap_or_default();
        Ok((status, body))
    }
}

/// Two thirds into a TTL given in seconds; `None` for 0 (never expires).
fn refresh_point(ttl_secs: u64) -> Option<Instant> {
    (ttl_secs > 0).then(|| Instant::now() + Duration::from_secs(ttl_secs) * 2 / 3)
}

/// Whether `e` is a TLS handshake refused for the server's certificate.
fn tls_refused(e: &reqwest::Error) -> bool {
    /// Looks through the source chain, and into I/O errors, which carry rustls' error inside.
    fn refused(e: &(dyn std::error::Error + 'static)) -> bool {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return matches!(tls, rustls::Error::InvalidCertificate(_));
        }
        let inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .is_some_and(|inner| refused(inner));
        inner || e.source().is_some_and(refused)
    }
    refused(e)
}

/// A reqwest error as a sentence, with the chain of causes (reqwest's own Display is terse).
fn describe_reqwest_error(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut msg = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        e.to_string()
    };
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(800),
            ..Default::default()
        };
        for _ in 0..200 {
            assert!(p.backoff(1) <= Duration::from_millis(100));
            assert!(p.backoff(3) <= Duration::from_millis(400));
            assert!(p.backoff(30) <= Duration::from_millis(800));
        }
        // Jitter: not always the same value.
        let samples: std::collections::HashSet<_> = (0..50).map(|_| p.backoff(4)).collect();
        assert!(samples.len() > 10);
    }

    #[test]
    fn transient_statuses() {
        for s in [429, 500, 502, 503] {
            assert!(status_is_transient(s));
        }
        for s in [400, 403, 404, 501] {
            assert!(!status_is_transient(s));
        }
    }
}
