//! The main job end to end against a real PostgreSQL cluster and a real devvault: the seed's
//! settings, Kubernetes login, KV v1 and v2, Vault-issued credentials that are renewed,
//! replaced after their lease ended or after a refused login, and the errors a user meets.

mod common;

use arrow::array::{Array, Float64Array, Int64Array, StringArray};
use arrow::datatypes::DataType;
use common::*;
use dataverk::vault::RetryPolicy;
use dataverk::{Client, ClientOptions, Error};
use serde_json::json;
use std::time::Duration;

#[test]
fn seed_scenario_reads_through_kubernetes_login_and_vault_credentials() {
    let w = World::start(WorldOptions::default());
    let client = new_client(w.seed_settings(), k8s_vault(&w));
    let table = client
        .read_sql(
            "postgres_database",
            "SELECT carrier, count(*) AS n, sum(dep_delay) AS delay, current_user AS who \
             FROM flights GROUP BY carrier ORDER BY carrier",
        )
        .unwrap();
    let batch = table.concat().unwrap();
    assert_eq!(batch.num_rows(), 2);
    let schema = batch.schema();
    assert_eq!(schema.field(0).name(), "carrier");
    assert_eq!(schema.field(1).data_type(), &DataType::Int64);
    assert_eq!(schema.field(2).data_type(), &DataType::Float64);
    let carriers = batch
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let counts = batch
        .column(1)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    let delays = batch
        .column(2)
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    let who = batch
        .column(3)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    assert_eq!(
        (carriers.value(0), counts.value(0), delays.value(0)),
        ("AA", 2, 1.5)
    );
    assert_eq!(
        (carriers.value(1), counts.value(1), delays.value(1)),
        ("UA", 1, -3.0)
    );
    assert!(
        who.value(0).starts_with("v-"),
        "a Vault-issued user: {}",
        who.value(0)
    );
    assert_eq!(client.inner().credentials().unwrap().stats().issued, 1);
}

#[test]
fn common_types_and_nulls_and_text_fallback() {
    let w = World::start(WorldOptions::default());
    let client = new_client(w.seed_settings(), k8s_vault(&w));
    let table = client
        .read_sql(
            "postgres_database",
            "SELECT 1::int2 AS a, 2::int4 AS b, 3::int8 AS c, 1.5::float4 AS d, 2.5::float8 AS e, \
             12.340::numeric(10,3) AS f, 99999999999999999999.5::numeric AS g, true AS h, \
             'x'::varchar AS i, 'y'::text AS j, DATE '1969-12-31' AS k, \
             TIMESTAMP '2013-01-01 05:00:00' AS l, TIMESTAMPTZ '2013-01-01 05:00:00+02' AS m, \
             NULL::int4 AS n, '10.0.0.1/8'::inet AS o, point(1,2) AS p \
             UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
             NULL, NULL, NULL, NULL, NULL",
        )
        .unwrap();
    let batch = table.concat().unwrap();
    assert_eq!(batch.num_rows(), 2);
    let s = |col: usize, row: usize| {
        arrow::util::display::array_value_to_string(batch.column(col), row).unwrap()
    };
    let expected = [
        "1",
        "2",
        "3",
        "1.5",
        "2.5",
        "12.340",
        "99999999999999999999.5",
        "true",
        "x",
        "y",
        "1969-12-31",
        "2013-01-01T05:00:00",
        "2013-01-01T03:00:00Z",
        "",
        "10.0.0.1/8",
        "(1,2)",
    ];
    for (col, want) in expected.iter().enumerate() {
        assert_eq!(
            &s(col, 0),
            want,
            "column {}",
            batch.schema().field(col).name()
        );
        assert!(batch.column(col).is_null(1), "column {col} row 2 is NULL");
    }
    let types: Vec<DataType> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    assert_eq!(
        types[5],
        DataType::Utf8,
        "UNION loses the typmod: exact text"
    );
    assert_eq!(
        types[6],
        DataType::Utf8,
        "unconstrained numeric is exact text"
    );
    assert_eq!(types[14], DataType::Utf8, "inet comes back as text");
    assert_eq!(types[15], DataType::Utf8, "point comes back as text");

    let t = client
        .read_sql("postgres_database", "SELECT 12.340::numeric(10,3) AS f")
        .unwrap();
    assert_eq!(t.schema.field(0).data_type(), &DataType::Decimal128(10, 3));
    let b = t.concat().unwrap();
    assert_eq!(
        arrow::util::display::array_value_to_string(b.column(0), 0).unwrap(),
        "12.340"
    );
}

#[test]
fn query_from_a_sql_file_and_an_empty_result_keeps_its_schema() {
    let w = World::start(WorldOptions::default());
    let client = new_client(w.seed_settings(), k8s_vault(&w));
    let file = w.dir.path().join("q.sql");
    std::fs::write(&file, "SELECT flight FROM flights WHERE carrier = 'UA';\n").unwrap();
    assert_eq!(
        scalar(&client, "postgres_database", file.to_str().unwrap()),
        "3"
    );
    let empty = client
        .read_sql(
            "postgres_database",
            "SELECT carrier, flight FROM flights WHERE false",
        )
        .unwrap();
    assert_eq!(empty.num_rows(), 0);
    assert_eq!(empty.schema.fields().len(), 2);
    assert_eq!(empty.schema.field(1).data_type(), &DataType::Int32);
}

#[test]
fn placeholders_from_kv_version_1() {
    let w = World::start(WorldOptions::default());
    let url = format!("postgres://user:pass@127.0.0.1:{}/mydb", w.pg.port());
    w.vault.put_kv(
        "kv/kubeflow/team-a",
        json!({"PG_URL": url, "PG_CREDS": CREDS_PATH}),
    );
    let settings = w.settings(json!({
        "db_connection_strings": {"pg": "$PG_URL"},
        "db_vault_path": {"pg": "${PG_CREDS}"}
    }));
    let client = new_client(settings, token_vault(&w, Some("kv/kubeflow/team-a")));
    assert!(scalar(&client, "pg", "SELECT current_user").starts_with("v-"));
}

#[test]
fn hostile_placeholder_values_come_through_unchanged() {
    let w = World::start(WorldOptions::default());
    let password = r#"q"u\o$te$$x${Y}$Z"#;
    w.pg.psql(
        "mydb",
        &format!(
            "CREATE ROLE hostile LOGIN PASSWORD '{password}'; GRANT SELECT ON flights TO hostile"
        ),
    );
    let secrets = w.dir.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    std::fs::write(secrets.join("HOSTILE_PW"), format!("{password}\n")).unwrap();
    std::fs::write(secrets.join("HOSTILE_ROLE"), "a\"b'c\\d").unwrap();
    let settings = w.settings(json!({
        "secret_path": "secrets",
        "db_connection_strings": {
            "h": format!("postgres://hostile:${{HOSTILE_PW}}@127.0.0.1:{}/mydb", w.pg.port())
        },
        "db_role": {"h": "${HOSTILE_ROLE}"}
    }));
    let client = Client::with_options(ClientOptions {
        settings_path: Some(settings),
        env_file: None,
        vault: None,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        client.inner().settings().write_role("h").unwrap(),
        "a\"b'c\\d"
    );
    assert_eq!(scalar(&client, "h", "SELECT current_user"), "hostile");
}

#[test]
fn credentials_with_url_special_characters() {
    let w = World::start(WorldOptions {
        username_template: "v-@:/%#?-{{random}}",
        password_charset: "aB3@:/%#?&=+",
        ..Default::default()
    });
    let client = new_client(w.seed_settings(), k8s_vault(&w));
    let user = scalar(&client, "postgres_database", "SELECT current_user");
    assert!(user.starts_with("v-@:/%#?-"), "{user}");
    assert_eq!(
        scalar(&client, "postgres_database", "SELECT count(*) FROM flights"),
        "3"
    );
}

#[test]
fn a_read_after_the_lease_ended_gets_new_credentials() {
    let w = World::start(WorldOptions {
        ttl: "2s",
        max_ttl: "2s",
        ..Default::default()
    });
    let client = lazy_client(w.seed_settings(), k8s_vault(&w));
    let first = scalar(&client, "postgres_database", "SELECT current_user");
    std::thread::sleep(Duration::from_millis(3500));
    // devvault has revoked the lease and dropped the user by now.
    let gone = w.pg.psql(
        "postgres",
        &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{first}'"),
    );
    assert_eq!(gone.trim(), "0", "the first user was dropped at lease end");
    let second = scalar(&client, "postgres_database", "SELECT current_user");
    assert_ne!(first, second);
    assert_eq!(client.inner().credentials().unwrap().stats().issued, 2);
}

#[test]
fn a_renewable_lease_is_renewed_not_replaced() {
    let w = World::start(WorldOptions {
        ttl: "6s",
        max_ttl: "1m",
        ..Default::default()
    });
    let client = lazy_client(w.seed_settings(), k8s_vault(&w));
    let first = scalar(&client, "postgres_database", "SELECT current_user");
    // Past two thirds of the lease (4 s), well before its end (6 s).
    std::thread::sleep(Duration::from_millis(4500));
    let second = scalar(&client, "postgres_database", "SELECT current_user");
    std::thread::sleep(Duration::from_millis(4500));
    let third = scalar(&client, "postgres_database", "SELECT current_user");
    assert_eq!(first, second);
    assert_eq!(first, third, "still alive 9 s into a 6 s lease: renewed");
    let stats = client.inner().credentials().unwrap().stats();
    assert_eq!((stats.issued, stats.renewed), (1, 2));
}

#[test]
fn a_refused_login_gets_new_credentials_once() {
    let w = World::start(WorldOptions::default());
    let client = new_client(w.seed_settings(), k8s_vault(&w));
    let first = scalar(&client, "postgres_database", "SELECT current_user");
    w.pg.psql(
        "mydb",
        &format!("ALTER ROLE \"{first}\" PASSWORD 'changed-behind-our-back'"),
    );
    // The pooled session stays logged in; end it so the next read must log in again.
    w.pg.psql(
        "mydb",
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{first}'"
        ),
    );
    let second = scalar(&client, "postgres_database", "SELECT current_user");
    assert_ne!(first, second);
    assert_eq!(client.inner().credentials().unwrap().stats().issued, 2);
}

fn err_of(r: dataverk::Result<impl std::fmt::Debug>) -> Error {
    r.expect_err("an error")
}

#[test]
fn errors_say_what_was_wrong() {
    let w = World::start(WorldOptions::default());
    let client = new_client(w.seed_settings(), k8s_vault(&w));

    let e = err_of(client.read_sql("nope", "SELECT 1")).to_string();
    assert_eq!(
        e,
        "unknown source \"nope\"; known sources: postgres_database"
    );

    let e = err_of(client.read_sql("postgres_database", "SELECT * FROM missing_table"));
    assert!(
        matches!(&e, Error::Sql { code: Some(c), .. } if c == "42P01"),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("relation \"missing_table\" does not exist"),
        "{e}"
    );

    // A placeholder nobody has.
    let settings = w.settings(json!({"db_connection_strings": {"x": "${DV_TEST_NO_SUCH_SECRET}"}}));
    let e = Client::with_options(ClientOptions {
        settings_path: Some(settings),
        env_file: None,
        vault: Some(k8s_vault(&w)),
        ..Default::default()
    })
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("${DV_TEST_NO_SUCH_SECRET}"), "{e}");
    assert!(e.contains("Vault KV secret/kubeflow/team-a"), "{e}");
    assert!(e.contains("the environment"), "{e}");

    // Database refusing a static password.
    let settings = w.settings(json!({"db_connection_strings": {
        "bad": format!("postgres://postgres:wrong-password@127.0.0.1:{}/mydb", w.pg.port())}}));
    let c = new_client(settings, k8s_vault(&w));
    let e = err_of(c.read_sql("bad", "SELECT 1"));
    assert!(
        matches!(&e, Error::LoginRefused { code, .. } if code == "28P01"),
        "{e:?}"
    );
    assert!(!e.to_string().contains("wrong-password"));

    // Vault refusing: a service account of another namespace.
    std::fs::write(w.serviceaccount_dir().join("token"), k8s_jwt("other-ns")).unwrap();
    let e = Client::with_options(ClientOptions {
        settings_path: Some(w.seed_settings()),
        env_file: None,
        vault: Some(k8s_vault(&w)),
        ..Default::default()
    })
    .err()
    .unwrap();
    assert!(matches!(&e, Error::Vault { status: 403, .. }), "{e:?}");
    assert!(e.to_string().contains("auth/kubernetes/login"), "{e}");

    // Vault unreachable.
    let mut cfg = k8s_vault(&w);
    cfg.addr = format!("http://127.0.0.1:{}", testkit::free_port());
    let e = Client::with_options(ClientOptions {
        settings_path: Some(w.seed_settings()),
        env_file: None,
        vault: Some(cfg),
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            ..Default::default()
        },
        ..Default::default()
    })
    .err()
    .unwrap();
    assert!(
        matches!(&e, Error::VaultUnreachable { attempts: 3, .. }),
        "{e:?}"
    );
}
