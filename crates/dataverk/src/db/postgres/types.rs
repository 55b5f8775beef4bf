//! The type map of the Postgres read path: which Postgres column types are decoded from their
//! binary wire form, and the Arrow type each one becomes.
//!
//! Types missing from the map are not lost: the connector casts such a column to `text` in SQL
//! and decodes it as [`PgKind::Text`], so the map only has to cover types whose binary form we
//! decode ourselves.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, IntervalUnit, TimeUnit};
use tokio_postgres::types::{Kind, Type};

/// How one result column is decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PgKind {
    /// `bool` → Boolean.
    Bool,
    /// `int2` → Int16.
    Int2,
    /// `int4` → Int32.
    Int4,
    /// `int8` → Int64.
    Int8,
    /// `oid` → UInt32.
    Oid,
    /// `float4` → Float32.
    Float4,
    /// `float8` → Float64.
    Float8,
    /// `numeric` without a usable type modifier → Utf8 holding the exact decimal text.
    Numeric,
    /// `numeric(precision, scale)` → Decimal128(precision, scale).
    Decimal {
        /// Total number of significant decimal digits, 1..=38.
        precision: u8,
        /// Digits after the decimal point; negative rounds to tens, hundreds, ….
        scale: i8,
    },
    /// Types sent as plain text (`text`, `varchar`, `char(n)`, `name`, `xml`, enums, …) → Utf8.
    Text,
    /// `bytea` → Binary.
    Bytea,
    /// `date` → Date32.
    Date,
    /// `time` → Time64(Microsecond).
    Time,
    /// `timestamp` → Timestamp(Microsecond, None).
    Timestamp,
    /// `timestamptz` → Timestamp(Microsecond, "UTC").
    TimestampTz,
    /// `interval` → Interval(MonthDayNano).
    Interval,
    /// `uuid` → Utf8 in the canonical lowercase 8-4-4-4-12 form.
    Uuid,
    /// `json` → Utf8.
    Json,
    /// `jsonb` → Utf8.
    Jsonb,
}

/// Largest precision an Arrow Decimal128 can hold.
const DECIMAL128_MAX_PRECISION: i32 = 38;

/// Postgres adds this (VARHDRSZ) to every varlena type modifier so that valid modifiers are
/// never confused with -1, "no modifier".
const VARHDRSZ: i32 = 4;

/// The decoding for a column of this Postgres type and type modifier; `None` when the binary
/// form is not supported, in which case the caller casts the column to text in SQL and then
/// decodes it as [`PgKind::Text`].
pub fn kind_for(ty: &Type, type_modifier: i32) -> Option<PgKind> {
    let kind = match *ty {
        Type::BOOL => PgKind::Bool,
        Type::INT2 => PgKind::Int2,
        Type::INT4 => PgKind::Int4,
        Type::INT8 => PgKind::Int8,
        Type::OID => PgKind::Oid,
        Type::FLOAT4 => PgKind::Float4,
        Type::FLOAT8 => PgKind::Float8,
        Type::NUMERIC => numeric_kind(type_modifier),
        // All of these are sent in binary as the plain text bytes in the client encoding.
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::XML => {
            PgKind::Text
        }
        // `"char"` is deliberately absent: its binary form is one raw byte, where the text form
        // prints the zero byte as an empty string and bytes above 127 as octal escapes, so
        // only the server's cast to text gives its true text.
        Type::BYTEA => PgKind::Bytea,
        Type::DATE => PgKind::Date,
        Type::TIME => PgKind::Time,
        Type::TIMESTAMP => PgKind::Timestamp,
        Type::TIMESTAMPTZ => PgKind::TimestampTz,
        Type::INTERVAL => PgKind::Interval,
        Type::UUID => PgKind::Uuid,
        Type::JSON => PgKind::Json,
        Type::JSONB => PgKind::Jsonb,
        _ => return non_builtin_kind(ty),
    };
    Some(kind)
}

/// Types that have no fixed OID but whose binary form we still know.
fn non_builtin_kind(ty: &Type) -> Option<PgKind> {
    match ty.kind() {
        // enum_send writes the label as text.
        Kind::Enum(_) => Some(PgKind::Text),
        // A domain is sent exactly like its base type. Its own type modifier is not in the row
        // description, so a `numeric(p, s)` domain falls back to exact text, which loses nothing.
        Kind::Domain(base) => kind_for(base, -1),
        // citext (an extension, so its OID varies) reuses textsend.
        Kind::Simple if ty.name() == "citext" && Type::from_oid(ty.oid()).is_none() => {
            Some(PgKind::Text)
        }
        _ => None,
    }
}

/// Decimal128 when the `numeric` type modifier fits Arrow's limits, exact text otherwise.
fn numeric_kind(type_modifier: i32) -> PgKind {
    if type_modifier < VARHDRSZ {
        return PgKind::Numeric;
    }
    let packed = type_modifier - VARHDRSZ;
    let precision = (packed >> 16) & 0xffff;
    // Since Postgres 15 the scale is an 11-bit two's complement number (-1000..=1000), so that
    // numeric(2, -3) rounds to thousands and numeric(2, 5) holds values below 0.001.
    let scale = ((packed & 0x7ff) ^ 1024) - 1024;
    // Arrow's Decimal128 allows any negative scale but no positive scale above the precision.
    let fits = (1..=DECIMAL128_MAX_PRECISION).contains(&precision)
        && scale <= precision
        && scale >= i32::from(i8::MIN);
    if !fits {
        return PgKind::Numeric;
    }
    PgKind::Decimal {
        precision: precision as u8,
        scale: scale as i8,
    }
}

/// The Arrow data type a column of this kind is decoded into.
pub fn arrow_type(kind: PgKind) -> DataType {
    match kind {
        PgKind::Bool => DataType::Boolean,
        PgKind::Int2 => DataType::Int16,
        PgKind::Int4 => DataType::Int32,
        PgKind::Int8 => DataType::Int64,
        PgKind::Oid => DataType::UInt32,
        PgKind::Float4 => DataType::Float32,
        PgKind::Float8 => DataType::Float64,
        PgKind::Decimal { precision, scale } => DataType::Decimal128(precision, scale),
        PgKind::Numeric | PgKind::Text | PgKind::Uuid | PgKind::Json | PgKind::Jsonb => {
            DataType::Utf8
        }
        PgKind::Bytea => DataType::Binary,
        PgKind::Date => DataType::Date32,
        PgKind::Time => DataType::Time64(TimeUnit::Microsecond),
        PgKind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        PgKind::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC"))),
        PgKind::Interval => DataType::Interval(IntervalUnit::MonthDayNano),
    }
}

/// The Arrow field for a column; always nullable, because a row description does not say
/// whether a result column can be NULL.
pub fn arrow_field(name: &str, kind: PgKind) -> Field {
    Field::new(name, arrow_type(kind), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The type modifier Postgres stores for `numeric(precision, scale)`.
    fn numeric_typmod(precision: i32, scale: i32) -> i32 {
        ((precision << 16) | (scale & 0x7ff)) + VARHDRSZ
    }

    #[test]
    fn scalar_types_map_to_their_kinds() {
        let cases = [
            (Type::BOOL, PgKind::Bool, DataType::Boolean),
            (Type::INT2, PgKind::Int2, DataType::Int16),
            (Type::INT4, PgKind::Int4, DataType::Int32),
            (Type::INT8, PgKind::Int8, DataType::Int64),
            (Type::OID, PgKind::Oid, DataType::UInt32),
            (Type::FLOAT4, PgKind::Float4, DataType::Float32),
            (Type::FLOAT8, PgKind::Float8, DataType::Float64),
            (Type::NUMERIC, PgKind::Numeric, DataType::Utf8),
            (Type::TEXT, PgKind::Text, DataType::Utf8),
            (Type::VARCHAR, PgKind::Text, DataType::Utf8),
            (Type::BPCHAR, PgKind::Text, DataType::Utf8),
            (Type::NAME, PgKind::Text, DataType::Utf8),
            (Type::UNKNOWN, PgKind::Text, DataType::Utf8),
            (Type::XML, PgKind::Text, DataType::Utf8),
            (Type::BYTEA, PgKind::Bytea, DataType::Binary),
            (Type::DATE, PgKind::Date, DataType::Date32),
            (
                Type::TIME,
                PgKind::Time,
                DataType::Time64(TimeUnit::Microsecond),
            ),
            (
                Type::TIMESTAMP,
                PgKind::Timestamp,
                DataType::Timestamp(TimeUnit::Microsecond, None),
            ),
            (
                Type::TIMESTAMPTZ,
                PgKind::TimestampTz,
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            ),
            (
                Type::INTERVAL,
                PgKind::Interval,
                DataType::Interval(IntervalUnit::MonthDayNano),
            ),
            (Type::UUID, PgKind::Uuid, DataType::Utf8),
            (Type::JSON, PgKind::Json, DataType::Utf8),
            (Type::JSONB, PgKind::Jsonb, DataType::Utf8),
        ];
        for (ty, kind, data_type) in cases {
            assert_eq!(kind_for(&ty, -1), Some(kind), "{ty}");
            let field = arrow_field("c", kind);
            assert_eq!(field.data_type(), &data_type, "{ty}");
            assert!(field.is_nullable());
            assert_eq!(field.name(), "c");
        }
    }

    #[test]
    fn unsupported_types_are_cast_to_text_by_the_caller() {
        for ty in [
            Type::CHAR,
            Type::TIMETZ,
            Type::MONEY,
            Type::INET,
            Type::CIDR,
            Type::BIT,
            Type::VARBIT,
            Type::POINT,
            Type::INT4_ARRAY,
            Type::TEXT_ARRAY,
            Type::INT4_RANGE,
            Type::TS_VECTOR,
            Type::RECORD,
        ] {
            assert_eq!(kind_for(&ty, -1), None, "{ty}");
        }
    }

    #[test]
    fn numeric_with_typmod_is_decimal() {
        assert_eq!(
            kind_for(&Type::NUMERIC, numeric_typmod(10, 2)),
            Some(PgKind::Decimal {
                precision: 10,
                scale: 2
            })
        );
        assert_eq!(
            kind_for(&Type::NUMERIC, numeric_typmod(38, 0)),
            Some(PgKind::Decimal {
                precision: 38,
                scale: 0
            })
        );
        assert_eq!(
            kind_for(&Type::NUMERIC, numeric_typmod(38, 38)),
            Some(PgKind::Decimal {
                precision: 38,
                scale: 38
            })
        );
        assert_eq!(
            arrow_field(
                "p",
                PgKind::Decimal {
                    precision: 10,
                    scale: 2
                }
            )
            .data_type(),
            &DataType::Decimal128(10, 2)
        );
    }

    #[test]
    fn numeric_with_negative_scale_is_decimal() {
        assert_eq!(
            kind_for(&Type::NUMERIC, numeric_typmod(5, -3)),
            Some(PgKind::Decimal {
                precision: 5,
                scale: -3
            })
        );
        assert_eq!(
            kind_for(&Type::NUMERIC, numeric_typmod(1, -128)),
            Some(PgKind::Decimal {
                precision: 1,
                scale: -128
            })
        );
    }

    #[test]
    fn numeric_beyond_decimal128_is_text() {
        for typmod in [
            -1,
            0,
            3,
            numeric_typmod(39, 2),
            numeric_typmod(1000, 0),
            // Postgres 15 allows a scale above the precision; Arrow does not.
            numeric_typmod(2, 5),
            numeric_typmod(10, -129),
            numeric_typmod(10, -1000),
        ] {
            assert_eq!(
                kind_for(&Type::NUMERIC, typmod),
                Some(PgKind::Numeric),
                "{typmod}"
            );
        }
    }

    #[test]
    fn extension_enum_and_domain_types() {
        let citext = Type::new("citext".into(), 91_234, Kind::Simple, "public".into());
        assert_eq!(kind_for(&citext, -1), Some(PgKind::Text));
        let mood = Type::new(
            "mood".into(),
            91_235,
            Kind::Enum(vec!["sad".into(), "happy".into()]),
            "public".into(),
        );
        assert_eq!(kind_for(&mood, -1), Some(PgKind::Text));
        let amount = Type::new(
            "amount".into(),
            91_236,
            Kind::Domain(Type::NUMERIC),
            "public".into(),
        );
        assert_eq!(kind_for(&amount, -1), Some(PgKind::Numeric));
        let email = Type::new(
            "email".into(),
            91_237,
            Kind::Domain(citext),
            "public".into(),
        );
        assert_eq!(kind_for(&email, -1), Some(PgKind::Text));
        let hstore = Type::new("hstore".into(), 91_238, Kind::Simple, "public".into());
        assert_eq!(kind_for(&hstore, -1), None);
    }
}
