//! The HTTP server: binds the loopback listener, turns each request under `/v1/` into an
//! [`ApiRequest`], applies injected faults, authenticates, checks policies and dispatches to
//! the engine that owns the path. Also runs the background task that expires tokens and leases.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::response::{ApiError, ApiRequest, ApiResponse, Operation};
use crate::state::State;
use crate::{auth, database, devtools, kv, leases, policy, sys, Config, Error};

/// A running devvault server. Dropping it shuts it down too, without waiting.
pub struct Server {
    local_addr: SocketAddr,
    root_token: String,
    shutdown: Option<oneshot::Sender<()>>,
    serve: Option<JoinHandle<()>>,
    reaper: JoinHandle<()>,
}

impl Server {
    /// Starts a server with `config` on `addr`, which must be a loopback address (port 0 picks
    /// a free port). Returns once the listener is bound.
    pub async fn start(config: Config, addr: SocketAddr) -> Result<Server, Error> {
        if !addr.ip().is_loopback() {
            return Err(Error::NotLoopback(addr));
        }
        config.validate()?;
        let root_token = config
            .root_token
            .clone()
            .unwrap_or_else(|| format!("hvs.{}", crate::response::random_alnum(24)));
        let tls = config.tls.as_ref().map(crate::tls::acceptor).transpose()?;
        let state = Arc::new(State::new(config, &root_token));
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| Error::Bind { addr, source })?;
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let reaper = tokio::spawn(leases::reaper(state.clone()));
        let app = Router::new().fallback(handle).with_state(state);
        // A dropped sender also means "shut down".
        let stopped = async move {
            let _ = shutdown_rx.await;
        };
        let serve = tokio::spawn(async move {
            let result = match tls {
                None => {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(stopped)
                        .await
                }
                Some(acceptor) => {
                    let listener = crate::tls::TlsListener {
                        tcp: listener,
                        acceptor,
                    };
                    axum::serve(listener, app)
                        .with_graceful_shutdown(stopped)
                        .await
                }
            };
            if let Err(err) = result {
                tracing::error!("devvault server failed: {err}");
            }
        });
        Ok(Server {
            local_addr,
            root_token,
            shutdown: Some(shutdown),
            serve: Some(serve),
            reaper,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The root token (from the config, or generated at start).
    pub fn root_token(&self) -> &str {
        &self.root_token
    }

    /// Stops accepting connections, lets in-flight requests finish (up to 2 seconds) and drops
    /// all state. Leases are not revoked, as when a real Vault loses its storage.
    pub async fn stop(mut self) {
        self.reaper.abort();
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(mut serve) = self.serve.take() {
            if tokio::time::timeout(Duration::from_secs(2), &mut serve)
                .await
                .is_err()
            {
                serve.abort();
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.reaper.abort();
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// The single axum handler: Vault routes by mount table, not by a fixed route list.
async fn handle(
    AxumState(state): AxumState<Arc<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let Some(raw_path) = uri.path().strip_prefix("/v1/") else {
        return ApiError::not_found().into_response();
    };
    let path = percent_decode(raw_path).trim_end_matches('/').to_string();
    let result = handle_path(&state, &method, &uri, &headers, &body, path.clone()).await;
    let response = match result {
        Ok(ok) => ok.into_response(),
        Err(err) => err.into_response(),
    };
    // Only method, path and status: bodies and headers carry tokens and passwords.
    tracing::info!(
        "{method} /v1/{path} -> {} ({} ms)",
        response.status().as_u16(),
        started.elapsed().as_millis()
    );
    response
}

async fn handle_path(
    state: &State,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    path: String,
) -> Result<ApiResponse, ApiError> {
    if !devtools::is_devvault_path(&path) {
        let (delay, fault) = devtools::on_request(state, &path);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if let Some(fault) = fault {
            return Err(fault);
        }
    }
    let request = parse_request(method, uri, headers, body, path)?;
    route(state, request).await
}

fn parse_request(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    path: String,
) -> Result<ApiRequest, ApiError> {
    let query = parse_query(uri.query().unwrap_or(""));
    let operation = match method.as_str() {
        "GET" | "HEAD" if query.get("list").is_some_and(|v| v == "true") => Operation::List,
        "GET" | "HEAD" => Operation::Read,
        "POST" | "PUT" => Operation::Write,
        "DELETE" => Operation::Delete,
        "LIST" => Operation::List,
        _ => return Err(ApiError::unsupported_operation()),
    };
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("failed to parse JSON input: {e}")))?
    };
    Ok(ApiRequest {
        operation,
        path,
        query,
        body,
        token: request_token(headers),
    })
}

/// The client token from `X-Vault-Token` or `Authorization: Bearer`, as Vault accepts both.
fn request_token(headers: &HeaderMap) -> Option<String> {
    if let Some(token) = headers.get("x-vault-token").and_then(|v| v.to_str().ok()) {
        if !token.is_empty() {
            return Some(token.to_string());
        }
    }
    let auth = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = auth.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .then(|| token.trim().to_string())
}

/// Dispatches like Vault's router: unauthenticated endpoints first, then the token, the
/// policy check and the engine owning the path.
async fn route(state: &State, req: ApiRequest) -> Result<ApiResponse, ApiError> {
    let path = req.path.as_str();
    if path == "sys/health" {
        return Ok(sys::health());
    }
    if let Some(mount) = auth::kubernetes_login_mount(&state.config, path) {
        return auth::kubernetes_login(state, mount, &req);
    }
    let caller = auth::authenticate(state, req.token.as_deref())?;
    if devtools::is_devvault_path(path) {
        if !caller.is_root() {
            return Err(ApiError::policy_denied());
        }
        return devtools::handle(state, &req);
    }
    if !policy::allows(&state.config, &caller.policies, path) {
        return Err(ApiError::policy_denied());
    }
    match (path, req.operation) {
        ("auth/token/lookup-self", Operation::Read | Operation::Write) => {
            return auth::lookup_self(&caller)
        }
        ("auth/token/renew-self", Operation::Write) => {
            return auth::renew_self(state, &caller, &req)
        }
        ("auth/token/revoke-self", Operation::Write) => return auth::revoke_self(state, &caller),
        ("auth/token/lookup-self" | "auth/token/renew-self" | "auth/token/revoke-self", _) => {
            return Err(ApiError::unsupported_operation())
        }
        _ => {}
    }
    if let Some(rest) = path.strip_prefix("sys/internal/ui/mounts/") {
        return sys::ui_mount(state, &caller, rest);
    }
    if let Some(result) = leases::route(state, &req).await {
        return result;
    }
    if let Some((mount, rest)) = database::mount_for(&state.config, path) {
        return database::handle(state, &caller, &req, mount, rest).await;
    }
    if let Some((mount, rest)) = kv::mount_for(&state.config, path) {
        return kv::handle(state, &req, mount, rest);
    }
    Err(ApiError::not_found())
}

fn parse_query(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Decodes `%XX` escapes (and `+` is left alone, as in a URL path). Invalid escapes stay as is.
fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(byte) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb"), "a/b");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%41%zz"), "A%zz");
        assert_eq!(percent_decode("plain"), "plain");
    }

    #[test]
    fn token_from_either_header() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(request_token(&headers).as_deref(), Some("abc"));
        headers.insert("x-vault-token", "xyz".parse().unwrap());
        assert_eq!(request_token(&headers).as_deref(), Some("xyz"));
    }
}
