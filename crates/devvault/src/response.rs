//! Vault's wire format: the response envelope every successful call returns, the
//! `{"errors": [...]}` body of failed calls, and the request as handlers see it.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// What a request asks to do, in Vault's terms (POST and PUT are both writes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    Read,
    Write,
    Delete,
    List,
}

/// A parsed request: the path below `/v1/`, the operation, query, JSON body and token.
#[derive(Debug)]
pub(crate) struct ApiRequest {
    pub operation: Operation,
    pub path: String,
    pub query: HashMap<String, String>,
    pub body: Value,
    pub token: Option<String>,
}

impl ApiRequest {
    /// A string field of the JSON body, if present and a string.
    pub fn body_str(&self, field: &str) -> Option<&str> {
        self.body.get(field).and_then(Value::as_str)
    }
}

/// A successful answer.
#[derive(Debug)]
pub(crate) enum ApiResponse {
    /// The standard envelope with status 200.
    Envelope(Envelope),
    /// 204 No Content, as Vault answers writes and deletes that return nothing.
    NoContent,
    /// A bare JSON body with a status, for the few endpoints without an envelope (sys/health).
    Raw(StatusCode, Value),
}

/// The fields of Vault's response envelope that handlers fill in.
#[derive(Debug, Default)]
pub(crate) struct Envelope {
    pub lease_id: String,
    pub renewable: bool,
    pub lease_duration: u64,
    pub data: Option<Value>,
    pub auth: Option<Value>,
    pub warnings: Vec<String>,
}

impl Envelope {
    /// An envelope carrying only `data`.
    pub fn data(data: Value) -> Envelope {
        Envelope {
            data: Some(data),
            ..Envelope::default()
        }
    }

    fn into_json(self) -> Value {
        json!({
            "request_id": new_uuid(),
            "lease_id": self.lease_id,
            "renewable": self.renewable,
            "lease_duration": self.lease_duration,
            "data": self.data,
            "wrap_info": null,
            "warnings": if self.warnings.is_empty() { Value::Null } else { json!(self.warnings) },
            "auth": self.auth,
            "mount_type": "",
        })
    }
}

impl From<Envelope> for ApiResponse {
    fn from(envelope: Envelope) -> ApiResponse {
        ApiResponse::Envelope(envelope)
    }
}

impl IntoResponse for ApiResponse {
    fn into_response(self) -> Response {
        match self {
            ApiResponse::Envelope(envelope) => {
                (StatusCode::OK, axum::Json(envelope.into_json())).into_response()
            }
            ApiResponse::NoContent => StatusCode::NO_CONTENT.into_response(),
            ApiResponse::Raw(status, body) => (status, axum::Json(body)).into_response(),
        }
    }
}

/// A failed answer: a status and Vault's `{"errors": [...]}` body.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            errors: vec![message.into()],
            warnings: Vec::new(),
        }
    }

    /// 404 with an empty error list, as Vault answers a path that holds nothing.
    pub fn not_found() -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// 403 for a missing, unknown, expired or revoked token (Vault's exact text).
    pub fn bad_token() -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "permission denied")
    }

    /// 403 for a valid token whose policies do not allow the path (Vault's exact text).
    pub fn policy_denied() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "1 error occurred:\n\t* permission denied\n\n",
        )
    }

    /// 405 for an operation the path does not support (Vault's exact text).
    pub fn unsupported_operation() -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "1 error occurred:\n\t* unsupported operation\n\n",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "errors": self.errors });
        if !self.warnings.is_empty() {
            body["warnings"] = json!(self.warnings);
        }
        (self.status, axum::Json(body)).into_response()
    }
}

/// A random version-4 UUID, the form of Vault's request ids.
pub(crate) fn new_uuid() -> String {
    let bytes: [u8; 16] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-4{}-{:x}{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        8 | (bytes[8] & 0x3),
        &hex[17..20],
        &hex[20..32]
    )
}

/// A random string of `len` ASCII letters and digits.
pub(crate) fn random_alnum(len: usize) -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), len)
}

/// RFC 3339 time with nanoseconds in UTC, as Vault prints times.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_nanos(time).to_string()
}

/// Whole seconds from now until `time`, rounded like Vault does, never negative.
pub(crate) fn secs_until(time: SystemTime) -> u64 {
    let left = time
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    (left + Duration::from_millis(500)).as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_has_version_4_shape() {
        let id = new_uuid();
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert!(matches!(
            parts[3].chars().next(),
            Some('8' | '9' | 'a' | 'b')
        ));
    }

    #[test]
    fn random_alnum_is_alnum() {
        let s = random_alnum(40);
        assert_eq!(s.len(), 40);
        assert!(s.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
