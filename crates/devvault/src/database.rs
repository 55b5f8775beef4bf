//! The database secrets engine for PostgreSQL: issues short-lived users on `GET
//! <mount>/creds/<role>` by running the role's SQL, and runs the renew and revocation SQL for
//! the lease manager.
//!
//! Statements are handled like Vault's PostgreSQL plugin does: each configured statement is
//! split on `;` first, then `{{name}}`, `{{username}}`, `{{password}}` and `{{expiration}}` are
//! substituted verbatim (so a `;` in a password is harmless), and all of it runs in one
//! transaction on a fresh connection.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::auth::{nonzero_or, Token};
use crate::config::{path_under_mount, trim_mount, DatabaseMount, DatabaseRole, SYSTEM_MAX_TTL};
use crate::leases::Lease;
use crate::response::{
    new_uuid, random_alnum, ApiError, ApiRequest, ApiResponse, Envelope, Operation,
};
use crate::state::State;
use crate::Config;

/// Vault PostgreSQL plugin's default renewal: move the role's password expiry.
pub(crate) const DEFAULT_RENEW: &str = r#"ALTER ROLE "{{name}}" VALID UNTIL '{{expiration}}';"#;

/// Vault PostgreSQL plugin's default revocation. Sessions already open are not terminated.
pub(crate) const DEFAULT_REVOCATION: &str = r#"REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA public FROM "{{name}}"; REVOKE USAGE ON SCHEMA public FROM "{{name}}"; DROP OWNED BY "{{name}}"; DROP ROLE IF EXISTS "{{name}}";"#;

/// How long one batch of statements may take, connecting included.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The values substituted into a role's statements.
pub(crate) struct Vars<'a> {
    pub name: &'a str,
    pub password: &'a str,
    pub expiration: String,
}

/// The database mount `path` falls under (the longest match, as mounts may contain slashes)
/// and the path below it.
pub(crate) fn mount_for<'a, 'c>(
    config: &'c Config,
    path: &'a str,
) -> Option<(&'c DatabaseMount, &'a str)> {
    config
        .database
        .iter()
        .filter_map(|m| Some((m, path_under_mount(path, trim_mount(&m.mount))?)))
        .max_by_key(|(m, _)| trim_mount(&m.mount).len())
}

/// The mount and role a lease was issued from.
pub(crate) fn role_of<'c>(
    config: &'c Config,
    lease: &Lease,
) -> Option<(&'c DatabaseMount, &'c DatabaseRole)> {
    let mount = config
        .database
        .iter()
        .find(|m| trim_mount(&m.mount) == lease.mount)?;
    Some((mount, mount.roles.get(&lease.role)?))
}

/// Handles a request under a database mount; only `creds/<role>` is served.
pub(crate) async fn handle(
    state: &State,
    caller: &Token,
    req: &ApiRequest,
    mount: &DatabaseMount,
    rest: &str,
) -> Result<ApiResponse, ApiError> {
    let Some(role_name) = rest.strip_prefix("creds/") else {
        return Err(ApiError::not_found());
    };
    if req.operation != Operation::Read {
        return Err(ApiError::unsupported_operation());
    }
    let role = mount
        .roles
        .get(role_name)
        .ok_or_else(|| ApiError::bad_request(format!("unknown role: {role_name}")))?;

    let now = SystemTime::now();
    let max_ttl = nonzero_or(role.max_ttl, SYSTEM_MAX_TTL);
    let ttl = nonzero_or(role.default_ttl, SYSTEM_MAX_TTL).min(max_ttl);
    let username = username(
        &role.username_template,
        &caller.display_name,
        role_name,
        now,
    );
    let password = password(&role.password_charset);
    let vars = Vars {
        name: &username,
        password: &password,
        expiration: postgres_time(now + ttl),
    };
    run_statements(
        &mount.connection_url,
        &role.creation_statements,
        &vars,
        false,
    )
    .await
    .map_err(|e| {
        ApiError::internal(format!(
            "failed to create credentials for role {role_name:?} of mount {:?}: {e}",
            trim_mount(&mount.mount)
        ))
    })?;

    let mount_path = trim_mount(&mount.mount);
    let lease = Lease {
        id: format!("{mount_path}/creds/{role_name}/{}", new_uuid()),
        mount: mount_path.to_string(),
        role: role_name.to_string(),
        username: username.clone(),
        token_id: caller.id.clone(),
        issue_time: now,
        expire_time: now + ttl,
        max_expire_time: now + max_ttl,
        last_renewal: None,
        revoking: false,
        failed_revocations: 0,
        next_attempt: None,
    };
    let lease_id = lease.id.clone();
    {
        let mut inner = state.lock();
        *inner
            .stats
            .creds_issued
            .entry(format!("{mount_path}/creds/{role_name}"))
            .or_default() += 1;
        inner.leases.insert(lease_id.clone(), lease);
    }
    tracing::info!("issued database credentials under lease {lease_id}");
    Ok(Envelope {
        lease_id,
        renewable: true,
        lease_duration: ttl.as_secs(),
        data: Some(json!({ "username": username, "password": password })),
        ..Envelope::default()
    }
    .into())
}

/// Runs `statements` in one transaction against `connection_url`. With `only_if_role_exists`
/// nothing runs when the user `vars.name` is already gone, so revoking twice succeeds, as with
/// Vault's built-in revocation. Errors never contain the password.
pub(crate) async fn run_statements(
    connection_url: &str,
    statements: &[String],
    vars: &Vars<'_>,
    only_if_role_exists: bool,
) -> Result<(), String> {
    let mut config: tokio_postgres::Config = connection_url
        .parse()
        .map_err(|_| "the mount's connection_url is not a valid PostgreSQL URL".to_string())?;
    config.connect_timeout(Duration::from_secs(5));
    let work = async {
        let (mut client, connection) = config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(|e| format!("could not connect to the database: {e}"))?;
        let connection = tokio::spawn(connection);
        let result = async {
            if only_if_role_exists {
                let rows = client
                    .query("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&vars.name])
                    .await
                    .map_err(|e| describe(&e, vars))?;
                if rows.is_empty() {
                    return Ok(());
                }
            }
            let transaction = client.transaction().await.map_err(|e| describe(&e, vars))?;
            for (index, statement) in statements.iter().enumerate() {
                for query in statement
                    .split(';')
                    .map(str::trim)
                    .filter(|q| !q.is_empty())
                {
                    transaction
                        .batch_execute(&substitute(query, vars))
                        .await
                        .map_err(|e| format!("statement {}: {}", index + 1, describe(&e, vars)))?;
                }
            }
            transaction.commit().await.map_err(|e| describe(&e, vars))
        }
        .await;
        drop(client);
        let _ = connection.await;
        result
    };
    tokio::time::timeout(STATEMENT_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "the database did not answer within {}s",
                STATEMENT_TIMEOUT.as_secs()
            ))
        })
}

fn substitute(query: &str, vars: &Vars<'_>) -> String {
    query
        .replace("{{name}}", vars.name)
        .replace("{{username}}", vars.name)
        .replace("{{password}}", vars.password)
        .replace("{{expiration}}", &vars.expiration)
}

/// An error text safe to return and log: a syntax error message may quote the statement, which
/// holds the password, so only its code is kept; other messages are scrubbed of the password.
fn describe(error: &tokio_postgres::Error, vars: &Vars<'_>) -> String {
    let Some(db) = error.as_db_error() else {
        return error.to_string();
    };
    let code = db.code().code();
    if *db.code() == tokio_postgres::error::SqlState::SYNTAX_ERROR {
        return format!("syntax error (SQLSTATE {code})");
    }
    let message = if vars.password.is_empty() {
        db.message().to_string()
    } else {
        db.message().replace(vars.password, "<password>")
    };
    format!("{message} (SQLSTATE {code})")
}

/// A time in the form Vault substitutes for `{{expiration}}`: Go's
/// `2006-01-02 15:04:05-0700`, in UTC.
pub(crate) fn postgres_time(time: SystemTime) -> String {
    let rfc3339 = humantime::format_rfc3339_seconds(time).to_string();
    format!("{}+0000", rfc3339.replace('T', " ").trim_end_matches('Z'))
}

/// A username from the role's template, or Vault's default
/// `v-<display name, 8>-<role, 8>-<20 random>-<unix seconds>`, cut to PostgreSQL's 63.
fn username(template: &str, display_name: &str, role: &str, now: SystemTime) -> String {
    let unix = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        .to_string();
    let name = if template.is_empty() {
        format!(
            "v-{}-{}-{}-{unix}",
            truncate(display_name, 8),
            truncate(role, 8),
            random_alnum(20)
        )
    } else {
        template
            .replace("{{display_name}}", display_name)
            .replace("{{role}}", role)
            .replace("{{random}}", &random_alnum(20))
            .replace("{{unix_time}}", &unix)
    };
    truncate(&name, 63).to_string()
}

fn truncate(s: &str, max_chars: usize) -> &str {
    match s.char_indices().nth(max_chars) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

/// A 20-character password: from `charset` when set, else Vault's classic default form
/// (`A1a-` then letters and digits, so every character class is present).
fn password(charset: &str) -> String {
    use rand::seq::IndexedRandom;
    if charset.is_empty() {
        return format!("A1a-{}", random_alnum(16));
    }
    let chars: Vec<char> = charset.chars().collect();
    let mut rng = rand::rng();
    (0..20)
        .map(|_| *chars.choose(&mut rng).unwrap_or(&'x'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiration_uses_vaults_go_layout() {
        let t = UNIX_EPOCH + Duration::from_secs(1_796_410_800);
        assert_eq!(postgres_time(t), "2026-12-04 19:00:00+0000");
    }

    #[test]
    fn default_username_is_vault_like_and_fits_postgres() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let name = username("", "kubernetes-my-ns-default", "mydb-admin", now);
        assert!(name.starts_with("v-kubernet-mydb-adm-"), "{name}");
        assert!(name.ends_with("-1700000000"), "{name}");
        assert_eq!(name.len(), 2 + 8 + 1 + 8 + 1 + 20 + 1 + 10);
        let long = username(
            "{{role}}{{role}}{{role}}{{random}}",
            "x",
            &"r".repeat(30),
            now,
        );
        assert_eq!(long.len(), 63);
        assert_eq!(
            username(
                "u-{{display_name}}-{{role}}-{{unix_time}}",
                "root",
                "ro",
                now
            ),
            "u-root-ro-1700000000"
        );
    }

    #[test]
    fn passwords() {
        let p = password("");
        assert_eq!(p.len(), 20);
        assert!(p.starts_with("A1a-"));
        let special = password("@:/%#?");
        assert_eq!(special.chars().count(), 20);
        assert!(special.chars().all(|c| "@:/%#?".contains(c)));
    }

    #[test]
    fn substitution_is_verbatim() {
        let vars = Vars {
            name: "v-x",
            password: "p'w",
            expiration: "2026-01-01 00:00:00+0000".to_string(),
        };
        assert_eq!(
            substitute("CREATE ROLE \"{{name}}\" PASSWORD '{{password}}' VALID UNTIL '{{expiration}}' -- {{username}}", &vars),
            "CREATE ROLE \"v-x\" PASSWORD 'p'w' VALID UNTIL '2026-01-01 00:00:00+0000' -- v-x"
        );
    }
}
