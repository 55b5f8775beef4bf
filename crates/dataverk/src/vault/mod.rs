//! Vault over its HTTP API: configuration, the response envelope, and the client.

mod client;
pub mod config;
pub mod envelope;

pub use client::{RetryPolicy, VaultClient};
pub use config::{VaultAuth, VaultConfig};
pub use envelope::Envelope;
