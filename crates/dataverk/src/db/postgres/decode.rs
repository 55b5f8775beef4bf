//! Decoding of Postgres values in binary wire format into Arrow arrays, without any I/O.
//!
//! [`RowsBuilder`] appends one field at a time straight into typed Arrow builders, choosing the
//! decoding per column from its [`PgKind`]; [`CopyBinaryDecoder`] cuts a
//! `COPY … TO STDOUT (FORMAT binary)` byte stream into fields for it. Keeping this free of the
//! connection lets the whole hot path be tested from hand-written bytes.

mod array;
mod copy;
mod numeric;
mod text;

use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder,
    Float32Builder, Float64Builder, Int16Builder, Int32Builder, Int64Builder,
    IntervalMonthDayNanoBuilder, ListArray, NullBufferBuilder, StringBuilder,
    Time64MicrosecondBuilder, TimestampMicrosecondBuilder, UInt32Builder,
};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, FieldRef, IntervalMonthDayNano, Schema, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

use self::array::Elements;
pub use self::copy::CopyBinaryDecoder;
use self::numeric::Numeric;
pub use self::numeric::{decode_numeric_i128, decode_numeric_text};
use self::text::{StackText, INET_TEXT_LEN, MAC_TEXT_LEN, TIMETZ_TEXT_LEN};
use super::types::{arrow_field, PgKind};

/// Why a value or a COPY stream could not be decoded. Messages describe sizes and positions,
/// never the content of a value, which may be a secret.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// A single value is malformed; [`RowsBuilder`] reports it as [`DecodeError::Column`].
    #[error("{0}")]
    InvalidValue(String),
    /// A value of a result column is malformed.
    #[error("row {row}, column {position} ({name:?}): {reason}")]
    Column {
        /// 1-based row number within the whole result.
        row: u64,
        /// 1-based column position, as in the select list.
        position: usize,
        /// Column name.
        name: String,
        /// What was wrong with the value.
        reason: String,
    },
    /// Fields were appended in another order than column by column, row by row.
    #[error("column index {got} appended out of order: expected column index {expected}")]
    ColumnOutOfOrder {
        /// 0-based index of the column that had to come next.
        expected: usize,
        /// 0-based index that was given.
        got: usize,
    },
    /// The stream does not start with the binary COPY signature.
    #[error("not a binary COPY stream: the PGCOPY signature is missing (was COPY run with FORMAT binary?)")]
    BadSignature,
    /// The header sets flag bits that change the format in ways this reader does not know.
    #[error("binary COPY header has unsupported flags {0:#010x} (OID columns or a newer format)")]
    UnsupportedFlags(u32),
    /// The header extension length is negative.
    #[error("binary COPY header extension has negative length {0}")]
    BadHeaderExtension(i32),
    /// A row has another number of fields than the result has columns.
    #[error("COPY row {row} has {got} fields, expected {expected}")]
    FieldCount {
        /// 1-based row number.
        row: u64,
        /// Number of result columns.
        expected: usize,
        /// Field count in the row.
        got: i16,
    },
    /// A field length is below -1 (the NULL marker).
    #[error("COPY row {row}, field {field} has invalid length {len}")]
    BadFieldLength {
        /// 1-based row number.
        row: u64,
        /// 1-based field position.
        field: usize,
        /// The length read.
        len: i32,
    },
    /// The stream ended before it was complete.
    #[error("binary COPY stream ended {0}")]
    Truncated(&'static str),
    /// Bytes followed the end-of-data trailer.
    #[error("binary COPY stream has {0} bytes after its end-of-data trailer")]
    TrailingData(usize),
    /// The decoder was used again after it had reported an error.
    #[error("binary COPY decoder was used after an earlier error")]
    Poisoned,
}

/// Days from 1970-01-01 (Arrow's epoch) to 2000-01-01 (Postgres' epoch).
const EPOCH_DAYS: i32 = 10_957;
/// Microseconds from 1970-01-01 to 2000-01-01.
const EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Microseconds in a day: `24:00:00` as a time.
const MICROS_PER_DAY: i64 = 86_400_000_000;
/// Bytes per value assumed for string and binary data when sizing a fresh builder.
const AVERAGE_STRING_LEN: usize = 16;

/// Bytes one value takes in an array's fixed-width buffers: the value itself, or the i32
/// offset of a string, binary or list value (whose data is counted by [`Column::data_len`]).
fn fixed_width(data_type: &DataType) -> usize {
    match data_type {
        DataType::Boolean => 1,
        other => other.primitive_width().unwrap_or(4),
    }
}

/// Accumulates decoded rows into Arrow arrays for one schema.
pub struct RowsBuilder {
    schema: SchemaRef,
    kinds: Vec<PgKind>,
    columns: Vec<Column>,
    /// Rows to size fresh builders for.
    capacity: usize,
    /// Bytes each row takes in the fixed-width buffers (values, or offsets for strings).
    fixed_row_bytes: usize,
    /// Index of the column the next [`RowsBuilder::append`] must be for.
    next: usize,
    /// Complete rows in the current builders.
    rows: usize,
    /// Rows handed out by earlier [`RowsBuilder::finish`] calls, for error messages.
    rows_before: u64,
}

impl RowsBuilder {
    /// Starts empty builders for columns `names` decoded as `kinds`, sized for `capacity` rows.
    ///
    /// Panics if `names` and `kinds` differ in length.
    pub fn new(names: &[String], kinds: &[PgKind], capacity: usize) -> RowsBuilder {
        assert_eq!(
            names.len(),
            kinds.len(),
            "RowsBuilder::new needs one kind per column name"
        );
        let fields: Vec<_> = names
            .iter()
            .zip(kinds)
            .map(|(name, kind)| arrow_field(name, kind))
            .collect();
        let schema = Arc::new(Schema::new(fields));
        let columns = schema
            .fields()
            .iter()
            .zip(kinds)
            .map(|(field, kind)| {
                Column::new(
                    kind,
                    field.data_type(),
                    capacity,
                    capacity * AVERAGE_STRING_LEN,
                )
            })
            .collect();
        let fixed_row_bytes = schema
            .fields()
            .iter()
            .map(|field| fixed_width(field.data_type()))
            .sum();
        RowsBuilder {
            schema,
            kinds: kinds.to_vec(),
            columns,
            capacity,
            fixed_row_bytes,
            next: 0,
            rows: 0,
            rows_before: 0,
        }
    }

    /// The Arrow schema of the batches this builder produces.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Number of columns.
    pub fn num_columns(&self) -> usize {
        self.columns.len()
    }

    /// Appends one field in Postgres binary format (`None` = NULL) to column `col`.
    ///
    /// Fields must come column by column, row by row. A value that fails to decode is not
    /// appended, so the same column is expected next.
    #[inline]
    pub fn append(&mut self, col: usize, value: Option<&[u8]>) -> Result<(), DecodeError> {
        if col != self.next || col >= self.columns.len() {
            return Err(DecodeError::ColumnOutOfOrder {
                expected: self.next,
                got: col,
            });
        }
        let column = &mut self.columns[col];
        match value {
            None => column.append_null(),
            Some(bytes) => {
                if let Err(err) = column.append(bytes) {
                    return Err(self.column_error(col, err));
                }
            }
        }
        self.next += 1;
        if self.next == self.columns.len() {
            self.next = 0;
            self.rows += 1;
        }
        Ok(())
    }

    /// Counts a row of a result without columns (`SELECT FROM t`), which has no fields to append.
    fn append_empty_row(&mut self) {
        debug_assert!(self.columns.is_empty());
        self.rows += 1;
    }

    /// Number of complete rows appended since the last [`RowsBuilder::finish`].
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no complete row was appended since the last [`RowsBuilder::finish`].
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Approximate bytes of Arrow data held for the rows so far, so that a caller can cut
    /// batches by size as well as by row count when values are large.
    pub fn buffered_bytes(&self) -> usize {
        let variable: usize = self.columns.iter().map(Column::data_len).sum();
        self.rows * self.fixed_row_bytes + variable
    }

    /// Takes the rows so far as a RecordBatch (may be empty) and starts fresh builders with the
    /// same schema. Fields of an incomplete last row are dropped.
    pub fn finish(&mut self) -> RecordBatch {
        let rows = self.rows;
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        for ((column, field), kind) in self
            .columns
            .iter_mut()
            .zip(self.schema.fields().iter())
            .zip(&self.kinds)
        {
            // Size the next batch's builders like this one: batches of one query tend to look
            // alike, and it saves growing every buffer again from scratch.
            let data_capacity = column.data_len().max(self.capacity * AVERAGE_STRING_LEN);
            let array = column.finish();
            *column = Column::new(
                kind,
                field.data_type(),
                self.capacity.max(rows),
                data_capacity,
            );
            arrays.push(if array.len() == rows {
                array
            } else {
                array.slice(0, rows)
            });
        }
        self.rows_before += rows as u64;
        self.rows = 0;
        self.next = 0;
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(self.schema.clone(), arrays, &options)
            .expect("builders are created from the schema's own fields and cut to the row count")
    }

    fn column_error(&self, col: usize, err: DecodeError) -> DecodeError {
        let reason = match err {
            DecodeError::InvalidValue(reason) => reason,
            other => other.to_string(),
        };
        DecodeError::Column {
            row: self.rows_before + self.rows as u64 + 1,
            position: col + 1,
            name: self.schema.field(col).name().clone(),
            reason,
        }
    }
}

impl std::fmt::Debug for RowsBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowsBuilder")
            .field("schema", &self.schema)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

/// How the bytes of a Utf8 column are turned into text.
#[derive(Clone, Copy, Debug)]
enum TextForm {
    Text,
    Json,
    Jsonb,
    Numeric,
    Uuid,
    Inet,
    MacAddr,
    MacAddr8,
    TimeTz,
}

/// One column's Arrow builder; the variant fixes the decoding, so each value costs one match.
enum Column {
    Bool(BooleanBuilder),
    Int2(Int16Builder),
    Int4(Int32Builder),
    Int8(Int64Builder),
    Oid(UInt32Builder),
    Float4(Float32Builder),
    Float8(Float64Builder),
    Decimal {
        builder: Decimal128Builder,
        precision: u8,
        scale: i8,
    },
    Utf8(StringBuilder, TextForm),
    Bytea(BinaryBuilder),
    Date(Date32Builder),
    Time(Time64MicrosecondBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    Interval(IntervalMonthDayNanoBuilder),
    List(Box<ListColumn>),
}

impl Column {
    /// A builder of exactly `data_type` (the schema's), room for `rows` values and, for
    /// variable-length columns, `data_bytes` bytes.
    fn new(kind: &PgKind, data_type: &DataType, rows: usize, data_bytes: usize) -> Column {
        let text = |form| Column::Utf8(StringBuilder::with_capacity(rows, data_bytes), form);
        match kind {
            PgKind::Bool => Column::Bool(BooleanBuilder::with_capacity(rows)),
            PgKind::Int2 => Column::Int2(Int16Builder::with_capacity(rows)),
            PgKind::Int4 => Column::Int4(Int32Builder::with_capacity(rows)),
            PgKind::Int8 => Column::Int8(Int64Builder::with_capacity(rows)),
            PgKind::Oid => Column::Oid(UInt32Builder::with_capacity(rows)),
            PgKind::Float4 => Column::Float4(Float32Builder::with_capacity(rows)),
            PgKind::Float8 => Column::Float8(Float64Builder::with_capacity(rows)),
            &PgKind::Decimal { precision, scale } => Column::Decimal {
                // with_data_type rather than with_precision_and_scale: the schema already holds
                // the type, and this cannot fail for a hand-made out-of-range PgKind.
                builder: Decimal128Builder::with_capacity(rows).with_data_type(data_type.clone()),
                precision,
                scale,
            },
            PgKind::Text => text(TextForm::Text),
            PgKind::Json => text(TextForm::Json),
            PgKind::Jsonb => text(TextForm::Jsonb),
            PgKind::Numeric => text(TextForm::Numeric),
            PgKind::Inet => text(TextForm::Inet),
            PgKind::MacAddr => text(TextForm::MacAddr),
            PgKind::MacAddr8 => text(TextForm::MacAddr8),
            PgKind::TimeTz => text(TextForm::TimeTz),
            PgKind::Uuid => Column::Utf8(
                StringBuilder::with_capacity(rows, rows * UUID_TEXT_LEN),
                TextForm::Uuid,
            ),
            PgKind::Bytea => Column::Bytea(BinaryBuilder::with_capacity(rows, data_bytes)),
            PgKind::Date => Column::Date(Date32Builder::with_capacity(rows)),
            PgKind::Time => Column::Time(Time64MicrosecondBuilder::with_capacity(rows)),
            PgKind::Timestamp | PgKind::TimestampTz => Column::Timestamp(
                TimestampMicrosecondBuilder::with_capacity(rows).with_data_type(data_type.clone()),
            ),
            PgKind::Interval => Column::Interval(IntervalMonthDayNanoBuilder::with_capacity(rows)),
            PgKind::Array(element) => {
                let DataType::List(field) = data_type else {
                    unreachable!("arrow_type makes every array kind a List")
                };
                Column::List(Box::new(ListColumn::new(
                    element,
                    field.clone(),
                    rows,
                    data_bytes,
                )))
            }
        }
    }

    fn append_null(&mut self) {
        match self {
            Column::Bool(b) => b.append_null(),
            Column::Int2(b) => b.append_null(),
            Column::Int4(b) => b.append_null(),
            Column::Int8(b) => b.append_null(),
            Column::Oid(b) => b.append_null(),
            Column::Float4(b) => b.append_null(),
            Column::Float8(b) => b.append_null(),
            Column::Decimal { builder, .. } => builder.append_null(),
            Column::Utf8(b, _) => b.append_null(),
            Column::Bytea(b) => b.append_null(),
            Column::Date(b) => b.append_null(),
            Column::Time(b) => b.append_null(),
            Column::Timestamp(b) => b.append_null(),
            Column::Interval(b) => b.append_null(),
            Column::List(list) => list.append_null(),
        }
    }

    /// Decodes one non-NULL value; on error nothing is appended.
    #[inline]
    fn append(&mut self, bytes: &[u8]) -> Result<(), DecodeError> {
        match self {
            Column::Bool(b) => b.append_value(fixed::<1>(bytes, "bool")?[0] != 0),
            Column::Int2(b) => b.append_value(i16::from_be_bytes(fixed(bytes, "int2")?)),
            Column::Int4(b) => b.append_value(i32::from_be_bytes(fixed(bytes, "int4")?)),
            Column::Int8(b) => b.append_value(i64::from_be_bytes(fixed(bytes, "int8")?)),
            Column::Oid(b) => b.append_value(u32::from_be_bytes(fixed(bytes, "oid")?)),
            Column::Float4(b) => b.append_value(f32::from_be_bytes(fixed(bytes, "float4")?)),
            Column::Float8(b) => b.append_value(f64::from_be_bytes(fixed(bytes, "float8")?)),
            Column::Decimal {
                builder,
                precision,
                scale,
            } => {
                // NaN and ±Infinity have no Decimal128 form. An error would fail the whole
                // read over one value, and a sentinel would pass for a real number, so they
                // become NULL; a column that needs them should be read as unconstrained numeric.
                builder.append_option(Numeric::parse(bytes)?.to_i128(*precision, *scale)?)
            }
            Column::Utf8(b, TextForm::Text) => {
                check_room(b.values_slice().len(), bytes.len())?;
                b.append_value(utf8(bytes, "text")?)
            }
            Column::Utf8(b, TextForm::Json) => {
                check_room(b.values_slice().len(), bytes.len())?;
                b.append_value(utf8(bytes, "json")?)
            }
            Column::Utf8(b, TextForm::Jsonb) => {
                check_room(b.values_slice().len(), bytes.len())?;
                b.append_value(jsonb(bytes)?)
            }
            Column::Utf8(b, TextForm::Numeric) => {
                let value = Numeric::parse(bytes)?;
                check_room(b.values_slice().len(), value.max_text_len())?;
                value
                    .write_text(b)
                    .expect("writing to a StringBuilder cannot fail");
                // The text went into the builder's value buffer; this closes the value.
                b.append_value("");
            }
            Column::Utf8(b, TextForm::Uuid) => {
                check_room(b.values_slice().len(), UUID_TEXT_LEN)?;
                let mut text = [0u8; UUID_TEXT_LEN];
                b.append_value(format_uuid(fixed(bytes, "uuid")?, &mut text));
            }
            Column::Utf8(b, TextForm::Inet) => {
                check_room(b.values_slice().len(), INET_TEXT_LEN)?;
                let mut text = StackText::new();
                text::write_inet(bytes, &mut text)?;
                b.append_value(text.as_str());
            }
            Column::Utf8(b, TextForm::MacAddr) => {
                check_room(b.values_slice().len(), MAC_TEXT_LEN)?;
                let mut text = StackText::new();
                text::write_mac(bytes, "macaddr", 6, &mut text)?;
                b.append_value(text.as_str());
            }
            Column::Utf8(b, TextForm::MacAddr8) => {
                check_room(b.values_slice().len(), MAC_TEXT_LEN)?;
                let mut text = StackText::new();
                text::write_mac(bytes, "macaddr8", 8, &mut text)?;
                b.append_value(text.as_str());
            }
            Column::Utf8(b, TextForm::TimeTz) => {
                check_room(b.values_slice().len(), TIMETZ_TEXT_LEN)?;
                let mut text = StackText::new();
                text::write_timetz(bytes, &mut text)?;
                b.append_value(text.as_str());
            }
            Column::Bytea(b) => {
                check_room(b.values_slice().len(), bytes.len())?;
                b.append_value(bytes)
            }
            Column::Date(b) => b.append_option(date(bytes)?),
            Column::Time(b) => b.append_option(time(bytes)?),
            Column::Timestamp(b) => b.append_option(timestamp(bytes)?),
            Column::Interval(b) => b.append_option(interval(bytes)?),
            Column::List(list) => list.append(bytes)?,
        }
        Ok(())
    }

    /// Number of values appended since the last [`Column::finish`].
    fn len(&self) -> usize {
        match self {
            Column::List(list) => list.len(),
            other => other.builder().len(),
        }
    }

    /// Bytes of variable-length value data so far; 0 for fixed-width columns.
    fn data_len(&self) -> usize {
        match self {
            Column::Utf8(b, _) => b.values_slice().len(),
            Column::Bytea(b) => b.values_slice().len(),
            Column::List(list) => list.data_len(),
            _ => 0,
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Column::List(list) => list.finish(),
            other => other.builder_mut().finish(),
        }
    }

    fn builder(&self) -> &dyn ArrayBuilder {
        match self {
            Column::Bool(b) => b,
            Column::Int2(b) => b,
            Column::Int4(b) => b,
            Column::Int8(b) => b,
            Column::Oid(b) => b,
            Column::Float4(b) => b,
            Column::Float8(b) => b,
            Column::Decimal { builder, .. } => builder,
            Column::Utf8(b, _) => b,
            Column::Bytea(b) => b,
            Column::Date(b) => b,
            Column::Time(b) => b,
            Column::Timestamp(b) => b,
            Column::Interval(b) => b,
            Column::List(_) => unreachable!("a list column has no single builder"),
        }
    }

    fn builder_mut(&mut self) -> &mut dyn ArrayBuilder {
        match self {
            Column::Bool(b) => b,
            Column::Int2(b) => b,
            Column::Int4(b) => b,
            Column::Int8(b) => b,
            Column::Oid(b) => b,
            Column::Float4(b) => b,
            Column::Float8(b) => b,
            Column::Decimal { builder, .. } => builder,
            Column::Utf8(b, _) => b,
            Column::Bytea(b) => b,
            Column::Date(b) => b,
            Column::Time(b) => b,
            Column::Timestamp(b) => b,
            Column::Interval(b) => b,
            Column::List(_) => unreachable!("a list column has no single builder"),
        }
    }
}

/// A List column: the offsets and validity of each array value, and its elements in a column
/// of their own.
struct ListColumn {
    /// The element field of the List type.
    field: FieldRef,
    /// Element offsets, starting with 0: value `i` is `elements[offsets[i]..offsets[i + 1]]`.
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
    elements: Column,
    /// Bytes each element takes in the elements' fixed-width buffers.
    element_width: usize,
    /// An element failed to decode after others of the same value were appended, so the
    /// elements no longer line up with the offsets.
    broken: bool,
}

impl ListColumn {
    fn new(element: &PgKind, field: FieldRef, rows: usize, data_bytes: usize) -> ListColumn {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        // A guess; the builders grow as needed, and later batches are sized from this one.
        let element_rows = rows * 4;
        ListColumn {
            elements: Column::new(element, field.data_type(), element_rows, data_bytes),
            element_width: fixed_width(field.data_type()),
            field,
            offsets,
            nulls: NullBufferBuilder::new(rows),
            broken: false,
        }
    }

    fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    fn last_offset(&self) -> i32 {
        *self.offsets.last().expect("offsets start with 0")
    }

    fn append_null(&mut self) {
        self.offsets.push(self.last_offset());
        self.nulls.append_null();
    }

    /// Appends one array value. An invalid header appends nothing; an element that fails to
    /// decode leaves the column unusable, since the elements before it cannot be taken back.
    fn append(&mut self, bytes: &[u8]) -> Result<(), DecodeError> {
        if self.broken {
            return Err(DecodeError::InvalidValue(
                "an earlier array value of this column failed to decode".into(),
            ));
        }
        let mut elements = Elements::parse(bytes)?;
        let end = i32::try_from(elements.len())
            .ok()
            .and_then(|n| self.last_offset().checked_add(n))
            .ok_or_else(|| {
                DecodeError::InvalidValue(format!(
                    "the column's arrays in this batch would exceed {} elements, the most an \
                     Arrow list array holds; read in batches of fewer rows",
                    i32::MAX
                ))
            })?;
        let before = self.elements.len();
        let mut position = 0;
        let result = loop {
            match elements.next_element() {
                Ok(None) => break Ok(()),
                Ok(Some(None)) => self.elements.append_null(),
                Ok(Some(Some(element))) => {
                    if let Err(err) = self.elements.append(element) {
                        break Err(err);
                    }
                }
                Err(err) => break Err(err),
            }
            position += 1;
        };
        if let Err(err) = result {
            self.broken = self.elements.len() != before;
            let reason = match err {
                DecodeError::InvalidValue(reason) => reason,
                other => other.to_string(),
            };
            return Err(DecodeError::InvalidValue(format!(
                "array element {}: {reason}",
                position + 1
            )));
        }
        self.offsets.push(end);
        self.nulls.append_non_null();
        Ok(())
    }

    /// Bytes of the elements so far, fixed-width and variable-length.
    fn data_len(&self) -> usize {
        self.elements.len() * self.element_width + self.elements.data_len()
    }

    fn finish(&mut self) -> ArrayRef {
        let offsets = std::mem::replace(&mut self.offsets, vec![0]);
        let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
        Arc::new(ListArray::new(
            self.field.clone(),
            offsets,
            self.elements.finish(),
            self.nulls.finish(),
        ))
    }
}

/// Most value bytes one Utf8 or Binary array can hold: its offsets are i32. Small in tests, so
/// that the limit can be reached there.
const MAX_ARRAY_DATA: usize = if cfg!(test) {
    1 << 20
} else {
    i32::MAX as usize
};

/// Fails instead of letting Arrow panic when a value would overflow a string array's offsets.
#[inline]
fn check_room(used: usize, more: usize) -> Result<(), DecodeError> {
    if used + more <= MAX_ARRAY_DATA {
        return Ok(());
    }
    Err(DecodeError::InvalidValue(format!(
        "the column's values in this batch would exceed {MAX_ARRAY_DATA} bytes, the most an \
         Arrow string or binary array holds; read in batches of fewer rows"
    )))
}

/// The value as an array of exactly `N` bytes, or an error naming the type.
#[inline]
fn fixed<const N: usize>(bytes: &[u8], type_name: &str) -> Result<[u8; N], DecodeError> {
    bytes.try_into().map_err(|_| {
        DecodeError::InvalidValue(format!(
            "{type_name} value has {} bytes, expected {N}",
            bytes.len()
        ))
    })
}

/// Text sent by the server, which is UTF-8 when client_encoding is UTF8 (the connector sets it).
#[inline]
fn utf8<'a>(bytes: &'a [u8], type_name: &str) -> Result<&'a str, DecodeError> {
    std::str::from_utf8(bytes).map_err(|err| {
        // The position only: the bytes themselves may be a secret.
        DecodeError::InvalidValue(format!(
            "{type_name} value is not valid UTF-8 (at byte {} of {})",
            err.valid_up_to(),
            bytes.len()
        ))
    })
}

/// Binary jsonb is a format version byte, so far always 1, followed by the JSON text.
fn jsonb(bytes: &[u8]) -> Result<&str, DecodeError> {
    match bytes.split_first() {
        Some((1, json)) => utf8(json, "jsonb"),
        Some((version, _)) => Err(DecodeError::InvalidValue(format!(
            "jsonb value has unknown format version {version}"
        ))),
        None => Err(DecodeError::InvalidValue(
            "jsonb value is empty, expected a version byte".into(),
        )),
    }
}

/// Days since 1970; `None` for Postgres' `infinity` and `-infinity`, which Arrow cannot
/// represent and which mean "no bound" rather than a real date, so NULL is the honest value.
#[inline]
fn date(bytes: &[u8]) -> Result<Option<i32>, DecodeError> {
    match i32::from_be_bytes(fixed(bytes, "date")?) {
        i32::MAX | i32::MIN => Ok(None),
        days => days
            .checked_add(EPOCH_DAYS)
            .map(Some)
            .ok_or_else(|| DecodeError::InvalidValue("date value is out of range".into())),
    }
}

/// Microseconds since 1970; `None` for `infinity` and `-infinity`, as for dates, and for the
/// last 29 years Postgres allows (294247-01-10 04:00:54.775807 UTC to 294276-12-31), which
/// Arrow's i64 microseconds since 1970 cannot hold. Failing the whole read over such a value
/// would help nobody, and no real event is dated there.
#[inline]
fn timestamp(bytes: &[u8]) -> Result<Option<i64>, DecodeError> {
    match i64::from_be_bytes(fixed(bytes, "timestamp")?) {
        i64::MAX | i64::MIN => Ok(None),
        micros => Ok(micros.checked_add(EPOCH_MICROS)),
    }
}

/// Microseconds since midnight. Postgres accepts `24:00:00`, which Arrow's Time64 does not
/// (its values end before 86400 seconds), so it becomes NULL like the other values Arrow
/// cannot hold.
#[inline]
fn time(bytes: &[u8]) -> Result<Option<i64>, DecodeError> {
    match i64::from_be_bytes(fixed(bytes, "time")?) {
        micros @ 0..MICROS_PER_DAY => Ok(Some(micros)),
        MICROS_PER_DAY => Ok(None),
        _ => Err(DecodeError::InvalidValue(
            "time value is outside 00:00:00..24:00:00".into(),
        )),
    }
}

/// Binary interval is microseconds (i64), days (i32), months (i32). Postgres 17's `infinity`
/// and `-infinity` (every field at its maximum or minimum) become NULL, as for timestamps, and
/// so does a time part beyond ±2562047 hours (about 292 years), which Arrow's nanoseconds
/// cannot hold (`interval '300 years'` is fine: years are kept as months).
fn interval(bytes: &[u8]) -> Result<Option<IntervalMonthDayNano>, DecodeError> {
    let b: [u8; 16] = fixed(bytes, "interval")?;
    let micros = i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    let days = i32::from_be_bytes([b[8], b[9], b[10], b[11]]);
    let months = i32::from_be_bytes([b[12], b[13], b[14], b[15]]);
    if (micros, days, months) == (i64::MAX, i32::MAX, i32::MAX)
        || (micros, days, months) == (i64::MIN, i32::MIN, i32::MIN)
    {
        return Ok(None);
    }
    Ok(micros
        .checked_mul(1000)
        .map(|nanos| IntervalMonthDayNano::new(months, days, nanos)))
}

const UUID_TEXT_LEN: usize = 36;

/// Writes the canonical lowercase 8-4-4-4-12 form into `out` and returns it as text.
fn format_uuid(uuid: [u8; 16], out: &mut [u8; UUID_TEXT_LEN]) -> &str {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    /// Where each byte's two hex digits go, skipping the dashes.
    const AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
    *out = *b"00000000-0000-0000-0000-000000000000";
    for (byte, at) in uuid.into_iter().zip(AT) {
        out[at] = HEX[usize::from(byte >> 4)];
        out[at + 1] = HEX[usize::from(byte & 0xf)];
    }
    std::str::from_utf8(out).expect("hex digits and dashes are ASCII")
}

#[cfg(test)]
mod tests {
    use arrow::array::{
        Array, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array,
        Int16Array, Int32Array, Int64Array, IntervalMonthDayNanoArray, ListArray, StringArray,
        Time64MicrosecondArray, TimestampMicrosecondArray, UInt32Array,
    };
    use arrow::datatypes::TimeUnit;

    use super::*;

    fn builder(kinds: &[PgKind]) -> RowsBuilder {
        let names: Vec<String> = (0..kinds.len()).map(|i| format!("c{i}")).collect();
        RowsBuilder::new(&names, kinds, 4)
    }

    /// Appends each value as one single-column row and returns the finished column.
    fn column<A: Array + Clone + 'static>(kind: PgKind, values: &[Option<&[u8]>]) -> A {
        let mut rows = builder(&[kind]);
        for &value in values {
            rows.append(0, value).unwrap();
        }
        assert_eq!(rows.len(), values.len());
        let batch = rows.finish();
        assert_eq!(batch.num_rows(), values.len());
        assert!(rows.is_empty());
        batch
            .column(0)
            .as_any()
            .downcast_ref::<A>()
            .expect("array of the schema's type")
            .clone()
    }

    /// The error message of appending `value` to the first row of a single `kind` column.
    fn error(kind: PgKind, value: &[u8]) -> String {
        let mut rows = builder(&[kind]);
        let err = rows.append(0, Some(value)).unwrap_err();
        // Nothing was appended, so the same column can still be filled.
        rows.append(0, None).unwrap();
        assert_eq!(rows.finish().num_rows(), 1);
        err.to_string()
    }

    #[test]
    fn bools() {
        let a: BooleanArray = column(PgKind::Bool, &[Some(&[1]), Some(&[0]), None]);
        assert!(a.value(0));
        assert!(!a.value(1));
        assert!(a.is_null(2));
    }

    #[test]
    fn integers_at_their_limits() {
        let a: Int16Array = column(
            PgKind::Int2,
            &[
                Some(&i16::MIN.to_be_bytes()),
                Some(&i16::MAX.to_be_bytes()),
                None,
            ],
        );
        assert_eq!(
            (a.value(0), a.value(1), a.is_null(2)),
            (i16::MIN, i16::MAX, true)
        );
        let a: Int32Array = column(
            PgKind::Int4,
            &[
                Some(&i32::MIN.to_be_bytes()),
                Some(&i32::MAX.to_be_bytes()),
                Some(&(-7i32).to_be_bytes()),
                None,
            ],
        );
        assert_eq!(a.values().to_vec()[..3], [i32::MIN, i32::MAX, -7]);
        assert!(a.is_null(3));
        let a: Int64Array = column(
            PgKind::Int8,
            &[
                Some(&i64::MIN.to_be_bytes()),
                Some(&i64::MAX.to_be_bytes()),
                None,
            ],
        );
        assert_eq!(
            (a.value(0), a.value(1), a.is_null(2)),
            (i64::MIN, i64::MAX, true)
        );
        let a: UInt32Array = column(
            PgKind::Oid,
            &[Some(&u32::MAX.to_be_bytes()), Some(&[0, 0, 0, 26]), None],
        );
        assert_eq!((a.value(0), a.value(1), a.is_null(2)), (u32::MAX, 26, true));
    }

    #[test]
    fn floats_keep_nan_and_infinities() {
        let a: Float32Array = column(
            PgKind::Float4,
            &[
                Some(&1.5f32.to_be_bytes()),
                Some(&f32::NAN.to_be_bytes()),
                Some(&f32::INFINITY.to_be_bytes()),
                Some(&f32::NEG_INFINITY.to_be_bytes()),
                None,
            ],
        );
        assert_eq!(a.value(0), 1.5);
        assert!(a.value(1).is_nan());
        assert_eq!(a.value(2), f32::INFINITY);
        assert_eq!(a.value(3), f32::NEG_INFINITY);
        assert!(a.is_null(4));
        let a: Float64Array = column(
            PgKind::Float8,
            &[
                Some(&(-0.1f64).to_be_bytes()),
                Some(&f64::NAN.to_be_bytes()),
                Some(&f64::INFINITY.to_be_bytes()),
                Some(&f64::NEG_INFINITY.to_be_bytes()),
                Some(&f64::MIN_POSITIVE.to_be_bytes()),
                None,
            ],
        );
        assert_eq!(a.value(0), -0.1);
        assert!(a.value(1).is_nan());
        assert_eq!(a.value(2), f64::INFINITY);
        assert_eq!(a.value(3), f64::NEG_INFINITY);
        assert_eq!(a.value(4), f64::MIN_POSITIVE);
        assert!(a.is_null(5));
    }

    /// `numeric_send` bytes: ndigits, weight, sign, dscale, base-10000 digits.
    fn numeric(weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(digits.len() as i16).to_be_bytes());
        out.extend_from_slice(&weight.to_be_bytes());
        out.extend_from_slice(&sign.to_be_bytes());
        out.extend_from_slice(&dscale.to_be_bytes());
        for d in digits {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out
    }

    #[test]
    fn unconstrained_numeric_is_exact_text() {
        let values = [
            numeric(0, 0, 4, &[123, 4500]),
            numeric(-1, 0x4000, 3, &[10]),
            numeric(0, 0, 0, &[]),
            numeric(0, 0xC000, 0, &[]),
            numeric(0, 0xD000, 0, &[]),
            numeric(0, 0xF000, 0, &[]),
        ];
        let mut input: Vec<Option<&[u8]>> = values.iter().map(|v| Some(&v[..])).collect();
        input.push(None);
        let a: StringArray = column(PgKind::Numeric, &input);
        let got: Vec<_> = a.iter().collect();
        assert_eq!(
            got,
            [
                Some("123.4500"),
                Some("-0.001"),
                Some("0"),
                Some("NaN"),
                Some("Infinity"),
                Some("-Infinity"),
                None
            ]
        );
    }

    #[test]
    fn typed_numeric_is_decimal_with_special_values_as_null() {
        let kind = PgKind::Decimal {
            precision: 10,
            scale: 2,
        };
        let values = [
            numeric(0, 0, 2, &[1, 1000]),
            numeric(1, 0x4000, 2, &[12, 3456, 7800]),
            numeric(0, 0xC000, 0, &[]),
            numeric(0, 0xD000, 0, &[]),
            numeric(0, 0xF000, 0, &[]),
        ];
        let mut input: Vec<Option<&[u8]>> = values.iter().map(|v| Some(&v[..])).collect();
        input.push(None);
        let a: Decimal128Array = column(kind.clone(), &input);
        assert_eq!(a.data_type(), &DataType::Decimal128(10, 2));
        assert_eq!(a.value(0), 110);
        assert_eq!(a.value(1), -12_345_678);
        assert_eq!(a.value_as_string(1), "-123456.78");
        for i in 2..6 {
            assert!(a.is_null(i), "{i}");
        }
        assert_eq!(
            error(kind.clone(), &numeric(3, 0, 2, &[1])),
            "row 1, column 1 (\"c0\"): numeric value does not fit decimal(10, 2)"
        );
        assert_eq!(
            error(kind, &[0; 9]),
            "row 1, column 1 (\"c0\"): numeric value has 9 bytes, expected 8 for 0 digits"
        );
    }

    #[test]
    fn text_json_and_bytea() {
        let a: StringArray = column(PgKind::Text, &[Some("héllo".as_bytes()), Some(b""), None]);
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            [Some("héllo"), Some(""), None]
        );
        let a: StringArray = column(PgKind::Json, &[Some(br#"{"a": 1}"#), None]);
        assert_eq!(a.iter().collect::<Vec<_>>(), [Some(r#"{"a": 1}"#), None]);
        let a: StringArray = column(PgKind::Jsonb, &[Some(b"\x01{\"a\": 1}"), None]);
        assert_eq!(a.iter().collect::<Vec<_>>(), [Some(r#"{"a": 1}"#), None]);
        let a: BinaryArray = column(PgKind::Bytea, &[Some(&[0, 0xff, 7]), Some(&[]), None]);
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            [Some(&[0u8, 0xff, 7][..]), Some(&[][..]), None]
        );
    }

    #[test]
    fn invalid_text_errors_do_not_show_the_value() {
        let message = error(PgKind::Text, b"secret\xff");
        assert_eq!(
            message,
            "row 1, column 1 (\"c0\"): text value is not valid UTF-8 (at byte 6 of 7)"
        );
        assert!(!message.contains("secret"));
        assert_eq!(
            error(PgKind::Jsonb, b"\x02{}"),
            "row 1, column 1 (\"c0\"): jsonb value has unknown format version 2"
        );
        assert!(error(PgKind::Jsonb, b"").contains("jsonb value is empty"));
    }

    #[test]
    fn fixed_width_values_with_a_wrong_length_are_errors() {
        assert_eq!(
            error(PgKind::Int4, &[0, 0, 1]),
            "row 1, column 1 (\"c0\"): int4 value has 3 bytes, expected 4"
        );
        assert!(error(PgKind::Bool, &[]).contains("bool value has 0 bytes, expected 1"));
        assert!(error(PgKind::Int2, &[0; 4]).contains("int2 value has 4 bytes"));
        assert!(error(PgKind::Int8, &[0; 4]).contains("int8 value has 4 bytes"));
        assert!(error(PgKind::Oid, &[0; 8]).contains("oid value has 8 bytes"));
        assert!(error(PgKind::Float4, &[0; 8]).contains("float4 value has 8 bytes"));
        assert!(error(PgKind::Float8, &[0; 4]).contains("float8 value has 4 bytes"));
        assert!(error(PgKind::Date, &[0; 8]).contains("date value has 8 bytes"));
        assert!(error(PgKind::Time, &[0; 4]).contains("time value has 4 bytes"));
        assert!(error(PgKind::Timestamp, &[0; 4]).contains("timestamp value has 4 bytes"));
        assert!(error(PgKind::Interval, &[0; 8]).contains("interval value has 8 bytes"));
        assert!(error(PgKind::Uuid, &[0; 15]).contains("uuid value has 15 bytes, expected 16"));
    }

    #[test]
    fn dates_shift_epoch_and_drop_infinity() {
        let a: Date32Array = column(
            PgKind::Date,
            &[
                Some(&0i32.to_be_bytes()),         // 2000-01-01
                Some(&(-1i32).to_be_bytes()),      // 1999-12-31
                Some(&(-10_957i32).to_be_bytes()), // 1970-01-01
                Some(&(-10_958i32).to_be_bytes()), // 1969-12-31
                Some(&(-36_524i32).to_be_bytes()), // 1900-01-01
                Some(&i32::MAX.to_be_bytes()),     // infinity
                Some(&i32::MIN.to_be_bytes()),     // -infinity
                None,
            ],
        );
        assert_eq!(a.values()[..5], [10_957, 10_956, 0, -1, -25_567]);
        assert_eq!(a.value_as_date(4).unwrap().to_string(), "1900-01-01");
        assert_eq!(a.value_as_date(1).unwrap().to_string(), "1999-12-31");
        assert!(a.is_null(5) && a.is_null(6) && a.is_null(7));
    }

    #[test]
    fn times() {
        let micros = ((13 * 60 + 45) * 60 + 30) * 1_000_000i64 + 123_456;
        let a: Time64MicrosecondArray = column(
            PgKind::Time,
            &[Some(&micros.to_be_bytes()), Some(&0i64.to_be_bytes()), None],
        );
        assert_eq!(a.value_as_time(0).unwrap().to_string(), "13:45:30.123456");
        assert_eq!(a.value(1), 0);
        assert!(a.is_null(2));
        // 24:00:00 is a valid Postgres time but past Arrow's Time64 range.
        let a: Time64MicrosecondArray = column(
            PgKind::Time,
            &[
                Some(&(MICROS_PER_DAY - 1).to_be_bytes()),
                Some(&MICROS_PER_DAY.to_be_bytes()),
            ],
        );
        assert_eq!(a.value_as_time(0).unwrap().to_string(), "23:59:59.999999");
        assert!(a.is_null(1));
        assert!(error(PgKind::Time, &(-1i64).to_be_bytes()).contains("outside"));
        assert!(error(PgKind::Time, &(MICROS_PER_DAY + 1).to_be_bytes()).contains("outside"));
    }

    #[test]
    fn network_addresses_and_timetz_as_postgres_prints_them() {
        let a: StringArray = column(
            PgKind::Inet,
            &[
                Some(&[2, 32, 0, 4, 192, 168, 0, 1]),
                Some(&[2, 24, 1, 4, 192, 168, 0, 0]),
                None,
            ],
        );
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            [Some("192.168.0.1"), Some("192.168.0.0/24"), None]
        );
        assert!(error(PgKind::Inet, &[2, 32, 0, 4]).contains("inet value of 4 bytes"));
        let a: StringArray = column(PgKind::MacAddr, &[Some(&[0xa, 0, 0x2b, 1, 2, 3]), None]);
        assert_eq!(a.value(0), "0a:00:2b:01:02:03");
        let a: StringArray = column(PgKind::MacAddr8, &[Some(&[1, 2, 3, 4, 5, 6, 7, 8])]);
        assert_eq!(a.value(0), "01:02:03:04:05:06:07:08");
        let mut timetz = 3_600_000_000i64.to_be_bytes().to_vec();
        timetz.extend_from_slice(&(-3600i32).to_be_bytes());
        let a: StringArray = column(PgKind::TimeTz, &[Some(&timetz), None]);
        assert_eq!(a.value(0), "01:00:00+01");
        assert!(a.is_null(1));
    }

    fn list(element: PgKind) -> PgKind {
        PgKind::Array(Box::new(element))
    }

    /// The list at `row` as its elements' display text, `None` for NULL elements.
    fn elements(a: &ListArray, row: usize) -> Vec<Option<String>> {
        let values = a.value(row);
        (0..values.len())
            .map(|i| {
                (!values.is_null(i))
                    .then(|| arrow::util::display::array_value_to_string(&values, i).unwrap())
            })
            .collect()
    }

    #[test]
    fn arrays_become_lists_with_null_and_empty_values_kept() {
        use self::array::tests::array;
        let one = 1i32.to_be_bytes();
        let two = (-2i32).to_be_bytes();
        let values = [
            array(&[3], 23, &[Some(&one), None, Some(&two)]),
            array(&[], 23, &[]),
            array(&[2, 2], 23, &[Some(&one), Some(&two), None, Some(&one)]),
        ];
        let a: ListArray = column(
            list(PgKind::Int4),
            &[Some(&values[0]), Some(&values[1]), None, Some(&values[2])],
        );
        assert_eq!(
            a.data_type(),
            &DataType::List(Arc::new(arrow::datatypes::Field::new(
                "item",
                DataType::Int32,
                true
            )))
        );
        let s = |v: &str| Some(v.to_string());
        assert_eq!(elements(&a, 0), [s("1"), None, s("-2")]);
        assert!(elements(&a, 1).is_empty() && a.is_valid(1));
        assert!(a.is_null(2));
        // Two dimensions, flattened in row-major order.
        assert_eq!(elements(&a, 3), [s("1"), s("-2"), None, s("1")]);
    }

    #[test]
    fn array_elements_use_their_own_decoders() {
        use self::array::tests::array;
        let kind = list(PgKind::Decimal {
            precision: 5,
            scale: 2,
        });
        let price = numeric(0, 0, 2, &[12, 5000]);
        let value = array(&[2], 1700, &[Some(&price), None]);
        let a: ListArray = column(kind, &[Some(&value)]);
        assert_eq!(elements(&a, 0), [Some("12.50".to_string()), None]);

        let value = array(&[2], 25, &[Some(b"a"), Some("é".as_bytes())]);
        let a: ListArray = column(list(PgKind::Text), &[Some(&value), None]);
        assert_eq!(
            elements(&a, 0),
            [Some("a".to_string()), Some("é".to_string())]
        );
        assert!(a.is_null(1));
    }

    #[test]
    fn array_errors_name_the_element_and_poison_only_when_needed() {
        use self::array::tests::array;
        // A bad header appends nothing: the column goes on.
        let mut rows = builder(&[list(PgKind::Int4)]);
        let err = rows.append(0, Some(&[0, 0, 0])).unwrap_err().to_string();
        assert!(err.contains("array value has 3 bytes"), "{err}");
        rows.append(0, None).unwrap();
        // A bad first element appends nothing either.
        let bad_first = array(&[1], 23, &[Some(&[1])]);
        let err = rows.append(0, Some(&bad_first)).unwrap_err().to_string();
        assert_eq!(
            err,
            "row 2, column 1 (\"c0\"): array element 1: int4 value has 1 bytes, expected 4"
        );
        rows.append(0, Some(&array(&[], 23, &[]))).unwrap();
        // A bad later element leaves the column unusable.
        let bad_second = array(&[2], 23, &[Some(&[0, 0, 0, 1]), Some(&[1])]);
        assert!(rows
            .append(0, Some(&bad_second))
            .unwrap_err()
            .to_string()
            .contains("array element 2"));
        let err = rows
            .append(0, None)
            .map(|_| ())
            .and_then(|()| rows.append(0, Some(&array(&[], 23, &[]))));
        assert!(err.unwrap_err().to_string().contains("earlier array value"));
        // A fresh batch starts clean.
        let batch = rows.finish();
        assert_eq!(batch.num_rows(), 3);
        rows.append(0, Some(&array(&[1], 23, &[Some(&[0, 0, 0, 7])])))
            .unwrap();
        let a = rows.finish();
        let a = a.column(0).as_any().downcast_ref::<ListArray>().unwrap();
        assert_eq!(elements(a, 0), [Some("7".to_string())]);
    }

    #[test]
    fn list_columns_count_their_elements_bytes() {
        use self::array::tests::array;
        let mut rows = builder(&[list(PgKind::Int8)]);
        let eight = 8i64.to_be_bytes();
        rows.append(
            0,
            Some(&array(&[3], 20, &[Some(&eight), None, Some(&eight)])),
        )
        .unwrap();
        // One offset for the row, three 8-byte elements.
        assert_eq!(rows.buffered_bytes(), 4 + 3 * 8);
        let mut rows = builder(&[list(PgKind::Text)]);
        rows.append(0, Some(&array(&[2], 25, &[Some(b"abc"), Some(b"de")])))
            .unwrap();
        assert_eq!(rows.buffered_bytes(), 4 + 2 * 4 + 5);
    }

    #[test]
    fn timestamps_shift_epoch_and_drop_infinity() {
        let values: [Option<&[u8]>; 6] = [
            Some(&0i64.to_be_bytes()),
            Some(&(-EPOCH_MICROS - 1).to_be_bytes()),
            Some(&1_000_001i64.to_be_bytes()),
            Some(&i64::MAX.to_be_bytes()),
            Some(&i64::MIN.to_be_bytes()),
            None,
        ];
        let a: TimestampMicrosecondArray = column(PgKind::Timestamp, &values);
        assert_eq!(
            a.data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, None)
        );
        assert_eq!(a.value(0), EPOCH_MICROS);
        assert_eq!(a.value(1), -1);
        assert_eq!(
            a.value_as_datetime(1).unwrap().to_string(),
            "1969-12-31 23:59:59.999999"
        );
        assert_eq!(
            a.value_as_datetime(2).unwrap().to_string(),
            "2000-01-01 00:00:01.000001"
        );
        assert!(a.is_null(3) && a.is_null(4) && a.is_null(5));

        let a: TimestampMicrosecondArray = column(PgKind::TimestampTz, &values);
        assert_eq!(
            a.data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert_eq!(a.value(0), EPOCH_MICROS);
        assert!(a.is_null(3) && a.is_null(4));

        // Postgres' last timestamp, 294276-12-31, is past what Arrow can hold: NULL. The last
        // one Arrow holds is kept.
        let last = 9_223_371_331_199_999_999i64;
        let arrow_last = i64::MAX - EPOCH_MICROS;
        let a: TimestampMicrosecondArray = column(
            PgKind::Timestamp,
            &[
                Some(&last.to_be_bytes()),
                Some(&arrow_last.to_be_bytes()),
                Some(&(arrow_last + 1).to_be_bytes()),
            ],
        );
        assert!(a.is_null(0) && a.is_null(2));
        assert_eq!(a.value(1), i64::MAX);
    }

    fn interval_bytes(micros: i64, days: i32, months: i32) -> Vec<u8> {
        let mut out = micros.to_be_bytes().to_vec();
        out.extend_from_slice(&days.to_be_bytes());
        out.extend_from_slice(&months.to_be_bytes());
        out
    }

    #[test]
    fn intervals() {
        let values = [
            interval_bytes(3_000_001, 2, 14),
            interval_bytes(-1, -2, -3),
            interval_bytes(i64::MAX, i32::MAX, i32::MAX),
            interval_bytes(i64::MIN, i32::MIN, i32::MIN),
        ];
        let mut input: Vec<Option<&[u8]>> = values.iter().map(|v| Some(&v[..])).collect();
        input.push(None);
        let a: IntervalMonthDayNanoArray = column(PgKind::Interval, &input);
        assert_eq!(a.value(0), IntervalMonthDayNano::new(14, 2, 3_000_001_000));
        assert_eq!(a.value(1), IntervalMonthDayNano::new(-3, -2, -1_000));
        assert!(a.is_null(2) && a.is_null(3) && a.is_null(4));
        // A time part beyond what i64 nanoseconds hold is NULL too; just below it is kept.
        let most = i64::MAX / 1000;
        let a: IntervalMonthDayNanoArray = column(
            PgKind::Interval,
            &[
                Some(&interval_bytes(most + 1, 0, 0)),
                Some(&interval_bytes(-most, 1, 2)),
            ],
        );
        assert!(a.is_null(0));
        assert_eq!(a.value(1), IntervalMonthDayNano::new(2, 1, -most * 1000));
    }

    #[test]
    fn uuids_are_canonical_lowercase_text() {
        let uuid: [u8; 16] = [
            0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38,
            0x0a, 0x11,
        ];
        let a: StringArray = column(
            PgKind::Uuid,
            &[Some(&uuid), Some(&[0; 16]), Some(&[0xff; 16]), None],
        );
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            [
                Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
                Some("00000000-0000-0000-0000-000000000000"),
                Some("ffffffff-ffff-ffff-ffff-ffffffffffff"),
                None
            ]
        );
    }

    #[test]
    fn rows_span_columns_and_batches() {
        let mut rows = builder(&[PgKind::Int4, PgKind::Text]);
        assert_eq!(
            rows.schema()
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>(),
            ["c0", "c1"]
        );
        for i in 0..10i32 {
            rows.append(0, Some(&i.to_be_bytes())).unwrap();
            assert_eq!(rows.len(), i as usize);
            rows.append(1, Some(i.to_string().as_bytes())).unwrap();
        }
        let first = rows.finish();
        assert_eq!(first.num_rows(), 10);
        assert_eq!(first.schema(), rows.schema());
        rows.append(0, None).unwrap();
        rows.append(1, Some(b"x")).unwrap();
        // Row numbers in errors count across batches.
        assert_eq!(
            rows.append(0, Some(&[1])).unwrap_err().to_string(),
            "row 12, column 1 (\"c0\"): int4 value has 1 bytes, expected 4"
        );
        let second = rows.finish();
        assert_eq!(second.num_rows(), 1);
        let text = second
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(text.value(0), "x");
        assert!(second.column(0).is_null(0));
    }

    #[test]
    fn fields_must_come_in_column_order() {
        let mut rows = builder(&[PgKind::Int4, PgKind::Bool]);
        let err = rows.append(1, None).unwrap_err();
        assert!(matches!(
            err,
            DecodeError::ColumnOutOfOrder {
                expected: 0,
                got: 1
            }
        ));
        rows.append(0, None).unwrap();
        assert!(rows.append(0, None).is_err());
        assert!(rows.append(2, None).is_err());
    }

    #[test]
    fn finish_drops_an_incomplete_row() {
        let mut rows = builder(&[PgKind::Int8, PgKind::Float8]);
        rows.append(0, Some(&1i64.to_be_bytes())).unwrap();
        rows.append(1, Some(&2f64.to_be_bytes())).unwrap();
        rows.append(0, Some(&3i64.to_be_bytes())).unwrap();
        let batch = rows.finish();
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(batch.column(0).len(), 1);
        assert_eq!(batch.column(1).len(), 1);
        // The next batch starts at column 0 again.
        rows.append(0, Some(&4i64.to_be_bytes())).unwrap();
        rows.append(1, None).unwrap();
        let batch = rows.finish();
        let ints = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(ints.value(0), 4);
    }

    #[test]
    fn empty_batches_and_columnless_results() {
        let mut rows = builder(&[PgKind::Uuid, PgKind::Interval]);
        let batch = rows.finish();
        assert_eq!(batch.num_rows(), 0);
        assert_eq!(batch.num_columns(), 2);

        let mut rows = builder(&[]);
        assert!(rows.append(0, None).is_err());
        rows.append_empty_row();
        rows.append_empty_row();
        assert_eq!(rows.len(), 2);
        let batch = rows.finish();
        assert_eq!((batch.num_rows(), batch.num_columns()), (2, 0));
    }

    #[test]
    fn oversized_batches_fail_instead_of_panicking() {
        let mut rows = builder(&[PgKind::Bytea]);
        let chunk = vec![7u8; MAX_ARRAY_DATA / 4];
        for _ in 0..4 {
            rows.append(0, Some(&chunk)).unwrap();
        }
        assert_eq!(rows.buffered_bytes(), MAX_ARRAY_DATA + 4 * 4);
        let err = rows.append(0, Some(&[1])).unwrap_err().to_string();
        assert!(err.starts_with("row 5, column 1 (\"c0\"): the column's values in this batch"));
        assert!(err.ends_with("read in batches of fewer rows"), "{err}");
        // A fresh batch has room again.
        assert_eq!(rows.finish().num_rows(), 4);
        rows.append(0, Some(&[1])).unwrap();

        let mut rows = builder(&[PgKind::Text, PgKind::Int8]);
        assert_eq!(rows.buffered_bytes(), 0);
        rows.append(0, Some(b"abc")).unwrap();
        rows.append(1, Some(&[0; 8])).unwrap();
        assert_eq!(rows.buffered_bytes(), 3 + 4 + 8);
    }

    #[test]
    fn builders_can_move_between_threads() {
        fn send<T: Send>() {}
        send::<RowsBuilder>();
        send::<CopyBinaryDecoder>();
        send::<DecodeError>();
    }

    #[test]
    fn every_kind_builds_its_schema_type() {
        let kinds = [
            PgKind::Bool,
            PgKind::Int2,
            PgKind::Int4,
            PgKind::Int8,
            PgKind::Oid,
            PgKind::Float4,
            PgKind::Float8,
            PgKind::Numeric,
            PgKind::Decimal {
                precision: 5,
                scale: -3,
            },
            PgKind::Text,
            PgKind::Bytea,
            PgKind::Date,
            PgKind::Time,
            PgKind::Timestamp,
            PgKind::TimestampTz,
            PgKind::Interval,
            PgKind::Uuid,
            PgKind::Json,
            PgKind::Jsonb,
            PgKind::Inet,
            PgKind::MacAddr,
            PgKind::MacAddr8,
            PgKind::TimeTz,
            list(PgKind::Interval),
            list(PgKind::Decimal {
                precision: 3,
                scale: 1,
            }),
        ];
        let mut rows = builder(&kinds);
        for col in 0..kinds.len() {
            rows.append(col, None).unwrap();
        }
        let batch = rows.finish();
        assert_eq!(batch.num_rows(), 1);
        for (i, kind) in kinds.iter().enumerate() {
            assert_eq!(
                batch.column(i).data_type(),
                &super::super::types::arrow_type(kind)
            );
            assert!(batch.column(i).is_null(0));
        }
    }
}
