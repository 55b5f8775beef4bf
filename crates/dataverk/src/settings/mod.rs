//! The settings file: which sources exist, their connection URLs and Vault paths.
//!
//! Loading is two steps: parse the JSON (errors carry file, line and column), then fill
//! `${NAME}` placeholders in string values from the secret sources (see [`crate::secrets`]).

pub mod template;

use crate::error::{Error, Result};
use crate::secrets::SecretSources;
use crate::Secret;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The environment variable naming the settings file.
pub const SETTINGS_ENV: &str = "DATAVERK_SETTINGS";

/// The shape of the fields the library reads; anything else in the file is kept as it is.
#[derive(Deserialize)]
struct Shape {
    #[serde(default)]
    db_connection_strings: BTreeMap<String, String>,
    #[serde(default)]
    db_vault_path: BTreeMap<String, String>,
    #[serde(default)]
    db_role: BTreeMap<String, String>,
    #[serde(default)]
    secret_path: Option<String>,
}

/// Settings with every placeholder filled.
pub struct Settings {
    /// The file they came from.
    pub path: PathBuf,
    /// Source name → connection URL (may hold credentials, hence secret).
    pub db_connection_strings: BTreeMap<String, Secret>,
    /// Source name → Vault path of its database credentials.
    pub db_vault_path: BTreeMap<String, String>,
    /// Source name → role to `SET ROLE` to before writes (default: last segment of the Vault path).
    pub db_role: BTreeMap<String, String>,
    /// Folder with one file per secret.
    pub secret_path: Option<PathBuf>,
    /// Placeholder names that were filled, for `settings show`.
    pub placeholders: Vec<String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("path", &self.path)
            .field(
                "sources",
                &self.db_connection_strings.keys().collect::<Vec<_>>(),
            )
            .field("db_vault_path", &self.db_vault_path)
            .finish()
    }
}

/// The settings file to use: `explicit`, else `$DATAVERK_SETTINGS`, else `./settings.json`.
pub fn settings_path(explicit: Option<&Path>) -> PathBuf {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os(SETTINGS_ENV).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("settings.json"))
}

/// The parsed but not yet filled settings document.
pub struct RawSettings {
    path: PathBuf,
    value: Value,
    /// Folder with one file per secret (relative paths resolved against the settings file).
    pub secret_path: Option<PathBuf>,
}

impl RawSettings {
    /// Reads and parses a settings file.
    pub fn read(path: &Path) -> Result<RawSettings> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::SettingsRead {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses settings text; `path` is only used in messages and for relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<RawSettings> {
        let at = |e: serde_json::Error| Error::SettingsParse {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: e
                .to_string()
                .split(" at line ")
                .next()
                .unwrap_or("")
                .to_string(),
        };
        let value: Value = serde_json::from_str(text).map_err(at)?;
        if !value.is_object() {
            return Err(Error::SettingsParse {
                path: path.to_path_buf(),
                line: 1,
                column: 1,
                message: "the settings must be a JSON object".into(),
            });
        }
        // A second, typed pass finds fields of the wrong shape with their position.
        let shape: Shape = serde_json::from_str(text).map_err(at)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let secret_path = shape.secret_path.map(|p| base.join(p));
        Ok(RawSettings {
            path: path.to_path_buf(),
            value,
            secret_path,
        })
    }

    /// The names of the placeholders in the file, without filling them.
    pub fn placeholder_names(&self) -> Result<Vec<String>> {
        template::placeholders(&self.value)
            .map(|names| names.into_iter().collect())
            .map_err(|e| match e {
                template::TemplateError::Malformed { pointer, reason }
                | template::TemplateError::Missing {
                    pointer,
                    name: reason,
                } => Error::Settings(format!("{}: at {pointer}: {reason}", self.path.display())),
            })
    }

    /// Fills the placeholders from `sources` and extracts the fields.
    pub async fn resolve(self, sources: &SecretSources) -> Result<Settings> {
        let wrap = |e: template::TemplateError| match e {
            template::TemplateError::Missing { name, pointer } => Error::MissingPlaceholder {
                name,
                pointer,
                looked_in: sources.describe(),
            },
            template::TemplateError::Malformed { pointer, reason } => {
                Error::Settings(format!("{}: at {pointer}: {reason}", self.path.display()))
            }
        };
        let names = template::placeholders(&self.value).map_err(wrap)?;
        let found = sources.resolve(&names).await?;
        let rendered = template::render(&self.value, &|n| {
            found.get(n).map(|s| s.expose().to_string())
        })
        .map_err(wrap)?;
        // The shape was checked on the raw text, and rendering only changes string contents.
        let shape: Shape = serde_json::from_value(rendered)
            .map_err(|e| Error::Settings(format!("{}: {e}", self.path.display())))?;
        Ok(Settings {
            path: self.path,
            db_connection_strings: shape
                .db_connection_strings
                .into_iter()
                .map(|(k, v)| (k, Secret::new(v)))
                .collect(),
            db_vault_path: shape.db_vault_path,
            db_role: shape.db_role,
            secret_path: self.secret_path,
            placeholders: names.into_iter().collect(),
        })
    }
}

impl Settings {
    /// The connection URL of `source`, or an error listing the known sources.
    pub fn connection_string(&self, source: &str) -> Result<&Secret> {
        self.db_connection_strings
            .get(source)
            .ok_or_else(|| Error::UnknownSource {
                name: source.to_string(),
                known: self.db_connection_strings.keys().cloned().collect(),
            })
    }

    /// The Vault path of `source`'s credentials, if it has one (empty strings count as none).
    pub fn vault_path(&self, source: &str) -> Option<&str> {
        self.db_vault_path
            .get(source)
            .map(|s| s.trim().trim_matches('/'))
            .filter(|s| !s.is_empty())
    }

    /// The role to `SET ROLE` to before writes on `source`: `db_role`, else the last segment of
    /// its Vault path (`.../creds/mydb-admin` → `mydb-admin`).
    pub fn write_role(&self, source: &str) -> Option<String> {
        if let Some(role) = self.db_role.get(source).filter(|r| !r.is_empty()) {
            return Some(role.clone());
        }
        self.vault_path(source)
            .and_then(|p| p.rsplit('/').next())
            .map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_have_line_and_column() {
        let err = RawSettings::parse(Path::new("s.json"), "{\n  \"a\": 1,\n  \"b\" 2\n}")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.starts_with("s.json:3:7: invalid settings: expected `:`"),
            "{err}"
        );
    }

    #[test]
    fn shape_errors_have_line_and_column() {
        let err = RawSettings::parse(
            Path::new("s.json"),
            "{\"db_connection_strings\": {\n \"pg\": 5432}}",
        )
        .err()
        .unwrap()
        .to_string();
        assert!(err.starts_with("s.json:2:"), "{err}");
        assert!(err.contains("expected a string"), "{err}");
    }

    #[test]
    fn not_an_object() {
        let err = RawSettings::parse(Path::new("s.json"), "[1]")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("must be a JSON object"), "{err}");
    }

    #[tokio::test]
    async fn resolves_and_reports_missing_with_places() {
        let raw = RawSettings::parse(
            Path::new("/x/s.json"),
            r#"{"db_connection_strings": {"pg": "${DV_TEST_NOT_SET_ANYWHERE}"}, "secret_path": "sec"}"#,
        )
        .unwrap();
        assert_eq!(raw.secret_path.as_deref(), Some(Path::new("/x/sec")));
        let sources = SecretSources {
            files: raw.secret_path.clone(),
            env: true,
            ..Default::default()
        };
        let err = raw.resolve(&sources).await.unwrap_err().to_string();
        assert!(err.contains("${DV_TEST_NOT_SET_ANYWHERE}"), "{err}");
        assert!(err.contains("/db_connection_strings/pg"), "{err}");
        assert!(err.contains("files in /x/sec, the environment"), "{err}");
    }

    #[tokio::test]
    async fn write_role_and_unknown_source() {
        let raw = RawSettings::parse(
            Path::new("s.json"),
            r#"{"db_connection_strings": {"a": "postgres://u:p@h/db", "b": "sqlite:///x.db"},
                "db_vault_path": {"a": "postgresql/preprod-fss/creds/mydb-admin/"},
                "db_role": {"b": "writer"}}"#,
        )
        .unwrap();
        let s = raw.resolve(&SecretSources::default()).await.unwrap();
        assert_eq!(s.write_role("a").as_deref(), Some("mydb-admin"));
        assert_eq!(s.write_role("b").as_deref(), Some("writer"));
        assert_eq!(s.vault_path("b"), None);
        let err = s.connection_string("c").unwrap_err().to_string();
        assert_eq!(err, "unknown source \"c\"; known sources: a, b");
        assert!(!format!("{s:?}").contains("u:p"));
    }
}
