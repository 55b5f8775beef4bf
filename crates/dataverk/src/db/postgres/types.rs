//! The type map of the Postgres read path: how each result column is read (decoded from its
//! binary wire form, or cast in SQL first) and the Arrow type it becomes.
//!
//! Types missing from the binary map are not lost: [`plan_for`] casts such a column in SQL
//! (to `text`, or `money` to `numeric`) and the cast value is decoded instead, so every type
//! comes back as exactly what Postgres prints for it.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, IntervalUnit, TimeUnit};
use tokio_postgres::types::{Kind, Type};

/// How one result column is decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// `timetz` → Utf8 as Postgres prints it (`13:45:30.5+02`): Arrow has no time of day with
    /// an offset, and moving it to UTC would change the time of day it names.
    TimeTz,
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
    /// `inet` and `cidr` → Utf8 as Postgres prints them (`10.0.0.1`, `10.0.0.0/8`, `::1`).
    Inet,
    /// `macaddr` → Utf8 (`08:00:2b:01:02:03`).
    MacAddr,
    /// `macaddr8` → Utf8 (`08:00:2b:ff:fe:01:02:03`).
    MacAddr8,
    /// An array of this element kind → List of the element's Arrow type. Arrays of more than
    /// one dimension are flattened in row-major order (Postgres' own storage order).
    Array(Box<PgKind>),
}

/// How one result column is read: optionally cast in SQL, then decoded from binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnPlan {
    /// The SQL type the column is cast to before it is sent (`text`, `numeric`, `text[]`, …);
    /// `None` when its own binary form is decoded.
    pub cast: Option<&'static str>,
    /// How the (cast) column's binary values are decoded.
    pub kind: PgKind,
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
        Type::TIMETZ => PgKind::TimeTz,
        Type::INTERVAL => PgKind::Interval,
        Type::UUID => PgKind::Uuid,
        Type::JSON => PgKind::Json,
        Type::JSONB => PgKind::Jsonb,
        Type::INET | Type::CIDR => PgKind::Inet,
        Type::MACADDR => PgKind::MacAddr,
        Type::MACADDR8 => PgKind::MacAddr8,
        _ => return non_builtin_kind(ty, type_modifier),
    };
    Some(kind)
}

/// How a column of this type and type modifier is read: its binary form when [`kind_for`]
/// knows it, else a cast in SQL to a type whose binary form is decoded. Never fails: a type
/// nobody foresaw is read as the text Postgres prints for it.
pub fn plan_for(ty: &Type, type_modifier: i32) -> ColumnPlan {
    if let Some(kind) = kind_for(ty, type_modifier) {
        return ColumnPlan { cast: None, kind };
    }
    let (cast, kind) = match *ty {
        // money's binary form counts in units of the server's lc_monetary fraction digits,
        // which the client cannot see; its text form is locale-formatted (`$1,000.00`). The
        // server's cast to numeric gives the exact amount whatever the locale.
        Type::MONEY => ("numeric", PgKind::Numeric),
        Type::MONEY_ARRAY => ("numeric[]", PgKind::Array(Box::new(PgKind::Numeric))),
        _ => match ty.kind() {
            Kind::Domain(base) => return plan_for(base, -1),
            // Each element as its text, so the array stays a list.
            Kind::Array(_) => ("text[]", PgKind::Array(Box::new(PgKind::Text))),
            _ => ("text", PgKind::Text),
        },
    };
    ColumnPlan {
        cast: Some(cast),
        kind,
    }
}

/// Arrays, and types without a fixed OID whose binary form we still know.
fn non_builtin_kind(ty: &Type, type_modifier: i32) -> Option<PgKind> {
    match ty.kind() {
        // array_send writes every element with its element type's send function. An array
        // column's type modifier is its elements' (numeric(10,2)[] has numeric(10,2)'s).
        Kind::Array(element) => match kind_for(element, type_modifier)? {
            // Arrays of arrays do not exist in Postgres; this only guards the recursion.
            PgKind::Array(_) => None,
            element => Some(PgKind::Array(Box::new(element))),
        },
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
pub fn arrow_type(kind: &PgKind) -> DataType {
    match kind {
        PgKind::Bool => DataType::Boolean,
        PgKind::Int2 => DataType::Int16,
        PgKind::Int4 => DataType::Int32,
        PgKind::Int8 => DataType::Int64,
        PgKind::Oid => DataType::UInt32,
        PgKind::Float4 => DataType::Float32,
        PgKind::Float8 => DataType::Float64,
        PgKind::Decimal { precision, scale } => DataType::Decimal128(*precision, *scale),
        PgKind::Numeric
        | PgKind::Text
        | PgKind::TimeTz
        | PgKind::Uuid
        | PgKind::Json
        | PgKind::Jsonb
        | PgKind::Inet
        | PgKind::MacAddr
        | PgKind::MacAddr8 => DataType::Utf8,
        PgKind::Bytea => DataType::Binary,
        PgKind::Date => DataType::Date32,
        PgKind::Time => DataType::Time64(TimeUnit::Microsecond),
        PgKind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        PgKind::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC"))),
        PgKind::Interval => DataType::Interval(IntervalUnit::MonthDayNano),
        // Elements may be NULL; the field is named "item", as Arrow and pyarrow name it.
        PgKind::Array(element) => {
            DataType::List(Arc::new(Field::new_list_field(arrow_type(element), true)))
        }
    }
}

/// The Arrow field for a column; always nullable, because a row description does not say
/// whether a result column can be NULL.
pub fn arrow_field(name: &str, kind: &PgKind) -> Field {
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
            (Type::TIMETZ, PgKind::TimeTz, DataType::Utf8),
            (Type::INET, PgKind::Inet, DataType::Utf8),
            (Type::CIDR, PgKind::Inet, DataType::Utf8),
            (Type::MACADDR, PgKind::MacAddr, DataType::Utf8),
            (Type::MACADDR8, PgKind::MacAddr8, DataType::Utf8),
        ];
        for (ty, kind, data_type) in cases {
            assert_eq!(kind_for(&ty, -1), Some(kind.clone()), "{ty}");
            assert_eq!(
                plan_for(&ty, -1),
                ColumnPlan {
                    cast: None,
                    kind: kind.clone()
                }
            );
            let field = arrow_field("c", &kind);
            assert_eq!(field.data_type(), &data_type, "{ty}");
            assert!(field.is_nullable());
            assert_eq!(field.name(), "c");
        }
    }

    #[test]
    fn other_types_are_cast_to_text_in_sql() {
        for ty in [
            Type::CHAR,
            Type::BIT,
            Type::VARBIT,
            Type::POINT,
            Type::INT4_RANGE,
            Type::TS_VECTOR,
            Type::RECORD,
            Type::VOID,
            Type::REGCLASS,
            Type::PG_LSN,
        ] {
            assert_eq!(kind_for(&ty, -1), None, "{ty}");
            assert_eq!(
                plan_for(&ty, -1),
                ColumnPlan {
                    cast: Some("text"),
                    kind: PgKind::Text
                },
                "{ty}"
            );
        }
    }

    #[test]
    fn money_is_cast_to_numeric() {
        assert_eq!(kind_for(&Type::MONEY, -1), None);
        assert_eq!(
            plan_for(&Type::MONEY, -1),
            ColumnPlan {
                cast: Some("numeric"),
                kind: PgKind::Numeric
            }
        );
        assert_eq!(
            plan_for(&Type::MONEY_ARRAY, -1),
            ColumnPlan {
                cast: Some("numeric[]"),
                kind: PgKind::Array(Box::new(PgKind::Numeric))
            }
        );
    }

    #[test]
    fn arrays_are_lists_of_their_elements() {
        let list = |kind: PgKind| PgKind::Array(Box::new(kind));
        assert_eq!(kind_for(&Type::INT4_ARRAY, -1), Some(list(PgKind::Int4)));
        assert_eq!(kind_for(&Type::TEXT_ARRAY, -1), Some(list(PgKind::Text)));
        assert_eq!(kind_for(&Type::INET_ARRAY, -1), Some(list(PgKind::Inet)));
        assert_eq!(
            kind_for(&Type::TIMESTAMPTZ_ARRAY, -1),
            Some(list(PgKind::TimestampTz))
        );
        // The column's type modifier is its elements'.
        assert_eq!(
            kind_for(&Type::NUMERIC_ARRAY, numeric_typmod(10, 2)),
            Some(list(PgKind::Decimal {
                precision: 10,
                scale: 2
            }))
        );
        assert_eq!(
            arrow_type(&list(PgKind::Int8)),
            DataType::List(Arc::new(Field::new("item", DataType::Int64, true)))
        );
        // An array whose elements have no binary decoder becomes a list of their text.
        for ty in [Type::POINT_ARRAY, Type::CHAR_ARRAY, Type::INT4_RANGE_ARRAY] {
            assert_eq!(kind_for(&ty, -1), None, "{ty}");
            assert_eq!(
                plan_for(&ty, -1),
                ColumnPlan {
                    cast: Some("text[]"),
                    kind: list(PgKind::Text)
                },
                "{ty}"
            );
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
                &PgKind::Decimal {
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
        assert_eq!(plan_for(&hstore, -1).cast, Some("text"));
        let moods = Type::new("_mood".into(), 91_239, Kind::Array(mood), "public".into());
        assert_eq!(
            kind_for(&moods, -1),
            Some(PgKind::Array(Box::new(PgKind::Text)))
        );
        let cash = Type::new(
            "cash".into(),
            91_240,
            Kind::Domain(Type::MONEY),
            "public".into(),
        );
        assert_eq!(plan_for(&cash, -1).cast, Some("numeric"));
        let spot = Type::new(
            "spot".into(),
            91_241,
            Kind::Domain(Type::POINT),
            "public".into(),
        );
        assert_eq!(plan_for(&spot, -1).cast, Some("text"));
    }
}
