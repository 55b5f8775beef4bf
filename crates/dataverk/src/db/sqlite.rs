//! SQLite: a database in one file, no server and no credentials. The same three operations as
//! Postgres (read into Arrow, execute statements, write record batches) over rusqlite.
//!
//! rusqlite is blocking, so every operation runs on tokio's blocking pool
//! (`spawn_blocking`) with a connection of its own: opening a SQLite file costs microseconds,
//! and a connection per call means no pool to keep and no state shared between calls.
//!
//! SQLite has no column types, only a declared type per table column and a storage class per
//! value. A result column's Arrow type follows SQLite's own affinity rules on the declared type
//! (<https://www.sqlite.org/datatype3.html#determination_of_column_affinity>), refined for the
//! names that say more (`BOOLEAN`, `DATE`, `DATETIME`/`TIMESTAMP`); an expression without a
//! declared type takes the type of its first non-NULL value in the first batch. A value that does
//! not fit its column's type is an error naming the column and row, never a silent NULL.

use super::postgres::write::TableName;
use super::{IfExists, OnRows};
use crate::client::quote_ident;
use crate::error::{Error, Result};
use arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanBuilder, Float64Builder, Int64Builder,
    StringArray, StringBuilder,
};
use arrow::compute::CastOptions;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The database file a `sqlite://` URL names, the way SQLAlchemy reads it:
/// `sqlite:///relative.db` is a relative path and `sqlite:////abs/path.db` an absolute one.
/// A relative path is resolved against `base`, the folder of the settings file, so a
/// `settings.json` and its database can move together whatever the working directory is.
pub fn database_path(url: &str, base: &Path) -> Result<PathBuf, String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    if rest.contains('?') {
        return Err(format!(
            "the SQLite URL {url:?} has query parameters, which are not supported; \
             write sqlite:///relative.db or sqlite:////absolute/path.db"
        ));
    }
    let Some(path) = rest.strip_prefix('/') else {
        return Err(if rest.is_empty() {
            "the SQLite URL sqlite:// names no file (an in-memory database would be gone after \
             each call); write sqlite:///relative.db (relative to the settings file's folder) \
             or sqlite:////absolute/path.db"
                .to_string()
        } else {
            let host = rest.split('/').next().unwrap_or(rest);
            format!(
                "the SQLite URL {url:?} has a host part {host:?}, but SQLite opens a local \
                 file; write sqlite:///{rest} for a path relative to the settings file's \
                 folder, or sqlite:////absolute/path.db (four slashes) for an absolute one"
            )
        });
    };
    if path.is_empty() {
        return Err(format!(
            "the SQLite URL {url:?} names no file; write sqlite:///relative.db or \
             sqlite:////absolute/path.db"
        ));
    }
    let path = Path::new(path);
    Ok(if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    })
}

/// Runs `query` on the database at `path` and hands each record batch of up to `batch_rows`
/// rows to `sink`; returns the schema. The file must exist: a read never creates a database.
pub async fn query_batches(
    path: PathBuf,
    query: String,
    batch_rows: usize,
    sink: &mut (dyn FnMut(RecordBatch) -> Result<()> + Send),
) -> Result<SchemaRef> {
    // The blocking reader hands batches over a channel of one, so memory stays at about two
    // batches and a sink that fails stops the reader at its next send.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<RecordBatch>(1);
    let task = tokio::task::spawn_blocking(move || {
        let conn = open(&path, false)?;
        read(&conn, &query, batch_rows.max(1), &mut |batch| {
            tx.blocking_send(batch)
                .map_err(|_| Error::Usage("the batch consumer stopped".into()))
        })
    });
    let mut failed = None;
    while let Some(batch) = rx.recv().await {
        if let Err(e) = sink(batch) {
            failed = Some(e);
            break;
        }
    }
    drop(rx);
    let result = task.await.map_err(join_error)?;
    match failed {
        Some(e) => Err(e),
        None => result,
    }
}

/// Runs the statements in `sql` (several may be separated by `;`) on the database at `path`,
/// creating the file when it does not exist; returns the rows they inserted, updated or
/// deleted. Each statement commits on its own unless `sql` holds its own `BEGIN` … `COMMIT`
/// (SQLite's autocommit; `VACUUM` and `PRAGMA journal_mode` cannot run inside a transaction).
pub async fn execute(path: PathBuf, sql: String) -> Result<u64> {
    tokio::task::spawn_blocking(move || {
        let conn = open(&path, true)?;
        execute_blocking(&conn, &sql)
    })
    .await
    .map_err(join_error)?
}

/// Opens the database file; `create` says whether a missing file becomes a new database.
fn open(path: &Path, create: bool) -> Result<Connection> {
    if !create && !path.exists() {
        return Err(Error::Usage(format!(
            "the SQLite database {} does not exist; check the path in db_connection_strings \
             (sqlite:///relative.db is relative to the settings file's folder, \
             sqlite:////absolute.db absolute), or create it by writing to it first \
             (execute or write_table)",
            path.display()
        )));
    }
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags).map_err(|e| Error::Sql {
        message: format!("cannot open the SQLite database {}: {e}", path.display()),
        code: None,
        detail: None,
    })?;
    // Another process writing the same file holds a lock for a moment; wait for it rather than
    // failing at once with "database is locked".
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(sql_error)?;
    Ok(conn)
}

/// A rusqlite error as the library's.
fn sql_error(e: rusqlite::Error) -> Error {
    let message = match &e {
        rusqlite::Error::SqliteFailure(_, Some(message)) => message.clone(),
        other => other.to_string(),
    };
    Error::Sql {
        message,
        code: None,
        detail: None,
    }
}

fn join_error(e: tokio::task::JoinError) -> Error {
    if e.is_panic() {
        std::panic::resume_unwind(e.into_panic())
    }
    Error::Usage(format!("the SQLite task was cancelled: {e}"))
}

/// What a column's declared type says about its Arrow type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Declared {
    /// INTEGER affinity (the name contains `INT`): Int64.
    Integer,
    /// TEXT affinity (`CHAR`, `CLOB`, `TEXT`): Utf8.
    Text,
    /// BLOB affinity (`BLOB`, or no declared type): the type of the first non-NULL value.
    Values,
    /// REAL affinity (`REAL`, `FLOA`, `DOUB`): Float64.
    Real,
    /// NUMERIC affinity named `BOOL…`: Boolean (SQLite stores `TRUE` as 1).
    Boolean,
    /// NUMERIC affinity named `DATE`: Date32, from ISO `YYYY-MM-DD` text.
    Date,
    /// NUMERIC affinity named `DATETIME` or `TIMESTAMP`: Timestamp(µs), from ISO text.
    Timestamp,
    /// Any other NUMERIC affinity (`NUMERIC`, `DECIMAL`, …): Int64 when every value is an
    /// integer, else Float64.
    Numeric,
}

impl Declared {
    /// The mapping for a declared type, by SQLite's affinity rules in their order.
    pub fn of(declared: Option<&str>) -> Declared {
        let t = declared.unwrap_or("").to_ascii_uppercase();
        if t.contains("INT") {
            Declared::Integer
        } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
            Declared::Text
        } else if t.contains("BLOB") || t.trim().is_empty() {
            Declared::Values
        } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
            Declared::Real
        } else if t.contains("BOOL") {
            Declared::Boolean
        } else if t.contains("DATETIME") || t.contains("TIMESTAMP") {
            Declared::Timestamp
        } else if t.contains("DATE") {
            Declared::Date
        } else {
            Declared::Numeric
        }
    }

    /// The Arrow type without looking at values, as an empty result has it.
    fn fixed_type(self) -> Option<DataType> {
        match self {
            Declared::Integer => Some(DataType::Int64),
            Declared::Text => Some(DataType::Utf8),
            Declared::Real => Some(DataType::Float64),
            Declared::Boolean => Some(DataType::Boolean),
            Declared::Date => Some(DataType::Date32),
            Declared::Timestamp => Some(timestamp_type()),
            Declared::Values | Declared::Numeric => None,
        }
    }
}

fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}

/// A result column: its name, what its declared type says, and once known its Arrow type.
struct Column {
    name: String,
    declared: Option<String>,
    kind: Declared,
    data_type: Option<DataType>,
}

impl Column {
    /// The Arrow type, decided from the first batch's values where the declared type does not
    /// fix it. Deciding once keeps every batch of the stream under one schema.
    fn decide(&mut self, values: &[Value]) -> DataType {
        if let Some(t) = &self.data_type {
            return t.clone();
        }
        let first = values.iter().find(|v| !matches!(v, Value::Null));
        let t = match (self.kind.fixed_type(), self.kind, first) {
            (Some(t), _, _) => t,
            (None, Declared::Numeric, Some(_))
                if values
                    .iter()
                    .all(|v| matches!(v, Value::Null | Value::Integer(_))) =>
            {
                DataType::Int64
            }
            (None, Declared::Numeric, _) => DataType::Float64,
            (None, _, Some(Value::Integer(_))) => DataType::Int64,
            (None, _, Some(Value::Real(_))) => DataType::Float64,
            (None, _, Some(Value::Blob(_))) => DataType::Binary,
            (None, _, Some(_)) => DataType::Utf8,
            (None, _, None) => self.without_values(),
        };
        self.data_type = Some(t.clone());
        t
    }

    /// The Arrow type when no value says more (an empty result, or only NULLs): the declared
    /// type's, Binary for a declared `BLOB`, Float64 for NUMERIC, else Utf8 (as Postgres types
    /// an untyped NULL as text).
    fn without_values(&self) -> DataType {
        let blob = self
            .declared
            .as_deref()
            .is_some_and(|d| d.to_ascii_uppercase().contains("BLOB"));
        match self.kind {
            Declared::Numeric => DataType::Float64,
            Declared::Values if blob => DataType::Binary,
            k => k.fixed_type().unwrap_or(DataType::Utf8),
        }
    }

    /// The error for `value` at 1-based `row` not fitting this column's Arrow type.
    fn mismatch(&self, row: usize, value: &Value, data_type: &DataType) -> Error {
        let (class, shown) = match value {
            Value::Null => ("NULL", String::new()),
            Value::Integer(i) => ("INTEGER", format!(" {i}")),
            Value::Real(f) => ("REAL", format!(" {f}")),
            Value::Text(s) => {
                let start: String = s.chars().take(40).collect();
                let more = if start.len() < s.len() { "…" } else { "" };
                ("TEXT", format!(" {start:?}{more}"))
            }
            Value::Blob(b) => ("BLOB", format!(" of {} bytes", b.len())),
        };
        let why = match &self.declared {
            Some(d) => format!("its declared type {d}"),
            None => "its first non-NULL value".to_string(),
        };
        Error::Decode(format!(
            "column {:?}, row {row}: the {class} value{shown} does not fit the column's type \
             {data_type} (from {why})\n  hint: convert it in the query, e.g. \
             CAST({} AS TEXT) AS {}",
            self.name,
            quote_ident(&self.name),
            quote_ident(&self.name)
        ))
    }

    /// The column's values as an Arrow array of `data_type`; `first_row` is the 1-based row
    /// number of `values[0]`, for errors.
    fn array(&self, data_type: &DataType, values: &[Value], first_row: usize) -> Result<ArrayRef> {
        let bad = |i: usize, v: &Value| self.mismatch(first_row + i, v, data_type);
        Ok(match data_type {
            DataType::Int64 => {
                let mut b = Int64Builder::with_capacity(values.len());
                for (i, v) in values.iter().enumerate() {
                    match v {
                        Value::Null => b.append_null(),
                        Value::Integer(x) => b.append_value(*x),
                        v => return Err(bad(i, v)),
                    }
                }
                Arc::new(b.finish())
            }
            DataType::Float64 => {
                let mut b = Float64Builder::with_capacity(values.len());
                for (i, v) in values.iter().enumerate() {
                    match v {
                        Value::Null => b.append_null(),
                        Value::Real(x) => b.append_value(*x),
                        Value::Integer(x) => b.append_value(*x as f64),
                        v => return Err(bad(i, v)),
                    }
                }
                Arc::new(b.finish())
            }
            DataType::Boolean => {
                let mut b = BooleanBuilder::with_capacity(values.len());
                for (i, v) in values.iter().enumerate() {
                    match v {
                        Value::Null => b.append_null(),
                        Value::Integer(0) => b.append_value(false),
                        Value::Integer(1) => b.append_value(true),
                        v => return Err(bad(i, v)),
                    }
                }
                Arc::new(b.finish())
            }
            DataType::Binary => {
                let mut b = BinaryBuilder::with_capacity(values.len(), 0);
                for (i, v) in values.iter().enumerate() {
                    match v {
                        Value::Null => b.append_null(),
                        Value::Blob(x) => b.append_value(x),
                        v => return Err(bad(i, v)),
                    }
                }
                Arc::new(b.finish())
            }
            DataType::Utf8 | DataType::Date32 | DataType::Timestamp(..) => {
                let mut b = StringBuilder::with_capacity(values.len(), 0);
                for (i, v) in values.iter().enumerate() {
                    match v {
                        Value::Null => b.append_null(),
                        Value::Text(x) => b.append_value(x),
                        v => return Err(bad(i, v)),
                    }
                }
                let text = b.finish();
                if *data_type == DataType::Utf8 {
                    Arc::new(text)
                } else {
                    self.parse_dates(data_type, &text, values, first_row)?
                }
            }
            other => unreachable!("SQLite columns are never read as {other}"),
        })
    }

    /// ISO date or date-time text parsed into Date32 or Timestamp(µs) by Arrow's own parser
    /// (`YYYY-MM-DD`, a `T` or space before the time, fractions, and offsets, which are
    /// converted to UTC); text that does not parse is an error at its row.
    fn parse_dates(
        &self,
        data_type: &DataType,
        text: &StringArray,
        values: &[Value],
        first_row: usize,
    ) -> Result<ArrayRef> {
        let options = CastOptions {
            safe: true,
            ..Default::default()
        };
        let parsed = arrow::compute::cast_with_options(text, data_type, &options)?;
        if let Some(i) = (0..text.len()).find(|&i| text.is_valid(i) && parsed.is_null(i)) {
            return Err(self.mismatch(first_row + i, &values[i], data_type));
        }
        Ok(parsed)
    }
}

/// Reads `query`'s rows into record batches of `batch_rows` rows, calling `send` for each.
fn read(
    conn: &Connection,
    query: &str,
    batch_rows: usize,
    send: &mut dyn FnMut(RecordBatch) -> Result<()>,
) -> Result<SchemaRef> {
    let mut stmt = conn.prepare(query).map_err(sql_error)?;
    let mut columns: Vec<Column> = stmt
        .columns()
        .map(|c| {
            let kind = Declared::of(c.decl_type());
            Column {
                name: c.name().to_string(),
                declared: c.decl_type().map(str::to_string),
                kind,
                data_type: None,
            }
        })
        .collect();
    if columns.is_empty() {
        return Err(Error::Usage(
            "the statement returns no columns; run it with execute_sql (dataverk execute)".into(),
        ));
    }
    let mut values: Vec<Vec<Value>> = vec![Vec::new(); columns.len()];
    let mut schema: Option<SchemaRef> = None;
    let mut done_rows = 0usize;
    let mut rows = stmt.query([]).map_err(sql_error)?;
    loop {
        let row = rows.next().map_err(sql_error)?;
        if let Some(row) = row {
            for (i, v) in values.iter_mut().enumerate() {
                v.push(row.get::<_, Value>(i).map_err(sql_error)?);
            }
        }
        let in_batch = values[0].len();
        if in_batch == batch_rows || (row.is_none() && in_batch > 0) {
            let batch = to_batch(&mut columns, &mut values, &mut schema, done_rows + 1)?;
            done_rows += batch.num_rows();
            send(batch)?;
        }
        if row.is_none() {
            break;
        }
    }
    Ok(match schema {
        Some(s) => s,
        // No rows: the declared types alone; an expression's type is unknown, so Utf8.
        None => {
            let types: Vec<DataType> = columns.iter().map(Column::without_values).collect();
            schema_of(&columns, &types)
        }
    })
}

/// The values gathered so far as one record batch (emptying `values`); the first batch fixes
/// the column types and `schema`. `first_row` is the 1-based row number of the first value.
fn to_batch(
    columns: &mut [Column],
    values: &mut [Vec<Value>],
    schema: &mut Option<SchemaRef>,
    first_row: usize,
) -> Result<RecordBatch> {
    let types: Vec<DataType> = columns
        .iter_mut()
        .zip(values.iter())
        .map(|(c, v)| c.decide(v))
        .collect();
    let schema = schema
        .get_or_insert_with(|| schema_of(columns, &types))
        .clone();
    let arrays = columns
        .iter()
        .zip(values.iter_mut())
        .zip(&types)
        .map(|((c, v), t)| {
            let array = c.array(t, v, first_row);
            v.clear();
            array
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema, arrays)?)
}

fn schema_of(columns: &[Column], types: &[DataType]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .zip(types)
            .map(|(c, t)| Field::new(&c.name, t.clone(), true))
            .collect::<Vec<_>>(),
    ))
}

/// Runs each statement of `sql` in turn; the rows they changed, triggers' changes not counted
/// (as Postgres counts them). Rows a statement returns (e.g. a `PRAGMA`) are passed over.
fn execute_blocking(conn: &Connection, sql: &str) -> Result<u64> {
    let mut batch = rusqlite::Batch::new(conn, sql);
    let mut changed = 0u64;
    while let Some(mut stmt) = batch.next().map_err(sql_error)? {
        let before = conn.total_changes();
        let mut rows = stmt.raw_query();
        while rows.next().map_err(sql_error)?.is_some() {}
        drop(rows);
        // `changes()` keeps the count of the last INSERT/UPDATE/DELETE across other
        // statements (a CREATE TABLE does not reset it), so it counts only when the total moved.
        if conn.total_changes() != before {
            changed += conn.changes();
        }
    }
    Ok(changed)
}

/// Writes `batches` (all of `schema`) into `table` (`name`, or `schema.name` for an attached
/// database) of the database at `path`, creating the file when missing, in one transaction:
/// every row or none. See [`IfExists`] for an existing table; a new table's column types come
/// from the Arrow schema ([`declared_type`]), so a read gives the same Arrow types back.
/// Returns the number of rows written.
pub async fn write_table(
    path: PathBuf,
    table: String,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    if_exists: IfExists,
    on_rows: OnRows,
) -> Result<u64> {
    tokio::task::spawn_blocking(move || {
        let mut conn = open(&path, true)?;
        write_blocking(&mut conn, &table, &schema, &batches, if_exists, &on_rows)
    })
    .await
    .map_err(join_error)?
}

/// The declared type a new table's column gets for an Arrow type, or `None` when SQLite cannot
/// hold it. Decimals and times are stored as their exact text (TEXT), dates and timestamps as
/// ISO text under DATE and TIMESTAMP, which the read path turns back into Date32 and
/// Timestamp(µs).
pub fn declared_type(data_type: &DataType) -> Option<&'static str> {
    use DataType::*;
    Some(match data_type {
        Boolean => "BOOLEAN",
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => "INTEGER",
        Float16 | Float32 | Float64 => "REAL",
        Utf8 | LargeUtf8 | Utf8View => "TEXT",
        Decimal128(..) | Decimal256(..) | Time32(_) | Time64(_) => "TEXT",
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => "BLOB",
        Date32 | Date64 => "DATE",
        Timestamp(..) => "TIMESTAMP",
        _ => return None,
    })
}

/// Whether a column declared `declared` takes values of `data_type` such that a read gives
/// them back without a type error.
fn accepts(declared: Option<&str>, data_type: &DataType) -> bool {
    let ours = match declared_type(data_type) {
        Some(t) => Declared::of(Some(t)),
        None => return false,
    };
    match Declared::of(declared) {
        Declared::Values => true,
        Declared::Integer => matches!(ours, Declared::Integer | Declared::Boolean),
        Declared::Real | Declared::Numeric => {
            matches!(ours, Declared::Integer | Declared::Real | Declared::Boolean)
        }
        theirs => theirs == ours,
    }
}

/// A column of an existing table (`PRAGMA table_info`).
struct TableColumn {
    name: String,
    declared: String,
    /// NOT NULL without a default, so a row cannot leave it out.
    required: bool,
}

fn table_columns(conn: &Connection, table: &TableName) -> Result<Vec<TableColumn>> {
    let prefix = table
        .schema
        .as_deref()
        .map(|s| format!("{}.", quote_ident(s)))
        .unwrap_or_default();
    let sql = format!("PRAGMA {prefix}table_info({})", quote_ident(&table.table));
    let mut stmt = conn.prepare(&sql).map_err(sql_error)?;
    let rows = stmt
        .query_map([], |r| {
            let notnull: i64 = r.get("notnull")?;
            let default: Option<Value> = r.get("dflt_value")?;
            Ok(TableColumn {
                name: r.get("name")?,
                declared: r.get::<_, Option<String>>("type")?.unwrap_or_default(),
                required: notnull != 0 && default.is_none(),
            })
        })
        .map_err(sql_error)?;
    rows.collect::<rusqlite::Result<_>>().map_err(sql_error)
}

/// An error listing every difference between the input and an existing table, as Postgres'
/// append does: columns are matched by name (case-insensitive, as SQLite matches them).
fn check_append(table: &TableName, schema: &Schema, columns: &[TableColumn]) -> Result<()> {
    let mut differences = Vec::new();
    for field in schema.fields() {
        match columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(field.name()))
        {
            None => differences.push(format!(
                "column {:?} ({}) is not in the table",
                field.name(),
                field.data_type()
            )),
            Some(c) if !accepts(Some(&c.declared), field.data_type()) => differences.push(format!(
                "column {:?} is {} in the input but {} in the table",
                field.name(),
                field.data_type(),
                if c.declared.is_empty() {
                    "untyped"
                } else {
                    &c.declared
                }
            )),
            Some(_) => {}
        }
    }
    for c in columns {
        let present = schema
            .fields()
            .iter()
            .any(|f| f.name().eq_ignore_ascii_case(&c.name));
        if c.required && !present {
            differences.push(format!(
                "column {:?} ({}, NOT NULL without a default) is missing from the input",
                c.name, c.declared
            ));
        }
    }
    if differences.is_empty() {
        Ok(())
    } else {
        Err(crate::db::columns_mismatch(&table, &differences))
    }
}

fn write_blocking(
    conn: &mut Connection,
    table: &str,
    schema: &Schema,
    batches: &[RecordBatch],
    if_exists: IfExists,
    on_rows: &OnRows,
) -> Result<u64> {
    let name = TableName::parse(table)?;
    super::check_write_input(&name, schema, batches)?;
    // Everything that can be checked without the table is checked before the transaction.
    let mut definitions = Vec::new();
    let mut unwritable = Vec::new();
    for f in schema.fields() {
        match declared_type(f.data_type()) {
            Some(t) => definitions.push(format!("{} {t}", quote_ident(f.name()))),
            None => unwritable.push(format!("{:?} ({})", f.name(), f.data_type())),
        }
    }
    if !unwritable.is_empty() {
        return Err(Error::Usage(format!(
            "cannot write to {name}: SQLite cannot store the column(s) {}; nothing was \
             written\n  hint: cast them to text, numbers or binary first",
            unwritable.join(", ")
        )));
    }
    let create = format!(
        "CREATE TABLE {} ({})",
        name.quoted(),
        definitions.join(", ")
    );
    // IMMEDIATE takes the write lock now, so the existence check and the write see the same
    // table; dropping the transaction on any error rolls everything back.
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(sql_error)?;
    let existing = table_columns(&tx, &name)?;
    match (if_exists, existing.is_empty()) {
        (_, true) => tx.execute_batch(&create).map_err(sql_error)?,
        (IfExists::Fail, false) => return Err(super::table_exists(&name)),
        (IfExists::Replace, false) => {
            tx.execute_batch(&format!("DROP TABLE {}", name.quoted()))
                .map_err(sql_error)?;
            tx.execute_batch(&create).map_err(sql_error)?;
        }
        (IfExists::Append, false) => check_append(&name, schema, &existing)?,
    }
    let insert = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        name.quoted(),
        schema
            .fields()
            .iter()
            .map(|f| quote_ident(f.name()))
            .collect::<Vec<_>>()
            .join(", "),
        (1..=schema.fields().len())
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut written = 0u64;
    {
        let mut stmt = tx.prepare(&insert).map_err(sql_error)?;
        for batch in batches {
            for row in 0..batch.num_rows() {
                for (i, (array, field)) in batch.columns().iter().zip(schema.fields()).enumerate() {
                    let value = sql_value(array.as_ref(), row).map_err(|message| {
                        Error::Usage(format!(
                            "cannot write to {name}: column {:?}, row {}: {message}; nothing \
                             was written",
                            field.name(),
                            written + 1
                        ))
                    })?;
                    stmt.raw_bind_parameter(i + 1, value).map_err(sql_error)?;
                }
                stmt.raw_execute().map_err(|e| {
                    let e = sql_error(e);
                    Error::Usage(format!(
                        "cannot write row {} to {name}: {e}; nothing was written",
                        written + 1
                    ))
                })?;
                written += 1;
            }
            on_rows(batch.num_rows());
        }
    }
    tx.commit().map_err(sql_error)?;
    Ok(written)
}

/// Row `row` of `array` as the value SQLite stores.
fn sql_value(array: &dyn Array, row: usize) -> std::result::Result<Value, String> {
    use arrow::datatypes::*;
    if array.is_null(row) {
        return Ok(Value::Null);
    }
    fn int<T: ArrowPrimitiveType>(array: &dyn Array, row: usize) -> Value
    where
        T::Native: Into<i64>,
    {
        Value::Integer(array.as_primitive::<T>().value(row).into())
    }
    Ok(match array.data_type() {
        DataType::Boolean => Value::Integer(array.as_boolean().value(row).into()),
        DataType::Int8 => int::<Int8Type>(array, row),
        DataType::Int16 => int::<Int16Type>(array, row),
        DataType::Int32 => int::<Int32Type>(array, row),
        DataType::Int64 => int::<Int64Type>(array, row),
        DataType::UInt8 => int::<UInt8Type>(array, row),
        DataType::UInt16 => int::<UInt16Type>(array, row),
        DataType::UInt32 => int::<UInt32Type>(array, row),
        DataType::UInt64 => {
            let v = array.as_primitive::<UInt64Type>().value(row);
            Value::Integer(
                i64::try_from(v).map_err(|_| {
                    format!("{v} is beyond SQLite's largest integer ({})", i64::MAX)
                })?,
            )
        }
        DataType::Float16 => Value::Real(array.as_primitive::<Float16Type>().value(row).into()),
        DataType::Float32 => Value::Real(array.as_primitive::<Float32Type>().value(row).into()),
        DataType::Float64 => Value::Real(array.as_primitive::<Float64Type>().value(row)),
        DataType::Utf8 => Value::Text(array.as_string::<i32>().value(row).to_string()),
        DataType::LargeUtf8 => Value::Text(array.as_string::<i64>().value(row).to_string()),
        DataType::Utf8View => Value::Text(array.as_string_view().value(row).to_string()),
        DataType::Binary => Value::Blob(array.as_binary::<i32>().value(row).to_vec()),
        DataType::LargeBinary => Value::Blob(array.as_binary::<i64>().value(row).to_vec()),
        DataType::BinaryView => Value::Blob(array.as_binary_view().value(row).to_vec()),
        DataType::FixedSizeBinary(_) => {
            Value::Blob(array.as_fixed_size_binary().value(row).to_vec())
        }
        DataType::Date32 => Value::Text(iso_date(
            array.as_primitive::<Date32Type>().value(row).into(),
        )),
        DataType::Date64 => Value::Text(iso_date(
            array
                .as_primitive::<Date64Type>()
                .value(row)
                .div_euclid(86_400_000),
        )),
        DataType::Timestamp(unit, _) => {
            let v = match unit {
                TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(row),
                TimeUnit::Millisecond => {
                    array.as_primitive::<TimestampMillisecondType>().value(row)
                }
                TimeUnit::Microsecond => {
                    array.as_primitive::<TimestampMicrosecondType>().value(row)
                }
                TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().value(row),
            };
            Value::Text(iso_timestamp(v, *unit))
        }
        // Decimals and times: Arrow's own text, exact.
        _ => {
            let text = arrow::util::display::array_value_to_string(array, row)
                .map_err(|e| e.to_string())?;
            Value::Text(text)
        }
    })
}

/// `YYYY-MM-DD` for days since 1970-01-01 (the proleptic Gregorian calendar, as Arrow's).
fn iso_date(days: i64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]` (UTC for a zoned timestamp), the form SQLite's date
/// functions and Python's sqlite3 write; nanoseconds keep nine digits.
fn iso_timestamp(value: i64, unit: TimeUnit) -> String {
    let per_second: i64 = match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    };
    let seconds = value.div_euclid(per_second);
    let fraction = value.rem_euclid(per_second);
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let mut text = format!(
        "{} {:02}:{:02}:{:02}",
        iso_date(days),
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    );
    if fraction != 0 {
        match unit {
            TimeUnit::Nanosecond if fraction % 1000 != 0 => {
                text.push_str(&format!(".{fraction:09}"))
            }
            TimeUnit::Nanosecond => text.push_str(&format!(".{:06}", fraction / 1000)),
            TimeUnit::Millisecond => text.push_str(&format!(".{fraction:03}")),
            _ => text.push_str(&format!(".{fraction:06}")),
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_paths_follow_sqlalchemy() {
        let base = Path::new("/etc/job");
        assert_eq!(
            database_path("sqlite:///data/x.db", base).unwrap(),
            PathBuf::from("/etc/job/data/x.db")
        );
        assert_eq!(
            database_path("sqlite:////var/x.db", base).unwrap(),
            PathBuf::from("/var/x.db")
        );
        let e = database_path("sqlite://server/x.db", base).unwrap_err();
        assert!(
            e.contains("host part \"server\"") && e.contains("sqlite:///server/x.db"),
            "{e}"
        );
        assert!(database_path("sqlite://", base)
            .unwrap_err()
            .contains("names no file"));
        assert!(database_path("sqlite:///", base)
            .unwrap_err()
            .contains("names no file"));
        assert!(database_path("sqlite:///x.db?mode=ro", base)
            .unwrap_err()
            .contains("query parameters"));
    }

    #[test]
    fn declared_types_follow_affinity_rules() {
        use Declared::*;
        for (t, want) in [
            ("INTEGER", Integer),
            ("BIGINT", Integer),
            ("UNSIGNED BIG INT", Integer),
            ("POINT", Integer), // contains INT: SQLite's rule 1
            ("VARCHAR(20)", Text),
            ("CLOB", Text),
            ("text", Text),
            ("BLOB", Values),
            ("", Values),
            ("REAL", Real),
            ("DOUBLE PRECISION", Real),
            ("FLOAT", Real),
            ("BOOLEAN", Boolean),
            ("DATE", Date),
            ("DATETIME", Timestamp),
            ("TIMESTAMP", Timestamp),
            ("NUMERIC", Numeric),
            ("DECIMAL(10,2)", Numeric),
        ] {
            assert_eq!(Declared::of(Some(t)), want, "{t}");
        }
        assert_eq!(Declared::of(None), Values);
    }

    #[test]
    fn iso_text_for_dates_and_timestamps() {
        assert_eq!(iso_date(0), "1970-01-01");
        assert_eq!(iso_date(-1), "1969-12-31");
        assert_eq!(iso_date(19_723), "2024-01-01");
        assert_eq!(iso_date(11_016), "2000-02-29");
        assert_eq!(iso_timestamp(0, TimeUnit::Second), "1970-01-01 00:00:00");
        assert_eq!(
            iso_timestamp(1_704_164_645_123_456, TimeUnit::Microsecond),
            "2024-01-02 03:04:05.123456"
        );
        assert_eq!(
            iso_timestamp(-1, TimeUnit::Microsecond),
            "1969-12-31 23:59:59.999999"
        );
        assert_eq!(
            iso_timestamp(1_500, TimeUnit::Millisecond),
            "1970-01-01 00:00:01.500"
        );
        assert_eq!(
            iso_timestamp(1, TimeUnit::Nanosecond),
            "1970-01-01 00:00:00.000000001"
        );
    }

    #[test]
    fn append_accepts_what_reads_back() {
        assert!(accepts(Some("INTEGER"), &DataType::Int32));
        assert!(accepts(Some("REAL"), &DataType::Int64));
        assert!(accepts(Some("NUMERIC"), &DataType::Float64));
        assert!(accepts(None, &DataType::Utf8));
        assert!(accepts(Some("DATE"), &DataType::Date32));
        assert!(!accepts(Some("INTEGER"), &DataType::Utf8));
        assert!(!accepts(Some("TEXT"), &DataType::Int64));
        assert!(!accepts(Some("TIMESTAMP"), &DataType::Date32));
    }
}
