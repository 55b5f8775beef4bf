//! ACL policies: which API paths a token may use.
//!
//! A policy is a list of path patterns in Vault's syntax: a trailing `*` makes the pattern a
//! prefix match and a `+` segment matches exactly one path segment. devvault has no capability
//! lists: a matching pattern allows every operation on the path. Tokens with the `root` policy
//! may do anything; every other token also carries the built-in `default` policy.

use crate::Config;

/// The paths of Vault's built-in `default` policy that dataverk's client relies on.
pub(crate) const DEFAULT_POLICY: &[&str] = &[
    "auth/token/lookup-self",
    "auth/token/renew-self",
    "auth/token/revoke-self",
    "sys/leases/renew",
    "sys/leases/lookup",
    "sys/renew",
    "sys/internal/ui/mounts/*",
];

/// Whether a token with `policies` may use `path`.
pub(crate) fn allows(config: &Config, policies: &[String], path: &str) -> bool {
    policies.iter().any(|name| name == "root")
        || patterns(config, policies).any(|pattern| pattern_matches(pattern, path))
}

/// Whether `policies` allow anything at all under `mount`, as Vault requires before it tells a
/// token about a mount (`sys/internal/ui/mounts/...`).
pub(crate) fn allows_under(config: &Config, policies: &[String], mount: &str) -> bool {
    policies.iter().any(|name| name == "root")
        || patterns(config, policies).any(|pattern| could_match_under(pattern, mount))
}

fn patterns<'a>(config: &'a Config, policies: &'a [String]) -> impl Iterator<Item = &'a str> {
    policies.iter().flat_map(move |name| {
        let builtin: &[&str] = if name == "default" {
            DEFAULT_POLICY
        } else {
            &[]
        };
        // A configured `default` policy adds to the built-in one rather than replacing it.
        let configured = config.policies.get(name).into_iter().flatten();
        builtin
            .iter()
            .copied()
            .chain(configured.map(String::as_str))
    })
}

fn split_glob(pattern: &str) -> (&str, bool) {
    match pattern.strip_suffix('*') {
        Some(literal) => (literal, true),
        None => (pattern, false),
    }
}

/// Whether `path` matches one policy path pattern.
pub(crate) fn pattern_matches(pattern: &str, path: &str) -> bool {
    let (literal, glob) = split_glob(pattern);
    if !literal.contains('+') {
        return if glob {
            path.starts_with(literal)
        } else {
            path == literal
        };
    }
    let pattern_segments: Vec<&str> = literal.split('/').collect();
    let path_segments: Vec<&str> = path.split('/').collect();
    for (i, wanted) in pattern_segments.iter().enumerate() {
        if glob && i == pattern_segments.len() - 1 {
            // The glob covers the rest of the path from this segment on.
            if i >= path_segments.len() {
                return false;
            }
            return *wanted == "+" || path_segments[i..].join("/").starts_with(wanted);
        }
        match path_segments.get(i) {
            Some(segment) if *wanted == "+" || wanted == segment => {}
            _ => return false,
        }
    }
    pattern_segments.len() == path_segments.len()
}

/// Whether some path below `mount` (or the mount itself) could match `pattern`.
fn could_match_under(pattern: &str, mount: &str) -> bool {
    let (literal, glob) = split_glob(pattern);
    let pattern_segments: Vec<&str> = literal.split('/').collect();
    for (i, mount_segment) in mount.split('/').enumerate() {
        let Some(wanted) = pattern_segments.get(i) else {
            return false;
        };
        if glob && i == pattern_segments.len() - 1 {
            return *wanted == "+" || mount_segment.starts_with(wanted);
        }
        if *wanted != "+" && wanted != &mount_segment {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exact_prefix_and_segment_patterns() {
        assert!(pattern_matches("secret/data/a", "secret/data/a"));
        assert!(!pattern_matches("secret/data/a", "secret/data/ab"));
        assert!(pattern_matches("secret/data/a*", "secret/data/ab"));
        assert!(pattern_matches("db/creds/mydb-*", "db/creds/mydb-admin"));
        assert!(!pattern_matches("db/creds/mydb-*", "db/creds/other-admin"));
        assert!(pattern_matches("secret/+/a", "secret/data/a"));
        assert!(!pattern_matches("secret/+/a", "secret/data/x/a"));
        assert!(!pattern_matches("secret/+/a", "secret/data"));
        assert!(pattern_matches("secret/+/a/*", "secret/data/a/b/c"));
        assert!(pattern_matches("secret/+/a*", "secret/data/abc"));
        assert!(pattern_matches("*", "anything/at/all"));
    }

    #[test]
    fn mount_visibility() {
        assert!(could_match_under("secret/data/kubeflow/x", "secret"));
        assert!(could_match_under("secret/*", "secret"));
        assert!(could_match_under("sec*", "secret"));
        assert!(could_match_under("+/data/x", "secret"));
        assert!(could_match_under(
            "postgresql/preprod-fss/creds/x-*",
            "postgresql/preprod-fss"
        ));
        assert!(!could_match_under(
            "postgresql/other/creds/x",
            "postgresql/preprod-fss"
        ));
        assert!(!could_match_under("kv/x", "secret"));
        assert!(!could_match_under("a", "a/b"));
    }

    #[test]
    fn default_and_root_policies() {
        let config: Config =
            serde_json::from_value(json!({"policies": {"ns": ["secret/data/ns"]}})).unwrap();
        let token = vec!["default".to_string(), "ns".to_string()];
        assert!(allows(&config, &token, "secret/data/ns"));
        assert!(allows(&config, &token, "auth/token/lookup-self"));
        assert!(allows(&config, &token, "sys/internal/ui/mounts/secret/ns"));
        assert!(!allows(&config, &token, "secret/data/other"));
        assert!(!allows(&config, &token, "sys/leases/revoke"));
        assert!(allows(&config, &["root".to_string()], "sys/leases/revoke"));
        assert!(allows_under(&config, &token, "secret"));
        assert!(!allows_under(&config, &token, "kv"));
    }
}
