//! The type fidelity suite: a fixture table with a column for every Postgres type a data job
//! meets, filled with its edge values, read through every read path and compared value by value
//! with an oracle computed by Postgres itself (its printed text, or numbers it derives from the
//! value, such as days since 1970), never with our own decoding.

mod types_support;

use arrow::datatypes::{DataType, Field, IntervalUnit, TimeUnit};
use serde_json::Value;
use std::sync::Arc;
use types_support::*;

/// How Postgres computes the expected value of a column `{c}` (a SQL expression yielding text,
/// or NULL where Arrow must hold NULL).
#[derive(Clone, Copy, Debug)]
enum Oracle {
    /// What Postgres prints: the type's output function, through `format('%s', …)`.
    Printed,
    /// `::text`, the same for numbers and booleans.
    Text,
    /// A numeric's text, NULL for NaN (a Decimal128 cannot hold it).
    Decimal,
    /// money as the number psql prints, without its currency symbol and digit separators.
    Money,
    /// bytea as lowercase hex.
    Hex,
    /// Days since 1970-01-01; NULL for ±infinity.
    Days,
    /// Microseconds since midnight; NULL for 24:00:00.
    TimeMicros,
    /// Microseconds since 1970-01-01 00:00 of a timestamp; NULL for ±infinity and past Arrow's
    /// i64 range.
    EpochMicros,
    /// The same for a timestamptz, counted in UTC.
    EpochMicrosUtc,
    /// "months days nanoseconds" from EXTRACT; NULL when the nanoseconds overflow i64.
    Interval,
    /// An array: the element oracle applied to each element, flattened in row-major order.
    Each(&'static Oracle),
}

impl Oracle {
    /// The oracle as SQL over the value `c`; yields text (jsonb for arrays).
    fn sql(self, c: &str) -> String {
        let expr = match self {
            Oracle::Printed => format!("format('%s', {c})"),
            Oracle::Text => format!("{c}::text"),
            Oracle::Decimal => format!("CASE WHEN {c} = 'NaN' THEN NULL ELSE {c}::text END"),
            Oracle::Money => format!("regexp_replace({c}::text, '[$,]', '', 'g')"),
            Oracle::Hex => format!("encode({c}, 'hex')"),
            Oracle::Days => {
                format!("CASE WHEN isfinite({c}) THEN ({c} - DATE '1970-01-01')::text END")
            }
            Oracle::TimeMicros => format!(
                "CASE WHEN {c} < TIME '24:00' THEN (extract(epoch FROM {c}) * 1000000)::bigint::text END"
            ),
            Oracle::EpochMicros | Oracle::EpochMicrosUtc => {
                // Whole days plus the time of day, in numeric: exact where EXTRACT(epoch) of
                // a timestamp near Arrow's limit is not.
                let local = if matches!(self, Oracle::EpochMicrosUtc) {
                    format!("({c} AT TIME ZONE 'UTC')")
                } else {
                    c.to_string()
                };
                let micros = format!(
                    "(({local}::date - DATE '1970-01-01')::numeric * 86400000000 \
                     + extract(epoch FROM {local}::time) * 1000000)"
                );
                format!(
                    "CASE WHEN isfinite({c}) AND {micros} <= {max} THEN {micros}::bigint::text END",
                    max = i64::MAX
                )
            }
            Oracle::Interval => {
                let micros = format!(
                    "(extract(hour FROM {c}) * 3600000000 + extract(minute FROM {c}) * 60000000 \
                     + extract(microseconds FROM {c}))"
                );
                format!(
                    "CASE WHEN abs({micros}) * 1000 <= {max} THEN \
                     (extract(year FROM {c}) * 12 + extract(month FROM {c}))::bigint::text || ' ' \
                     || extract(day FROM {c})::bigint::text || ' ' || ({micros} * 1000)::bigint::text END",
                    max = i64::MAX
                )
            }
            Oracle::Each(element) => {
                return format!(
                    "CASE WHEN {c} IS NULL THEN NULL ELSE coalesce((SELECT jsonb_agg({} ORDER BY n) \
                     FROM unnest({c}) WITH ORDINALITY AS u(e, n)), '[]'::jsonb) END",
                    element.sql("e")
                )
            }
        };
        // num_nulls, not IS NULL: a composite whose fields are all NULL IS NULL, yet is a value.
        format!("CASE WHEN num_nulls({c}) = 1 THEN NULL ELSE {expr} END")
    }
}

/// One fixture column: its SQL type, the values it holds (SQL literals; the rows past them are
/// NULL), the Arrow type it must read as, and how Postgres says what each value must be.
struct Case {
    name: &'static str,
    sql_type: &'static str,
    values: &'static [&'static str],
    arrow: DataType,
    oracle: Oracle,
    /// Lowest server_version_num that has the type or values.
    since: u32,
}

fn case(
    name: &'static str,
    sql_type: &'static str,
    values: &'static [&'static str],
    arrow: DataType,
    oracle: Oracle,
) -> Case {
    Case {
        name,
        sql_type,
        values,
        arrow,
        oracle,
        since: 0,
    }
}

fn list(element: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", element, true)))
}

fn micros_utc() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

const PRINTED: Oracle = Oracle::Printed;
const TEXT: Oracle = Oracle::Text;

/// Every type with its edge values. Literals are SQL, cast to the column type on insert.
fn cases() -> Vec<Case> {
    use DataType::*;
    let utf8 = || Utf8;
    vec![
        case("int2", "int2", &["-32768", "32767", "0"], Int16, TEXT),
        case(
            "int4",
            "int4",
            &["-2147483648", "2147483647", "0"],
            Int32,
            TEXT,
        ),
        case(
            "int8",
            "int8",
            &["-9223372036854775808", "9223372036854775807", "0"],
            Int64,
            TEXT,
        ),
        case("oid", "oid", &["0", "4294967295", "'26'"], UInt32, TEXT),
        case(
            "float4",
            "float4",
            &[
                "'NaN'",
                "'Infinity'",
                "'-Infinity'",
                "'-0'",
                "'1.17549435e-38'",
                "'1e-45'",
                "'3.4028235e+38'",
                "'0.1'",
            ],
            Float32,
            TEXT,
        ),
        case(
            "float8",
            "float8",
            &[
                "'NaN'",
                "'Infinity'",
                "'-Infinity'",
                "'-0'",
                "'2.2250738585072014e-308'",
                "'5e-324'",
                "'1.7976931348623157e+308'",
                "'0.1'",
            ],
            Float64,
            TEXT,
        ),
        case("bool", "bool", &["true", "false"], Boolean, TEXT),
        case(
            "numeric",
            "numeric",
            &[
                "'NaN'",
                "'Infinity'",
                "'-Infinity'",
                "0",
                "'-0.000001'",
                "'123456789012345678901234567890.123456789012345678901234567890'",
                "'1e-100'",
                "'1e300'",
                "'1.10'",
            ],
            utf8(),
            TEXT,
        ),
        case(
            "numeric_10_2",
            "numeric(10,2)",
            &["'12345678.91'", "'-0.01'", "0", "'NaN'", "'1.5'"],
            Decimal128(10, 2),
            Oracle::Decimal,
        ),
        case(
            "numeric_38_0",
            "numeric(38,0)",
            &[
                "'99999999999999999999999999999999999999'",
                "'-99999999999999999999999999999999999999'",
            ],
            Decimal128(38, 0),
            Oracle::Decimal,
        ),
        case(
            "numeric_38_38",
            "numeric(38,38)",
            &[
                "'0.99999999999999999999999999999999999999'",
                "'-0.00000000000000000000000000000000000001'",
            ],
            Decimal128(38, 38),
            Oracle::Decimal,
        ),
        case(
            "numeric_40_5",
            "numeric(40,5)",
            &["'12345678901234567890123456789012345.12345'", "'NaN'"],
            utf8(),
            TEXT,
        ),
        Case {
            since: 150_000,
            ..case(
                "numeric_5_neg3",
                "numeric(5,-3)",
                &["12345678", "'-99999000'"],
                Decimal128(5, -3),
                Oracle::Decimal,
            )
        },
        Case {
            since: 150_000,
            ..case("numeric_3_5", "numeric(3,5)", &["'0.00123'"], utf8(), TEXT)
        },
        case(
            "money",
            "money",
            &[
                "'12.34'",
                "'-92233720368547758.08'",
                "'92233720368547758.07'",
                "0",
            ],
            utf8(),
            Oracle::Money,
        ),
        case(
            "text",
            "text",
            &[
                "''",
                "'héllo wörld'",
                "E'line\\nbreak\\ttab \\\\ back'",
                "'😀 emoji'",
                "'quote '' and \"double\"'",
                "repeat('x', 100000)",
            ],
            utf8(),
            PRINTED,
        ),
        case("varchar", "varchar(5)", &["'abc'", "''"], utf8(), PRINTED),
        case(
            "bpchar",
            "char(5)",
            &["'ab'", "''", "'abcde'"],
            utf8(),
            PRINTED,
        ),
        case(
            "name",
            "name",
            &["'pg_class'", "'Mixed Case'"],
            utf8(),
            PRINTED,
        ),
        case("citext", "citext", &["'MiXeD'", "''"], utf8(), PRINTED),
        case("char1", "\"char\"", &["'a'", "''", "'\\'"], utf8(), PRINTED),
        case(
            "bytea",
            "bytea",
            &["'\\x'", "'\\x00ff10'", "decode(repeat('ab', 5000), 'hex')"],
            Binary,
            Oracle::Hex,
        ),
        case(
            "uuid",
            "uuid",
            &[
                "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'",
                "'00000000-0000-0000-0000-000000000000'",
                "'ffffffff-ffff-ffff-ffff-ffffffffffff'",
            ],
            utf8(),
            PRINTED,
        ),
        case(
            "json",
            "json",
            &[
                r#"'{"b": 1, "a": [1, 2.50, "x"]}'"#,
                r#"'"str"'"#,
                "'null'",
                r#"'  {"spaced" :  true }  '"#,
            ],
            utf8(),
            PRINTED,
        ),
        case(
            "jsonb",
            "jsonb",
            &[
                r#"'{"b": 1, "a": [1, 2.50, "x"]}'"#,
                r#"'"str"'"#,
                "'null'",
                r#"'{"k": "\u00e9 \\n"}'"#,
            ],
            utf8(),
            PRINTED,
        ),
        case(
            "inet",
            "inet",
            &[
                "'192.168.0.1'",
                "'10.0.0.1/8'",
                "'::1'",
                "'2001:db8::1/64'",
                "'::ffff:1.2.3.4'",
                "'::1.2.3.4'",
                "'0.0.0.0/0'",
                "'1:0:0:2:0:0:0:3'",
                "'fe80:0:0:0:1:0:0:1/10'",
            ],
            utf8(),
            PRINTED,
        ),
        case(
            "cidr",
            "cidr",
            &[
                "'10.0.0.0/8'",
                "'2001:db8::/32'",
                "'192.168.1.1/32'",
                "'::/0'",
                "'1.2.3.4'",
            ],
            utf8(),
            PRINTED,
        ),
        case(
            "macaddr",
            "macaddr",
            &["'08:00:2B:01:02:03'", "'0800.2b01.0204'"],
            utf8(),
            PRINTED,
        ),
        case(
            "macaddr8",
            "macaddr8",
            &["'08:00:2b:01:02:03:04:05'"],
            utf8(),
            PRINTED,
        ),
        case(
            "date",
            "date",
            &[
                "'2024-02-29'",
                "'1970-01-01'",
                "'1969-12-31'",
                "'0001-01-01'",
                "'0044-03-15 BC'",
                "'4713-11-24 BC'",
                "'9999-12-31'",
                "'10000-01-01'",
                "'5874897-12-31'",
                "'infinity'",
                "'-infinity'",
            ],
            Date32,
            Oracle::Days,
        ),
        case(
            "time",
            "time",
            &[
                "'00:00:00'",
                "'23:59:59.999999'",
                "'24:00:00'",
                "'13:45:30.5'",
            ],
            Time64(TimeUnit::Microsecond),
            Oracle::TimeMicros,
        ),
        case(
            "timetz",
            "timetz",
            &[
                "'13:45:30.5+02'",
                "'00:00:00-05:30:15'",
                "'24:00:00+00'",
                "'23:59:59.999999-15:59'",
                "'12:00:00.000120+09:30'",
            ],
            utf8(),
            PRINTED,
        ),
        case(
            "timestamp",
            "timestamp",
            &[
                "'2024-02-29 12:34:56.789012'",
                "'1970-01-01 00:00:00'",
                "'1969-12-31 23:59:59.999999'",
                "'0001-01-01 00:00:00'",
                "'0044-03-15 12:00:00 BC'",
                "'4713-11-24 00:00:00 BC'",
                "'10000-01-01 00:00:00'",
                "'294247-01-10 04:00:54.775807'",
                "'294247-01-10 04:00:54.775808'",
                "'294276-12-31 23:59:59.999999'",
                "'infinity'",
                "'-infinity'",
            ],
            DataType::Timestamp(TimeUnit::Microsecond, None),
            Oracle::EpochMicros,
        ),
        case(
            "timestamptz",
            "timestamptz",
            &[
                "'2024-02-29 12:34:56.789012+05:30'",
                "'1970-01-01 00:00:00+00'",
                "'0001-01-01 00:00:00+00'",
                "'0044-03-15 12:00:00+00 BC'",
                "'12345-06-07 08:09:10-08'",
                "'294276-12-31 23:59:59.999999+00'",
                "'infinity'",
                "'-infinity'",
            ],
            micros_utc(),
            Oracle::EpochMicrosUtc,
        ),
        case(
            "interval",
            "interval",
            &[
                "'1 year 2 months 3 days 04:05:06.789'",
                "'-1 mon -2 days +03:00'",
                "'0'",
                "'-00:30:00.000001'",
                "'178000000 years'",
                "'-178000000 years'",
                "'2562047 hours'",
                "'2562048 hours'",
                "'2147483647 days'",
            ],
            DataType::Interval(IntervalUnit::MonthDayNano),
            Oracle::Interval,
        ),
        case("mood", "mood", &["'sad'", "'happy'"], utf8(), PRINTED),
        case("posint", "posint", &["1", "2147483647"], Int32, TEXT),
        case(
            "dollars",
            "dollars",
            &["'12.3'", "'-0.01'"],
            Decimal128(10, 2),
            Oracle::Decimal,
        ),
        case("email", "email", &["'A@Example.org'"], utf8(), PRINTED),
        // Types without a binary decoder: Postgres' own text.
        case(
            "point",
            "point",
            &["'(1,2)'", "'(-1.5,1e300)'"],
            utf8(),
            PRINTED,
        ),
        case(
            "int4range",
            "int4range",
            &["'[1,5)'", "'empty'", "'(,)'"],
            utf8(),
            PRINTED,
        ),
        case("tsvector", "tsvector", &["'a fat cat'"], utf8(), PRINTED),
        case("bit", "bit(3)", &["B'101'"], utf8(), PRINTED),
        case("varbit", "varbit", &["B''", "B'1'"], utf8(), PRINTED),
        case("xml", "xml", &["'<a>1</a>'"], utf8(), PRINTED),
        case("pg_lsn", "pg_lsn", &["'16/B374D848'"], utf8(), PRINTED),
        case("box", "box", &["'((0,0),(1,1))'"], utf8(), PRINTED),
        case(
            "pair",
            "pair",
            &["ROW(1, 'x')", "ROW(NULL, NULL)"],
            utf8(),
            PRINTED,
        ),
        // Arrays.
        case(
            "int4_array",
            "int4[]",
            &[
                "'{1,NULL,-3}'",
                "'{}'",
                "'{{1,2},{3,4}}'",
                "'[0:1]={5,6}'",
                "'{NULL}'",
            ],
            list(Int32),
            Oracle::Each(&TEXT),
        ),
        case(
            "int8_array",
            "int8[]",
            &["'{-9223372036854775808,9223372036854775807}'"],
            list(Int64),
            Oracle::Each(&TEXT),
        ),
        case(
            "text_array",
            "text[]",
            &[
                r#"'{"a","",NULL,"with,comma","quote\"d","NULL"}'"#,
                "'{{a,b},{c,d}}'",
                "'{}'",
            ],
            list(Utf8),
            Oracle::Each(&PRINTED),
        ),
        case(
            "varchar_array",
            "varchar(3)[]",
            &["'{ab,xyz}'"],
            list(Utf8),
            Oracle::Each(&PRINTED),
        ),
        case(
            "float8_array",
            "float8[]",
            &["'{NaN,Infinity,-Infinity,-0,0.1}'"],
            list(Float64),
            Oracle::Each(&TEXT),
        ),
        case(
            "float4_array",
            "float4[]",
            &["'{NaN,1e-45,0.1}'"],
            list(Float32),
            Oracle::Each(&TEXT),
        ),
        case(
            "bool_array",
            "bool[]",
            &["'{t,f,NULL}'"],
            list(Boolean),
            Oracle::Each(&TEXT),
        ),
        case(
            "numeric_array",
            "numeric[]",
            &["'{1.10,NaN,-Infinity,NULL}'"],
            list(Utf8),
            Oracle::Each(&TEXT),
        ),
        case(
            "decimal_array",
            "numeric(10,2)[]",
            &["'{1.5,NULL,-99999999.99,NaN}'"],
            list(Decimal128(10, 2)),
            Oracle::Each(&Oracle::Decimal),
        ),
        case(
            "money_array",
            "money[]",
            &["'{1.50,-2}'"],
            list(Utf8),
            Oracle::Each(&Oracle::Money),
        ),
        case(
            "bytea_array",
            "bytea[]",
            &[r#"'{"\\x00ff",NULL,"\\x"}'"#],
            list(Binary),
            Oracle::Each(&Oracle::Hex),
        ),
        case(
            "date_array",
            "date[]",
            &["'{2024-01-01,infinity,NULL,0044-03-15 BC}'"],
            list(Date32),
            Oracle::Each(&Oracle::Days),
        ),
        case(
            "time_array",
            "time[]",
            &["'{12:00,24:00}'"],
            list(Time64(TimeUnit::Microsecond)),
            Oracle::Each(&Oracle::TimeMicros),
        ),
        case(
            "timestamp_array",
            "timestamp[]",
            &["'{2024-01-01 12:00,-infinity}'"],
            list(DataType::Timestamp(TimeUnit::Microsecond, None)),
            Oracle::Each(&Oracle::EpochMicros),
        ),
        case(
            "timestamptz_array",
            "timestamptz[]",
            &[r#"'{"2024-01-01 12:00+02",NULL}'"#],
            list(micros_utc()),
            Oracle::Each(&Oracle::EpochMicrosUtc),
        ),
        case(
            "interval_array",
            "interval[]",
            &[r#"'{"1 day",NULL,"-1 year"}'"#],
            list(DataType::Interval(IntervalUnit::MonthDayNano)),
            Oracle::Each(&Oracle::Interval),
        ),
        case(
            "uuid_array",
            "uuid[]",
            &["'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,NULL}'"],
            list(Utf8),
            Oracle::Each(&PRINTED),
        ),
        case(
            "jsonb_array",
            "jsonb[]",
            &[r#"'{"{\"a\": 1}",null,"[]"}'"#],
            list(Utf8),
            Oracle::Each(&PRINTED),
        ),
        case(
            "inet_array",
            "inet[]",
            &["'{10.0.0.1/8,::1}'"],
            list(Utf8),
            Oracle::Each(&PRINTED),
        ),
        case(
            "timetz_array",
            "timetz[]",
            &["'{12:00+01}'"],
            list(Utf8),
            Oracle::Each(&PRINTED),
        ),
        case(
            "mood_array",
            "mood[]",
            &["'{happy,NULL,sad}'"],
            list(Utf8),
            Oracle::Each(&PRINTED),
        ),
        case(
            "citext_array",
            "citext[]",
            &["'{Ab,cD}'"],
            list(Utf8),
            Oracle::Each(&PRINTED),
        ),
        case(
            "point_array",
            "point[]",
            &["'{\"(1,2)\",NULL}'", "'{}'"],
            list(Utf8),
            Oracle::Each(&PRINTED),
        ),
        case(
            "char1_array",
            "\"char\"[]",
            &["'{a,b}'"],
            list(Utf8),
            Oracle::Each(&PRINTED),
        ),
    ]
}

/// Creates the fixture's types and the table `fixture` (id, then one column per case), with a
/// row per value and a last row that is NULL everywhere; returns the cases it holds.
fn create_fixture(db: &Db) -> Vec<Case> {
    let version = db.server_version();
    let cases: Vec<Case> = cases().into_iter().filter(|c| version >= c.since).collect();
    db.psql(
        "CREATE EXTENSION citext;
         CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
         CREATE DOMAIN posint AS int4 CHECK (VALUE > 0);
         CREATE DOMAIN dollars AS numeric(10,2);
         CREATE DOMAIN email AS citext;
         CREATE TYPE pair AS (a int4, b text);",
    );
    let columns: Vec<String> = cases
        .iter()
        .map(|c| format!("{} {}", c.name, c.sql_type))
        .collect();
    let mut sql = format!("CREATE TABLE fixture (id int4, {});\n", columns.join(", "));
    let rows = cases.iter().map(|c| c.values.len()).max().unwrap() + 1;
    for row in 0..rows {
        let values: Vec<String> = cases
            .iter()
            .map(|c| match c.values.get(row) {
                Some(v) => format!("({v})::{}", c.sql_type),
                None => "NULL".into(),
            })
            .collect();
        sql.push_str(&format!(
            "INSERT INTO fixture VALUES ({row}, {});\n",
            values.join(", ")
        ));
    }
    db.psql(&sql);
    cases
}

/// The oracle of every case, from one psql query: case name → per-row value (`null`, a
/// string, or for arrays a list of those), in id order.
fn oracles(db: &Db, cases: &[Case]) -> serde_json::Map<String, Value> {
    let fields: Vec<String> = cases
        .iter()
        .map(|c| {
            format!(
                "'{}', jsonb_agg({} ORDER BY id)",
                c.name,
                c.oracle.sql(c.name)
            )
        })
        .collect();
    // jsonb's text is a single line, whatever the values hold. A function takes at most 100
    // arguments, so the object is built in parts of 40 pairs joined with `||`.
    let parts: Vec<String> = fields
        .chunks(40)
        .map(|chunk| format!("jsonb_build_object({})", chunk.join(", ")))
        .collect();
    let out = db.psql(&format!(
        "SELECT ({})::text FROM fixture",
        parts.join(" || ")
    ));
    match serde_json::from_str(out.trim()).expect("oracle JSON") {
        Value::Object(map) => map,
        other => panic!("oracle is not an object: {other}"),
    }
}

/// Puts floats the oracle gives as Postgres text into the form [`value`] gives Arrow's.
fn normalize(data_type: &DataType, oracle: Value) -> Value {
    match (data_type, oracle) {
        (DataType::Float32 | DataType::Float64, Value::String(text)) => {
            Value::String(float_text(data_type, &text))
        }
        (DataType::List(field), Value::Array(items)) => Value::Array(
            items
                .into_iter()
                .map(|item| normalize(field.data_type(), item))
                .collect(),
        ),
        (_, other) => other,
    }
}

#[test]
fn every_type_reads_as_postgres_prints_it_on_every_read_path() {
    let db = Db::start();
    let cases = create_fixture(&db);
    let oracles = oracles(&db, &cases);
    let select = format!(
        "SELECT {} FROM fixture ORDER BY id",
        cases.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
    );
    let mut failures = Vec::new();
    let mut first: Option<(Via, arrow::record_batch::RecordBatch)> = None;
    for via in PATHS {
        let batch = db.read(&select, via);
        assert_eq!(batch.num_columns(), cases.len());
        for (i, case) in cases.iter().enumerate() {
            let field = batch.schema().field(i).clone();
            assert_eq!(field.name(), case.name);
            if field.data_type() != &case.arrow {
                failures.push(format!(
                    "{via:?} {}: Arrow type {} instead of {}",
                    case.name,
                    field.data_type(),
                    case.arrow
                ));
                continue;
            }
            let got = values(batch.column(i));
            let Value::Array(expected) = oracles[case.name].clone() else {
                panic!("oracle of {} is not a list", case.name);
            };
            for (row, (got, expected)) in got.into_iter().zip(expected).enumerate() {
                let expected = normalize(&case.arrow, expected);
                if got != expected {
                    failures.push(format!(
                        "{via:?} {} row {row}: got {got}, Postgres says {expected}",
                        case.name
                    ));
                }
            }
            // The last row is NULL in every column.
            assert!(
                batch.column(i).is_null(batch.num_rows() - 1),
                "{}",
                case.name
            );
        }
        // All paths give identical batches.
        match &first {
            None => first = Some((via, batch)),
            Some((first_via, first_batch)) => {
                for (i, case) in cases.iter().enumerate() {
                    if first_batch.column(i) != batch.column(i) {
                        failures.push(format!(
                            "{} differs between {first_via:?} and {via:?}",
                            case.name
                        ));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn an_empty_result_has_the_full_schema_on_every_read_path() {
    let db = Db::start();
    let cases = create_fixture(&db);
    let select = format!(
        "SELECT {} FROM fixture WHERE false",
        cases.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
    );
    for via in PATHS {
        let table = db.try_read(&select, via, 10).unwrap();
        assert_eq!(table.num_rows(), 0, "{via:?}");
        let types: Vec<&DataType> = table
            .schema
            .fields()
            .iter()
            .map(|f| f.data_type())
            .collect();
        let expected: Vec<&DataType> = cases.iter().map(|c| &c.arrow).collect();
        assert_eq!(types, expected, "{via:?}");
        assert!(table.schema.fields().iter().all(|f| f.is_nullable()));
    }
}

#[test]
fn batches_of_one_row_give_the_same_columns() {
    let db = Db::start();
    let cases = create_fixture(&db);
    let select = format!(
        "SELECT {} FROM fixture ORDER BY id",
        cases.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
    );
    for via in [Via::Copy, Via::Query] {
        let whole = db.read(&select, via);
        let table = db.try_read(&select, via, 1).unwrap();
        assert_eq!(table.batches.len(), whole.num_rows(), "{via:?}");
        assert!(table.batches.iter().all(|b| b.num_rows() == 1));
        assert_eq!(table.concat().unwrap(), whole, "{via:?}");
    }
}

/// Column names come back exactly as Postgres returns them: duplicates (explicit, and the
/// `?column?` of unnamed expressions), upper case, spaces, quotes and non-ASCII, and past 63
/// bytes truncated the way Postgres truncates them. Each column keeps its own values, also where
/// a column is cast to text in SQL (`point`), which wraps the query in a CTE.
#[test]
fn column_names_are_kept_as_postgres_returns_them_on_every_read_path() {
    let db = Db::start();
    let long = "n".repeat(70);
    let select = format!(
        r#"SELECT id AS a, id * 10 AS a, label AS "Upper Case", p AS "with space",
                  id AS "A", id + 1, id + 2, label AS "quo""te", id AS "ünï", id AS "{long}",
                  id AS c0, label AS c0
           FROM (VALUES (1, 'x', point '(1,2)'), (2, NULL, NULL)) AS v(id, label, p)
           ORDER BY id"#
    );
    let expected_names = [
        "a",
        "a",
        "Upper Case",
        "with space",
        "A",
        "?column?",
        "?column?",
        "quo\"te",
        "ünï",
        &long[..63],
        "c0",
        "c0",
    ];
    // Postgres' own view of the names, as the oracle: psql's \gdesc, "name|type" per column.
    let described = db.psql(&format!("{select} \\gdesc"));
    let described: Vec<&str> = described
        .lines()
        .map(|line| line.rsplit_once('|').unwrap().0)
        .collect();
    assert_eq!(described, expected_names);
    let s = |v: &str| Value::String(v.into());
    let expected_values = [
        vec![s("1"), s("2")],
        vec![s("10"), s("20")],
        vec![s("x"), Value::Null],
        vec![s("(1,2)"), Value::Null],
        vec![s("1"), s("2")],
        vec![s("2"), s("3")],
        vec![s("3"), s("4")],
        vec![s("x"), Value::Null],
        vec![s("1"), s("2")],
        vec![s("1"), s("2")],
        vec![s("1"), s("2")],
        vec![s("x"), Value::Null],
    ];
    for via in PATHS {
        let batch = db.read(&select, via);
        let names: Vec<&str> = batch
            .schema_ref()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(names, expected_names, "{via:?}");
        let got: Vec<Vec<Value>> = batch.columns().iter().map(values).collect();
        assert_eq!(got, expected_values, "{via:?}");
        // The empty result has the same names.
        let empty = db
            .try_read(
                &format!("SELECT * FROM ({select}) AS q WHERE false"),
                via,
                10,
            )
            .unwrap();
        let names: Vec<&str> = empty
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(names, expected_names, "{via:?} empty");
    }
}

/// A column whose every value is NULL keeps its type's Arrow type (all rows NULL, no error),
/// for every fixture type, and an untyped `NULL` reads as Utf8 (Postgres resolves it to text).
#[test]
fn columns_whose_every_value_is_null_keep_their_type_on_every_read_path() {
    let db = Db::start();
    let cases = create_fixture(&db);
    let columns: Vec<String> = cases
        .iter()
        .map(|c| format!("NULL::{} AS {}", c.sql_type, c.name))
        .collect();
    let select = format!(
        "SELECT {}, NULL AS untyped FROM generate_series(1, 3)",
        columns.join(", ")
    );
    for via in PATHS {
        let batch = db.read(&select, via);
        assert_eq!(batch.num_rows(), 3, "{via:?}");
        assert_eq!(batch.num_columns(), cases.len() + 1, "{via:?}");
        for (i, case) in cases.iter().enumerate() {
            let column = batch.column(i);
            assert_eq!(column.data_type(), &case.arrow, "{via:?} {}", case.name);
            assert_eq!(column.null_count(), 3, "{via:?} {}", case.name);
        }
        let untyped = batch.column(cases.len());
        assert_eq!(untyped.data_type(), &DataType::Utf8, "{via:?}");
        assert_eq!(untyped.null_count(), 3, "{via:?}");
    }
}
