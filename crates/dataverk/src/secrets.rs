//! Where placeholder values come from, in a fixed order of precedence:
//!
//! 1. Vault KV, when Vault is configured with a KV path (one read of the whole secret);
//! 2. a folder with one file per secret (`secret_path` in the settings; file name = key,
//!    one trailing newline trimmed);
//! 3. the process environment;
//! 4. a `.env` file (default `./.env`).
//!
//! The first source that has a key wins. Vault comes first because it is the source of truth
//! in the clusters this tool runs in; `.env` comes last because it is a developer convenience.

use crate::error::{Error, Result};
use crate::vault::VaultClient;
use crate::Secret;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

/// The secret sources consulted for placeholders.
#[derive(Clone, Default)]
pub struct SecretSources {
    /// Vault and the KV path to read.
    pub vault_kv: Option<(Arc<VaultClient>, String)>,
    /// Folder with one file per secret.
    pub files: Option<PathBuf>,
    /// Whether to read the process environment.
    pub env: bool,
    /// A dotenv file; a missing file is no error.
    pub dotenv: Option<PathBuf>,
}

impl SecretSources {
    /// Where values are looked up, in order, for error messages (names and paths, no values).
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some((vault, path)) = &self.vault_kv {
            out.push(format!("Vault KV {path} at {}", vault.addr()));
        }
        if let Some(dir) = &self.files {
            out.push(format!("files in {}", dir.display()));
        }
        if self.env {
            out.push("the environment".into());
        }
        if let Some(file) = &self.dotenv {
            out.push(format!("{}", file.display()));
        }
        out
    }

    /// Values for `names`; a name no source has is left out (the caller reports it).
    pub async fn resolve(&self, names: &BTreeSet<String>) -> Result<BTreeMap<String, Secret>> {
        let mut found = BTreeMap::new();
        if names.is_empty() {
            return Ok(found);
        }
        if let Some((vault, path)) = &self.vault_kv {
            let kv = vault.kv_read(path).await?;
            for name in names {
                if let Some(v) = kv.get(name) {
                    found.insert(name.clone(), v.clone());
                }
            }
        }
        if let Some(dir) = &self.files {
            for name in names {
                if found.contains_key(name) {
                    continue;
                }
                let file = dir.join(name);
                match std::fs::read_to_string(&file) {
                    Ok(text) => {
                        let text = text
                            .strip_suffix("\r\n")
                            .or_else(|| text.strip_suffix('\n'))
                            .unwrap_or(&text);
                        found.insert(name.clone(), Secret::new(text));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io("cannot read secret file", file, e)),
                }
            }
        }
        if self.env {
            for name in names {
                if found.contains_key(name) {
                    continue;
                }
                if let Ok(v) = std::env::var(name) {
                    found.insert(name.clone(), Secret::new(v));
                }
            }
        }
        if let Some(file) = &self.dotenv {
            if names.iter().any(|n| !found.contains_key(n)) {
                match dotenvy::from_path_iter(file) {
                    Ok(iter) => {
                        for item in iter {
                            let (k, v) = item
                                .map_err(|e| Error::Settings(format!("{}: {e}", file.display())))?;
                            if names.contains(&k) && !found.contains_key(&k) {
                                found.insert(k, Secret::new(v));
                            }
                        }
                    }
                    Err(dotenvy::Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(Error::Settings(format!("{}: {e}", file.display())));
                    }
                }
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn files_then_env_then_dotenv() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = dir.path().join("secrets");
        std::fs::create_dir(&secrets).unwrap();
        std::fs::write(secrets.join("DV_T_FILE"), "from-file\n").unwrap();
        std::fs::write(secrets.join("DV_T_BOTH"), "file-wins\n\n").unwrap();
        let dotenv = dir.path().join(".env");
        std::fs::write(&dotenv, "DV_T_DOT=\"from dotenv\"\nDV_T_ENV=dotenv-loses\n").unwrap();
        // SAFETY: test-only variables with unique names, set before any reader runs.
        unsafe {
            std::env::set_var("DV_T_BOTH", "env-loses");
            std::env::set_var("DV_T_ENV", "from-env");
        }
        let sources = SecretSources {
            vault_kv: None,
            files: Some(secrets.clone()),
            env: true,
            dotenv: Some(dotenv),
        };
        let got = sources
            .resolve(&names(&[
                "DV_T_FILE",
                "DV_T_BOTH",
                "DV_T_ENV",
                "DV_T_DOT",
                "DV_T_NONE",
            ]))
            .await
            .unwrap();
        assert_eq!(got["DV_T_FILE"].expose(), "from-file");
        assert_eq!(got["DV_T_BOTH"].expose(), "file-wins\n");
        assert_eq!(got["DV_T_ENV"].expose(), "from-env");
        assert_eq!(got["DV_T_DOT"].expose(), "from dotenv");
        assert!(!got.contains_key("DV_T_NONE"));
        let described = sources.describe().join(", ");
        assert!(described.contains("files in"), "{described}");
        assert!(described.contains("the environment"), "{described}");
    }

    #[tokio::test]
    async fn missing_dotenv_is_fine() {
        let sources = SecretSources {
            dotenv: Some(PathBuf::from("/nonexistent/.env")),
            ..Default::default()
        };
        assert!(sources.resolve(&names(&["X"])).await.unwrap().is_empty());
    }
}
