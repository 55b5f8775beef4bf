//! Database connectors. A connection URL's scheme picks the connector (`postgres://`,
//! `sqlite://`); each turns query results into Arrow record batches.

pub mod partition;
pub mod postgres;
pub mod sqlite;
pub mod url;

use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Called with the number of rows of each batch as a write takes it, for progress reports.
pub type OnRows = Arc<dyn Fn(usize) + Send + Sync>;

pub use self::url::Scheme;

/// What a `write_table` does when the table already exists (the same for every database).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IfExists {
    /// Refuse to write (the default): nothing is changed.
    #[default]
    Fail,
    /// Drop the table and create it anew from the batches' schema.
    Replace,
    /// Add the rows to it; its columns must match. A missing table is created.
    Append,
}

impl FromStr for IfExists {
    type Err = Error;

    fn from_str(s: &str) -> Result<IfExists> {
        match s.to_ascii_lowercase().as_str() {
            "fail" => Ok(IfExists::Fail),
            "replace" => Ok(IfExists::Replace),
            "append" => Ok(IfExists::Append),
            _ => Err(Error::Usage(format!(
                "unknown if-exists mode {s:?}; use fail, replace or append"
            ))),
        }
    }
}

impl fmt::Display for IfExists {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IfExists::Fail => "fail",
            IfExists::Replace => "replace",
            IfExists::Append => "append",
        })
    }
}
