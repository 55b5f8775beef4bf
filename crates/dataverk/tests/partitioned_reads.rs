//! Partitioned reads: a query split into ranges of one column, read on several connections at
//! once with the same Vault-issued credentials, gives exactly the rows of the plain read.

mod common;

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use common::*;
use dataverk::Table;

const SOURCE: &str = "postgres_database";

/// A world whose `events` table has 10,000 rows with NULLs in every partition column.
fn world() -> World {
    let w = World::start(WorldOptions::default());
    w.pg.psql(
        "mydb",
        "CREATE TABLE events AS
         SELECT g::int8 AS id,
                CASE WHEN g % 50 <> 0 THEN g % 1000 END::int4 AS k,
                CASE WHEN g % 70 <> 0 THEN DATE '2013-01-01' + (g % 365) END AS day,
                TIMESTAMPTZ '2013-01-01 00:00+00' + g * INTERVAL '17 minutes' AS at,
                (g / 3.0)::numeric(10,2) AS amount,
                'row ' || g AS label
         FROM generate_series(1, 10000) AS g;
         GRANT SELECT ON events TO \"mydb-admin\";",
    );
    w
}

/// The table's rows as text lines, sorted.
fn sorted_lines(table: &Table) -> Vec<String> {
    let batch = table.concat().unwrap();
    let mut lines: Vec<String> = (0..batch.num_rows())
        .map(|r| {
            (0..batch.num_columns())
                .map(|c| arrow::util::display::array_value_to_string(batch.column(c), r).unwrap())
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn partitions_give_the_plain_reads_rows_on_parallel_connections_with_one_lease() {
    let w = world();
    let client = lazy_client(w.seed_settings(), k8s_vault(&w));
    let query = "SELECT id, k, day, at, amount, label FROM events WHERE id <= 9990;";
    let plain = client.read_sql(SOURCE, query).unwrap();
    assert_eq!(plain.num_rows(), 9990);
    for column in ["id", "k", "day", "at", "amount"] {
        for n in [1, 2, 3, 7] {
            let parts = client
                .read_sql_partitioned(SOURCE, query, column, n)
                .unwrap();
            assert_eq!(parts.schema, plain.schema, "{column} × {n}");
            assert_eq!(sorted_lines(&parts), sorted_lines(&plain), "{column} × {n}");
        }
    }
    // Four partitions run on four server sessions at once, and come back in range order.
    let parts = client
        .read_sql_partitioned(
            SOURCE,
            "SELECT id, pg_backend_pid()::int8 AS pid FROM events",
            "id",
            4,
        )
        .unwrap();
    let batch = parts.concat().unwrap();
    let ids = batch.column(0).as_primitive::<Int64Type>();
    assert!(
        ids.values().windows(2).all(|w| w[0] < w[1]),
        "in range order"
    );
    let mut pids: Vec<i64> = batch
        .column(1)
        .as_primitive::<Int64Type>()
        .values()
        .to_vec();
    pids.sort();
    pids.dedup();
    assert_eq!(pids.len(), 4, "one session per partition");
    assert_eq!(
        w.vault.creds_issued(CREDS_PATH),
        1,
        "one lease for every connection"
    );
}

#[test]
fn bad_partition_columns_say_what_to_do() {
    let w = world();
    let client = lazy_client(w.seed_settings(), k8s_vault(&w));
    let e = client
        .read_sql_partitioned(SOURCE, "SELECT id FROM events", "nope", 2)
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"nope\" does not exist"), "{e}");
    let e = client
        .read_sql_partitioned(SOURCE, "SELECT label FROM events", "label", 2)
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot partition on column \"label\""), "{e}");
    let e = client
        .read_sql_partitioned(SOURCE, "SELECT id FROM events", "id", 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("at least 1"), "{e}");
    // A column of only NULLs, or an empty result, is one partition: the query itself.
    let t = client
        .read_sql_partitioned(
            SOURCE,
            "SELECT id, NULL::int AS n FROM events WHERE id < 5",
            "n",
            3,
        )
        .unwrap();
    assert_eq!(t.num_rows(), 4);
    let t = client
        .read_sql_partitioned(SOURCE, "SELECT id FROM events WHERE false", "id", 3)
        .unwrap();
    assert_eq!((t.num_rows(), t.schema.fields().len()), (0, 1));
}
