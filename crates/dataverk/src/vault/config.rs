//! Where Vault is and how to log in, read from the environment.
//!
//! Two conventions are understood. The seed's (the original dataverk in Kubeflow):
//! `VKS_VAULT_ADDR`, `VKS_AUTH_PATH` (`auth/<mount>/login`), `VKS_KV_PATH`,
//! `K8S_SERVICEACCOUNT_PATH` (folder with `token` and `namespace`) and `APPLICATION_NAME`.
//! And Vault's own: `VAULT_ADDR`, `VAULT_TOKEN` (else `~/.vault-token`), `VAULT_NAMESPACE`,
//! `VAULT_CACERT`, `VAULT_SKIP_VERIFY`. The seed's take precedence when both are set.

use crate::error::{Error, Result};
use std::path::PathBuf;

/// The default folder of a pod's service-account token.
pub const DEFAULT_SERVICEACCOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// How the client obtains a Vault token.
#[derive(Clone, Debug)]
pub enum VaultAuth {
    /// A token from `VAULT_TOKEN`, or read from this file (`~/.vault-token`) when it is needed.
    Token {
        token: Option<crate::Secret>,
        file: Option<PathBuf>,
    },
    /// Kubernetes auth: the service-account JWT is read from `jwt_file` at each login, because
    /// projected tokens are rotated by the kubelet.
    Kubernetes {
        login_path: String,
        role: String,
        jwt_file: PathBuf,
    },
}

/// Everything needed to talk to Vault.
#[derive(Clone, Debug)]
pub struct VaultConfig {
    /// Base address, e.g. `https://vault.example:8200` (no trailing `/v1`).
    pub addr: String,
    /// How to log in.
    pub auth: VaultAuth,
    /// Enterprise namespace (`X-Vault-Namespace`).
    pub namespace: Option<String>,
    /// A PEM CA bundle to trust for Vault's TLS certificate.
    pub ca_cert: Option<PathBuf>,
    /// Skip TLS verification (explicit opt-in only; logged as a warning).
    pub skip_verify: bool,
    /// The KV path whose keys fill settings placeholders, as a user writes it (`secret/team/ns`).
    pub kv_path: Option<String>,
}

fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

fn nonempty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl VaultConfig {
    /// The service account's Kubernetes namespace (the `namespace` file beside the token), for
    /// messages; `None` with token auth or when the file cannot be read.
    pub fn k8s_namespace(&self) -> Option<String> {
        let VaultAuth::Kubernetes { jwt_file, .. } = &self.auth else {
            return None;
        };
        let text = std::fs::read_to_string(jwt_file.parent()?.join("namespace")).ok()?;
        Some(text.trim().to_string())
    }

    /// Reads the configuration from the process environment; `None` when Vault is not configured.
    pub fn from_env() -> Result<Option<VaultConfig>> {
        Self::from_lookup(&|k| std::env::var(k).ok())
    }

    /// Reads the configuration through `get` (an environment lookup), for tests and embedding.
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<VaultConfig>> {
        let get = |k: &str| nonempty(get(k));
        let namespace = get("VAULT_NAMESPACE");
        let ca_cert = get("VAULT_CACERT").map(PathBuf::from);
        let skip_verify = get("VAULT_SKIP_VERIFY").is_some_and(|v| truthy(&v));
        let kv_override = get("DATAVERK_VAULT_KV_PATH");

        if let Some(addr) = get("VKS_VAULT_ADDR") {
            let login_path = get("VKS_AUTH_PATH").ok_or_else(|| {
                Error::VaultConfig(
                    "VKS_VAULT_ADDR is set but VKS_AUTH_PATH is not; set it to the login path, \
                     e.g. auth/kubernetes/login"
                        .into(),
                )
            })?;
            let sa_dir = PathBuf::from(
                get("K8S_SERVICEACCOUNT_PATH")
                    .unwrap_or_else(|| DEFAULT_SERVICEACCOUNT_PATH.into()),
            );
            let application = get("APPLICATION_NAME");
            let kv_base = get("VKS_KV_PATH");
            let needs_namespace =
                application.is_none() || (kv_base.is_some() && kv_override.is_none());
            let k8s_namespace = if needs_namespace {
                let file = sa_dir.join("namespace");
                let ns = std::fs::read_to_string(&file).map_err(|e| {
                    Error::VaultConfig(format!(
                        "cannot read the Kubernetes namespace from {}: {e}; set \
                         K8S_SERVICEACCOUNT_PATH to the service-account folder",
                        file.display()
                    ))
                })?;
                Some(ns.trim().to_string())
            } else {
                None
            };
            let role = application
                .clone()
                .or_else(|| k8s_namespace.clone())
                .unwrap_or_default();
            let kv_path = kv_override.or_else(|| {
                kv_base.map(|base| {
                    let base = base.trim_matches('/');
                    let ns = k8s_namespace.clone().unwrap_or_default();
                    match &application {
                        Some(app) => format!("{base}/{app}/{ns}"),
                        None => format!("{base}/{ns}"),
                    }
                })
            });
            return Ok(Some(VaultConfig {
                addr: addr.trim_end_matches('/').to_string(),
                auth: VaultAuth::Kubernetes {
                    login_path: login_path.trim_matches('/').to_string(),
                    role,
                    jwt_file: sa_dir.join("token"),
                },
                namespace,
                ca_cert,
                skip_verify,
                kv_path,
            }));
        }

        if let Some(addr) = get("VAULT_ADDR") {
            let token = get("VAULT_TOKEN").map(crate::Secret::new);
            let file = get("HOME").map(|h| PathBuf::from(h).join(".vault-token"));
            return Ok(Some(VaultConfig {
                addr: addr.trim_end_matches('/').to_string(),
                auth: VaultAuth::Token { token, file },
                namespace,
                ca_cert,
                skip_verify,
                kv_path: kv_override,
            }));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn nothing_configured() {
        assert!(VaultConfig::from_lookup(&env(&[])).unwrap().is_none());
    }

    #[test]
    fn seed_variables_with_namespace_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("namespace"), "team-a\n").unwrap();
        let sa = dir.path().to_str().unwrap();
        let cfg = VaultConfig::from_lookup(&env(&[
            ("VKS_VAULT_ADDR", "http://127.0.0.1:8200/"),
            ("VKS_AUTH_PATH", "/auth/kubernetes/login"),
            ("VKS_KV_PATH", "secret/kubeflow/"),
            ("K8S_SERVICEACCOUNT_PATH", sa),
            ("VAULT_ADDR", "http://ignored"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(cfg.addr, "http://127.0.0.1:8200");
        assert_eq!(cfg.kv_path.as_deref(), Some("secret/kubeflow/team-a"));
        match cfg.auth {
            VaultAuth::Kubernetes {
                login_path,
                role,
                jwt_file,
            } => {
                assert_eq!(login_path, "auth/kubernetes/login");
                assert_eq!(role, "team-a");
                assert_eq!(jwt_file, dir.path().join("token"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn application_name_is_the_role_and_joins_the_kv_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("namespace"), "ns1").unwrap();
        let cfg = VaultConfig::from_lookup(&env(&[
            ("VKS_VAULT_ADDR", "http://v"),
            ("VKS_AUTH_PATH", "auth/k8s/login"),
            ("VKS_KV_PATH", "kv/apps"),
            ("APPLICATION_NAME", "myapp"),
            ("K8S_SERVICEACCOUNT_PATH", dir.path().to_str().unwrap()),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(cfg.kv_path.as_deref(), Some("kv/apps/myapp/ns1"));
        assert!(matches!(cfg.auth, VaultAuth::Kubernetes { role, .. } if role == "myapp"));
    }

    #[test]
    fn missing_namespace_file_is_a_clear_error() {
        let err = VaultConfig::from_lookup(&env(&[
            ("VKS_VAULT_ADDR", "http://v"),
            ("VKS_AUTH_PATH", "auth/k8s/login"),
            ("K8S_SERVICEACCOUNT_PATH", "/nonexistent/sa"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("/nonexistent/sa/namespace"), "{err}");
        assert!(err.contains("K8S_SERVICEACCOUNT_PATH"), "{err}");
    }

    #[test]
    fn missing_auth_path_is_a_clear_error() {
        let err = VaultConfig::from_lookup(&env(&[("VKS_VAULT_ADDR", "http://v")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("VKS_AUTH_PATH"), "{err}");
    }

    #[test]
    fn standard_variables() {
        let cfg = VaultConfig::from_lookup(&env(&[
            ("VAULT_ADDR", "https://vault:8200"),
            ("VAULT_TOKEN", "s.abc"),
            ("VAULT_NAMESPACE", "team"),
            ("VAULT_SKIP_VERIFY", "true"),
            ("DATAVERK_VAULT_KV_PATH", "secret/x"),
            ("HOME", "/home/u"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(cfg.namespace.as_deref(), Some("team"));
        assert!(cfg.skip_verify);
        assert_eq!(cfg.kv_path.as_deref(), Some("secret/x"));
        match cfg.auth {
            VaultAuth::Token { token, file } => {
                assert_eq!(token.unwrap().expose(), "s.abc");
                assert_eq!(file.unwrap(), PathBuf::from("/home/u/.vault-token"));
            }
            other => panic!("{other:?}"),
        }
    }
}
