//! devvault-only endpoints under `sys/devvault/` (root token only; real Vault has nothing like
//! them, so client code must never call them): fault injection for testing a client's retries,
//! and counters for asserting how a client used the server.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{json, Value};

use crate::response::{ApiError, ApiRequest, ApiResponse, Envelope, Operation};
use crate::state::State;

/// Injected misbehaviour for requests whose path (after `/v1/`) starts with `path_prefix`.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Fault {
    pub path_prefix: String,
    /// Delay before every matching request is handled (or failed).
    pub delay_ms: u64,
    /// Status to answer with, while `count` lasts.
    pub status: Option<u16>,
    /// How many more requests get `status`; `None` means until the faults are cleared.
    pub count: Option<u64>,
}

/// Counters of what clients did.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Stats {
    /// Credentials issued, by `<mount>/creds/<role>`.
    pub creds_issued: BTreeMap<String, u64>,
    pub logins: u64,
    pub lease_renewals: u64,
    /// Leases revoked through the API or because their token ended.
    pub lease_revocations: u64,
    /// Leases revoked because their TTL ran out.
    pub leases_expired: u64,
    /// Requests to the Vault API (devvault's own endpoints not counted).
    pub requests: u64,
}

/// Whether `path` is one of devvault's own endpoints.
pub(crate) fn is_devvault_path(path: &str) -> bool {
    path == "sys/devvault" || path.starts_with("sys/devvault/")
}

/// Counts a Vault API request and applies the faults matching it: returns how long to delay
/// it and the injected error, if any (which uses up one of that fault's `count`).
pub(crate) fn on_request(state: &State, path: &str) -> (Duration, Option<ApiError>) {
    let mut inner = state.lock();
    inner.stats.requests += 1;
    let mut delay = 0;
    let mut error = None;
    for fault in inner
        .faults
        .iter_mut()
        .filter(|f| path.starts_with(&f.path_prefix))
    {
        delay = delay.max(fault.delay_ms);
        let Some(status) = fault.status else { continue };
        if error.is_some() || fault.count == Some(0) {
            continue;
        }
        if let Some(count) = fault.count.as_mut() {
            *count -= 1;
        }
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        error = Some(ApiError::new(status, "devvault injected fault"));
    }
    (Duration::from_millis(delay), error)
}

/// Handles `sys/devvault/faults` (POST adds a fault, DELETE clears all, GET lists) and
/// `sys/devvault/stats` (GET).
pub(crate) fn handle(state: &State, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    match (req.path.as_str(), req.operation) {
        ("sys/devvault/faults", Operation::Write) => {
            let fault = parse_fault(&req.body)?;
            tracing::warn!("injecting fault {fault:?}");
            state.lock().faults.push(fault);
            Ok(ApiResponse::NoContent)
        }
        ("sys/devvault/faults", Operation::Delete) => {
            state.lock().faults.clear();
            Ok(ApiResponse::NoContent)
        }
        ("sys/devvault/faults", Operation::Read) => {
            let faults = state.lock().faults.clone();
            Ok(Envelope::data(json!({ "faults": faults })).into())
        }
        ("sys/devvault/stats", Operation::Read) => {
            let stats = state.lock().stats.clone();
            Ok(Envelope::data(json!(stats)).into())
        }
        ("sys/devvault/faults" | "sys/devvault/stats", _) => Err(ApiError::unsupported_operation()),
        _ => Err(ApiError::not_found()),
    }
}

fn parse_fault(body: &Value) -> Result<Fault, ApiError> {
    let number = |field: &str| -> Result<Option<u64>, ApiError> {
        match body.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value
                .as_u64()
                .map(Some)
                .ok_or_else(|| ApiError::bad_request(format!("{field} must be a whole number"))),
        }
    };
    let status = match number("status")? {
        None | Some(0) => None,
        Some(code @ 400..=599) => Some(code as u16),
        Some(code) => {
            return Err(ApiError::bad_request(format!(
                "status must be an error status (400-599), not {code}"
            )))
        }
    };
    Ok(Fault {
        path_prefix: body
            .get("path_prefix")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim_start_matches('/')
            .to_string(),
        delay_ms: number("delay_ms")?.unwrap_or(0),
        status,
        count: number("count")?,
    })
}
