//! Idle Postgres connections kept per source for reuse, each tagged with the lease whose
//! credentials opened it.
//!
//! A connection is handed out again only while its lease has time left and the server side is
//! still open; one whose lease ended (or is about to) is retired instead, because Vault's
//! revocation drops the user but leaves its sessions connected without privileges.

use crate::credentials::Lease;
use crate::db::postgres::PgConnection;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An open connection and the lease it was opened with (none for static credentials).
pub struct Pooled {
    /// The connection.
    pub conn: PgConnection,
    /// The lease of its credentials.
    pub lease: Option<Arc<Lease>>,
    /// Whether it came from the pool (so it may have been closed by the server meanwhile).
    pub reused: bool,
}

impl Pooled {
    /// Whether the connection may be handed out: open, and its lease not ending within
    /// a tenth of its length (at most one second), so a statement does not start on a user that
    /// is being revoked.
    fn usable(&self) -> bool {
        if self.conn.is_closed() {
            return false;
        }
        match &self.lease {
            None => true,
            Some(lease) => {
                let margin = (lease.duration / 10).min(Duration::from_secs(1));
                lease.ttl() > margin
            }
        }
    }
}

/// Idle connections per source.
pub struct Pool {
    idle: Mutex<HashMap<String, Vec<Pooled>>>,
    max_idle_per_source: usize,
}

/// What the pool has done, for tests and diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections handed out again.
    pub reused: u64,
    /// Idle connections dropped because their lease ended or the server closed them.
    pub retired: u64,
}

impl Pool {
    /// A pool keeping at most `max_idle_per_source` idle connections per source.
    pub fn new(max_idle_per_source: usize) -> Pool {
        Pool {
            idle: Mutex::new(HashMap::new()),
            max_idle_per_source,
        }
    }

    /// An idle, usable connection for `source`, retiring unusable ones on the way.
    pub fn take(&self, source: &str, stats: &Mutex<PoolStats>) -> Option<Pooled> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.get_mut(source)?;
        while let Some(mut p) = list.pop() {
            let mut s = stats.lock().unwrap_or_else(|p| p.into_inner());
            if p.usable() {
                s.reused += 1;
                p.reused = true;
                return Some(p);
            }
            s.retired += 1;
            tracing::debug!(%source, "retiring a pooled connection (lease ended or server closed it)");
        }
        None
    }

    /// Returns a connection after a statement that succeeded.
    pub fn put(&self, source: &str, pooled: Pooled) {
        if !pooled.usable() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.entry(source.to_string()).or_default();
        if list.len() < self.max_idle_per_source {
            list.push(pooled);
        }
    }

    /// Drops every idle connection.
    pub fn clear(&self) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
