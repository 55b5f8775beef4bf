//! The `dataverk` binary on a SQLite source, the README's first example: no server, no Vault,
//! a settings.json with one `sqlite:///` source next to the database file.

use std::path::Path;
use std::process::{Command, Output};

/// Runs the CLI in `dir` with a clean environment (no Vault variables).
fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dataverk"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run dataverk")
}

fn ok(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn execute_read_and_write_on_a_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("settings.json"),
        r#"{ "db_connection_strings": { "local": "sqlite:///local.db" } }"#,
    )
    .unwrap();

    let out = ok(&run(
        d,
        &[
            "execute",
            "local",
            "CREATE TABLE flights (carrier TEXT, dep_delay REAL, day DATE); \
             INSERT INTO flights VALUES ('AA', 1.5, '2013-01-01'), ('UA', NULL, '2013-01-02')",
        ],
    ));
    assert_eq!(out.trim(), "2 rows affected");
    assert!(d.join("local.db").exists());

    let out = ok(&run(
        d,
        &[
            "read-sql",
            "local",
            "SELECT * FROM flights ORDER BY carrier",
        ],
    ));
    let expected = "\
+---------+-----------+------------+
| carrier | dep_delay | day        |
+---------+-----------+------------+
| AA      | 1.5       | 2013-01-01 |
| UA      |           | 2013-01-02 |
+---------+-----------+------------+
(2 rows)
";
    assert_eq!(out, expected);

    // Round trip through a Parquet file and `write`.
    ok(&run(
        d,
        &[
            "read-sql",
            "local",
            "SELECT * FROM flights",
            "--output",
            "flights.parquet",
        ],
    ));
    ok(&run(
        d,
        &["write", "local", "copy", "--input", "flights.parquet"],
    ));
    let out = ok(&run(
        d,
        &["read-sql", "local", "SELECT count(*) AS n FROM copy"],
    ));
    assert!(out.contains("| 2 |"), "{out}");

    // A missing database file on read: exit 1, the path named, nothing created.
    std::fs::write(
        d.join("settings.json"),
        r#"{ "db_connection_strings": { "local": "sqlite:///other.db" } }"#,
    )
    .unwrap();
    let out = run(d, &["read-sql", "local", "SELECT 1"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("other.db") && stderr.contains("does not exist"),
        "{stderr}"
    );
    assert!(!d.join("other.db").exists());
}
