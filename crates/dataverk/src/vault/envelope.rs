//! Vault's JSON response envelope and error body, parsed without any I/O.
//!
//! The envelope is kept whole: `lease_id`, `lease_duration` and `renewable` decide when
//! database credentials must be renewed or replaced, so no convenience layer may drop them.

use crate::Secret;
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

/// A successful Vault response.
#[derive(Deserialize, Default)]
pub struct Envelope {
    /// Vault's request id (for support).
    #[serde(default)]
    pub request_id: String,
    /// The lease of a dynamic secret; empty for static ones.
    #[serde(default)]
    pub lease_id: String,
    /// Whether the lease can be renewed.
    #[serde(default)]
    pub renewable: bool,
    /// Lease length in seconds (a refresh hint for static secrets).
    #[serde(default)]
    pub lease_duration: u64,
    /// The payload; may hold secrets, so the envelope's Debug never prints it.
    #[serde(default)]
    pub data: Option<Value>,
    /// The result of a login or token renewal.
    #[serde(default)]
    pub auth: Option<AuthBlock>,
    /// Warnings Vault attached to the response.
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
}

impl std::fmt::Debug for Envelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Envelope")
            .field("request_id", &self.request_id)
            .field("lease_id", &self.lease_id)
            .field("renewable", &self.renewable)
            .field("lease_duration", &self.lease_duration)
            .field("data", &self.data.as_ref().map(|_| "[redacted]"))
            .field("auth", &self.auth)
            .finish()
    }
}

/// The `auth` block of a login or `renew-self` response.
#[derive(Deserialize, Debug)]
pub struct AuthBlock {
    /// The token to send as `X-Vault-Token`.
    #[serde(deserialize_with = "secret_string")]
    pub client_token: Secret,
    /// The token's accessor (not secret).
    #[serde(default)]
    pub accessor: String,
    /// Policies attached to the token.
    #[serde(default)]
    pub policies: Vec<String>,
    /// Token TTL in seconds; 0 means it does not expire.
    #[serde(default)]
    pub lease_duration: u64,
    /// Whether `renew-self` may extend it.
    #[serde(default)]
    pub renewable: bool,
}

fn secret_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    String::deserialize(d).map(Secret::new)
}

impl Envelope {
    /// The lease length as a duration.
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_duration)
    }

    /// A string field of `data`, e.g. `username`.
    pub fn data_str(&self, key: &str) -> Option<&str> {
        self.data.as_ref()?.get(key)?.as_str()
    }
}

/// The messages of a Vault error body `{"errors": [...]}`; empty when the body has none.
pub fn error_messages(body: &str) -> Vec<String> {
    #[derive(Deserialize)]
    struct Errors {
        #[serde(default)]
        errors: Vec<String>,
    }
    match serde_json::from_str::<Errors>(body) {
        Ok(e) => e.errors,
        // Proxies in front of Vault answer HTML or text; show a short prefix, never a secret
        // (error bodies are not secret-bearing).
        Err(_) if !body.trim().is_empty() => {
            vec![body.trim().chars().take(200).collect::<String>()]
        }
        Err(_) => Vec::new(),
    }
}

/// The payload of a KV read: `data` on version 1, `data.data` on version 2.
pub fn kv_data(envelope: &Envelope, version: u8) -> Option<&serde_json::Map<String, Value>> {
    let data = envelope.data.as_ref()?;
    let inner = if version == 2 {
        data.get("data")?
    } else {
        data
    };
    inner.as_object()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_creds_keep_the_lease() {
        let body = r#"{"request_id":"r1","lease_id":"postgresql/preprod-fss/creds/mydb-admin/2f6a","renewable":true,
            "lease_duration":86400,"data":{"username":"v-k8s-x","password":"A1a-secret"},"wrap_info":null,"warnings":null,"auth":null}"#;
        let env: Envelope = serde_json::from_str(body).unwrap();
        assert_eq!(env.lease_id, "postgresql/preprod-fss/creds/mydb-admin/2f6a");
        assert!(env.renewable);
        assert_eq!(env.lease(), Duration::from_secs(86400));
        assert_eq!(env.data_str("username"), Some("v-k8s-x"));
        let dbg = format!("{env:?}");
        assert!(!dbg.contains("A1a-secret"), "{dbg}");
    }

    #[test]
    fn login_auth_block() {
        let body = r#"{"auth":{"client_token":"hvs.CAES","accessor":"acc","policies":["default","p"],
            "metadata":{"role":"ns"},"lease_duration":3600,"renewable":true}}"#;
        let env: Envelope = serde_json::from_str(body).unwrap();
        let auth = env.auth.unwrap();
        assert_eq!(auth.client_token.expose(), "hvs.CAES");
        assert_eq!(auth.lease_duration, 3600);
        assert!(!format!("{auth:?}").contains("hvs.CAES"));
    }

    #[test]
    fn kv_versions() {
        let v1: Envelope = serde_json::from_str(r#"{"data":{"A":"1"}}"#).unwrap();
        let v2: Envelope =
            serde_json::from_str(r#"{"data":{"data":{"A":"2"},"metadata":{"version":3}}}"#)
                .unwrap();
        assert_eq!(kv_data(&v1, 1).unwrap()["A"], "1");
        assert_eq!(kv_data(&v2, 2).unwrap()["A"], "2");
        assert!(kv_data(&v1, 2).is_none());
    }

    #[test]
    fn errors_body() {
        assert_eq!(
            error_messages(r#"{"errors":["permission denied"]}"#),
            vec!["permission denied"]
        );
        assert!(error_messages(r#"{"errors":[]}"#).is_empty());
        assert!(error_messages("").is_empty());
        assert_eq!(
            error_messages("<html>bad gateway</html>"),
            vec!["<html>bad gateway</html>"]
        );
    }
}
