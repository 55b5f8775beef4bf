//! Test support for the workspace: throwaway PostgreSQL clusters ([`PgCluster`]) and in-process
//! devvault servers ([`DevVault`]), both on loopback and both cleaned up on drop.
//!
//! Everything here is blocking and panics on failure with a message that says what went wrong:
//! it is meant for tests, where a panic is the right way to fail.

pub mod certs;
mod devvault;
mod pg;
pub mod scenario;

pub use crate::devvault::DevVault;
pub use crate::pg::PgCluster;

/// A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it; it may be taken again
/// before use, so callers that bind later should retry on "address in use").
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("cannot bind 127.0.0.1:0 to find a free port")
        .port()
}
