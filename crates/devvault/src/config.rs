//! The server's configuration: which mounts exist, which secrets, policies and roles they start
//! with. Loaded from a JSON file (see the crate README for the shape) or built in code by tests.
//!
//! Durations accept Vault's forms: an integer number of seconds or a string such as `"10s"`,
//! `"1h"` or `"90"`. A zero or absent duration means "the system default" (768h), as in Vault.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::Error;

/// Vault's system-wide default and maximum lease TTL (32 days), used where a TTL is 0 or absent.
pub const SYSTEM_MAX_TTL: Duration = Duration::from_secs(768 * 3600);

/// Everything a devvault server starts with.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The root token; a random one is generated when absent.
    #[serde(default)]
    pub root_token: Option<String>,
    /// Key/value mounts.
    #[serde(default)]
    pub kv: Vec<KvMount>,
    /// Initial KV secrets, keyed by the logical path a user writes (`secret/foo`, even on a
    /// version-2 mount), each a map of keys to values.
    #[serde(default)]
    pub secrets: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
    /// Named policies, each a list of path patterns in Vault's syntax (`*` suffix, `+` segment).
    #[serde(default)]
    pub policies: BTreeMap<String, Vec<String>>,
    /// Kubernetes auth mounts.
    #[serde(default)]
    pub kubernetes: Vec<KubernetesMount>,
    /// Database secrets engine mounts (PostgreSQL).
    #[serde(default)]
    pub database: Vec<DatabaseMount>,
    /// Serve HTTPS with this certificate instead of plain HTTP.
    #[serde(default)]
    pub tls: Option<TlsFiles>,
}

/// The server's TLS certificate (chain first) and private key, PEM files.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The certificate chain.
    pub cert_file: std::path::PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: std::path::PathBuf,
}

/// A key/value secrets engine mount.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KvMount {
    /// Mount path without slashes at either end, e.g. `secret`.
    pub mount: String,
    /// KV engine version, 1 or 2 (default 2, as `vault server -dev` mounts `secret/`).
    #[serde(default = "default_kv_version")]
    pub version: u8,
}

fn default_kv_version() -> u8 {
    2
}

/// A Kubernetes auth method mount.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesMount {
    /// Mount path under `auth/`, e.g. `kubernetes`.
    #[serde(default = "default_kubernetes_mount")]
    pub mount: String,
    /// Roles by name.
    #[serde(default)]
    pub roles: BTreeMap<String, KubernetesRole>,
}

fn default_kubernetes_mount() -> String {
    "kubernetes".to_string()
}

/// A Kubernetes auth role: which service accounts may log in and what their tokens get.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct KubernetesRole {
    /// Namespaces allowed to log in; `"*"` allows all, other entries may use `*` globs.
    #[serde(default)]
    pub bound_service_account_namespaces: Vec<String>,
    /// Service account names allowed to log in; `"*"` allows all.
    #[serde(default)]
    pub bound_service_account_names: Vec<String>,
    /// Policies attached to issued tokens (besides `default`).
    #[serde(default)]
    pub policies: Vec<String>,
    /// Token TTL.
    #[serde(default, deserialize_with = "deserialize_duration")]
    pub ttl: Duration,
    /// Longest a token may live, counted from its creation, renewals included.
    #[serde(default, deserialize_with = "deserialize_duration")]
    pub max_ttl: Duration,
}

/// A database secrets engine mount connected to one PostgreSQL server.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseMount {
    /// Mount path, may contain slashes, e.g. `postgresql/preprod-fss`.
    pub mount: String,
    /// Where devvault connects to run role statements, as a superuser-like role.
    pub connection_url: String,
    /// Roles by name.
    #[serde(default)]
    pub roles: BTreeMap<String, DatabaseRole>,
}

/// A database role: the SQL that creates, renews and revokes its users, and its lease TTLs.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DatabaseRole {
    /// Run when credentials are issued, with `{{name}}`, `{{username}}`, `{{password}}` and
    /// `{{expiration}}` substituted verbatim.
    #[serde(default)]
    pub creation_statements: Vec<String>,
    /// Run when a lease is revoked or expires; empty means Vault's PostgreSQL default.
    #[serde(default)]
    pub revocation_statements: Vec<String>,
    /// Run when a lease is renewed; empty means `ALTER ROLE ... VALID UNTIL ...`.
    #[serde(default)]
    pub renew_statements: Vec<String>,
    /// Lease TTL of issued credentials.
    #[serde(default, deserialize_with = "deserialize_duration")]
    pub default_ttl: Duration,
    /// Longest a lease may live, counted from issue, renewals included.
    #[serde(default, deserialize_with = "deserialize_duration")]
    pub max_ttl: Duration,
    /// Username template with `{{display_name}}`, `{{role}}`, `{{random}}`, `{{unix_time}}`;
    /// empty means Vault's default `v-<display name>-<role>-<random>-<unix time>`.
    #[serde(default)]
    pub username_template: String,
    /// Characters passwords are drawn from; empty means Vault's default policy.
    #[serde(default)]
    pub password_charset: String,
}

impl Config {
    /// Reads a configuration from a JSON file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Config, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadConfig {
            path: path.display().to_string(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| Error::ParseConfig {
            path: path.display().to_string(),
            source,
        })
    }

    /// Checks what serde cannot: known KV versions, unique mounts, secrets on existing mounts.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        let invalid = |msg: String| Err(Error::InvalidConfig(msg));
        let mut mounts: Vec<String> = Vec::new();
        for kv in &self.kv {
            if kv.version != 1 && kv.version != 2 {
                return invalid(format!(
                    "kv mount {:?}: version must be 1 or 2, not {}",
                    kv.mount, kv.version
                ));
            }
            mounts.push(trim_mount(&kv.mount).to_string());
        }
        for db in &self.database {
            if db.connection_url.parse::<tokio_postgres::Config>().is_err() {
                // The URL holds a password, so it is not repeated in the message.
                return invalid(format!(
                    "database mount {:?}: connection_url is not a valid PostgreSQL URL",
                    db.mount
                ));
            }
            for (name, role) in &db.roles {
                if role.creation_statements.is_empty() {
                    return invalid(format!(
                        "database mount {:?}, role {name:?}: creation_statements is empty",
                        db.mount
                    ));
                }
            }
            mounts.push(trim_mount(&db.mount).to_string());
        }
        for mount in &mounts {
            if mount.is_empty() || mount.starts_with("sys") || mount.starts_with("auth") {
                return invalid(format!("mount path {mount:?} is empty or reserved"));
            }
        }
        let mut sorted = mounts.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != mounts.len() {
            return invalid("two mounts have the same path".to_string());
        }
        for path in self.secrets.keys() {
            let found = self
                .kv
                .iter()
                .any(|kv| path_under_mount(path, trim_mount(&kv.mount)).is_some());
            if !found {
                return invalid(format!("secret {path:?} is not under any kv mount"));
            }
        }
        Ok(())
    }
}

/// Mount paths are compared without leading or trailing slashes.
pub(crate) fn trim_mount(mount: &str) -> &str {
    mount.trim_matches('/')
}

/// The part of `path` below `mount` (`Some("")` for the mount itself), if it lies under it.
pub(crate) fn path_under_mount<'a>(path: &'a str, mount: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(mount)?;
    if rest.is_empty() {
        Some("")
    } else {
        rest.strip_prefix('/')
    }
}

/// Parses a Vault duration: integer seconds (as a number or a string) or a humantime string.
pub(crate) fn parse_duration(value: &serde_json::Value) -> Result<Duration, String> {
    match value {
        serde_json::Value::Null => Ok(Duration::ZERO),
        serde_json::Value::Number(n) => n
            .as_u64()
            .map(Duration::from_secs)
            .ok_or_else(|| format!("invalid duration {n}: expected whole seconds")),
        serde_json::Value::String(s) => parse_duration_str(s),
        other => Err(format!("invalid duration {other}")),
    }
}

fn parse_duration_str(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(Duration::ZERO);
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

fn deserialize_duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    parse_duration(&value).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_accept_vault_forms() {
        assert_eq!(parse_duration(&json!(10)), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration(&json!("10")), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration(&json!("10s")), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration(&json!("1h")), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration(&json!("")), Ok(Duration::ZERO));
        assert!(parse_duration(&json!("soon")).is_err());
        assert!(parse_duration(&json!(-1)).is_err());
    }

    #[test]
    fn parses_the_documented_example() {
        let config: Config = serde_json::from_value(json!({
            "root_token": "root",
            "kv": [{"mount": "secret", "version": 2}, {"mount": "kv", "version": 1}],
            "secrets": {"secret/kubeflow/my-ns": {"POSTGRES_CREDENTIALS": "x"}},
            "policies": {"my-ns": ["secret/data/kubeflow/my-ns"]},
            "kubernetes": [{"mount": "kubernetes", "roles": {"my-ns": {
                "bound_service_account_namespaces": ["my-ns"],
                "bound_service_account_names": ["*"],
                "policies": ["my-ns"], "ttl": "1h", "max_ttl": "24h"}}}],
            "database": [{"mount": "postgresql/preprod-fss",
                "connection_url": "postgres://postgres:pw@127.0.0.1:5432/postgres",
                "roles": {"mydb-admin": {"creation_statements": ["CREATE ROLE x"],
                    "default_ttl": "10s", "max_ttl": "1m"}}}]
        }))
        .unwrap();
        config.validate().unwrap();
        let role = &config.database[0].roles["mydb-admin"];
        assert_eq!(role.default_ttl, Duration::from_secs(10));
        assert_eq!(role.max_ttl, Duration::from_secs(60));
        assert_eq!(
            config.kubernetes[0].roles["my-ns"].ttl,
            Duration::from_secs(3600)
        );
    }

    #[test]
    fn rejects_secrets_outside_mounts_and_bad_versions() {
        let config: Config = serde_json::from_value(json!({
            "kv": [{"mount": "secret"}],
            "secrets": {"other/x": {"a": "b"}}
        }))
        .unwrap();
        assert!(config.validate().is_err());
        let config: Config =
            serde_json::from_value(json!({"kv": [{"mount": "secret", "version": 3}]})).unwrap();
        assert!(config.validate().is_err());
    }

    #[test]
    fn path_under_mount_respects_segments() {
        assert_eq!(path_under_mount("secret/foo", "secret"), Some("foo"));
        assert_eq!(path_under_mount("secret", "secret"), Some(""));
        assert_eq!(path_under_mount("secretx/foo", "secret"), None);
    }
}
