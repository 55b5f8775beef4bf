//! The `dataverk` binary against a real PostgreSQL cluster and devvault: output, exit codes,
//! error messages, and that no secret ever reaches stdout, stderr or the logs.

mod common;

use serde_json::json;
use std::path::Path;
use std::process::Output;
use testkit::scenario::{k8s_jwt, World, WorldOptions, NAMESPACE};

/// Runs the CLI with a clean environment configured the seed's way (Kubernetes login).
fn run(w: &World, settings: &Path, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
    let mut cmd = common::dataverk(w, settings);
    cmd.args(args);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.output().expect("run dataverk")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const AGGREGATE: &str =
    "SELECT carrier, count(*) AS flights FROM flights GROUP BY carrier ORDER BY carrier";

#[test]
fn read_sql_prints_a_table_and_writes_files() {
    let w = World::start(WorldOptions::default());
    let settings = w.seed_settings();
    let out = run(
        &w,
        &settings,
        &["read-sql", "postgres_database", AGGREGATE],
        &[],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("| carrier | flights |"), "{stdout}");
    assert!(stdout.contains("| AA      | 2       |"), "{stdout}");
    assert!(stdout.contains("| UA      | 1       |"), "{stdout}");
    assert!(stdout.trim_end().ends_with("(2 rows)"), "{stdout}");

    let csv = w.dir.path().join("out.csv");
    let out = run(
        &w,
        &settings,
        &[
            "read-sql",
            "postgres_database",
            AGGREGATE,
            "--output",
            csv.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(
        std::fs::read_to_string(&csv).unwrap(),
        "carrier,flights\nAA,2\nUA,1\n"
    );

    let parquet = w.dir.path().join("out.parquet");
    let out = run(
        &w,
        &settings,
        &[
            "read-sql",
            "postgres_database",
            AGGREGATE,
            "-o",
            parquet.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(text(&out).1.contains("wrote 2 rows"));
    let bytes = std::fs::read(&parquet).unwrap();
    assert_eq!(&bytes[..4], b"PAR1");

    // Partitioned: the same rows, ordered by the ranges of the partition column.
    let parts = w.dir.path().join("parts.csv");
    let out = run(
        &w,
        &settings,
        &[
            "read-sql",
            "postgres_database",
            "SELECT flight, carrier FROM flights",
            "--partition-on",
            "flight",
            "--partitions",
            "3",
            "-o",
            parts.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(
        std::fs::read_to_string(&parts).unwrap(),
        "flight,carrier\n1,AA\n2,AA\n3,UA\n"
    );
    let out = run(
        &w,
        &settings,
        &[
            "read-sql",
            "postgres_database",
            AGGREGATE,
            "--partitions",
            "0",
            "--partition-on",
            "x",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out).1);
}

#[test]
fn a_failed_query_leaves_no_output_file() {
    let w = World::start(WorldOptions::default());
    let settings = w.seed_settings();
    let csv = w.dir.path().join("out.csv");
    // Fails on the server after the first rows have been sent.
    let sql = "SELECT 1 / (3 - g) FROM generate_series(1, 100000) g";
    let out = run(
        &w,
        &settings,
        &[
            "read-sql",
            "postgres_database",
            sql,
            "-o",
            csv.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).1.contains("division by zero"),
        "{}",
        text(&out).1
    );
    let left: Vec<_> = std::fs::read_dir(w.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("out.csv"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn errors_go_to_stderr_with_a_nonzero_exit_and_no_secret_anywhere() {
    let w = World::start(WorldOptions::default());
    let seed = w.seed_settings();
    let mut transcript = String::new();
    let mut expect_failure =
        |settings: &Path, args: &[&str], env: &[(&str, &str)], needles: &[&str]| {
            let out = run(&w, settings, args, env);
            let (stdout, stderr) = text(&out);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {stdout}{stderr}");
            for needle in needles {
                assert!(
                    stderr.contains(needle),
                    "{args:?}: expected {needle:?} in:\n{stderr}"
                );
            }
            transcript.push_str(&stdout);
            transcript.push_str(&stderr);
        };
    let debug = [("RUST_LOG", "debug")];

    expect_failure(
        &seed,
        &["read-sql", "nope", "SELECT 1"],
        &debug,
        &["unknown source \"nope\"; known sources: postgres_database"],
    );
    expect_failure(
        &seed,
        &["read-sql", "postgres_database", "SELECT * FROM nowhere"],
        &debug,
        &["relation \"nowhere\" does not exist", "42P01"],
    );

    let missing = w.dir.path().join("missing.json");
    std::fs::write(
        &missing,
        r#"{"db_connection_strings": {"x": "${NOT_THERE}"}}"#,
    )
    .unwrap();
    expect_failure(
        &missing,
        &["read-sql", "x", "SELECT 1"],
        &debug,
        &[
            "${NOT_THERE}",
            "Vault KV secret/kubeflow/team-a",
            "the environment",
        ],
    );

    let broken = w.dir.path().join("broken.json");
    std::fs::write(
        &broken,
        "{\n \"db_connection_strings\": {\n  \"x\": \"a\",\n }\n}",
    )
    .unwrap();
    expect_failure(
        &broken,
        &["read-sql", "x", "SELECT 1"],
        &debug,
        &["broken.json:4:2"],
    );

    // A static password the database refuses; it must not be echoed back.
    let static_pw = "Sup3r-Secret-Static-PW";
    let wrong = w.dir.path().join("wrong.json");
    std::fs::write(
        &wrong,
        json!({"db_connection_strings": {
        "x": format!("postgres://postgres:{static_pw}@127.0.0.1:{}/mydb", w.pg.port())}})
        .to_string(),
    )
    .unwrap();
    expect_failure(
        &wrong,
        &["read-sql", "x", "SELECT 1"],
        &debug,
        &["login refused", "28P01"],
    );

    let mysql = w.dir.path().join("mysql.json");
    std::fs::write(
        &mysql,
        r#"{"db_connection_strings": {"m": "mysql://u:p@h/db"}}"#,
    )
    .unwrap();
    expect_failure(
        &mysql,
        &["read-sql", "m", "SELECT 1"],
        &debug,
        &["unsupported URL scheme \"mysql\""],
    );

    // A Vault source whose URL has no user-info placeholder.
    w.vault.put_kv(
        "secret/kubeflow/team-a",
        json!({"POSTGRES_CREDENTIALS": format!("postgres://127.0.0.1:{}/mydb", w.pg.port()),
               "POSTGRES_CREDS_PATH": testkit::scenario::CREDS_PATH}),
    );
    expect_failure(
        &seed,
        &["read-sql", "postgres_database", "SELECT 1"],
        &debug,
        &["no user-info placeholder", "postgres://user:pass@"],
    );
    // A creds path that is not a database secrets engine path: no username/password.
    w.vault.put_kv(
        "secret/kubeflow/team-a",
        json!({"POSTGRES_CREDENTIALS": format!("postgres://user:pass@127.0.0.1:{}/mydb", w.pg.port()),
               "POSTGRES_CREDS_PATH": "secret/data/kubeflow/team-a"}),
    );
    expect_failure(
        &seed,
        &["read-sql", "postgres_database", "SELECT 1"],
        &debug,
        &["secret/data/kubeflow/team-a", "no string `data.username`"],
    );
    w.vault.put_kv(
        "secret/kubeflow/team-a",
        json!({"POSTGRES_CREDENTIALS": format!("postgres://user:pass@127.0.0.1:{}/mydb", w.pg.port()),
               "POSTGRES_CREDS_PATH": testkit::scenario::CREDS_PATH}),
    );
    // An unreadable service-account token.
    let missing_sa = w.dir.path().join("no-such-folder");
    std::fs::create_dir_all(&missing_sa).unwrap();
    std::fs::write(missing_sa.join("namespace"), NAMESPACE).unwrap();
    expect_failure(
        &seed,
        &["read-sql", "postgres_database", "SELECT 1"],
        &[
            ("K8S_SERVICEACCOUNT_PATH", missing_sa.to_str().unwrap()),
            ("RUST_LOG", "debug"),
        ],
        &[
            "cannot read the service-account token",
            "no-such-folder/token",
        ],
    );

    // Vault refusing the service account of another namespace.
    let token_file = w.serviceaccount_dir().join("token");
    let jwt = k8s_jwt("intruder-ns");
    std::fs::write(&token_file, &jwt).unwrap();
    expect_failure(
        &seed,
        &["read-sql", "postgres_database", "SELECT 1"],
        &debug,
        &["auth/kubernetes/login", "HTTP 403"],
    );
    std::fs::write(&token_file, k8s_jwt(NAMESPACE)).unwrap();

    // Vault unreachable.
    let dead = format!("http://127.0.0.1:{}", testkit::free_port());
    expect_failure(
        &seed,
        &["read-sql", "postgres_database", "SELECT 1"],
        &[("VKS_VAULT_ADDR", dead.as_str()), ("RUST_LOG", "debug")],
        &["unreachable"],
    );

    // And a successful run with the root token and debug logs.
    let out = run(
        &w,
        &seed,
        &["read-sql", "postgres_database", "SELECT current_user"],
        &[
            ("VKS_VAULT_ADDR", ""),
            ("VAULT_ADDR", &w.vault.addr()),
            ("VAULT_TOKEN", w.vault.root_token()),
            ("DATAVERK_VAULT_KV_PATH", "secret/kubeflow/team-a"),
            ("RUST_LOG", "debug"),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("v-"), "{stdout}");
    assert!(
        stderr.contains("new database credentials from Vault"),
        "debug logs were on: {stderr}"
    );
    transcript.push_str(&stdout);
    transcript.push_str(&stderr);

    for secret in [
        static_pw,
        w.vault.root_token(),
        w.pg.password(),
        jwt.as_str(),
        &k8s_jwt(NAMESPACE),
    ] {
        assert!(
            !transcript.contains(secret),
            "a secret leaked into the output:\n{transcript}"
        );
    }
}
