//! devvault: a development server that speaks the subset of HashiCorp Vault's HTTP API that
//! dataverk uses (KV v1/v2, Kubernetes auth, tokens, the PostgreSQL database secrets engine and
//! leases), like `vault server -dev`: all state in memory, loopback only, NOT for production.
//!
//! It exists so that the dataverk client can be tested end to end against something that
//! behaves like real Vault, including credentials that really expire in a real PostgreSQL.
//! Anything a real Vault client could not do is kept out of the normal API; the only
//! devvault-specific endpoints live under `sys/devvault/` (fault injection and counters) and
//! need the root token.
//!
//! ```no_run
//! # async fn demo() -> Result<(), devvault::Error> {
//! let config = devvault::Config::from_file("devvault.json")?;
//! let server = devvault::Server::start(config, "127.0.0.1:0".parse().unwrap()).await?;
//! println!("listening on http://{}", server.local_addr());
//! server.stop().await;
//! # Ok(()) }
//! ```

mod auth;
mod config;
mod database;
mod devtools;
mod jwt;
mod kv;
mod leases;
mod policy;
mod response;
mod server;
mod state;
mod sys;
mod tls;

pub use config::{
    Config, DatabaseMount, DatabaseRole, KubernetesMount, KubernetesRole, KvMount, TlsFiles,
    SYSTEM_MAX_TTL,
};
pub use server::Server;

/// Why devvault could not load its configuration or start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file could not be read.
    #[error("cannot read devvault config {path}: {source}")]
    ReadConfig {
        path: String,
        source: std::io::Error,
    },
    /// The configuration file is not valid JSON of the expected shape.
    #[error("cannot parse devvault config {path}: {source}")]
    ParseConfig {
        path: String,
        source: serde_json::Error,
    },
    /// The configuration is well-formed but inconsistent.
    #[error("invalid devvault config: {0}")]
    InvalidConfig(String),
    /// devvault only listens on loopback addresses: it is a development server.
    #[error("refusing to listen on {0}: devvault is a development server and only listens on loopback addresses")]
    NotLoopback(std::net::SocketAddr),
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}
