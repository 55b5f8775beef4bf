//! `write_table` against real Postgres and devvault: every supported Arrow type makes the round
//! trip value by value, fail/replace/append do what they say, a mismatched append and a write
//! that fails halfway (a value that cannot be encoded, a connection killed mid-COPY) leave the
//! table as it was, and created tables belong to the group role.

mod common;

use arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array,
    Float64Array, Int16Array, Int32Array, Int64Array, IntervalMonthDayNanoArray, LargeStringArray,
    StringArray, Time64MicrosecondArray, Time64NanosecondArray, TimestampMicrosecondArray,
    TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray, UInt32Array,
};
use arrow::datatypes::{DataType, Field, IntervalMonthDayNano, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::util::display::array_value_to_string;
use common::*;
use dataverk::{Client, IfExists};
use std::sync::Arc;

const SOURCE: &str = "postgres_database";

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter_with_nullable(columns.into_iter().map(|(n, a)| (n, a, true)))
        .unwrap()
}

fn count(w: &World, table: &str) -> String {
    w.pg.psql("mydb", &format!("SELECT count(*) FROM {table}"))
        .trim()
        .to_string()
}

fn write(
    client: &Client,
    table: &str,
    batches: &[RecordBatch],
    mode: IfExists,
) -> dataverk::Result<u64> {
    client.write_table(SOURCE, table, batches[0].schema(), batches, mode)
}

/// One column per supported Arrow type, with edge values and a NULL in every column.
fn every_type() -> RecordBatch {
    let day = 86_400_000_000i64;
    let tz = |a: TimestampMicrosecondArray, z: &str| a.with_timezone(z);
    batch(vec![
        (
            "i16",
            Arc::new(Int16Array::from(vec![
                Some(i16::MIN),
                Some(i16::MAX),
                None,
                Some(0),
            ])),
        ),
        (
            "i32",
            Arc::new(Int32Array::from(vec![
                Some(i32::MIN),
                Some(i32::MAX),
                None,
                Some(-1),
            ])),
        ),
        (
            "i64",
            Arc::new(Int64Array::from(vec![
                Some(i64::MIN),
                Some(i64::MAX),
                None,
                Some(1),
            ])),
        ),
        (
            "u32",
            Arc::new(UInt32Array::from(vec![
                Some(0),
                Some(u32::MAX),
                None,
                Some(7),
            ])),
        ),
        (
            "f32",
            Arc::new(Float32Array::from(vec![
                Some(f32::NAN),
                Some(f32::INFINITY),
                None,
                Some(-1.5e-7),
            ])),
        ),
        (
            "f64",
            Arc::new(Float64Array::from(vec![
                Some(f64::NEG_INFINITY),
                Some(f64::MAX),
                None,
                Some(std::f64::consts::PI),
            ])),
        ),
        (
            "flag",
            Arc::new(BooleanArray::from(vec![
                Some(true),
                Some(false),
                None,
                Some(true),
            ])),
        ),
        (
            "txt",
            Arc::new(StringArray::from(vec![
                Some(""),
                Some("ÆØÅ \"quoted\"\n\ttabs \\ 🦀"),
                None,
                Some("x"),
            ])),
        ),
        (
            "large_txt",
            Arc::new(LargeStringArray::from(vec![
                Some("large"),
                Some(""),
                None,
                Some("ü"),
            ])),
        ),
        (
            "bin",
            Arc::new(BinaryArray::from(vec![
                Some(&b""[..]),
                Some(&[0u8, 255, 1, 92][..]),
                None,
                Some(&b"abc"[..]),
            ])),
        ),
        (
            "d",
            Arc::new(Date32Array::from(vec![
                Some(-719_162),
                Some(2_932_896),
                None,
                Some(0),
            ])),
        ),
        (
            "t",
            Arc::new(Time64MicrosecondArray::from(vec![
                Some(0),
                Some(day - 1),
                None,
                Some(45_296_789_012),
            ])),
        ),
        (
            "t_ns",
            Arc::new(Time64NanosecondArray::from(vec![
                Some(1_000),
                Some(3_600_000_000_000),
                None,
                Some(0),
            ])),
        ),
        (
            "ts",
            Arc::new(TimestampMicrosecondArray::from(vec![
                Some(-62_135_596_800_000_000),
                Some(253_402_300_799_999_999),
                None,
                Some(1),
            ])),
        ),
        (
            "ts_tz",
            Arc::new(tz(
                TimestampMicrosecondArray::from(vec![
                    Some(0),
                    Some(1_700_000_000_123_456),
                    None,
                    Some(-1),
                ]),
                "+02:00",
            )),
        ),
        (
            "ts_s",
            Arc::new(TimestampSecondArray::from(vec![
                Some(-1),
                Some(4_102_444_800),
                None,
                Some(0),
            ])),
        ),
        (
            "ts_ms",
            Arc::new(
                TimestampMillisecondArray::from(vec![
                    Some(1_234),
                    Some(-86_400_000),
                    None,
                    Some(0),
                ])
                .with_timezone("UTC"),
            ),
        ),
        (
            "ts_ns",
            Arc::new(TimestampNanosecondArray::from(vec![
                Some(1_700_000_000_123_456_000),
                Some(-1_000),
                None,
                Some(0),
            ])),
        ),
        (
            "dec",
            Arc::new(
                Decimal128Array::from(vec![
                    Some(i128::MAX / 2),
                    Some(-12_345_678_901_234_567_890_123_456_789),
                    None,
                    Some(0),
                ])
                .with_precision_and_scale(38, 10)
                .unwrap(),
            ),
        ),
        (
            "dec_small",
            Arc::new(
                Decimal128Array::from(vec![Some(1), Some(-99_999), None, Some(100)])
                    .with_precision_and_scale(5, 5)
                    .unwrap(),
            ),
        ),
        (
            "dec_neg_scale",
            Arc::new(
                Decimal128Array::from(vec![Some(12), Some(-9_999), None, Some(0)])
                    .with_precision_and_scale(4, -2)
                    .unwrap(),
            ),
        ),
        (
            "iv",
            Arc::new(IntervalMonthDayNanoArray::from(vec![
                Some(IntervalMonthDayNano::new(14, -3, 1_500_000)),
                Some(IntervalMonthDayNano::new(-1, 40, -86_400_000_000_000)),
                None,
                Some(IntervalMonthDayNano::new(0, 0, 0)),
            ])),
        ),
    ])
}

#[test]
fn every_supported_type_makes_the_round_trip_value_by_value() {
    let w = World::start(WorldOptions::default());
    let client = new_client(w.seed_settings(), k8s_vault(&w));
    let written = every_type();
    let n = write(
        &client,
        "public.all_types",
        std::slice::from_ref(&written),
        IfExists::Fail,
    )
    .unwrap();
    assert_eq!(n, 4);
    let types = w.pg.psql(
        "mydb",
        "SELECT string_agg(format_type(atttypid, atttypmod), ',' ORDER BY attnum) FROM pg_attribute \
         WHERE attrelid = 'all_types'::regclass AND attnum > 0",
    );
    assert_eq!(
        types.trim(),
        "smallint,integer,bigint,bigint,real,double precision,boolean,text,text,bytea,date,\
         time without time zone,time without time zone,timestamp without time zone,\
         timestamp with time zone,timestamp without time zone,timestamp with time zone,\
         timestamp without time zone,numeric(38,10),numeric(5,5),numeric(4,-2),interval"
    );
    let read = client
        .read_sql(SOURCE, "SELECT * FROM all_types")
        .unwrap()
        .concat()
        .unwrap();
    assert_eq!(read.num_rows(), 4);
    for (i, field) in written.schema().fields().iter().enumerate() {
        let got = read.column(i);
        // The read path's type for the column (UInt32 comes back as Int64, other timestamp
        // units as microseconds, LargeUtf8 as Utf8); the values must be the same.
        let want = arrow::compute::cast(written.column(i), got.data_type()).unwrap();
        for row in 0..4 {
            assert_eq!(
                (got.is_null(row), array_value_to_string(got, row).unwrap()),
                (
                    want.is_null(row),
                    array_value_to_string(&want, row).unwrap()
                ),
                "column {} ({}) row {row}",
                field.name(),
                field.data_type()
            );
        }
    }
    // Spot checks against what Postgres itself prints, so a symmetric bug in both directions
    // cannot hide (the row of NULLs comes last, as an empty line that is trimmed away).
    let printed = w.pg.psql(
        "mydb",
        "SET TimeZone = 'UTC'; SELECT concat_ws('|', i64, u32, txt = 'x', d, t, ts, ts_tz, ts_s, ts_ns, dec, \
         dec_small, dec_neg_scale, iv, encode(bin, 'hex')) FROM all_types ORDER BY i16 NULLS LAST",
    );
    let lines: Vec<&str> = printed.trim().lines().collect();
    assert_eq!(
        lines,
        [
            "-9223372036854775808|0|f|0001-01-01|00:00:00|0001-01-01 00:00:00|1970-01-01 00:00:00+00|\
             1969-12-31 23:59:59|2023-11-14 22:13:20.123456|8507059173023461586584365185.7942052863|0.00001|\
             1200|1 year 2 mons -3 days +00:00:00.0015|",
            "1|7|t|1970-01-01|12:34:56.789012|1970-01-01 00:00:00.000001|1969-12-31 23:59:59.999999+00|\
             1970-01-01 00:00:00|1970-01-01 00:00:00|0.0000000000|0.00100|0|00:00:00|616263",
            "9223372036854775807|4294967295|f|9999-12-31|23:59:59.999999|9999-12-31 23:59:59.999999|\
             2023-11-14 22:13:20.123456+00|2100-01-01 00:00:00|1969-12-31 23:59:59.999999|\
             -1234567890123456789.0123456789|-0.99999|-999900|-1 mons +40 days -24:00:00|00ff015c",
        ]
    );
}

#[test]
fn fail_replace_and_append() {
    let w = World::start(WorldOptions::default());
    let client = new_client(w.seed_settings(), k8s_vault(&w));
    let first = batch(vec![
        ("id", Arc::new(Int64Array::from(vec![1, 2, 3]))),
        ("name", Arc::new(StringArray::from(vec!["a", "b", "c"]))),
    ]);
    assert_eq!(
        write(&client, "t", std::slice::from_ref(&first), IfExists::Fail).unwrap(),
        3
    );

    // fail: the table is there, so nothing happens and the message says what to do.
    let e = write(&client, "t", std::slice::from_ref(&first), IfExists::Fail)
        .unwrap_err()
        .to_string();
    assert!(e.contains("table t already exists"), "{e}");
    assert!(
        e.contains("--if-exists replace|append") && e.contains(r#"if_exists="replace"|"append""#),
        "{e}"
    );
    assert_eq!(count(&w, "t"), "3");

    // append: rows are added; narrower integer types widen into the table's.
    let more = batch(vec![
        ("name", Arc::new(StringArray::from(vec![Some("d"), None]))),
        ("id", Arc::new(Int32Array::from(vec![4, 5]))),
    ]);
    assert_eq!(
        write(&client, "t", &[more.clone(), more], IfExists::Append).unwrap(),
        4
    );
    assert_eq!(
        w.pg.psql(
            "mydb",
            "SELECT string_agg(id || ':' || coalesce(name, '-'), ',' ORDER BY id, name) FROM t"
        )
        .trim(),
        "1:a,2:b,3:c,4:d,4:d,5:-,5:-"
    );

    // replace: a new table with the new schema, in place of the old one.
    let other = batch(vec![("x", Arc::new(Float64Array::from(vec![0.5])))]);
    assert_eq!(write(&client, "t", &[other], IfExists::Replace).unwrap(), 1);
    assert_eq!(w.pg.psql("mydb", "SELECT x FROM t").trim(), "0.5");

    // append to a missing table creates it; replace of a missing table too.
    assert_eq!(
        write(
            &client,
            "fresh",
            std::slice::from_ref(&first),
            IfExists::Append
        )
        .unwrap(),
        3
    );
    assert_eq!(
        write(&client, "fresh2", &[first], IfExists::Replace).unwrap(),
        3
    );
    assert_eq!(count(&w, "fresh"), "3");
    assert_eq!(count(&w, "fresh2"), "3");

    // Empty input still creates the table.
    let empty = RecordBatch::new_empty(Arc::new(Schema::new(vec![Field::new(
        "e",
        DataType::Date32,
        true,
    )])));
    assert_eq!(
        write(&client, "empty", &[empty], IfExists::Fail).unwrap(),
        0
    );
    assert_eq!(count(&w, "empty"), "0");
}

#[test]
fn created_tables_belong_to_the_group_role() {
    let w = World::start(WorldOptions::default());
    let mut client = new_client(w.seed_settings(), k8s_vault(&w));
    let b = batch(vec![("x", Arc::new(Int32Array::from(vec![1, 2])))]);
    write(&client, "owned", std::slice::from_ref(&b), IfExists::Fail).unwrap();
    write(
        &client,
        "owned_replaced",
        std::slice::from_ref(&b),
        IfExists::Fail,
    )
    .unwrap();
    write(&client, "owned_replaced", &[b], IfExists::Replace).unwrap();
    // The lease's user is dropped when the client closes; the tables stay, with their rows.
    client.close();
    let owners = w.pg.psql(
        "mydb",
        "SELECT string_agg(tablename || ':' || tableowner, ',' ORDER BY tablename) FROM pg_tables \
         WHERE tablename LIKE 'owned%'",
    );
    assert_eq!(owners.trim(), "owned:mydb-admin,owned_replaced:mydb-admin");
    assert_eq!(count(&w, "owned_replaced"), "2");
}

#[test]
fn a_mismatched_append_fails_before_any_row_is_sent() {
    let w = World::start(WorldOptions::default());
    let client = new_client(w.seed_settings(), k8s_vault(&w));
    client
        .execute_sql(
            SOURCE,
            "CREATE TABLE target (id bigint, name text, must int NOT NULL, opt int)",
        )
        .unwrap();
    client
        .execute_sql(SOURCE, "INSERT INTO target VALUES (1, 'a', 1, NULL)")
        .unwrap();
    let wrong = batch(vec![
        ("id", Arc::new(StringArray::from(vec!["2"]))),
        ("name", Arc::new(StringArray::from(vec!["b"]))),
        ("extra", Arc::new(Int32Array::from(vec![1]))),
    ]);
    let e = write(&client, "target", &[wrong], IfExists::Append)
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot append to target"), "{e}");
    assert!(
        e.contains("\"id\" is Utf8 in the input but bigint in the table"),
        "{e}"
    );
    assert!(e.contains("\"extra\" (Int32) is not in the table"), "{e}");
    assert!(
        e.contains("\"must\" (integer, NOT NULL without a default) is missing"),
        "{e}"
    );
    assert!(!e.contains("\"opt\""), "{e}");
    assert_eq!(count(&w, "target"), "1");

    // An Arrow type with no Postgres counterpart is named before anything runs.
    let list = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            "l",
            DataType::new_list(DataType::Int32, true),
            true,
        )])),
        vec![Arc::new(arrow::array::ListArray::from_iter_primitive::<
            arrow::datatypes::Int32Type,
            _,
            _,
        >(vec![Some(vec![Some(1)])]))],
    )
    .unwrap();
    let e = write(&client, "lists", &[list], IfExists::Fail)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no Postgres type for column \"l\" (List("),
        "{e}"
    );
    assert_eq!(
        w.pg.psql(
            "mydb",
            "SELECT count(*) FROM pg_tables WHERE tablename = 'lists'"
        )
        .trim(),
        "0"
    );
}

/// Rows `start..start + n` of an (id, payload) table.
fn rows(start: i64, n: i64, schema: &SchemaRef) -> RecordBatch {
    RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from_iter_values(start..start + n)),
            Arc::new(StringArray::from_iter_values(
                (start..start + n).map(|i| format!("payload number {i} of a long write")),
            )),
        ],
    )
    .unwrap()
}

#[test]
fn a_value_that_cannot_be_encoded_halfway_leaves_the_table_as_it_was() {
    let w = World::start(WorldOptions::default());
    let client = new_client(w.seed_settings(), k8s_vault(&w));
    let schema: SchemaRef = Arc::new(Schema::new(vec![
        Field::new(
            "id",
            DataType::Timestamp(arrow::datatypes::TimeUnit::Second, None),
            true,
        ),
        Field::new("payload", DataType::Utf8, true),
    ]));
    let good = |n: i64| {
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(TimestampSecondArray::from_iter_values(0..n)),
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("payload number {i} of a long write")),
                )),
            ],
        )
        .unwrap()
    };
    write(&client, "keep", &[good(3)], IfExists::Fail).unwrap();
    // Megabytes of good rows are sent first; then a timestamp past Postgres' range.
    let bad = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(TimestampSecondArray::from(vec![
                Some(1),
                Some(i64::MAX / 2),
            ])),
            Arc::new(StringArray::from(vec!["ok", "too late"])),
        ],
    )
    .unwrap();
    let batches = [good(200_000), bad];
    for mode in [IfExists::Replace, IfExists::Append] {
        let e = client
            .write_table(SOURCE, "keep", schema.clone(), &batches, mode)
            .unwrap_err()
            .to_string();
        assert!(e.contains("column \"id\"") && e.contains("at row 1"), "{e}");
        assert_eq!(count(&w, "keep"), "3", "{mode}");
    }
}

#[test]
fn a_connection_killed_mid_copy_leaves_the_table_as_it_was() {
    let w = World::start(WorldOptions::default());
    let client = new_client(w.seed_settings(), k8s_vault(&w));
    let schema: SchemaRef = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("payload", DataType::Utf8, true),
    ]));
    write(&client, "big", &[rows(0, 10, &schema)], IfExists::Fail).unwrap();
    let batches: Vec<RecordBatch> = (0..20)
        .map(|i| rows(i * 100_000, 100_000, &schema))
        .collect();
    for mode in [IfExists::Append, IfExists::Replace] {
        let done = std::sync::atomic::AtomicBool::new(false);
        let killed = std::thread::scope(|s| {
            let killer = s.spawn(|| {
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    let out = w.pg.psql(
                        "mydb",
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                         WHERE query LIKE 'COPY%' AND pid <> pg_backend_pid()",
                    );
                    if out.trim() != "0" {
                        return true;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                false
            });
            let result = client.write_table(SOURCE, "big", schema.clone(), &batches, mode);
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            let killed = killer.join().unwrap();
            assert!(
                result.is_err() || !killed,
                "{mode}: a killed write reported success"
            );
            killed
        });
        assert!(
            killed,
            "{mode}: the write ended before its COPY could be killed"
        );
        assert_eq!(count(&w, "big"), "10", "{mode}");
    }
}
