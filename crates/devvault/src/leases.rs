//! Leases of issued database credentials: renew, revoke and look up through `sys/leases/*`
//! (and the legacy `sys/renew`, `sys/revoke`), and the reaper that revokes leases whose TTL
//! has run out or whose token has expired or been revoked, as Vault's expiration manager does.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use tokio::task::JoinSet;

use crate::auth::{capped_warning, nonzero_or};
use crate::config::{parse_duration, SYSTEM_MAX_TTL};
use crate::database::{self, postgres_time, Vars, DEFAULT_RENEW, DEFAULT_REVOCATION};
use crate::response::{
    rfc3339, secs_until, ApiError, ApiRequest, ApiResponse, Envelope, Operation,
};
use crate::state::State;

/// Failed revocations are retried with growing pauses, then given up (Vault: "irrevocable").
const MAX_REVOCATION_ATTEMPTS: u32 = 6;
/// How often the reaper looks for due leases and tokens.
const REAPER_INTERVAL: Duration = Duration::from_millis(100);

/// A lease on one set of database credentials.
#[derive(Clone, Debug)]
pub(crate) struct Lease {
    /// `<mount>/creds/<role>/<uuid>`.
    pub id: String,
    pub mount: String,
    pub role: String,
    /// The database user the lease stands for.
    pub username: String,
    /// The token that created the lease; the lease ends with it.
    pub token_id: String,
    pub issue_time: SystemTime,
    pub expire_time: SystemTime,
    /// `issue_time + max_ttl`: renewals never reach past it.
    pub max_expire_time: SystemTime,
    pub last_renewal: Option<SystemTime>,
    /// A revocation is running: the lease can no longer be renewed.
    pub revoking: bool,
    pub failed_revocations: u32,
    /// After a failed revocation, when to try again.
    pub next_attempt: Option<SystemTime>,
}

#[derive(Clone, Copy)]
enum Action {
    Renew,
    Revoke,
    Lookup,
}

/// Handles the lease endpoints; `None` when `req` is not for one of them.
pub(crate) async fn route(
    state: &State,
    req: &ApiRequest,
) -> Option<Result<ApiResponse, ApiError>> {
    const PATHS: [(&str, Action); 5] = [
        ("sys/leases/renew", Action::Renew),
        ("sys/renew", Action::Renew),
        ("sys/leases/revoke", Action::Revoke),
        ("sys/revoke", Action::Revoke),
        ("sys/leases/lookup", Action::Lookup),
    ];
    let (action, id_in_path) = PATHS.iter().find_map(|(prefix, action)| {
        let rest = req.path.strip_prefix(prefix)?;
        match rest.strip_prefix('/') {
            Some(id) => Some((*action, id)),
            None => rest.is_empty().then_some((*action, "")),
        }
    })?;
    if req.operation != Operation::Write {
        return Some(Err(ApiError::unsupported_operation()));
    }
    let lease_id = req
        .body_str("lease_id")
        .filter(|id| !id.is_empty())
        .unwrap_or(id_in_path)
        .to_string();
    if lease_id.is_empty() {
        return Some(Err(ApiError::bad_request("missing lease ID")));
    }
    Some(match action {
        Action::Renew => match parse_duration(req.body.get("increment").unwrap_or(&Value::Null)) {
            Ok(increment) => renew(state, &lease_id, increment).await,
            Err(e) => Err(ApiError::bad_request(e)),
        },
        Action::Revoke => revoke_now(state, &lease_id).await,
        Action::Lookup => lookup(state, &lease_id),
    })
}

/// Extends a lease by `increment` (the role's default TTL when zero), capped at its max TTL,
/// and moves the user's expiry in the database.
async fn renew(
    state: &State,
    lease_id: &str,
    increment: Duration,
) -> Result<ApiResponse, ApiError> {
    let not_found = || ApiError::bad_request("lease not found or lease is not renewable");
    let now = SystemTime::now();
    let lease = {
        let inner = state.lock();
        match inner.leases.get(lease_id) {
            Some(lease) if !lease.revoking && inner.tokens.contains_key(&lease.token_id) => {
                lease.clone()
            }
            _ => return Err(not_found()),
        }
    };
    if lease.expire_time <= now {
        return Err(ApiError::bad_request("lease expired"));
    }
    let (mount, role) = database::role_of(&state.config, &lease).ok_or_else(not_found)?;
    let wanted = if increment.is_zero() {
        nonzero_or(role.default_ttl, SYSTEM_MAX_TTL)
    } else {
        increment
    };
    let mut expire = now + wanted;
    let mut warnings = Vec::new();
    if expire > lease.max_expire_time {
        expire = lease.max_expire_time;
        warnings.push(capped_warning(wanted, expire));
    }
    let statements = if role.renew_statements.is_empty() {
        vec![DEFAULT_RENEW.to_string()]
    } else {
        role.renew_statements.clone()
    };
    let vars = Vars {
        name: &lease.username,
        password: "",
        expiration: postgres_time(expire),
    };
    database::run_statements(&mount.connection_url, &statements, &vars, false)
        .await
        .map_err(|e| ApiError::internal(format!("failed to renew lease {lease_id}: {e}")))?;
    {
        let mut inner = state.lock();
        let stored = inner.leases.get_mut(lease_id).ok_or_else(not_found)?;
        stored.expire_time = expire;
        stored.last_renewal = Some(now);
        inner.stats.lease_renewals += 1;
    }
    Ok(Envelope {
        lease_id: lease_id.to_string(),
        renewable: true,
        lease_duration: expire.duration_since(now).unwrap_or_default().as_secs(),
        warnings,
        ..Envelope::default()
    }
    .into())
}

/// Revokes a lease at once; an unknown lease is not an error, as in Vault.
async fn revoke_now(state: &State, lease_id: &str) -> Result<ApiResponse, ApiError> {
    let lease = {
        let mut inner = state.lock();
        match inner.leases.get_mut(lease_id) {
            Some(lease) if !lease.revoking => {
                lease.revoking = true;
                lease.clone()
            }
            _ => return Ok(ApiResponse::NoContent),
        }
    };
    let result = revoke(state, &lease).await;
    let mut inner = state.lock();
    match result {
        Ok(()) => {
            inner.leases.remove(lease_id);
            inner.stats.lease_revocations += 1;
            tracing::info!("revoked lease {lease_id}");
            Ok(ApiResponse::NoContent)
        }
        Err(e) => {
            if let Some(stored) = inner.leases.get_mut(lease_id) {
                stored.revoking = false;
            }
            Err(ApiError::internal(format!(
                "failed to revoke lease {lease_id}: {e}"
            )))
        }
    }
}

fn lookup(state: &State, lease_id: &str) -> Result<ApiResponse, ApiError> {
    let inner = state.lock();
    let lease = inner
        .leases
        .get(lease_id)
        .ok_or_else(|| ApiError::bad_request("invalid lease"))?;
    let live = !lease.revoking && lease.expire_time > SystemTime::now();
    Ok(Envelope::data(json!({
        "id": lease.id,
        "issue_time": rfc3339(lease.issue_time),
        "expire_time": rfc3339(lease.expire_time),
        "last_renewal": lease.last_renewal.map(rfc3339),
        "renewable": live,
        "ttl": secs_until(lease.expire_time),
    }))
    .into())
}

/// Runs the role's revocation statements (Vault's default when none are configured).
async fn revoke(state: &State, lease: &Lease) -> Result<(), String> {
    let (mount, role) = database::role_of(&state.config, lease).ok_or_else(|| {
        format!(
            "role {:?} of mount {:?} is not configured",
            lease.role, lease.mount
        )
    })?;
    let vars = Vars {
        name: &lease.username,
        password: "",
        expiration: String::new(),
    };
    if role.revocation_statements.is_empty() {
        let statements = [DEFAULT_REVOCATION.to_string()];
        database::run_statements(&mount.connection_url, &statements, &vars, true).await
    } else {
        database::run_statements(
            &mount.connection_url,
            &role.revocation_statements,
            &vars,
            false,
        )
        .await
    }
}

#[derive(Clone, Copy, Debug)]
enum Reason {
    Expired,
    TokenGone,
}

/// Forever: drops expired tokens and revokes leases whose TTL ended or whose token is gone.
/// Revocations run concurrently in a set owned by this task, so aborting the task (server
/// stop) abandons them, like a Vault that loses its storage.
pub(crate) async fn reaper(state: Arc<State>) {
    let mut running = JoinSet::new();
    let mut tick = tokio::time::interval(REAPER_INTERVAL);
    loop {
        tick.tick().await;
        while running.try_join_next().is_some() {}
        for (lease, reason) in due(&state) {
            let state = state.clone();
            running.spawn(async move { finish(&state, lease, reason).await });
        }
    }
}

/// Collects the leases to revoke now and marks them as being revoked.
fn due(state: &State) -> Vec<(Lease, Reason)> {
    let now = SystemTime::now();
    let mut guard = state.lock();
    let inner = &mut *guard;
    inner.tokens.retain(|_, token| token.is_live(now));
    let mut due = Vec::new();
    for lease in inner.leases.values_mut() {
        if lease.revoking || lease.next_attempt.is_some_and(|at| at > now) {
            continue;
        }
        let reason = if lease.expire_time <= now {
            Reason::Expired
        } else if !inner.tokens.contains_key(&lease.token_id) {
            Reason::TokenGone
        } else {
            continue;
        };
        lease.revoking = true;
        due.push((lease.clone(), reason));
    }
    due
}

async fn finish(state: &State, lease: Lease, reason: Reason) {
    let result = revoke(state, &lease).await;
    let mut inner = state.lock();
    match result {
        Ok(()) => {
            inner.leases.remove(&lease.id);
            match reason {
                Reason::Expired => inner.stats.leases_expired += 1,
                Reason::TokenGone => inner.stats.lease_revocations += 1,
            }
            tracing::info!("revoked lease {} ({reason:?})", lease.id);
        }
        Err(e) => {
            let Some(stored) = inner.leases.get_mut(&lease.id) else {
                return;
            };
            stored.revoking = false;
            stored.failed_revocations += 1;
            if stored.failed_revocations >= MAX_REVOCATION_ATTEMPTS {
                inner.leases.remove(&lease.id);
                tracing::error!(
                    "giving up on revoking lease {} after {MAX_REVOCATION_ATTEMPTS} attempts: {e}",
                    lease.id
                );
            } else {
                let pause = Duration::from_secs(1 << stored.failed_revocations.min(5));
                stored.next_attempt = Some(SystemTime::now() + pause);
                tracing::warn!(
                    "revoking lease {} failed, retrying in {}s: {e}",
                    lease.id,
                    pause.as_secs()
                );
            }
        }
    }
}
