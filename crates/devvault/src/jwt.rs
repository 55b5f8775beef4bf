//! Reading Kubernetes service account tokens (JWTs).
//!
//! Real Vault asks the cluster's TokenReview API whether a token is genuine. devvault has no
//! cluster to ask, so it decodes the token WITHOUT verifying its signature and trusts its
//! claims: fine for a development server, and the reason devvault must never face a network.

use serde_json::Value;

/// The service account a token was issued to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ServiceAccount {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub secret_name: String,
}

/// Decodes a service account JWT's claims and checks `exp` against `now_unix` (seconds).
///
/// Understands both legacy secret-based tokens (`kubernetes.io/serviceaccount/...` claims) and
/// projected tokens (a `kubernetes.io` object).
pub(crate) fn service_account(jwt: &str, now_unix: u64) -> Result<ServiceAccount, String> {
    let parts: Vec<&str> = jwt.trim().split('.').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        return Err("not a JWT: expected three base64url parts".to_string());
    }
    let payload = base64url_decode(parts[1]).ok_or("JWT payload is not base64url")?;
    let claims: Value =
        serde_json::from_slice(&payload).map_err(|_| "JWT payload is not a JSON object")?;
    if let Some(exp) = claims.get("exp") {
        let exp = exp.as_f64().ok_or("JWT exp is not a number")?;
        if exp <= now_unix as f64 {
            return Err("JWT has expired".to_string());
        }
    }
    let text = |value: Option<&Value>| value.and_then(Value::as_str).unwrap_or("").to_string();
    let legacy = |claim: &str| text(claims.get(format!("kubernetes.io/serviceaccount/{claim}")));
    let projected = claims.get("kubernetes.io");
    let account = match projected {
        Some(k8s) => ServiceAccount {
            namespace: text(k8s.get("namespace")),
            name: text(k8s.pointer("/serviceaccount/name")),
            uid: text(k8s.pointer("/serviceaccount/uid")),
            secret_name: String::new(),
        },
        None => ServiceAccount {
            namespace: legacy("namespace"),
            name: legacy("service-account.name"),
            uid: legacy("service-account.uid"),
            secret_name: legacy("secret.name"),
        },
    };
    if account.namespace.is_empty() || account.name.is_empty() {
        return Err("JWT names no service account namespace and name".to_string());
    }
    Ok(account)
}

/// Decodes unpadded (or padded) base64url.
fn base64url_decode(input: &str) -> Option<Vec<u8>> {
    let input = input.trim_end_matches('=');
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for byte in input.bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    // A single leftover character cannot encode a byte.
    (input.len() % 4 != 1).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(data: &[u8]) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let n = chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b))
                << (8 * (3 - chunk.len()));
            for i in 0..=chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    }

    fn jwt(claims: serde_json::Value) -> String {
        format!(
            "{}.{}.sig",
            b64(br#"{"alg":"RS256"}"#),
            b64(claims.to_string().as_bytes())
        )
    }

    #[test]
    fn base64url_round_trips() {
        for data in [&b""[..], b"f", b"fo", b"foo", b"foob", b"\xff\xfe\xfd\x00"] {
            assert_eq!(base64url_decode(&b64(data)).as_deref(), Some(data));
        }
        assert_eq!(base64url_decode("Zm9v"), Some(b"foo".to_vec()));
        assert_eq!(base64url_decode("Zg=="), Some(b"f".to_vec()));
        assert_eq!(base64url_decode("Z"), None);
        assert_eq!(base64url_decode("Zm9v+"), None);
    }

    #[test]
    fn legacy_claims() {
        let token = jwt(serde_json::json!({
            "iss": "kubernetes/serviceaccount",
            "kubernetes.io/serviceaccount/namespace": "my-ns",
            "kubernetes.io/serviceaccount/service-account.name": "default",
            "kubernetes.io/serviceaccount/service-account.uid": "u1",
            "kubernetes.io/serviceaccount/secret.name": "default-token-x",
        }));
        let sa = service_account(&token, 0).unwrap();
        assert_eq!(sa.namespace, "my-ns");
        assert_eq!(sa.name, "default");
        assert_eq!(sa.uid, "u1");
        assert_eq!(sa.secret_name, "default-token-x");
    }

    #[test]
    fn projected_claims_and_expiry() {
        let claims = serde_json::json!({
            "exp": 2000,
            "kubernetes.io": {"namespace": "team", "serviceaccount": {"name": "runner", "uid": "u2"}},
        });
        let sa = service_account(&jwt(claims.clone()), 1999).unwrap();
        assert_eq!(
            (sa.namespace.as_str(), sa.name.as_str()),
            ("team", "runner")
        );
        assert!(service_account(&jwt(claims), 2000).is_err());
    }

    #[test]
    fn malformed_tokens() {
        assert!(service_account("not-a-jwt", 0).is_err());
        assert!(service_account("a.b", 0).is_err());
        assert!(service_account("a.!!!.c", 0).is_err());
        assert!(service_account(&format!("a.{}.c", b64(b"[1]")), 0).is_err());
        assert!(service_account(&jwt(serde_json::json!({"sub": "x"})), 0).is_err());
    }
}
