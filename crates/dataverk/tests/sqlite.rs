//! SQLite sources against real database files in temporary folders: the Arrow type of every
//! declared type and of expressions, NULLs, empty results, a value that does not fit, statement
//! counts, fail/replace/append writes and their round trip, a write failing halfway, a missing
//! file on read, and paths relative to the settings file.

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Date32Array, Float64Array, Int32Array,
    Int64Array, StringArray, TimestampMicrosecondArray, UInt64Array,
};
use arrow::datatypes::{
    DataType, Date32Type, Float64Type, Int64Type, TimeUnit, TimestampMicrosecondType,
};
use arrow::record_batch::RecordBatch;
use dataverk::{Client, ClientOptions, IfExists, Table};
use std::path::Path;
use std::sync::Arc;

const SOURCE: &str = "lite";

/// A settings file in `dir` whose only source is `url`.
fn client_for(dir: &Path, url: &str) -> dataverk::Result<Client> {
    client_with(dir, url, 65_536)
}

fn client_with(dir: &Path, url: &str, batch_rows: usize) -> dataverk::Result<Client> {
    let settings = dir.join("settings.json");
    let json = serde_json::json!({ "db_connection_strings": { SOURCE: url } });
    std::fs::write(&settings, json.to_string()).unwrap();
    Client::with_options(ClientOptions {
        settings_path: Some(settings),
        env_file: None,
        batch_rows,
        ..Default::default()
    })
}

/// A client on `data.db` next to the settings file in a new temporary folder.
fn fresh() -> (tempfile::TempDir, Client) {
    let dir = tempfile::tempdir().unwrap();
    let client = client_for(dir.path(), "sqlite:///data.db").unwrap();
    (dir, client)
}

fn read(client: &Client, sql: &str) -> (Table, RecordBatch) {
    let table = client.read_sql(SOURCE, sql).unwrap();
    let all = table.concat().unwrap();
    (table, all)
}

fn types(table: &Table) -> Vec<DataType> {
    table
        .schema
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect()
}

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}

fn int64(b: &RecordBatch, i: usize) -> Vec<Option<i64>> {
    b.column(i).as_primitive::<Int64Type>().iter().collect()
}

fn float64(b: &RecordBatch, i: usize) -> Vec<Option<f64>> {
    b.column(i).as_primitive::<Float64Type>().iter().collect()
}

fn utf8(b: &RecordBatch, i: usize) -> Vec<Option<String>> {
    b.column(i)
        .as_string::<i32>()
        .iter()
        .map(|s| s.map(str::to_string))
        .collect()
}

#[test]
fn declared_types_map_to_arrow_with_nulls() {
    let (_dir, c) = fresh();
    c.execute_sql(
        SOURCE,
        "CREATE TABLE t (i INTEGER, big BIGINT, f REAL, d DOUBLE, s VARCHAR(10), txt TEXT, \
           b BLOB, flag BOOLEAN, day DATE, at DATETIME, ts TIMESTAMP, n NUMERIC, \
           dec DECIMAL(10,2), untyped);
         INSERT INTO t VALUES (1, 9007199254740993, 1.5, -0.25, 'abc', 'ü', x'00ff', TRUE,
           '2024-02-29', '2024-01-02 03:04:05', '2024-01-02T03:04:05.123456', 7, 1.25, 5);
         INSERT INTO t VALUES (NULL, NULL, NULL, NULL, NULL, NULL, NULL, FALSE, NULL, NULL,
           '1969-12-31 23:59:59.5+01:00', NULL, 3, NULL);",
    )
    .unwrap();
    let (table, b) = read(&c, "SELECT * FROM t ORDER BY rowid");
    assert_eq!(
        types(&table),
        [
            DataType::Int64,
            DataType::Int64,
            DataType::Float64,
            DataType::Float64,
            DataType::Utf8,
            DataType::Utf8,
            DataType::Binary,
            DataType::Boolean,
            DataType::Date32,
            ts(),
            ts(),
            DataType::Int64, // NUMERIC holding only integers
            DataType::Float64,
            DataType::Int64, // untyped: from the first value
        ]
    );
    assert_eq!(int64(&b, 0), [Some(1), None]);
    assert_eq!(int64(&b, 1), [Some(9_007_199_254_740_993), None]);
    assert_eq!(float64(&b, 2), [Some(1.5), None]);
    assert_eq!(float64(&b, 3), [Some(-0.25), None]);
    assert_eq!(utf8(&b, 4), [Some("abc".into()), None]);
    assert_eq!(utf8(&b, 5), [Some("ü".into()), None]);
    let blob: Vec<_> = b.column(6).as_binary::<i32>().iter().collect();
    assert_eq!(blob, [Some(&[0u8, 255][..]), None]);
    let flag: Vec<_> = b.column(7).as_boolean().iter().collect();
    assert_eq!(flag, [Some(true), Some(false)]);
    let day: Vec<_> = b.column(8).as_primitive::<Date32Type>().iter().collect();
    assert_eq!(day, [Some(19_782), None]);
    let at: Vec<_> = b
        .column(9)
        .as_primitive::<TimestampMicrosecondType>()
        .iter()
        .collect();
    assert_eq!(at, [Some(1_704_164_645_000_000), None]);
    let ts_col: Vec<_> = b
        .column(10)
        .as_primitive::<TimestampMicrosecondType>()
        .iter()
        .collect();
    // An offset is converted to UTC: 23:59:59.5+01:00 is 22:59:59.5 UTC.
    assert_eq!(ts_col, [Some(1_704_164_645_123_456), Some(-3_600_500_000)]);
    assert_eq!(int64(&b, 11), [Some(7), None]);
    assert_eq!(float64(&b, 12), [Some(1.25), Some(3.0)]);
    assert_eq!(int64(&b, 13), [Some(5), None]);
}

#[test]
fn expressions_take_the_type_of_their_first_value() {
    let (_dir, c) = fresh();
    c.execute_sql(SOURCE, "CREATE TABLE t (x)").unwrap();
    let (table, b) = read(
        &c,
        "SELECT NULL AS i, 1.5 AS f, 'x' AS s, x'01' AS b, NULL AS empty \
         UNION ALL SELECT 2, 2, NULL, NULL, NULL",
    );
    assert_eq!(
        types(&table),
        [
            DataType::Int64,
            DataType::Float64,
            DataType::Utf8,
            DataType::Binary,
            DataType::Utf8
        ]
    );
    assert_eq!(int64(&b, 0), [None, Some(2)]);
    assert_eq!(float64(&b, 1), [Some(1.5), Some(2.0)]);
    assert_eq!(utf8(&b, 2), [Some("x".into()), None]);
    assert_eq!(b.column(4).null_count(), 2);
    // A declared BLOB holding only NULLs stays Binary.
    c.execute_sql(
        SOURCE,
        "CREATE TABLE nb (b BLOB); INSERT INTO nb VALUES (NULL)",
    )
    .unwrap();
    let (table, _) = read(&c, "SELECT b FROM nb");
    assert_eq!(types(&table), [DataType::Binary]);
    // A NUMERIC column with one fractional value is Float64 throughout.
    c.execute_sql(
        SOURCE,
        "CREATE TABLE n (v NUMERIC); INSERT INTO n VALUES (1), (2.5)",
    )
    .unwrap();
    let (table, b) = read(&c, "SELECT v FROM n ORDER BY v");
    assert_eq!(types(&table), [DataType::Float64]);
    assert_eq!(float64(&b, 0), [Some(1.0), Some(2.5)]);
}

#[test]
fn batches_follow_batch_rows_under_one_schema() {
    let dir = tempfile::tempdir().unwrap();
    let c = client_with(dir.path(), "sqlite:///data.db", 2).unwrap();
    c.execute_sql(
        SOURCE,
        "CREATE TABLE t (i INTEGER); INSERT INTO t VALUES (1), (2), (3), (4), (5)",
    )
    .unwrap();
    let (table, b) = read(&c, "SELECT i, i * 2 AS twice FROM t ORDER BY i");
    let sizes: Vec<_> = table.batches.iter().map(RecordBatch::num_rows).collect();
    assert_eq!(sizes, [2, 2, 1]);
    assert_eq!(int64(&b, 1), [2, 4, 6, 8, 10].map(Some));
}

#[test]
fn empty_results_keep_their_schema() {
    let (_dir, c) = fresh();
    c.execute_sql(
        SOURCE,
        "CREATE TABLE t (i INTEGER, s TEXT, f REAL, b BLOB, flag BOOLEAN, day DATE, \
           at TIMESTAMP, n NUMERIC)",
    )
    .unwrap();
    let (table, _) = read(&c, "SELECT *, i + 1 AS expr FROM t");
    assert_eq!(table.num_rows(), 0);
    let names: Vec<_> = table
        .schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names,
        ["i", "s", "f", "b", "flag", "day", "at", "n", "expr"]
    );
    assert_eq!(
        types(&table),
        [
            DataType::Int64,
            DataType::Utf8,
            DataType::Float64,
            DataType::Binary,
            DataType::Boolean,
            DataType::Date32,
            ts(),
            DataType::Float64,
            DataType::Utf8
        ]
    );
}

#[test]
fn a_value_that_does_not_fit_names_column_row_and_fix() {
    let (_dir, c) = fresh();
    // SQLite stores text that does not look like a number in an INTEGER column as it is.
    c.execute_sql(
        SOURCE,
        "CREATE TABLE t (id INTEGER, day DATE); \
         INSERT INTO t VALUES (1, '2024-01-01'), ('abc', 'soon')",
    )
    .unwrap();
    let e = c
        .read_sql(SOURCE, "SELECT id FROM t ORDER BY rowid")
        .unwrap_err()
        .to_string();
    assert!(e.contains("column \"id\", row 2"), "{e}");
    assert!(e.contains("TEXT value \"abc\""), "{e}");
    assert!(e.contains("declared type INTEGER"), "{e}");
    assert!(e.contains("CAST(\"id\" AS TEXT)"), "{e}");
    let e = c
        .read_sql(SOURCE, "SELECT day FROM t ORDER BY rowid")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("column \"day\", row 2") && e.contains("\"soon\""),
        "{e}"
    );
    // The fix the message gives works.
    let (_, b) = read(
        &c,
        "SELECT CAST(\"id\" AS TEXT) AS id FROM t ORDER BY rowid",
    );
    assert_eq!(utf8(&b, 0), [Some("1".into()), Some("abc".into())]);
}

#[test]
fn execute_counts_changed_rows_over_several_statements() {
    let (dir, c) = fresh();
    assert!(!dir.path().join("data.db").exists());
    let n = c
        .execute_sql(
            SOURCE,
            "CREATE TABLE t (x INTEGER);
             INSERT INTO t VALUES (1), (2), (3);
             UPDATE t SET x = x + 10 WHERE x > 1;
             CREATE INDEX t_x ON t (x);",
        )
        .unwrap();
    assert_eq!(n, 5);
    assert!(
        dir.path().join("data.db").exists(),
        "execute creates the file"
    );
    assert_eq!(c.execute_sql(SOURCE, "DELETE FROM t").unwrap(), 3);
    assert_eq!(c.execute_sql(SOURCE, "CREATE TABLE u (y)").unwrap(), 0);
    let e = c
        .execute_sql(SOURCE, "INSERT INTO missing VALUES (1)")
        .unwrap_err();
    assert!(e.to_string().contains("no such table: missing"), "{e}");
}

fn sample(ids: &[i32]) -> RecordBatch {
    let n = ids.len();
    let pick = |i: usize| i % 3 != 2; // every third value NULL
    RecordBatch::try_from_iter_with_nullable([
        (
            "id",
            Arc::new(Int32Array::from(ids.to_vec())) as ArrayRef,
            false,
        ),
        (
            "score",
            Arc::new(Float64Array::from_iter(
                (0..n).map(|i| pick(i).then_some(i as f64 + 0.5)),
            )),
            true,
        ),
        (
            "name",
            Arc::new(StringArray::from_iter(
                (0..n).map(|i| pick(i).then(|| format!("n{i} ü'\""))),
            )),
            true,
        ),
        (
            "ok",
            Arc::new(BooleanArray::from_iter(
                (0..n).map(|i| pick(i).then_some(i % 2 == 0)),
            )),
            true,
        ),
        (
            "day",
            Arc::new(Date32Array::from_iter(
                (0..n).map(|i| pick(i).then_some(19_000 + i as i32 - 1)),
            )),
            true,
        ),
        (
            "at",
            Arc::new(TimestampMicrosecondArray::from_iter(
                (0..n).map(|i| pick(i).then_some(1_700_000_000_123_456 + i as i64)),
            )),
            true,
        ),
        (
            "raw",
            Arc::new(BinaryArray::from_iter(
                (0..n).map(|i| pick(i).then(|| vec![i as u8, 0, 255])),
            )),
            true,
        ),
        (
            "big",
            Arc::new(Int64Array::from_iter((0..n).map(|i| {
                pick(i).then_some(if i == 0 { i64::MIN } else { i64::MAX })
            }))),
            true,
        ),
    ])
    .unwrap()
}

fn write(c: &Client, batches: &[RecordBatch], mode: IfExists) -> dataverk::Result<u64> {
    c.write_table(SOURCE, "scores", batches[0].schema(), batches, mode)
}

fn ids(c: &Client) -> Vec<Option<i64>> {
    let (_, b) = read(c, "SELECT id FROM scores ORDER BY rowid");
    int64(&b, 0)
}

#[test]
fn write_round_trips_every_type() {
    let (_dir, c) = fresh();
    let input = sample(&[1, 2, 3, 4]);
    assert_eq!(
        write(&c, std::slice::from_ref(&input), IfExists::Fail).unwrap(),
        4
    );
    let (table, b) = read(&c, "SELECT * FROM scores ORDER BY id");
    assert_eq!(
        types(&table),
        [
            DataType::Int64,
            DataType::Float64,
            DataType::Utf8,
            DataType::Boolean,
            DataType::Date32,
            ts(),
            DataType::Binary,
            DataType::Int64
        ]
    );
    // Every column comes back equal, Int32 widened to SQLite's Int64.
    let id = arrow::compute::cast(input.column(0), &DataType::Int64).unwrap();
    assert_eq!(b.column(0).as_ref(), id.as_ref());
    for i in 1..input.num_columns() {
        assert_eq!(
            b.column(i).as_ref(),
            input.column(i).as_ref(),
            "column {}",
            input.schema().field(i).name()
        );
    }
}

#[test]
fn write_progress_reports_each_batch() {
    let (_dir, c) = fresh();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let batches = [sample(&[1, 2, 3]), sample(&[4, 5])];
    let n = c
        .write_table_with_progress(
            SOURCE,
            "scores",
            batches[0].schema(),
            &batches,
            IfExists::Fail,
            Arc::new(move |rows| record.lock().unwrap().push(rows)),
        )
        .unwrap();
    assert_eq!(n, 5);
    assert_eq!(*seen.lock().unwrap(), [3, 2]);
    assert_eq!(ids(&c), [1, 2, 3, 4, 5].map(Some));
}

#[test]
fn write_fail_replace_append() {
    let (_dir, c) = fresh();
    write(&c, &[sample(&[1, 2])], IfExists::Fail).unwrap();
    let e = write(&c, &[sample(&[9])], IfExists::Fail)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("already exists") && e.contains("--if-exists"),
        "{e}"
    );
    assert_eq!(ids(&c), [Some(1), Some(2)]);

    assert_eq!(
        write(&c, &[sample(&[3]), sample(&[4, 5])], IfExists::Replace).unwrap(),
        3
    );
    assert_eq!(ids(&c), [Some(3), Some(4), Some(5)]);

    assert_eq!(write(&c, &[sample(&[6])], IfExists::Append).unwrap(), 1);
    assert_eq!(ids(&c), [3, 4, 5, 6].map(Some));

    // Append to a table that does not exist creates it.
    let batch = sample(&[7]);
    c.write_table(SOURCE, "fresh", batch.schema(), &[batch], IfExists::Append)
        .unwrap();
    let (_, b) = read(&c, "SELECT id FROM fresh");
    assert_eq!(int64(&b, 0), [Some(7)]);
}

#[test]
fn append_with_a_mismatched_schema_fails_before_any_row() {
    let (_dir, c) = fresh();
    write(&c, &[sample(&[1])], IfExists::Fail).unwrap();
    let other = RecordBatch::try_from_iter([
        ("id", Arc::new(StringArray::from(vec!["x"])) as ArrayRef),
        ("extra", Arc::new(Int64Array::from(vec![1]))),
    ])
    .unwrap();
    let e = c
        .write_table(SOURCE, "scores", other.schema(), &[other], IfExists::Append)
        .unwrap_err()
        .to_string();
    assert!(e.contains("do not match"), "{e}");
    assert!(e.contains("\"id\" is Utf8 in the input but INTEGER"), "{e}");
    assert!(e.contains("\"extra\" (Int64) is not in the table"), "{e}");
    assert_eq!(ids(&c), [Some(1)]);
}

#[test]
fn a_write_failing_halfway_leaves_the_table_unchanged() {
    let (_dir, c) = fresh();
    write(&c, &[sample(&[1, 2])], IfExists::Fail).unwrap();
    // Replace: the first batch goes in, the second holds a value SQLite cannot store.
    let good =
        RecordBatch::try_from_iter([("id", Arc::new(UInt64Array::from(vec![10, 11])) as ArrayRef)])
            .unwrap();
    let bad = RecordBatch::try_from_iter([(
        "id",
        Arc::new(UInt64Array::from(vec![12, u64::MAX])) as ArrayRef,
    )])
    .unwrap();
    let e = c
        .write_table(
            SOURCE,
            "scores",
            good.schema(),
            &[good.clone(), bad],
            IfExists::Replace,
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("row 4") && e.contains("largest integer"), "{e}");
    let (table, _) = read(&c, "SELECT * FROM scores");
    assert_eq!(
        table.schema.fields().len(),
        8,
        "the old table is still there"
    );
    assert_eq!(ids(&c), [Some(1), Some(2)]);

    // Append: a constraint violation on the third row rolls back the two before it.
    c.execute_sql(
        SOURCE,
        "CREATE TABLE keyed (id INTEGER PRIMARY KEY); INSERT INTO keyed VALUES (3)",
    )
    .unwrap();
    let rows = RecordBatch::try_from_iter([(
        "id",
        Arc::new(Int64Array::from(vec![1, 2, 3, 4])) as ArrayRef,
    )])
    .unwrap();
    let e = c
        .write_table(SOURCE, "keyed", rows.schema(), &[rows], IfExists::Append)
        .unwrap_err()
        .to_string();
    assert!(e.contains("row 3") && e.contains("UNIQUE"), "{e}");
    let (_, b) = read(&c, "SELECT id FROM keyed");
    assert_eq!(int64(&b, 0), [Some(3)]);
}

#[test]
fn reading_a_missing_file_is_an_error_naming_it() {
    let (dir, c) = fresh();
    let path = dir.path().join("data.db");
    let e = c.read_sql(SOURCE, "SELECT 1").unwrap_err().to_string();
    assert!(e.contains(&path.display().to_string()), "{e}");
    assert!(e.contains("does not exist"), "{e}");
    assert!(!path.exists(), "a read must not create the database");
}

#[test]
fn relative_paths_resolve_against_the_settings_folder() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("job");
    std::fs::create_dir(&nested).unwrap();
    // The tests' working directory is the crate folder, not `job`.
    let c = client_for(&nested, "sqlite:///local.db").unwrap();
    c.execute_sql(SOURCE, "CREATE TABLE t (x); INSERT INTO t VALUES (1)")
        .unwrap();
    assert!(nested.join("local.db").exists());
    assert!(!Path::new("local.db").exists());

    // Four slashes: absolute.
    let absolute = dir.path().join("abs.db");
    let url = format!("sqlite:///{}", absolute.display());
    let c = client_for(&nested, &url).unwrap();
    c.execute_sql(SOURCE, "CREATE TABLE t (x)").unwrap();
    assert!(absolute.exists());
}

#[test]
fn urls_with_a_host_or_a_vault_path_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let c = client_for(dir.path(), "sqlite://myhost/data.db").unwrap();
    let e = c.read_sql(SOURCE, "SELECT 1").unwrap_err().to_string();
    assert!(
        e.contains("host part \"myhost\"") && e.contains("sqlite:///myhost/data.db"),
        "{e}"
    );

    let settings = dir.path().join("settings.json");
    let json = serde_json::json!({
        "db_connection_strings": { SOURCE: "sqlite:///data.db" },
        "db_vault_path": { SOURCE: "postgresql/dev/creds/x-admin" },
    });
    std::fs::write(&settings, json.to_string()).unwrap();
    let c = Client::with_options(ClientOptions {
        settings_path: Some(settings),
        env_file: None,
        ..Default::default()
    })
    .unwrap();
    let e = c.execute_sql(SOURCE, "SELECT 1").unwrap_err().to_string();
    assert!(
        e.contains("no logins") && e.contains("db_vault_path"),
        "{e}"
    );
    let e = c
        .read_sql_partitioned(SOURCE, "SELECT 1 AS x", "x", 2)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not supported for SQLite"), "{e}");
}
