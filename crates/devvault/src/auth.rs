//! Tokens and the Kubernetes auth method: logging in, looking a token up, renewing and
//! revoking it, and turning the token of a request into the caller's identity.
//!
//! As in Vault, a token's leases belong to it: when a token expires or is revoked, the leases
//! it created are revoked too (see `leases`).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::config::{parse_duration, trim_mount, KubernetesMount, SYSTEM_MAX_TTL};
use crate::response::{
    random_alnum, rfc3339, secs_until, ApiError, ApiRequest, ApiResponse, Envelope, Operation,
};
use crate::state::State;
use crate::{jwt, Config};

/// A token and what it grants.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub id: String,
    pub accessor: String,
    /// Sorted policy names; `default` included for all but the root token.
    pub policies: Vec<String>,
    pub display_name: String,
    pub meta: BTreeMap<String, String>,
    /// The login path that created the token, e.g. `auth/kubernetes/login`.
    pub path: String,
    pub creation_time: SystemTime,
    /// The TTL granted at login, also granted by a renewal without an increment.
    pub ttl: Duration,
    /// `None` for the root token, which never expires.
    pub expire_time: Option<SystemTime>,
    /// The token can never live past this, renewals included.
    pub max_expire_time: Option<SystemTime>,
}

impl Token {
    /// The root token: every policy, never expires.
    pub fn root(id: &str) -> Token {
        Token {
            id: id.to_string(),
            accessor: random_alnum(24),
            policies: vec!["root".to_string()],
            display_name: "root".to_string(),
            meta: BTreeMap::new(),
            path: "auth/token/root".to_string(),
            creation_time: SystemTime::now(),
            ttl: Duration::ZERO,
            expire_time: None,
            max_expire_time: None,
        }
    }

    pub fn is_root(&self) -> bool {
        self.policies.iter().any(|p| p == "root")
    }

    /// Whether the token has not yet expired at `now`.
    pub fn is_live(&self, now: SystemTime) -> bool {
        self.expire_time.is_none_or(|expire| expire > now)
    }

    /// The `auth` block of login and renewal responses.
    fn auth_json(&self) -> Value {
        json!({
            "client_token": self.id,
            "accessor": self.accessor,
            "policies": self.policies,
            "token_policies": self.policies,
            "identity_policies": null,
            "metadata": self.meta,
            "lease_duration": self.expire_time.map_or(0, secs_until),
            "renewable": self.expire_time.is_some(),
            "entity_id": "",
            "token_type": "service",
            "orphan": true,
            "mfa_requirement": null,
            "num_uses": 0,
        })
    }
}

/// The caller behind a request's token: 403 `permission denied` when the token is missing,
/// unknown, expired or revoked.
pub(crate) fn authenticate(state: &State, token: Option<&str>) -> Result<Token, ApiError> {
    let token = token.ok_or_else(ApiError::bad_token)?;
    let inner = state.lock();
    match inner.tokens.get(token) {
        Some(found) if found.is_live(SystemTime::now()) => Ok(found.clone()),
        _ => Err(ApiError::bad_token()),
    }
}

/// The Kubernetes auth mount whose login endpoint `path` is, if any.
pub(crate) fn kubernetes_login_mount<'a>(
    config: &'a Config,
    path: &str,
) -> Option<&'a KubernetesMount> {
    let mount = path.strip_prefix("auth/")?.strip_suffix("/login")?;
    config
        .kubernetes
        .iter()
        .find(|m| trim_mount(&m.mount) == mount)
}

/// `POST auth/<mount>/login` with `{"role", "jwt"}`: checks the service account against the
/// role's bindings and issues a token with the role's policies and TTL.
pub(crate) fn kubernetes_login(
    state: &State,
    mount: &KubernetesMount,
    req: &ApiRequest,
) -> Result<ApiResponse, ApiError> {
    if req.operation != Operation::Write {
        return Err(ApiError::unsupported_operation());
    }
    let role_name = req.body_str("role").unwrap_or_default();
    if role_name.is_empty() {
        return Err(ApiError::bad_request("missing role"));
    }
    let jwt = req.body_str("jwt").unwrap_or_default();
    if jwt.is_empty() {
        return Err(ApiError::bad_request("missing jwt"));
    }
    let role = mount
        .roles
        .get(role_name)
        .ok_or_else(|| ApiError::bad_request(format!("invalid role name \"{role_name}\"")))?;
    let now = SystemTime::now();
    let now_unix = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let account = jwt::service_account(jwt, now_unix).map_err(|reason| {
        tracing::debug!("kubernetes login refused: {reason}");
        ApiError::bad_token()
    })?;
    // Same order and wording as Vault's Kubernetes auth plugin.
    if !bound(&role.bound_service_account_names, &account.name) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "service account name not authorized",
        ));
    }
    if !bound(&role.bound_service_account_namespaces, &account.namespace) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "namespace not authorized",
        ));
    }

    let max_ttl = nonzero_or(role.max_ttl, SYSTEM_MAX_TTL);
    let ttl = nonzero_or(role.ttl, SYSTEM_MAX_TTL).min(max_ttl);
    let mut policies: Vec<String> = role.policies.clone();
    policies.push("default".to_string());
    policies.sort();
    policies.dedup();
    let meta = BTreeMap::from([
        ("role".to_string(), role_name.to_string()),
        ("service_account_name".to_string(), account.name.clone()),
        (
            "service_account_namespace".to_string(),
            account.namespace.clone(),
        ),
        (
            "service_account_secret_name".to_string(),
            account.secret_name,
        ),
        ("service_account_uid".to_string(), account.uid),
    ]);
    let token = Token {
        id: format!("hvs.{}", random_alnum(24)),
        accessor: random_alnum(24),
        policies,
        // Vault prefixes the mount path, slashes turned into dashes.
        display_name: format!(
            "{}-{}-{}",
            trim_mount(&mount.mount).replace('/', "-"),
            account.namespace,
            account.name
        ),
        meta,
        path: req.path.clone(),
        creation_time: now,
        ttl,
        expire_time: Some(now + ttl),
        max_expire_time: Some(now + max_ttl),
    };
    let auth = token.auth_json();
    let mut inner = state.lock();
    inner.stats.logins += 1;
    inner.tokens.insert(token.id.clone(), token);
    Ok(Envelope {
        auth: Some(auth),
        ..Envelope::default()
    }
    .into())
}

/// `auth/token/lookup-self`: the caller's token properties (without its id, which the caller
/// already knows and which must not be echoed into logs or dumps).
pub(crate) fn lookup_self(caller: &Token) -> Result<ApiResponse, ApiError> {
    let unix = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    Ok(Envelope::data(json!({
        "accessor": caller.accessor,
        "creation_time": unix(caller.creation_time),
        "creation_ttl": caller.ttl.as_secs(),
        "display_name": caller.display_name,
        "entity_id": "",
        "expire_time": caller.expire_time.map(rfc3339),
        "explicit_max_ttl": 0,
        "issue_time": rfc3339(caller.creation_time),
        "meta": if caller.meta.is_empty() { Value::Null } else { json!(caller.meta) },
        "num_uses": 0,
        "orphan": true,
        "path": caller.path,
        "policies": caller.policies,
        "renewable": caller.expire_time.is_some(),
        "ttl": caller.expire_time.map_or(0, secs_until),
        "type": "service",
    }))
    .into())
}

/// `auth/token/renew-self` with an optional `increment`: extends the token's TTL, never past
/// its max TTL counted from creation.
pub(crate) fn renew_self(
    state: &State,
    caller: &Token,
    req: &ApiRequest,
) -> Result<ApiResponse, ApiError> {
    let increment = parse_duration(req.body.get("increment").unwrap_or(&Value::Null))
        .map_err(ApiError::bad_request)?;
    let mut inner = state.lock();
    let token = inner
        .tokens
        .get_mut(&caller.id)
        .ok_or_else(ApiError::bad_token)?;
    if token.expire_time.is_none() {
        return Err(ApiError::bad_request("lease is not renewable"));
    }
    let now = SystemTime::now();
    let wanted = if increment.is_zero() {
        token.ttl
    } else {
        increment
    };
    let mut expire = now + wanted;
    let mut warnings = Vec::new();
    if let Some(max) = token.max_expire_time {
        if expire > max {
            expire = max;
            warnings.push(capped_warning(wanted, max));
        }
    }
    token.expire_time = Some(expire);
    Ok(Envelope {
        auth: Some(token.auth_json()),
        warnings,
        ..Envelope::default()
    }
    .into())
}

/// `auth/token/revoke-self`: the token stops working at once; its leases are revoked by the
/// lease reaper right after.
pub(crate) fn revoke_self(state: &State, caller: &Token) -> Result<ApiResponse, ApiError> {
    if caller.is_root() {
        // Revoking the only root token would leave the dev server unusable.
        return Err(ApiError::bad_request(
            "devvault does not revoke its root token",
        ));
    }
    state.lock().tokens.remove(&caller.id);
    Ok(ApiResponse::NoContent)
}

/// The warning Vault adds when a requested TTL is cut down to the max TTL.
pub(crate) fn capped_warning(wanted: Duration, max: SystemTime) -> String {
    let allowed = max
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    format!(
        "TTL of \"{}s\" exceeded the effective max_ttl of \"{}s\"; TTL value is capped accordingly",
        wanted.as_secs(),
        allowed.as_secs()
    )
}

pub(crate) fn nonzero_or(ttl: Duration, default: Duration) -> Duration {
    if ttl.is_zero() {
        default
    } else {
        ttl
    }
}

/// Whether `value` is in a bound list, where entries may be `*` globs.
fn bound(list: &[String], value: &str) -> bool {
    list.iter().any(|pattern| glob_match(pattern, value))
}

/// Matches `*` wildcards anywhere in `pattern`.
fn glob_match(pattern: &str, value: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == value;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !value.starts_with(first) || value.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &value[first.len()..value.len() - last.len()];
    if !value.ends_with(last) {
        return false;
    }
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*", "anything"));
        assert!(glob_match("team-*", "team-a"));
        assert!(!glob_match("team-*", "other"));
        assert!(glob_match("*-runner", "x-runner"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "acb"));
        assert!(!glob_match("ab*ba", "aba"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exactly"));
    }
}
