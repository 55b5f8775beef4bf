//! Lease-aware cache of database credentials issued by Vault's database secrets engine.
//!
//! One entry per Vault path. What happens when:
//! - first use: read `<mount>/creds/<role>`; the lease (id, duration, renewable) is kept;
//! - two thirds into the lease: renew it when it is renewable and the renewal is worth it,
//!   otherwise fetch new credentials (connections opened with the old ones keep working
//!   until the old lease ends);
//! - a renewal that grants less than asked means the lease reached its max TTL: the next
//!   refresh fetches new credentials instead of renewing;
//! - `lease not found` / `lease expired` on renewal, a refused login, or privileges lost on a
//!   revoked lease: fetch new credentials now;
//! - Vault unavailable while the current lease is still valid: keep using it, try again later.
//!
//! Every entry has its own async lock, so any number of tasks that need the same path at the
//! same moment cause one Vault request (single flight).

use crate::error::{Error, Result};
use crate::vault::VaultClient;
use crate::Secret;
use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// When and how leases are renewed or replaced.
#[derive(Clone, Debug)]
pub struct RefreshPolicy {
    /// Fraction of a lease after which it is renewed or replaced.
    pub refresh_fraction: f64,
    /// Renew renewable leases (else always fetch new credentials at the refresh point).
    pub renew: bool,
    /// A renewal granting less than this (or less than half the original lease, whichever is
    /// smaller) is not worth it: new credentials are fetched instead, as Spring Vault's
    /// `minRenewal` does.
    pub min_renewal: Duration,
    /// Revoke the leases this cache created when the client is closed.
    pub revoke_on_close: bool,
    /// Renew or replace leases (and the Vault token) in a background task, so that an idle job's
    /// pooled connections and next query find valid credentials without waiting on Vault.
    pub background: bool,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        RefreshPolicy {
            refresh_fraction: 2.0 / 3.0,
            renew: true,
            min_renewal: Duration::from_secs(10),
            revoke_on_close: true,
            background: true,
        }
    }
}

/// Times of one lease; they move when the lease is renewed.
#[derive(Clone, Copy, Debug)]
struct LeaseTimes {
    refresh_at: Instant,
    expires_at: Instant,
    /// Vault granted less than asked: the lease is at its max TTL and will not be renewed again.
    capped: bool,
}

/// Database credentials from Vault and their lease.
pub struct Lease {
    /// The Vault path they were read from.
    pub path: String,
    /// Database user name.
    pub username: Secret,
    /// Database password.
    pub password: Secret,
    /// Vault's lease id (empty for static credentials).
    pub lease_id: String,
    /// Whether Vault allows renewing the lease.
    pub renewable: bool,
    /// The lease length Vault first granted.
    pub duration: Duration,
    /// Counts up per path with each new set of credentials.
    pub generation: u64,
    times: StdMutex<LeaseTimes>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("path", &self.path)
            .field("lease_id", &self.lease_id)
            .field("renewable", &self.renewable)
            .field("duration", &self.duration)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl Lease {
    /// Parses the credentials out of a Vault response for `path`.
    pub fn from_envelope(
        path: &str,
        env: &crate::vault::Envelope,
        generation: u64,
        fraction: f64,
    ) -> Result<Lease> {
        let field = |key: &str| {
            env.data_str(key)
                .map(Secret::new)
                .ok_or_else(|| Error::VaultResponse {
                    path: path.to_string(),
                    message: format!(
                    "no string `data.{key}` in the response; is this a database secrets engine \
                     creds path (<mount>/creds/<role>)?"
                ),
                })
        };
        let username = field("username")?;
        let password = field("password")?;
        let now = Instant::now();
        let duration = env.lease();
        let times = if duration.is_zero() {
            // No lease: static credentials, valid until refused.
            LeaseTimes {
                refresh_at: now + Duration::from_secs(365 * 24 * 3600),
                expires_at: now + Duration::from_secs(365 * 24 * 3600),
                capped: true,
            }
        } else {
            LeaseTimes {
                refresh_at: now + duration.mul_f64(fraction),
                expires_at: now + duration,
                capped: false,
            }
        };
        Ok(Lease {
            path: path.to_string(),
            username,
            password,
            lease_id: env.lease_id.clone(),
            renewable: env.renewable,
            duration,
            generation,
            times: StdMutex::new(times),
        })
    }

    fn times(&self) -> LeaseTimes {
        *self.times.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When the lease ends, as far as this process knows.
    pub fn expires_at(&self) -> Instant {
        self.times().expires_at
    }

    /// Whether the lease has ended.
    pub fn is_expired(&self) -> bool {
        Instant::now() >= self.times().expires_at
    }

    /// Time left on the lease.
    pub fn ttl(&self) -> Duration {
        self.times()
            .expires_at
            .saturating_duration_since(Instant::now())
    }

    /// Marks the lease as ended now (e.g. Vault says it no longer exists).
    pub fn mark_ended(&self) {
        let mut t = self.times.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        t.expires_at = now;
        t.refresh_at = now;
    }
}

/// Counters of what the cache asked Vault, for tests and `doctor`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Credential reads (`creds/<role>`).
    pub issued: u64,
    /// Successful lease renewals.
    pub renewed: u64,
    /// Lease renewals Vault refused or that were not worth it.
    pub renew_declined: u64,
}

/// One Vault path's credentials. `current` is read without waiting; `refresh` serialises the
/// requests to Vault (single flight) and holds the generation counter.
#[derive(Default)]
struct Slot {
    current: StdMutex<Option<Arc<Lease>>>,
    refresh: Mutex<u64>,
}

impl Slot {
    fn current(&self) -> Option<Arc<Lease>> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The credential cache: one slot per Vault path.
pub struct CredentialCache {
    vault: Arc<VaultClient>,
    policy: RefreshPolicy,
    slots: StdMutex<HashMap<String, Arc<Slot>>>,
    created: StdMutex<Vec<String>>,
    stats: StdMutex<CacheStats>,
}

fn is_gone(e: &Error) -> bool {
    match e {
        Error::Vault {
            status: 400,
            messages,
            ..
        } => messages.iter().any(|m| {
            let m = m.to_ascii_lowercase();
            m.contains("lease not found")
                || m.contains("lease expired")
                || m.contains("invalid lease")
        }),
        _ => false,
    }
}

impl CredentialCache {
    /// A cache reading from `vault` with `policy`.
    pub fn new(vault: Arc<VaultClient>, policy: RefreshPolicy) -> Self {
        CredentialCache {
            vault,
            policy,
            slots: Default::default(),
            created: Default::default(),
            stats: Default::default(),
        }
    }

    /// The Vault client behind the cache.
    pub fn vault(&self) -> &Arc<VaultClient> {
        &self.vault
    }

    /// What the cache has asked Vault so far.
    pub fn stats(&self) -> CacheStats {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn slot(&self, path: &str) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(path.to_string()).or_default().clone()
    }

    /// Valid credentials for `path`: cached, renewed or new, as the lease's age requires.
    ///
    /// Past the refresh point, while the lease still holds and another task is already talking
    /// to Vault about it, the current credentials are returned at once: a slow or unavailable
    /// Vault never holds up queries that do not need it.
    pub async fn get(&self, path: &str) -> Result<Arc<Lease>> {
        let slot = self.slot(path);
        if let Some(lease) = slot.current() {
            if Instant::now() < lease.times().refresh_at {
                return Ok(lease);
            }
            if !lease.is_expired() {
                if let Ok(mut generation) = slot.refresh.try_lock() {
                    return self.refresh(path, &slot, &mut generation).await;
                }
                return Ok(lease);
            }
        }
        let mut generation = slot.refresh.lock().await;
        self.refresh(path, &slot, &mut generation).await
    }

    /// With the refresh lock held: renew or replace the current lease if it is still due.
    async fn refresh(&self, path: &str, slot: &Slot, generation: &mut u64) -> Result<Arc<Lease>> {
        let Some(lease) = slot.current() else {
            return self.fetch(path, slot, generation).await;
        };
        let times = lease.times();
        let now = Instant::now();
        if now < times.refresh_at {
            // Someone else refreshed it while we waited for the lock.
            return Ok(lease);
        }
        if now < times.expires_at && self.try_renew(&lease).await {
            return Ok(lease);
        }
        match self.fetch(path, slot, generation).await {
            Ok(new) => Ok(new),
            Err(e) if !lease.is_expired() => {
                // Vault is having a bad minute but the current lease still holds: keep it and
                // try again after a tenth of what is left.
                tracing::warn!(%path, error = %e, ttl_s = lease.ttl().as_secs(), "cannot refresh credentials yet; using the current ones");
                let mut t = lease.times.lock().unwrap_or_else(|p| p.into_inner());
                t.refresh_at = now + (t.expires_at - now) / 10;
                Ok(lease.clone())
            }
            Err(e) => Err(e),
        }
    }

    /// New credentials for `path` unless someone already replaced those of `generation`
    /// (after a refused login or a lost privilege), so a burst of failures causes one request.
    pub async fn replace(&self, path: &str, generation: u64) -> Result<Arc<Lease>> {
        let slot = self.slot(path);
        let mut counter = slot.refresh.lock().await;
        if let Some(lease) = slot.current() {
            if lease.generation != generation {
                return Ok(lease);
            }
            lease.mark_ended();
        }
        self.fetch(path, &slot, &mut counter).await
    }

    /// The current lease of `path`, if any, without talking to Vault.
    pub fn current(&self, path: &str) -> Option<Arc<Lease>> {
        self.slot(path).current()
    }

    async fn fetch(&self, path: &str, slot: &Slot, generation: &mut u64) -> Result<Arc<Lease>> {
        let env = self.vault.read(path).await?;
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).issued += 1;
        *generation += 1;
        let lease = Arc::new(Lease::from_envelope(
            path,
            &env,
            *generation,
            self.policy.refresh_fraction,
        )?);
        if !lease.lease_id.is_empty() {
            self.created
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(lease.lease_id.clone());
        }
        tracing::info!(%path, lease_id = %lease.lease_id, ttl_s = lease.duration.as_secs(), generation = lease.generation, "new database credentials from Vault");
        *slot.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(lease.clone());
        Ok(lease)
    }

    /// Renews `lease` if that is allowed and worth it; true when it was renewed.
    async fn try_renew(&self, lease: &Lease) -> bool {
        let times = lease.times();
        if !self.policy.renew || !lease.renewable || times.capped || lease.lease_id.is_empty() {
            return false;
        }
        let worth = self.policy.min_renewal.min(lease.duration / 2);
        match self
            .vault
            .renew_lease(&lease.lease_id, lease.duration)
            .await
        {
            Ok(env) if env.lease() >= worth => {
                let now = Instant::now();
                let granted = env.lease();
                let mut t = lease.times.lock().unwrap_or_else(|p| p.into_inner());
                t.expires_at = now + granted;
                t.refresh_at = now + granted.mul_f64(self.policy.refresh_fraction);
                t.capped = granted < lease.duration;
                self.stats.lock().unwrap_or_else(|p| p.into_inner()).renewed += 1;
                tracing::debug!(path = %lease.path, granted_s = granted.as_secs(), "renewed lease");
                true
            }
            Ok(env) => {
                tracing::debug!(path = %lease.path, granted_s = env.lease_duration, "lease near its max TTL; fetching new credentials");
                self.stats
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .renew_declined += 1;
                false
            }
            Err(e) => {
                if is_gone(&e) {
                    lease.mark_ended();
                }
                tracing::debug!(path = %lease.path, error = %e, "lease renewal failed; fetching new credentials");
                self.stats
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .renew_declined += 1;
                false
            }
        }
    }

    /// Renews or replaces every cached lease that is past its refresh point; returns how long
    /// the caller may wait before the next check (a tenth of the shortest lease, 100 ms–10 s).
    pub async fn refresh_due(&self) -> Duration {
        let slots: Vec<(String, Arc<Slot>)> = self
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut next = Duration::from_secs(10);
        for (path, slot) in slots {
            let Some(lease) = slot.current() else {
                continue;
            };
            next = next.min(lease.duration / 10);
            if Instant::now() >= lease.times().refresh_at {
                if let Err(e) = self.get(&path).await {
                    tracing::warn!(%path, error = %e, "background credential refresh failed; will retry");
                }
            }
        }
        next.max(Duration::from_millis(100))
    }

    /// Revokes every lease this cache created (when the policy says so). Failures are logged:
    /// an unrevoked lease still ends at its TTL.
    pub async fn close(&self) {
        let ids = std::mem::take(&mut *self.created.lock().unwrap_or_else(|p| p.into_inner()));
        if !self.policy.revoke_on_close {
            return;
        }
        for id in ids {
            match self.vault.revoke_lease(&id).await {
                Ok(()) => tracing::debug!(lease_id = %id, "revoked lease"),
                Err(e) => {
                    tracing::warn!(lease_id = %id, error = %e, "could not revoke lease; it ends at its TTL")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::Envelope;

    #[test]
    fn lease_needs_username_and_password() {
        let env: Envelope =
            serde_json::from_str(r#"{"lease_id":"db/creds/r/1","lease_duration":30,"renewable":true,"data":{"username":"u"}}"#)
                .unwrap();
        let err = Lease::from_envelope("db/creds/r", &env, 1, 0.66)
            .unwrap_err()
            .to_string();
        assert!(err.contains("data.password"), "{err}");
        assert!(err.contains("db/creds/r"), "{err}");
    }

    #[test]
    fn lease_times() {
        let env: Envelope = serde_json::from_str(
            r#"{"lease_id":"db/creds/r/1","lease_duration":30,"renewable":true,"data":{"username":"u","password":"p"}}"#,
        )
        .unwrap();
        let lease = Lease::from_envelope("db/creds/r", &env, 7, 2.0 / 3.0).unwrap();
        assert_eq!(lease.generation, 7);
        assert!(lease.ttl() > Duration::from_secs(29));
        let t = lease.times();
        let refresh_in = t.refresh_at - Instant::now();
        assert!(refresh_in > Duration::from_secs(19) && refresh_in <= Duration::from_secs(20));
        assert!(!format!("{lease:?}").contains("\"p\""));
        lease.mark_ended();
        assert!(lease.is_expired());
    }

    #[test]
    fn gone_errors() {
        let e = |m: &str| Error::Vault {
            operation: "x".into(),
            path: "sys/leases/renew".into(),
            status: 400,
            messages: vec![m.into()],
        };
        assert!(is_gone(&e("lease not found")));
        assert!(is_gone(&e("lease expired")));
        assert!(!is_gone(&e("missing lease_id")));
    }
}
