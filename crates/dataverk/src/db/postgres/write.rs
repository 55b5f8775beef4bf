//! Writing Arrow record batches into a Postgres table with `COPY ... FROM STDIN (FORMAT binary)`.
//!
//! The binary COPY encoder is written here by hand: no maintained crate encodes Arrow arrays into
//! Postgres' binary COPY format (tokio-postgres' `BinaryCopyInWriter` takes row objects, one
//! `ToSql` value at a time, which is what the read path avoids too). The format is small: a
//! header, then per row a field count and each field as a length and its `*send` bytes.
//!
//! Everything happens in one transaction: the table is checked (and created, dropped or
//! compared) and every row is sent before the commit, so a failure at any point, a value that
//! cannot be encoded or a connection killed mid-COPY, leaves the table as it was. All checks
//! that can fail without the data (unsupported types, a mismatched schema) fail before any row
//! is sent.

use super::connect::sql_error;
use crate::client::quote_ident;
use crate::error::{Error, Result};
use arrow::array::{Array, ArrayAccessor, AsArray};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type,
    Int32Type, Int64Type, Int8Type, IntervalMonthDayNanoType, IntervalUnit, Schema,
    Time32MillisecondType, Time32SecondType, Time64MicrosecondType, Time64NanosecondType, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt16Type, UInt32Type, UInt8Type,
};
use arrow::record_batch::RecordBatch;
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::SinkExt;
use std::fmt;
use tokio_postgres::types::Type;

pub use crate::db::IfExists;
use crate::db::OnRows;

/// A table name, `table` or `schema.table`, quoted for SQL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableName {
    /// The schema, when the name has one.
    pub schema: Option<String>,
    /// The table.
    pub table: String,
}

impl TableName {
    /// Splits `name` on its first dot: `a.b` is table `b` in schema `a`. Quotes are not
    /// parsed: each part is taken literally and quoted.
    pub fn parse(name: &str) -> Result<TableName> {
        let (schema, table) = match name.split_once('.') {
            Some((s, t)) => (Some(s.to_string()), t.to_string()),
            None => (None, name.to_string()),
        };
        if table.is_empty() || schema.as_deref() == Some("") {
            return Err(Error::Usage(format!(
                "invalid table name {name:?}; use TABLE or SCHEMA.TABLE"
            )));
        }
        Ok(TableName { schema, table })
    }

    /// The name as SQL: `"schema"."table"` or `"table"`.
    pub fn quoted(&self) -> String {
        match &self.schema {
            Some(s) => format!("{}.{}", quote_ident(s), quote_ident(&self.table)),
            None => quote_ident(&self.table),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.table),
            None => f.write_str(&self.table),
        }
    }
}

/// The Postgres type a column's values are encoded as: the binary form COPY expects is that of
/// the target column's type exactly, so an Int32 column goes out as int8 when the table has int8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// `boolean`.
    Bool,
    /// `smallint`.
    Int2,
    /// `integer`.
    Int4,
    /// `bigint`.
    Int8,
    /// `real`.
    Float4,
    /// `double precision`.
    Float8,
    /// `numeric`, with or without precision.
    Numeric,
    /// `text`, `varchar`, `char(n)`, `name`, `json`: the text's bytes.
    Text,
    /// `jsonb`: a version byte, then the text.
    Jsonb,
    /// `uuid`, from its text form.
    Uuid,
    /// `bytea`.
    Bytea,
    /// `date`.
    Date,
    /// `time`.
    Time,
    /// `timestamp`.
    Timestamp,
    /// `timestamptz`.
    TimestampTz,
    /// `interval`.
    Interval,
}

impl Target {
    /// The target for an existing column of type `ty`, when its binary form is one we write.
    pub fn for_type(ty: &Type) -> Option<Target> {
        Some(match *ty {
            Type::BOOL => Target::Bool,
            Type::INT2 => Target::Int2,
            Type::INT4 => Target::Int4,
            Type::INT8 => Target::Int8,
            Type::FLOAT4 => Target::Float4,
            Type::FLOAT8 => Target::Float8,
            Type::NUMERIC => Target::Numeric,
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::JSON => Target::Text,
            Type::JSONB => Target::Jsonb,
            Type::UUID => Target::Uuid,
            Type::BYTEA => Target::Bytea,
            Type::DATE => Target::Date,
            Type::TIME => Target::Time,
            Type::TIMESTAMP => Target::Timestamp,
            Type::TIMESTAMPTZ => Target::TimestampTz,
            Type::INTERVAL => Target::Interval,
            _ => return None,
        })
    }

    /// Whether Arrow values of `data_type` can be written to a column of this type without
    /// loss (integers only widen; a timestamp keeps whether it has a time zone).
    pub fn accepts(self, data_type: &DataType) -> bool {
        use DataType as D;
        use Target as T;
        match data_type {
            D::Null => true,
            D::Boolean => self == T::Bool,
            D::Int8 | D::Int16 | D::UInt8 => {
                matches!(self, T::Int2 | T::Int4 | T::Int8 | T::Numeric)
            }
            D::Int32 | D::UInt16 => matches!(self, T::Int4 | T::Int8 | T::Numeric),
            D::Int64 | D::UInt32 => matches!(self, T::Int8 | T::Numeric),
            D::Float32 => matches!(self, T::Float4 | T::Float8),
            D::Float64 => self == T::Float8,
            D::Decimal128(..) => self == T::Numeric,
            D::Utf8 | D::LargeUtf8 | D::Utf8View => matches!(self, T::Text | T::Jsonb | T::Uuid),
            D::Binary | D::LargeBinary | D::BinaryView => self == T::Bytea,
            D::Date32 => self == T::Date,
            D::Time32(TimeUnit::Second | TimeUnit::Millisecond)
            | D::Time64(TimeUnit::Microsecond | TimeUnit::Nanosecond) => self == T::Time,
            D::Timestamp(_, None) => self == T::Timestamp,
            D::Timestamp(_, Some(_)) => self == T::TimestampTz,
            D::Interval(IntervalUnit::MonthDayNano) => self == T::Interval,
            _ => false,
        }
    }
}

/// The column type a new table gets for Arrow type `data_type`, and how values are written to
/// it; `None` for Arrow types that are not written.
pub fn create_type(data_type: &DataType) -> Option<(String, Target)> {
    use DataType as D;
    let (sql, target) = match data_type {
        D::Boolean => ("boolean", Target::Bool),
        D::Int8 | D::Int16 | D::UInt8 => ("smallint", Target::Int2),
        D::Int32 | D::UInt16 => ("integer", Target::Int4),
        D::Int64 | D::UInt32 => ("bigint", Target::Int8),
        D::Float32 => ("real", Target::Float4),
        D::Float64 => ("double precision", Target::Float8),
        D::Decimal128(p, s) => return Some((format!("numeric({p},{s})"), Target::Numeric)),
        // A column with no values at all (e.g. an empty CSV column) becomes text.
        D::Utf8 | D::LargeUtf8 | D::Utf8View | D::Null => ("text", Target::Text),
        D::Binary | D::LargeBinary | D::BinaryView => ("bytea", Target::Bytea),
        D::Date32 => ("date", Target::Date),
        D::Time32(TimeUnit::Second | TimeUnit::Millisecond)
        | D::Time64(TimeUnit::Microsecond | TimeUnit::Nanosecond) => ("time", Target::Time),
        D::Timestamp(_, None) => ("timestamp", Target::Timestamp),
        D::Timestamp(_, Some(_)) => ("timestamptz", Target::TimestampTz),
        D::Interval(IntervalUnit::MonthDayNano) => ("interval", Target::Interval),
        _ => return None,
    };
    Some((sql.to_string(), target))
}

/// The types [`create_type`] writes, for error messages.
const SUPPORTED: &str = "Boolean, Int8/16/32/64, UInt8/16/32, Float32/64, Decimal128, Utf8, \
                         LargeUtf8, Binary, LargeBinary, Date32, Time32/64, Timestamp (any unit, \
                         with or without time zone), Interval(MonthDayNano)";

/// The `CREATE TABLE` statement for `schema`, and each column's target; an error naming every
/// column whose type cannot be written.
pub fn create_table_sql(table: &TableName, schema: &Schema) -> Result<(String, Vec<Target>)> {
    let mut columns = Vec::new();
    let mut targets = Vec::new();
    let mut unsupported = Vec::new();
    for field in schema.fields() {
        match create_type(field.data_type()) {
            Some((sql, target)) => {
                columns.push(format!("{} {sql}", quote_ident(field.name())));
                targets.push(target);
            }
            None => unsupported.push(format!("{:?} ({})", field.name(), field.data_type())),
        }
    }
    if !unsupported.is_empty() {
        return Err(Error::Usage(format!(
            "cannot write to {table}: no Postgres type for column {}; supported Arrow types: \
             {SUPPORTED}; cast the column first",
            unsupported.join(", ")
        )));
    }
    let sql = format!("CREATE TABLE {} ({})", table.quoted(), columns.join(", "));
    Ok((sql, targets))
}

/// A column of an existing table, as [`append_targets`] compares it.
#[derive(Clone, Debug)]
pub struct TableColumn {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: Type,
    /// Its type as Postgres prints it (`numeric(10,2)`, `character varying(3)`).
    pub type_name: String,
    /// Whether a row without it is refused (NOT NULL and no default).
    pub required: bool,
}

/// Each input column's target in an existing table, or an error listing every difference:
/// input columns the table lacks or cannot take, and required table columns the input lacks.
/// Table columns that are absent from the input get their default (or NULL).
pub fn append_targets(
    table: &TableName,
    schema: &Schema,
    columns: &[TableColumn],
) -> Result<Vec<Target>> {
    let mut targets = Vec::new();
    let mut differences = Vec::new();
    for field in schema.fields() {
        match columns.iter().find(|c| &c.name == field.name()) {
            None => differences.push(format!(
                "column {:?} ({}) is not in the table",
                field.name(),
                field.data_type()
            )),
            Some(c) => match Target::for_type(&c.ty).filter(|t| t.accepts(field.data_type())) {
                Some(t) => targets.push(t),
                None => differences.push(format!(
                    "column {:?} is {} in the input but {} in the table",
                    field.name(),
                    field.data_type(),
                    c.type_name
                )),
            },
        }
    }
    for c in columns {
        if c.required && schema.field_with_name(&c.name).is_err() {
            differences.push(format!(
                "column {:?} ({}, NOT NULL without a default) is missing from the input",
                c.name, c.type_name
            ));
        }
    }
    if differences.is_empty() {
        Ok(targets)
    } else {
        Err(crate::db::columns_mismatch(&table, &differences))
    }
}

/// The `COPY` statement for `schema`'s columns.
pub fn copy_sql(table: &TableName, schema: &Schema) -> String {
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| quote_ident(f.name()))
        .collect();
    format!(
        "COPY {} ({}) FROM STDIN (FORMAT binary)",
        table.quoted(),
        columns.join(", ")
    )
}

/// Postgres' days and microseconds count from 2000-01-01, Arrow's from 1970-01-01.
const EPOCH_DAYS: i32 = 10_957;
const EPOCH_MICROS: i64 = 946_684_800_000_000;

/// The binary COPY header: signature, flags (no OIDs), header extension length.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Encodes record batches into the binary COPY stream, row by row.
pub struct CopyEncoder {
    targets: Vec<Target>,
    names: Vec<String>,
    data_types: Vec<DataType>,
}

/// Writes the value of one column at a row (never NULL) into the buffer.
type ValueWriter<'a> = Box<dyn Fn(usize, &mut BytesMut) -> Result<(), String> + Send + 'a>;

impl CopyEncoder {
    /// An encoder for batches of `schema` into columns of `targets`; an error when a column's
    /// Arrow type cannot be written to its target.
    pub fn new(schema: &Schema, targets: Vec<Target>) -> Result<CopyEncoder> {
        if targets.len() != schema.fields().len() {
            return Err(Error::Usage(format!(
                "{} columns but {} targets",
                schema.fields().len(),
                targets.len()
            )));
        }
        for (field, target) in schema.fields().iter().zip(&targets) {
            if !target.accepts(field.data_type()) {
                return Err(Error::Usage(format!(
                    "column {:?} of type {} cannot be written as {target:?}",
                    field.name(),
                    field.data_type()
                )));
            }
        }
        Ok(CopyEncoder {
            names: schema.fields().iter().map(|f| f.name().clone()).collect(),
            data_types: schema
                .fields()
                .iter()
                .map(|f| f.data_type().clone())
                .collect(),
            targets,
        })
    }

    /// The stream's header.
    pub fn header(&self, buf: &mut BytesMut) {
        buf.put_slice(HEADER);
    }

    /// The stream's trailer.
    pub fn trailer(&self, buf: &mut BytesMut) {
        buf.put_i16(-1);
    }

    /// Appends the rows of `batch` from `start` on until the buffer holds at least `chunk`
    /// bytes; the row to go on from (the batch's length when all are in). A value that cannot
    /// be encoded is an error naming its column and row.
    pub fn encode(
        &self,
        batch: &RecordBatch,
        start: usize,
        buf: &mut BytesMut,
        chunk: usize,
    ) -> Result<usize> {
        let columns = batch.columns();
        if columns.len() != self.targets.len() {
            return Err(Error::Usage(format!(
                "a record batch has {} columns, the write {}",
                columns.len(),
                self.targets.len()
            )));
        }
        let writers = columns
            .iter()
            .zip(&self.targets)
            .map(|(a, t)| value_writer(a.as_ref(), *t))
            .collect::<Vec<_>>();
        let fields = i16::try_from(columns.len())
            .map_err(|_| Error::Usage("a COPY row holds at most 32767 columns".into()))?;
        for row in start..batch.num_rows() {
            buf.put_i16(fields);
            for (col, (array, writer)) in columns.iter().zip(&writers).enumerate() {
                if array.is_null(row) {
                    buf.put_i32(-1);
                    continue;
                }
                let at = buf.len();
                buf.put_i32(0);
                writer(row, buf).map_err(|reason| {
                    Error::Usage(format!(
                        "cannot write column {:?} ({}) at row {row} of a batch: {reason}; \
                         nothing was written",
                        self.names[col], self.data_types[col]
                    ))
                })?;
                let len = i32::try_from(buf.len() - at - 4).map_err(|_| {
                    Error::Usage(format!(
                        "a value of column {:?} at row {row} exceeds Postgres' 1 GB field limit",
                        self.names[col]
                    ))
                })?;
                buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
            }
            if buf.len() >= chunk {
                return Ok(row + 1);
            }
        }
        Ok(batch.num_rows())
    }
}

/// The writer of one column's values. [`Target::accepts`] was checked, so every pairing here
/// exists; the rest cannot happen.
fn value_writer<'a>(array: &'a dyn Array, target: Target) -> ValueWriter<'a> {
    use DataType as D;
    match array.data_type() {
        D::Null => Box::new(|_, _| Err("NULL column has a value".into())),
        D::Boolean => {
            let a = array.as_boolean();
            Box::new(move |i, buf| {
                buf.put_u8(a.value(i).into());
                Ok(())
            })
        }
        D::Int8 => ints::<Int8Type>(array, target),
        D::Int16 => ints::<Int16Type>(array, target),
        D::Int32 => ints::<Int32Type>(array, target),
        D::Int64 => ints::<Int64Type>(array, target),
        D::UInt8 => ints::<UInt8Type>(array, target),
        D::UInt16 => ints::<UInt16Type>(array, target),
        D::UInt32 => ints::<UInt32Type>(array, target),
        D::Float32 => {
            let a = array.as_primitive::<Float32Type>();
            Box::new(move |i, buf| {
                match target {
                    Target::Float4 => buf.put_f32(a.value(i)),
                    _ => buf.put_f64(a.value(i).into()),
                }
                Ok(())
            })
        }
        D::Float64 => {
            let a = array.as_primitive::<Float64Type>();
            Box::new(move |i, buf| {
                buf.put_f64(a.value(i));
                Ok(())
            })
        }
        D::Decimal128(_, scale) => {
            let (a, scale) = (array.as_primitive::<Decimal128Type>(), *scale);
            Box::new(move |i, buf| {
                put_numeric(buf, a.value(i), scale);
                Ok(())
            })
        }
        D::Utf8 => strings(array.as_string::<i32>(), target),
        D::LargeUtf8 => strings(array.as_string::<i64>(), target),
        D::Utf8View => strings(array.as_string_view(), target),
        D::Binary => binaries(array.as_binary::<i32>()),
        D::LargeBinary => binaries(array.as_binary::<i64>()),
        D::BinaryView => binaries(array.as_binary_view()),
        D::Date32 => {
            let a = array.as_primitive::<Date32Type>();
            Box::new(move |i, buf| {
                let days = a
                    .value(i)
                    .checked_sub(EPOCH_DAYS)
                    .ok_or("date out of range")?;
                buf.put_i32(days);
                Ok(())
            })
        }
        D::Time32(TimeUnit::Second) => {
            times::<Time32SecondType>(array, |v| i64::from(v) * 1_000_000)
        }
        D::Time32(_) => times::<Time32MillisecondType>(array, |v| i64::from(v) * 1_000),
        D::Time64(TimeUnit::Microsecond) => times::<Time64MicrosecondType>(array, |v| v),
        D::Time64(_) => times::<Time64NanosecondType>(array, |v| v.div_euclid(1_000)),
        D::Timestamp(TimeUnit::Second, _) => {
            timestamps::<TimestampSecondType>(array, |v| v.checked_mul(1_000_000))
        }
        D::Timestamp(TimeUnit::Millisecond, _) => {
            timestamps::<TimestampMillisecondType>(array, |v| v.checked_mul(1_000))
        }
        D::Timestamp(TimeUnit::Microsecond, _) => {
            timestamps::<TimestampMicrosecondType>(array, Some)
        }
        D::Timestamp(TimeUnit::Nanosecond, _) => {
            timestamps::<TimestampNanosecondType>(array, |v| Some(v.div_euclid(1_000)))
        }
        D::Interval(_) => {
            let a = array.as_primitive::<IntervalMonthDayNanoType>();
            Box::new(move |i, buf| {
                let v = a.value(i);
                // Postgres keeps microseconds; nanoseconds below that are dropped.
                buf.put_i64(v.nanoseconds / 1_000);
                buf.put_i32(v.days);
                buf.put_i32(v.months);
                Ok(())
            })
        }
        other => {
            let other = other.clone();
            Box::new(move |_, _| Err(format!("Arrow type {other} is not written")))
        }
    }
}

fn ints<'a, T>(array: &'a dyn Array, target: Target) -> ValueWriter<'a>
where
    T: ArrowPrimitiveType,
    T::Native: Into<i64>,
{
    let a = array.as_primitive::<T>();
    Box::new(move |i, buf| {
        let v: i64 = a.value(i).into();
        match target {
            Target::Int2 => buf.put_i16(i16::try_from(v).map_err(|_| "out of range for smallint")?),
            Target::Int4 => buf.put_i32(i32::try_from(v).map_err(|_| "out of range for integer")?),
            Target::Numeric => put_numeric(buf, v.into(), 0),
            _ => buf.put_i64(v),
        }
        Ok(())
    })
}

fn strings<'a, A>(a: A, target: Target) -> ValueWriter<'a>
where
    A: ArrayAccessor<Item = &'a str> + Send + 'a,
{
    Box::new(move |i, buf| {
        let s = a.value(i);
        match target {
            Target::Jsonb => {
                buf.put_u8(1);
                buf.put_slice(s.as_bytes());
            }
            Target::Uuid => buf.put_slice(&parse_uuid(s).ok_or("not a UUID")?),
            _ => buf.put_slice(s.as_bytes()),
        }
        Ok(())
    })
}

fn binaries<'a, A>(a: A) -> ValueWriter<'a>
where
    A: ArrayAccessor<Item = &'a [u8]> + Send + 'a,
{
    Box::new(move |i, buf| {
        buf.put_slice(a.value(i));
        Ok(())
    })
}

fn times<'a, T: ArrowPrimitiveType>(
    array: &'a dyn Array,
    micros: fn(T::Native) -> i64,
) -> ValueWriter<'a> {
    let a = array.as_primitive::<T>();
    Box::new(move |i, buf| {
        buf.put_i64(micros(a.value(i)));
        Ok(())
    })
}

fn timestamps<'a, T: ArrowPrimitiveType<Native = i64>>(
    array: &'a dyn Array,
    micros: fn(i64) -> Option<i64>,
) -> ValueWriter<'a> {
    let a = array.as_primitive::<T>();
    Box::new(move |i, buf| {
        let v = micros(a.value(i))
            .and_then(|m| m.checked_sub(EPOCH_MICROS))
            .ok_or("timestamp out of Postgres' range")?;
        buf.put_i64(v);
        Ok(())
    })
}

/// The 16 bytes of a UUID in its text form (hyphens anywhere, or none; any case).
fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let hex: Vec<u8> = s
        .bytes()
        .filter(|&b| b != b'-')
        .map(|b| (b as char).to_digit(16).map(|d| d as u8))
        .collect::<Option<_>>()?;
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (o, pair) in out.iter_mut().zip(hex.chunks(2)) {
        *o = pair[0] << 4 | pair[1];
    }
    Some(out)
}

/// `value × 10^-scale` in numeric's binary form: digit count, weight (of the first base-10000
/// digit), sign, display scale, then the base-10000 digits without leading or trailing zeros.
fn put_numeric(buf: &mut BytesMut, value: i128, scale: i8) {
    let negative = value < 0;
    let mut decimal = value.unsigned_abs().to_string();
    let dscale = scale.max(0) as usize;
    if scale < 0 {
        decimal.extend(std::iter::repeat_n('0', usize::from(scale.unsigned_abs())));
    }
    if decimal.len() <= dscale {
        decimal.insert_str(0, &"0".repeat(dscale + 1 - decimal.len()));
    }
    let (int_part, frac_part) = decimal.split_at(decimal.len() - dscale);
    // Pad the integer part on the left and the fraction on the right to whole 4-digit groups.
    let int_pad = (4 - int_part.len() % 4) % 4;
    let frac_pad = (4 - frac_part.len() % 4) % 4;
    let padded: Vec<u8> = std::iter::repeat_n(b'0', int_pad)
        .chain(int_part.bytes())
        .chain(frac_part.bytes())
        .chain(std::iter::repeat_n(b'0', frac_pad))
        .collect();
    let mut digits: Vec<i16> = padded
        .chunks(4)
        .map(|g| g.iter().fold(0i16, |n, d| n * 10 + i16::from(d - b'0')))
        .collect();
    let mut weight = ((int_pad + int_part.len()) / 4) as i16 - 1;
    let leading = digits.iter().take_while(|&&d| d == 0).count();
    digits.drain(..leading);
    weight -= leading as i16;
    while digits.last() == Some(&0) {
        digits.pop();
    }
    if digits.is_empty() {
        weight = 0;
    }
    buf.put_i16(digits.len() as i16);
    buf.put_i16(weight);
    buf.put_u16(if negative && !digits.is_empty() {
        0x4000
    } else {
        0
    });
    buf.put_u16(dscale as u16);
    for d in digits {
        buf.put_i16(d);
    }
}

/// Bytes sent to the server at a time.
const CHUNK: usize = 1 << 20;

/// Writes `batches` (all of `schema`) into `table` on `client` in one transaction, as
/// `if_exists` says; the number of rows written. See [`IfExists`].
pub async fn write_table(
    client: &mut tokio_postgres::Client,
    table: &str,
    schema: &Schema,
    batches: &[RecordBatch],
    if_exists: IfExists,
    on_rows: &OnRows,
) -> Result<u64> {
    let name = TableName::parse(table)?;
    crate::db::check_write_input(&name, schema, batches)?;
    // Checked before anything is sent: the create statement names every unwritable column.
    let (create, created_targets) = create_table_sql(&name, schema)?;
    let tx = client.transaction().await.map_err(sql_error)?;
    let oid: Option<u32> = tx
        .query_one("SELECT to_regclass($1)::oid", &[&name.quoted()])
        .await
        .map_err(sql_error)?
        .get(0);
    let targets = match (if_exists, oid) {
        (IfExists::Fail, Some(_)) => return Err(crate::db::table_exists(&name)),
        (IfExists::Append, Some(oid)) => {
            let columns = table_columns(&tx, oid).await?;
            append_targets(&name, schema, &columns)?
        }
        (IfExists::Replace, Some(_)) => {
            tx.batch_execute(&format!("DROP TABLE {}", name.quoted()))
                .await
                .map_err(sql_error)?;
            tx.batch_execute(&create).await.map_err(sql_error)?;
            created_targets
        }
        (_, None) => {
            tx.batch_execute(&create).await.map_err(sql_error)?;
            created_targets
        }
    };
    let encoder = CopyEncoder::new(schema, targets)?;
    let sink = tx
        .copy_in::<_, Bytes>(&copy_sql(&name, schema))
        .await
        .map_err(sql_error)?;
    futures_util::pin_mut!(sink);
    let mut buf = BytesMut::with_capacity(CHUNK + CHUNK / 4);
    encoder.header(&mut buf);
    for batch in batches {
        let mut row = 0;
        while row < batch.num_rows() {
            row = encoder.encode(batch, row, &mut buf, CHUNK)?;
            if buf.len() >= CHUNK {
                sink.send(buf.split().freeze()).await.map_err(sql_error)?;
            }
        }
        on_rows(batch.num_rows());
    }
    encoder.trailer(&mut buf);
    sink.send(buf.freeze()).await.map_err(sql_error)?;
    let rows = sink.as_mut().finish().await.map_err(sql_error)?;
    tx.commit().await.map_err(sql_error)?;
    Ok(rows)
}

/// The columns of the table with this OID, in order.
async fn table_columns(tx: &tokio_postgres::Transaction<'_>, oid: u32) -> Result<Vec<TableColumn>> {
    let rows = tx
        .query(
            "SELECT a.attname::text, a.atttypid, format_type(a.atttypid, a.atttypmod), \
                    a.attnotnull AND NOT a.atthasdef \
             FROM pg_attribute a \
             WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            &[&oid],
        )
        .await
        .map_err(sql_error)?;
    Ok(rows
        .iter()
        .map(|r| TableColumn {
            name: r.get(0),
            ty: Type::from_oid(r.get(1)).unwrap_or(Type::UNKNOWN),
            type_name: r.get(2),
            required: r.get(3),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Decimal128Array, Int32Array, StringArray};
    use arrow::datatypes::Field;
    use std::sync::Arc;

    fn numeric(value: i128, scale: i8) -> (i16, i16, u16, u16, Vec<i16>) {
        let mut buf = BytesMut::new();
        put_numeric(&mut buf, value, scale);
        let b = &buf[..];
        let h = |i: usize| i16::from_be_bytes([b[i], b[i + 1]]);
        let n = h(0);
        let digits = (0..n as usize).map(|k| h(8 + 2 * k)).collect();
        (n, h(2), h(4) as u16, h(6) as u16, digits)
    }

    #[test]
    fn numerics_in_base_10000() {
        assert_eq!(numeric(0, 0), (0, 0, 0, 0, vec![]));
        assert_eq!(numeric(0, 2), (0, 0, 0, 2, vec![]));
        assert_eq!(numeric(12345, 2), (2, 0, 0, 2, vec![123, 4500]));
        assert_eq!(numeric(-12345, 2), (2, 0, 0x4000, 2, vec![123, 4500]));
        assert_eq!(numeric(12, 4), (1, -1, 0, 4, vec![12]));
        assert_eq!(numeric(1, 5), (1, -2, 0, 5, vec![1000]));
        assert_eq!(numeric(100_000_000, 0), (1, 2, 0, 0, vec![1]));
        assert_eq!(numeric(7, -3), (1, 0, 0, 0, vec![7000]));
        assert_eq!(numeric(5, -4), (1, 1, 0, 0, vec![5]));
        let max = i128::MAX;
        let (n, w, _, _, d) = numeric(max, 0);
        assert_eq!((n, w), (10, 9));
        assert_eq!(d[0], 170);
        let (_, _, sign, _, _) = numeric(i128::MIN, 10);
        assert_eq!(sign, 0x4000);
    }

    #[test]
    fn uuids_parse_from_text() {
        let u = parse_uuid("A0EEBC99-9c0b-4ef8-bb6d-6bb9bd380a11").unwrap();
        assert_eq!(u[0], 0xa0);
        assert_eq!(u[15], 0x11);
        assert!(parse_uuid("a0eebc99").is_none());
        assert!(parse_uuid("g0eebc999c0b4ef8bb6d6bb9bd380a11").is_none());
    }

    #[test]
    fn table_names_split_on_one_dot_and_are_quoted() {
        let t = TableName::parse("s.t").unwrap();
        assert_eq!(t.quoted(), r#""s"."t""#);
        assert_eq!(TableName::parse("a.b.c").unwrap().quoted(), r#""a"."b.c""#);
        assert_eq!(TableName::parse(r#"x"y"#).unwrap().quoted(), r#""x""y""#);
        assert!(TableName::parse("s.").is_err());
        assert!(TableName::parse("").is_err());
    }

    #[test]
    fn if_exists_parses() {
        assert_eq!("fail".parse::<IfExists>().unwrap(), IfExists::Fail);
        assert_eq!("Replace".parse::<IfExists>().unwrap(), IfExists::Replace);
        assert_eq!("append".parse::<IfExists>().unwrap(), IfExists::Append);
        assert!("upsert"
            .parse::<IfExists>()
            .unwrap_err()
            .to_string()
            .contains("fail"));
    }

    #[test]
    fn unsupported_types_are_named_before_anything_runs() {
        let schema = Schema::new(vec![
            Field::new("ok", DataType::Int32, true),
            Field::new("l", DataType::new_list(DataType::Int32, true), true),
            Field::new("u", DataType::UInt64, true),
        ]);
        let e = create_table_sql(&TableName::parse("t").unwrap(), &schema)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"l\" (List(") && e.contains("\"u\" (UInt64)"),
            "{e}"
        );
    }

    #[test]
    fn append_lists_every_difference() {
        let schema = Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Utf8, true),
            Field::new("c", DataType::Int32, true),
        ]);
        let col = |name: &str, ty: Type, type_name: &str, required| TableColumn {
            name: name.into(),
            ty,
            type_name: type_name.into(),
            required,
        };
        let columns = [
            col("a", Type::INT4, "integer", false),
            col("b", Type::TEXT, "text", false),
            col("d", Type::INT4, "integer", true),
            col("e", Type::INT4, "integer", false),
        ];
        let e = append_targets(&TableName::parse("t").unwrap(), &schema, &columns)
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"a\" is Int64 in the input but integer"), "{e}");
        assert!(e.contains("\"c\" (Int32) is not in the table"), "{e}");
        assert!(e.contains("\"d\" (integer, NOT NULL"), "{e}");
        assert!(!e.contains("\"e\""), "{e}");
        let ok = append_targets(
            &TableName::parse("t").unwrap(),
            &Schema::new(vec![Field::new("a", DataType::Int16, true)]),
            &[col("a", Type::INT8, "bigint", false)],
        )
        .unwrap();
        assert_eq!(ok, vec![Target::Int8]);
    }

    #[test]
    fn rows_encode_with_nulls_and_lengths() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("i", DataType::Int32, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("d", DataType::Decimal128(5, 2), true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int32Array::from(vec![Some(7), None])),
                Arc::new(StringArray::from(vec![None, Some("hé")])),
                Arc::new(
                    Decimal128Array::from(vec![Some(100), None])
                        .with_precision_and_scale(5, 2)
                        .unwrap(),
                ),
            ],
        )
        .unwrap();
        let encoder =
            CopyEncoder::new(&schema, vec![Target::Int4, Target::Text, Target::Numeric]).unwrap();
        let mut buf = BytesMut::new();
        encoder.header(&mut buf);
        assert_eq!(encoder.encode(&batch, 0, &mut buf, usize::MAX).unwrap(), 2);
        encoder.trailer(&mut buf);
        let mut want = HEADER.to_vec();
        want.extend([0, 3, 0, 0, 0, 4, 0, 0, 0, 7, 255, 255, 255, 255]);
        want.extend([0, 0, 0, 10, 0, 1, 0, 0, 0, 0, 0, 2, 0, 1]);
        want.extend([0, 3, 255, 255, 255, 255, 0, 0, 0, 3, b'h', 0xc3, 0xa9]);
        want.extend([255, 255, 255, 255, 255, 255]);
        assert_eq!(&buf[..], &want[..]);
    }
}
