//! Database connectors. A connection URL's scheme picks the connector (`postgres://`,
//! `sqlite://`); each turns query results into Arrow record batches.

pub mod partition;
pub mod postgres;
pub mod sqlite;
pub mod url;

use crate::error::{Error, Result};
use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;
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

/// Checks a write's input before anything is sent, the same for every database: at least one
/// column, and every batch of `schema`.
pub(crate) fn check_write_input(
    name: &dyn fmt::Display,
    schema: &Schema,
    batches: &[RecordBatch],
) -> Result<()> {
    if schema.fields().is_empty() {
        return Err(Error::Usage(format!(
            "cannot write to {name}: the input has no columns"
        )));
    }
    for batch in batches {
        let same = batch.num_columns() == schema.fields().len()
            && batch
                .columns()
                .iter()
                .zip(schema.fields())
                .all(|(a, f)| a.data_type() == f.data_type());
        if !same {
            return Err(Error::Usage(format!(
                "a record batch does not have the schema given for the write: it has {}, not {}",
                batch.schema(),
                schema
            )));
        }
    }
    Ok(())
}

/// The error of [`IfExists::Fail`] on a table that exists.
pub(crate) fn table_exists(name: &dyn fmt::Display) -> Error {
    Error::Usage(format!(
        "table {name} already exists; nothing was written\n  hint: to replace it or add \
         the rows, write with --if-exists replace|append (CLI), if_exists=\"replace\"|\"append\" \
         (Python) or IfExists::Replace|Append (Rust)"
    ))
}

/// The error of [`IfExists::Append`] on a table whose columns do not take the input, with one
/// line per difference.
pub(crate) fn columns_mismatch(table: &dyn fmt::Display, differences: &[String]) -> Error {
    Error::Usage(format!(
        "cannot append to {table}: its columns do not match the input; nothing was \
         written:\n  {}\n  hint: fix the input, or replace the table (--if-exists replace in \
         the CLI, if_exists=\"replace\" in Python, IfExists::Replace in Rust)",
        differences.join("\n  ")
    ))
}
