//! The library's error type: every variant names what failed and, where there is one, the fix.
//!
//! No variant carries a secret value: placeholders are named, never shown filled; URLs are shown
//! without their user-info; Vault and Postgres messages are passed through as they are, since
//! neither puts passwords or tokens into its error texts.

use std::path::PathBuf;

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong between a settings file and a record batch.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The settings file could not be read.
    #[error("cannot read settings file {path}: {source}\n  hint: pass --settings FILE (Python: Client(settings_file=...)) or set DATAVERK_SETTINGS")]
    SettingsRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The settings file is not valid JSON, or a field has the wrong shape.
    #[error("{path}:{line}:{column}: invalid settings: {message}")]
    SettingsParse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A settings value is wrong in a way JSON parsing cannot see.
    #[error("invalid settings: {0}")]
    Settings(String),
    /// A `${NAME}` placeholder no secret source could fill.
    #[error("placeholder ${{{name}}} at {pointer} in the settings has no value; looked in: {}\n  hint: add {name} to one of these", looked_in.join(", "))]
    MissingPlaceholder {
        name: String,
        pointer: String,
        looked_in: Vec<String>,
    },
    /// The source name is not in `db_connection_strings`.
    #[error("unknown source {name:?}; known sources: {}", if known.is_empty() { "(none: db_connection_strings is empty)".to_string() } else { known.join(", ") })]
    UnknownSource { name: String, known: Vec<String> },
    /// A connection URL that cannot be used (shown without credentials).
    #[error("source {source_name:?}: {message}")]
    Url {
        source_name: String,
        message: String,
    },
    /// Vault configuration from the environment is incomplete or contradictory.
    #[error("Vault configuration: {0}")]
    VaultConfig(String),
    /// Vault could not be reached (after retries).
    #[error("Vault at {addr} is unreachable ({attempts} attempts): {message}\n  hint: check VKS_VAULT_ADDR / VAULT_ADDR and the network")]
    VaultUnreachable {
        addr: String,
        attempts: u32,
        message: String,
    },
    /// Vault answered with an error status.
    #[error("Vault refused {operation} {path}: HTTP {status}: {}{}", if messages.is_empty() { "(no message)".to_string() } else { messages.join("; ") }, vault_hint(*status))]
    Vault {
        operation: String,
        path: String,
        status: u16,
        messages: Vec<String>,
    },
    /// Vault answered 200 but not with what was expected.
    #[error("unexpected Vault response for {path}: {message}")]
    VaultResponse { path: String, message: String },
    /// The database refused the login.
    #[error("database login refused for source {source_name:?} (SQLSTATE {code}): {message}")]
    LoginRefused {
        source_name: String,
        code: String,
        message: String,
    },
    /// The database could not be reached.
    #[error("cannot connect to the database of source {source_name:?} at {target}: {message}")]
    Connect {
        source_name: String,
        target: String,
        message: String,
    },
    /// The database reported an error for a statement.
    #[error("{message}{}{}", code.as_deref().map(|c| format!(" (SQLSTATE {c})")).unwrap_or_default(), detail.as_deref().map(|d| format!("\n  detail: {d}")).unwrap_or_default())]
    Sql {
        message: String,
        code: Option<String>,
        detail: Option<String>,
    },
    /// A value in the result could not be decoded.
    #[error("cannot decode the result: {0}")]
    Decode(String),
    /// An Arrow or Parquet error.
    #[error("{0}")]
    Arrow(String),
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Anything the caller asked for that cannot be done.
    #[error("{0}")]
    Usage(String),
}

fn vault_hint(status: u16) -> &'static str {
    match status {
        403 => "\n  hint: the token or its policies do not allow this path; check the Vault role and policy for your namespace",
        404 => "\n  hint: nothing is stored at this path; check the path and the KV mount",
        503 => "\n  hint: Vault is sealed or in maintenance",
        _ => "",
    }
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

impl From<arrow::error::ArrowError> for Error {
    fn from(e: arrow::error::ArrowError) -> Self {
        Error::Arrow(e.to_string())
    }
}

impl From<parquet::errors::ParquetError> for Error {
    fn from(e: parquet::errors::ParquetError) -> Self {
        Error::Arrow(e.to_string())
    }
}
