//! Opening a connection and telling a refused login from other failures.

use super::tls;
use crate::db::url::redact;
use crate::error::Error;
use crate::Secret;
use std::str::FromStr;
use tokio_postgres::error::SqlState;
use tokio_postgres_rustls::MakeRustlsConnect;

/// An open connection; the protocol task runs on the runtime until the client is dropped.
pub struct PgConnection {
    /// The tokio-postgres client.
    pub client: tokio_postgres::Client,
    task: tokio::task::JoinHandle<()>,
}

impl PgConnection {
    /// Whether the server side has gone away.
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

impl Drop for PgConnection {
    fn drop(&mut self) {
        // Dropping the client ends the connection task by itself; aborting just makes it prompt.
        self.task.abort();
    }
}

/// Why a connection could not be opened.
#[derive(Debug)]
pub enum ConnectFailure {
    /// The server refused the credentials (SQLSTATE 28P01 or 28000): new credentials may help.
    Refused(Error),
    /// Anything else: unreachable, no such database, bad URL.
    Other(Error),
}

impl ConnectFailure {
    /// The error, whichever kind.
    pub fn into_error(self) -> Error {
        match self {
            ConnectFailure::Refused(e) | ConnectFailure::Other(e) => e,
        }
    }
}

/// Opens a connection to `url` (which may hold credentials) for `source_name`.
pub async fn connect(url: &Secret, source_name: &str) -> Result<PgConnection, ConnectFailure> {
    let target = redact(url.expose());
    let bad_url = |message: String| {
        ConnectFailure::Other(Error::Url {
            source_name: source_name.to_string(),
            message: format!("invalid PostgreSQL connection URL {target}: {message}"),
        })
    };
    let (pg_url, tls_options) = tls::split_url(url.expose()).map_err(bad_url)?;
    let pg_url = Secret::new(pg_url);
    let config =
        tokio_postgres::Config::from_str(pg_url.expose()).map_err(|e| bad_url(e.to_string()))?;
    let tls_config = tls::client_config(&tls_options).map_err(bad_url)?;
    let opened = match tls_config {
        None => config
            .connect(tokio_postgres::NoTls)
            .await
            .map(|(client, conn)| (client, spawn_connection(conn))),
        Some(tls_config) => config
            .connect(MakeRustlsConnect::new(tls_config))
            .await
            .map(|(client, conn)| (client, spawn_connection(conn))),
    };
    match opened {
        Ok((client, task)) => Ok(PgConnection { client, task }),
        Err(e) => {
            let code = e.code().cloned();
            let refused = matches!(
                code,
                Some(SqlState::INVALID_PASSWORD)
                    | Some(SqlState::INVALID_AUTHORIZATION_SPECIFICATION)
            );
            let message = match e.as_db_error() {
                Some(db) => db.message().to_string(),
                None => describe(&e),
            };
            if refused {
                Err(ConnectFailure::Refused(Error::LoginRefused {
                    source_name: source_name.to_string(),
                    code: code.map(|c| c.code().to_string()).unwrap_or_default(),
                    message,
                }))
            } else {
                Err(ConnectFailure::Other(Error::Connect {
                    source_name: source_name.to_string(),
                    target,
                    message,
                }))
            }
        }
    }
}

/// Runs a connection's protocol task on the runtime.
fn spawn_connection<F>(connection: F) -> tokio::task::JoinHandle<()>
where
    F: std::future::Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "postgres connection ended");
        }
    })
}

/// A tokio-postgres error with its causes (its Display alone often says just "db error").
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    use std::error::Error as _;
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s = s.to_string();
        if !msg.contains(&s) {
            msg.push_str(": ");
            msg.push_str(&s);
        }
        source = source.and_then(|x| x.source());
    }
    msg
}

/// A statement error as the library's error, with Postgres' own message and SQLSTATE.
pub(crate) fn sql_error(e: tokio_postgres::Error) -> Error {
    match e.as_db_error() {
        Some(db) => Error::Sql {
            message: db.message().to_string(),
            code: Some(db.code().code().to_string()),
            detail: db.detail().map(str::to_string),
        },
        None => Error::Sql {
            message: describe(&e),
            code: e.code().map(|c| c.code().to_string()),
            detail: None,
        },
    }
}
