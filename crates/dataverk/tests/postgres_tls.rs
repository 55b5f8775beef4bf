//! `sslmode` against a real PostgreSQL server with TLS: a certificate from a test CA, verified
//! the way libpq does for each mode, over rustls.

use dataverk::{Client, ClientOptions, Error};
use std::path::{Path, PathBuf};
use testkit::PgCluster;

/// A client whose only source is `url`, without Vault.
fn client_for(dir: &Path, url: &str) -> Client {
    let settings = dir.join("settings.json");
    let body = serde_json::json!({ "db_connection_strings": { "db": url } });
    std::fs::write(&settings, body.to_string()).unwrap();
    Client::with_options(ClientOptions {
        settings_path: Some(settings),
        env_file: None,
        vault: None,
        ..Default::default()
    })
    .expect("client")
}

/// Whether the session runs over TLS, as the server sees it.
fn session_ssl(client: &Client) -> dataverk::Result<String> {
    let table = client.read_sql(
        "db",
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    )?;
    let batch = table.concat()?;
    Ok(arrow::util::display::array_value_to_string(batch.column(0), 0).unwrap())
}

fn url(pg: &PgCluster, host: &str, query: &str) -> String {
    format!(
        "postgres://{}:{}@{host}:{}/postgres?{query}",
        pg.superuser(),
        pg.password(),
        pg.port()
    )
}

#[test]
fn sslmodes_encrypt_and_verify_as_libpq_does() {
    let pg = PgCluster::start();
    let ca: PathBuf = pg.enable_ssl(true);
    let dir = tempfile::tempdir().unwrap();
    let ca_q = format!("sslrootcert={}", ca.display());

    for (host, query) in [
        ("127.0.0.1", format!("sslmode=verify-full&{ca_q}")),
        ("localhost", format!("sslmode=verify-full&{ca_q}")),
        ("127.0.0.1", format!("sslmode=verify-ca&{ca_q}")),
        ("127.0.0.1", "sslmode=require".to_string()),
        ("127.0.0.1", "sslmode=prefer".to_string()),
    ] {
        let client = client_for(dir.path(), &url(&pg, host, &query));
        assert_eq!(session_ssl(&client).unwrap(), "true", "{host} {query}");
    }

    // The server allows only TLS host connections, so without TLS the login is refused.
    let client = client_for(dir.path(), &url(&pg, "127.0.0.1", "sslmode=disable"));
    let e = session_ssl(&client).unwrap_err();
    assert!(
        e.to_string().contains("no encryption") || e.to_string().contains("pg_hba.conf"),
        "{e}"
    );

    // A certificate no trusted root signed fails verify-full (the built-in roots do not know
    // the test CA), with the reason and without the password.
    let client = client_for(
        dir.path(),
        &url(&pg, "127.0.0.1", "sslmode=verify-full&sslrootcert=system"),
    );
    let e = session_ssl(&client).unwrap_err();
    let text = e.to_string();
    assert!(text.to_lowercase().contains("certificate"), "{text}");
    assert!(!text.contains(pg.password()), "{text}");
    assert!(matches!(e, Error::Connect { .. }), "{e:?}");
}

#[test]
fn a_missing_root_certificate_file_is_named() {
    let pg = PgCluster::start();
    pg.enable_ssl(false);
    let dir = tempfile::tempdir().unwrap();
    let client = client_for(
        dir.path(),
        &url(
            &pg,
            "127.0.0.1",
            "sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem",
        ),
    );
    let e = session_ssl(&client).unwrap_err().to_string();
    assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    assert!(!e.contains(pg.password()), "{e}");
}
