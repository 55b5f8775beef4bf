//! System endpoints a client needs besides the engines: `sys/health` and the mount lookup
//! `sys/internal/ui/mounts/<path>` that Vault's own CLI uses to tell KV v1 from v2.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::auth::Token;
use crate::config::trim_mount;
use crate::response::{ApiError, ApiResponse, Envelope};
use crate::state::State;
use crate::{database, kv, policy};

/// `GET sys/health`: always active and unsealed (a bare body, no envelope, as in Vault).
pub(crate) fn health() -> ApiResponse {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    ApiResponse::Raw(
        StatusCode::OK,
        json!({
            "initialized": true,
            "sealed": false,
            "standby": false,
            "performance_standby": false,
            "replication_performance_mode": "disabled",
            "replication_dr_mode": "disabled",
            "server_time_utc": now,
            "version": concat!("devvault-", env!("CARGO_PKG_VERSION")),
            "cluster_name": "devvault",
        }),
    )
}

/// `GET sys/internal/ui/mounts/<path>`: the mount that serves `path`, if the caller's policies
/// allow anything under it; otherwise Vault's 403 "preflight capability check" error.
pub(crate) fn ui_mount(state: &State, caller: &Token, path: &str) -> Result<ApiResponse, ApiError> {
    let denied = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "preflight capability check returned 403, please ensure client's policies \
                 grant access to path \"{path}/\""
            ),
        )
    };
    let kv_mount = kv::mount_for(&state.config, path).map(|(m, _)| {
        (
            trim_mount(&m.mount),
            "kv",
            json!({ "version": m.version.to_string() }),
        )
    });
    let db_mount = database::mount_for(&state.config, path)
        .map(|(m, _)| (trim_mount(&m.mount), "database", Value::Null));
    let (mount, kind, options) = [kv_mount, db_mount]
        .into_iter()
        .flatten()
        .max_by_key(|(mount, _, _)| mount.len())
        .ok_or_else(denied)?;
    if !policy::allows_under(&state.config, &caller.policies, mount) {
        return Err(denied());
    }
    Ok(Envelope::data(json!({
        "accessor": format!("{kind}_{:08x}", fnv1a(mount)),
        "config": {"default_lease_ttl": 0, "force_no_cache": false, "max_lease_ttl": 0},
        "description": "",
        "external_entropy_access": false,
        "local": false,
        "options": options,
        "path": format!("{mount}/"),
        "plugin_version": "",
        "seal_wrap": false,
        "type": kind,
        "uuid": "",
    }))
    .into())
}

/// A stable per-mount number for the accessor, which real Vault makes random per mount.
fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5_u32, |hash, b| {
        (hash ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}
