//! dataverk: read from and write to databases by a short source name.
//!
//! A `settings.json` maps source names to connection URLs and, for databases whose credentials
//! come from Vault's database secrets engine, to a Vault path. Data flows one way through the
//! modules, and the folder tree follows it:
//!
//! `settings` (file + `${NAME}` templating) → `secrets` (Vault KV, files, environment) →
//! `vault` (HTTP client: login, reads that keep the lease envelope, renew/revoke) →
//! `credentials` (lease-aware cache: fetch ahead of expiry, refresh on refusal, single flight) →
//! `db` (connectors: Postgres binary COPY → Arrow) → `output` (CSV, Parquet, JSON writers).
//!
//! [`Client`] (blocking) and [`AsyncClient`] are the facade over all of it.

pub mod access;
pub mod client;
pub mod credentials;
pub mod db;
pub mod doctor;
pub mod error;
pub mod output;
pub mod pool;
pub mod secret;
pub mod secrets;
pub mod settings;
pub mod vault;

pub use client::{AsyncClient, Client, ClientOptions, Table};
pub use db::postgres::IfExists;
pub use error::{Error, Result};
pub use secret::Secret;
