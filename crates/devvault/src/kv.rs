//! The key/value secrets engine, versions 1 and 2.
//!
//! Version 1 reads and writes `<mount>/<path>` directly. Version 2 keeps every version of a
//! secret and is reached through `<mount>/data/<path>` (and `<mount>/metadata/<path>`), with
//! the secret wrapped in `{"data": ..., "metadata": ...}`.

use std::collections::BTreeMap;
use std::time::SystemTime;

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use crate::config::{path_under_mount, trim_mount, KvMount};
use crate::response::{rfc3339, ApiError, ApiRequest, ApiResponse, Envelope, Operation};
use crate::state::State;
use crate::Config;

/// Vault returns this refresh hint as the `lease_duration` of a KV v1 read (32 days).
const KV1_LEASE_DURATION: u64 = 2_764_800;

/// The secrets of one mount.
pub(crate) struct KvStore {
    version: u8,
    /// Versions of each secret, oldest first (a v1 mount keeps only the latest).
    secrets: BTreeMap<String, Vec<KvVersion>>,
}

struct KvVersion {
    data: Map<String, Value>,
    created_time: SystemTime,
    deletion_time: Option<SystemTime>,
}

impl KvStore {
    pub fn new(version: u8) -> KvStore {
        KvStore {
            version,
            secrets: BTreeMap::new(),
        }
    }

    /// Stores a new version of `path`; returns its version number.
    pub fn put(&mut self, path: &str, data: Map<String, Value>) -> usize {
        let versions = self.secrets.entry(path.to_string()).or_default();
        if self.version == 1 {
            versions.clear();
        }
        versions.push(KvVersion {
            data,
            created_time: SystemTime::now(),
            deletion_time: None,
        });
        versions.len()
    }

    /// Keys directly below `prefix` (folders end in `/`), as Vault lists them.
    fn list(&self, prefix: &str) -> Vec<String> {
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        };
        let mut keys: Vec<String> = self
            .secrets
            .iter()
            .filter(|(_, versions)| versions.iter().any(|v| v.deletion_time.is_none()))
            .filter_map(|(path, _)| path.strip_prefix(&prefix))
            .map(|rest| match rest.split_once('/') {
                Some((folder, _)) => format!("{folder}/"),
                None => rest.to_string(),
            })
            .collect();
        keys.dedup();
        keys
    }
}

/// The KV mount `path` falls under (the longest match) and the path below it.
pub(crate) fn mount_for<'a, 'c>(
    config: &'c Config,
    path: &'a str,
) -> Option<(&'c KvMount, &'a str)> {
    config
        .kv
        .iter()
        .filter_map(|m| Some((m, path_under_mount(path, trim_mount(&m.mount))?)))
        .max_by_key(|(m, _)| trim_mount(&m.mount).len())
}

/// Handles a request under a KV mount.
pub(crate) fn handle(
    state: &State,
    req: &ApiRequest,
    mount: &KvMount,
    rest: &str,
) -> Result<ApiResponse, ApiError> {
    let mount_path = trim_mount(&mount.mount);
    let mut inner = state.lock();
    let store = inner
        .kv
        .get_mut(mount_path)
        .ok_or_else(ApiError::not_found)?;
    if mount.version == 1 {
        return v1(store, req, rest);
    }
    if let Some(path) = rest.strip_prefix("data/") {
        return v2_data(store, req, path);
    }
    if let Some(path) = rest.strip_prefix("metadata") {
        return v2_metadata(store, req, path.trim_start_matches('/'));
    }
    // Vault's own answer for a v1-style path on a v2 mount.
    Err(ApiError {
        status: StatusCode::NOT_FOUND,
        errors: Vec::new(),
        warnings: vec![
            "Invalid path for a versioned K/V secrets engine. See the API docs for the \
             appropriate API endpoints to use. If using the Vault CLI, use 'vault kv get' for \
             this operation."
                .to_string(),
        ],
    })
}

fn v1(store: &mut KvStore, req: &ApiRequest, path: &str) -> Result<ApiResponse, ApiError> {
    match req.operation {
        Operation::Read => {
            let latest = store
                .secrets
                .get(path)
                .and_then(|versions| versions.last())
                .ok_or_else(ApiError::not_found)?;
            Ok(Envelope {
                lease_duration: KV1_LEASE_DURATION,
                data: Some(Value::Object(latest.data.clone())),
                ..Envelope::default()
            }
            .into())
        }
        Operation::Write => {
            let data = body_object(&req.body)?;
            if path.is_empty() {
                return Err(ApiError::bad_request("missing path"));
            }
            store.put(path, data);
            Ok(ApiResponse::NoContent)
        }
        Operation::Delete => {
            store.secrets.remove(path);
            Ok(ApiResponse::NoContent)
        }
        Operation::List => list(store, path),
    }
}

fn v2_data(store: &mut KvStore, req: &ApiRequest, path: &str) -> Result<ApiResponse, ApiError> {
    match req.operation {
        Operation::Read => {
            let versions = store.secrets.get(path).ok_or_else(ApiError::not_found)?;
            let wanted = match req.query.get("version").map(|v| v.parse::<usize>()) {
                None | Some(Ok(0)) => versions.len(),
                Some(Ok(n)) => n,
                Some(Err(_)) => return Err(ApiError::bad_request("invalid version")),
            };
            let version = versions
                .get(wanted.wrapping_sub(1))
                .ok_or_else(ApiError::not_found)?;
            if version.deletion_time.is_some() {
                return Err(ApiError::not_found());
            }
            Ok(Envelope::data(json!({
                "data": version.data,
                "metadata": version_metadata(version, wanted),
            }))
            .into())
        }
        Operation::Write => {
            let data = body_object(req.body.get("data").unwrap_or(&Value::Null))
                .map_err(|_| ApiError::bad_request("no data provided"))?;
            let current = store.secrets.get(path).map_or(0, Vec::len);
            if let Some(cas) = req.body.pointer("/options/cas").and_then(Value::as_u64) {
                if cas as usize != current {
                    return Err(ApiError::bad_request(
                        "check-and-set parameter did not match the current version",
                    ));
                }
            }
            let number = store.put(path, data);
            let version = &store.secrets[path][number - 1];
            Ok(Envelope::data(version_metadata(version, number)).into())
        }
        Operation::Delete => {
            if let Some(latest) = store.secrets.get_mut(path).and_then(|v| v.last_mut()) {
                latest.deletion_time = Some(SystemTime::now());
            }
            Ok(ApiResponse::NoContent)
        }
        Operation::List => Err(ApiError::unsupported_operation()),
    }
}

fn v2_metadata(store: &mut KvStore, req: &ApiRequest, path: &str) -> Result<ApiResponse, ApiError> {
    match req.operation {
        Operation::List => list(store, path),
        Operation::Read => {
            let versions = store.secrets.get(path).ok_or_else(ApiError::not_found)?;
            let all: Map<String, Value> = versions
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    (
                        (i + 1).to_string(),
                        json!({
                            "created_time": rfc3339(v.created_time),
                            "deletion_time": v.deletion_time.map(rfc3339).unwrap_or_default(),
                            "destroyed": false,
                        }),
                    )
                })
                .collect();
            let first = versions.first().map(|v| v.created_time);
            let last = versions.last().map(|v| v.created_time);
            Ok(Envelope::data(json!({
                "cas_required": false,
                "created_time": first.map(rfc3339),
                "current_version": versions.len(),
                "custom_metadata": null,
                "delete_version_after": "0s",
                "max_versions": 0,
                "oldest_version": 0,
                "updated_time": last.map(rfc3339),
                "versions": all,
            }))
            .into())
        }
        Operation::Delete => {
            store.secrets.remove(path);
            Ok(ApiResponse::NoContent)
        }
        Operation::Write => Err(ApiError::unsupported_operation()),
    }
}

fn list(store: &KvStore, prefix: &str) -> Result<ApiResponse, ApiError> {
    let keys = store.list(prefix);
    if keys.is_empty() {
        return Err(ApiError::not_found());
    }
    Ok(Envelope::data(json!({ "keys": keys })).into())
}

fn version_metadata(version: &KvVersion, number: usize) -> Value {
    json!({
        "created_time": rfc3339(version.created_time),
        "custom_metadata": null,
        "deletion_time": version.deletion_time.map(rfc3339).unwrap_or_default(),
        "destroyed": false,
        "version": number,
    })
}

fn body_object(body: &Value) -> Result<Map<String, Value>, ApiError> {
    match body {
        Value::Object(map) => Ok(map.clone()),
        _ => Err(ApiError::bad_request(
            "expected a JSON object of keys and values",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_direct_children() {
        let mut store = KvStore::new(1);
        for path in ["a/b", "a/c/d", "a/c/e", "x"] {
            store.put(path, Map::new());
        }
        assert_eq!(store.list("a"), ["b", "c/"]);
        assert_eq!(store.list(""), ["a/", "x"]);
        assert!(store.list("nothing").is_empty());
    }

    #[test]
    fn v1_overwrites_v2_keeps_versions() {
        let mut v1 = KvStore::new(1);
        assert_eq!(v1.put("p", Map::new()), 1);
        assert_eq!(v1.put("p", Map::new()), 1);
        let mut v2 = KvStore::new(2);
        assert_eq!(v2.put("p", Map::new()), 1);
        assert_eq!(v2.put("p", Map::new()), 2);
    }
}
