//! The server's in-memory state: tokens, KV data, leases, injected faults and counters, behind
//! one mutex. The lock is never held across an await: database work happens outside it.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::auth::Token;
use crate::config::{path_under_mount, trim_mount};
use crate::devtools::{Fault, Stats};
use crate::kv::KvStore;
use crate::leases::Lease;
use crate::Config;

/// Everything a running server knows; dropped whole when the server stops.
pub(crate) struct State {
    pub config: Config,
    inner: Mutex<Inner>,
}

/// The mutable part of [`State`].
pub(crate) struct Inner {
    /// Live tokens by id (the root token included).
    pub tokens: HashMap<String, Token>,
    /// KV stores by mount path.
    pub kv: HashMap<String, KvStore>,
    /// Leases of issued database credentials by lease id.
    pub leases: HashMap<String, Lease>,
    pub faults: Vec<Fault>,
    pub stats: Stats,
}

impl State {
    /// Builds the initial state from a validated config.
    pub fn new(config: Config, root_token: &str) -> State {
        let mut kv: HashMap<String, KvStore> = config
            .kv
            .iter()
            .map(|m| (trim_mount(&m.mount).to_string(), KvStore::new(m.version)))
            .collect();
        for (path, data) in &config.secrets {
            // validate() guarantees a mount; the longest one wins, as in Vault's router.
            let mount = config
                .kv
                .iter()
                .map(|m| trim_mount(&m.mount))
                .filter(|m| path_under_mount(path, m).is_some())
                .max_by_key(|m| m.len())
                .unwrap_or_default();
            let key = path_under_mount(path, mount).unwrap_or_default();
            if let Some(store) = kv.get_mut(mount) {
                store.put(key, data.clone());
            }
        }
        let mut tokens = HashMap::new();
        tokens.insert(root_token.to_string(), Token::root(root_token));
        State {
            config,
            inner: Mutex::new(Inner {
                tokens,
                kv,
                leases: HashMap::new(),
                faults: Vec::new(),
                stats: Stats::default(),
            }),
        }
    }

    /// Locks the mutable state. A panic elsewhere must not wedge a test server, so a poisoned
    /// lock is taken over as is.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
