//! Helpers shared by devvault's integration tests: a small JSON-over-HTTP client, service
//! account JWTs, and the configuration the tests start from.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Talks to a devvault the way a Vault client does.
pub struct Api {
    client: reqwest::Client,
    addr: String,
}

impl Api {
    pub fn new(addr: String) -> Api {
        Api {
            client: reqwest::Client::new(),
            addr,
        }
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends a request to `/v1/<path>` and returns the status and the JSON body (`null` when
    /// empty).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .client
            .request(method, format!("{}/v1/{path}", self.addr));
        if let Some(token) = token {
            request = request.header("X-Vault-Token", token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("devvault must answer");
        let status = response.status();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        (status, body)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call("GET", path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call("POST", path, Some(token), Some(body)).await
    }

    /// Logs in with Kubernetes auth as `namespace`/`name` and returns the client token.
    pub async fn login(&self, role: &str, namespace: &str, name: &str) -> String {
        let (status, body) = self
            .call(
                "POST",
                "auth/kubernetes/login",
                None,
                Some(json!({"role": role, "jwt": projected_jwt(namespace, name, Some(3600))})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login failed: {body}");
        body["auth"]["client_token"].as_str().unwrap().to_string()
    }
}

fn b64(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// An unsigned JWT with the given claims (devvault does not check signatures).
pub fn jwt(claims: Value) -> String {
    format!(
        "{}.{}.c2lnbmF0dXJl",
        b64(br#"{"alg":"RS256","kid":"test"}"#),
        b64(claims.to_string().as_bytes())
    )
}

pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A projected service account token, expiring `expires_in` seconds from now (or never).
pub fn projected_jwt(namespace: &str, name: &str, expires_in: Option<i64>) -> String {
    let mut claims = json!({
        "aud": ["https://kubernetes.default.svc"],
        "iss": "https://kubernetes.default.svc",
        "sub": format!("system:serviceaccount:{namespace}:{name}"),
        "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": "uid-1"}},
    });
    if let Some(seconds) = expires_in {
        claims["exp"] = json!(now_unix() as i64 + seconds);
    }
    jwt(claims)
}

/// A legacy (secret-based) service account token.
pub fn legacy_jwt(namespace: &str, name: &str) -> String {
    jwt(json!({
        "iss": "kubernetes/serviceaccount",
        "kubernetes.io/serviceaccount/namespace": namespace,
        "kubernetes.io/serviceaccount/secret.name": format!("{name}-token-abcde"),
        "kubernetes.io/serviceaccount/service-account.name": name,
        "kubernetes.io/serviceaccount/service-account.uid": "uid-2",
    }))
}

/// The tests' configuration; `database` adds database mounts.
pub fn config(database: Value) -> devvault::Config {
    serde_json::from_value(json!({
        "root_token": "root-token-for-tests",
        "kv": [{"mount": "secret", "version": 2}, {"mount": "kv", "version": 1}],
        "secrets": {
            "secret/kubeflow/my-ns": {
                "POSTGRES_CREDENTIALS": "postgres://user:pass@127.0.0.1:5432/mydb",
                "POSTGRES_CREDS_PATH": "postgresql/preprod-fss/creds/mydb-admin"
            },
            "kv/plain": {"a": "b"}
        },
        "policies": {
            "my-ns": [
                "secret/data/kubeflow/my-ns",
                "postgresql/preprod-fss/creds/mydb-*",
                "sys/internal/ui/mounts/*"
            ]
        },
        "kubernetes": [{"mount": "kubernetes", "roles": {
            "my-ns": {
                "bound_service_account_namespaces": ["my-ns"],
                "bound_service_account_names": ["*"],
                "policies": ["my-ns"], "ttl": "1h", "max_ttl": "24h"
            },
            "short": {
                "bound_service_account_namespaces": ["*"],
                "bound_service_account_names": ["runner"],
                "policies": ["my-ns"], "ttl": "2s", "max_ttl": "4s"
            }
        }}],
        "database": database,
    }))
    .unwrap()
}

/// Polls `check` every 100 ms until it holds or `timeout` passes; returns whether it held.
pub async fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    check()
}
