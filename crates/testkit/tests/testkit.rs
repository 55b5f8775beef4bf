//! Checks that the test fixtures themselves work: a real cluster with password auth, restarts
//! on the same port, and a devvault that restarts on the same port with fresh state.

use std::io::{Read, Write};
use std::net::TcpStream;

use testkit::{DevVault, PgCluster};

#[test]
fn pg_cluster_runs_sql_requires_a_password_and_restarts_on_the_same_port() {
    let pg = PgCluster::start();
    assert_eq!(pg.superuser(), "postgres");
    assert_eq!(pg.psql("postgres", "SELECT 1 + 1;").trim(), "2");
    assert_eq!(
        pg.url("postgres"),
        format!(
            "postgres://postgres:{}@127.0.0.1:{}/postgres",
            pg.password(),
            pg.port()
        )
    );
    assert_eq!(
        pg.psql("postgres", "SHOW password_encryption;").trim(),
        "scram-sha-256"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let wrong = runtime.block_on(tokio_postgres::connect(
        &format!("postgres://postgres:wrong@127.0.0.1:{}/postgres", pg.port()),
        tokio_postgres::NoTls,
    ));
    assert!(wrong.is_err(), "a wrong password must be refused");
    let right = runtime.block_on(tokio_postgres::connect(
        &pg.url("postgres"),
        tokio_postgres::NoTls,
    ));
    assert!(
        right.is_ok(),
        "the superuser URL must connect: {:?}",
        right.err()
    );

    let port = pg.port();
    pg.restart();
    assert_eq!(pg.port(), port);
    assert_eq!(pg.psql("postgres", "SELECT 'back';").trim(), "back");
    pg.stop();
}

fn get(addr: &str, path: &str) -> (u16, String) {
    let host = addr.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    (status, response)
}

#[test]
fn devvault_restarts_on_the_same_port() {
    let mut vault = DevVault::start(devvault::Config::default());
    let addr = vault.addr();
    assert!(addr.starts_with("http://127.0.0.1:"));
    assert!(!vault.root_token().is_empty());
    assert_eq!(get(&addr, "/v1/sys/health").0, 200);

    vault.stop();
    // A connect to a closed loopback port in the ephemeral range can, rarely, pick that same
    // port as its source and connect to itself (TCP simultaneous open): ask a few times.
    let closed = (0..5).any(|_| {
        let refused = TcpStream::connect(addr.trim_start_matches("http://")).is_err();
        if !refused {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        refused
    });
    assert!(closed, "{addr} still accepts connections after stop()");
    vault.restart();
    assert_eq!(vault.addr(), addr);
    let (status, body) = get(&addr, "/v1/sys/health");
    assert_eq!(status, 200);
    assert!(body.contains("\"sealed\":false"));
}
