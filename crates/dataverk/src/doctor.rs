//! `dataverk doctor`: walks the chain from the settings file to `SET ROLE` one link at a time,
//! and for each broken link says the likely cause and the fix.
//!
//! The steps run in the order data flows: settings parsed → Vault configured, reachable and
//! unsealed → login → KV readable → placeholders filled → per source: URL, credentials issued,
//! database login, `SELECT 1`, `SET ROLE`. A step whose inputs failed is skipped, not failed
//! again. No step shows a secret: placeholders by name, URLs without user-info, leases by TTL.

use crate::access::hint_for_denied_creds_path;
use crate::client::{quote_ident, AsyncClient, ClientOptions};
use crate::db::postgres;
use crate::db::url::{redact, scheme, Scheme};
use crate::error::Error;
use crate::secrets::SecretSources;
use crate::settings::{settings_path, RawSettings};
use crate::vault::{VaultAuth, VaultClient, VaultConfig};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// How one step went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It worked; what was found.
    Pass(String),
    /// It failed: what went wrong and how to fix it.
    Fail {
        /// What went wrong.
        problem: String,
        /// The likely cause and what to do.
        fix: String,
    },
    /// Not run, because an earlier step it needs failed or it does not apply.
    Skip(String),
}

/// One step of the walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// What was checked, e.g. `Vault login`.
    pub name: String,
    /// How it went.
    pub outcome: Outcome,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Outcome::Pass(detail) => write!(f, "✓ {}: {detail}", self.name),
            Outcome::Skip(why) => write!(f, "- {}: skipped ({why})", self.name),
            Outcome::Fail { problem, fix } => {
                write!(f, "✗ {}: {problem}", self.name)?;
                for line in fix.lines() {
                    write!(f, "\n    fix: {line}")?;
                }
                Ok(())
            }
        }
    }
}

/// Every step taken, in order.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The steps.
    pub steps: Vec<Step>,
}

impl Report {
    /// Whether every step that ran passed (skipped steps count as passed only when nothing failed).
    pub fn ok(&self) -> bool {
        !self
            .steps
            .iter()
            .any(|s| matches!(s.outcome, Outcome::Fail { .. }))
    }

    fn pass(&mut self, name: impl Into<String>, detail: impl Into<String>) {
        self.push(name, Outcome::Pass(detail.into()));
    }

    fn fail(&mut self, name: impl Into<String>, problem: impl ToString, fix: impl Into<String>) {
        self.push(
            name,
            Outcome::Fail {
                problem: problem.to_string(),
                fix: fix.into(),
            },
        );
    }

    fn skip(&mut self, name: impl Into<String>, why: impl Into<String>) {
        self.push(name, Outcome::Skip(why.into()));
    }

    fn push(&mut self, name: impl Into<String>, outcome: Outcome) {
        let step = Step {
            name: name.into(),
            outcome,
        };
        tracing::debug!(%step, "doctor");
        self.steps.push(step);
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for step in &self.steps {
            writeln!(f, "{step}")?;
        }
        Ok(())
    }
}

/// Walks the chain for `source`, or for every source in the settings when `None`. The leases
/// it creates are revoked before it returns.
pub async fn diagnose(options: ClientOptions, source: Option<&str>) -> Report {
    let mut report = Report::default();
    let path = settings_path(options.settings_path.as_deref());
    let raw = match RawSettings::read(&path) {
        Ok(raw) => raw,
        Err(e) => {
            let fix = match &e {
                Error::SettingsRead { .. } => format!(
                    "create {} (see the README's settings reference), or pass --settings FILE or set DATAVERK_SETTINGS",
                    path.display()
                ),
                _ => "correct the JSON at that line and column".to_string(),
            };
            report.fail("settings file", e, fix);
            return report;
        }
    };
    let names = match raw.placeholder_names() {
        Ok(names) => names,
        Err(e) => {
            report.fail(
                "settings file",
                e,
                "write placeholders as ${NAME} or $NAME, and a literal $ as $$",
            );
            return report;
        }
    };
    report.pass(
        "settings file",
        format!(
            "{} parsed; placeholders: {}",
            path.display(),
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ),
    );

    let vault = vault_steps(&mut report, &options).await;
    let Some(vault_ok) = vault else {
        return report;
    };

    let sources = SecretSources {
        vault_kv: vault_ok
            .as_ref()
            .and_then(|v| v.config().kv_path.clone().map(|p| (v.clone(), p))),
        files: raw.secret_path.clone(),
        env: true,
        dotenv: options.env_file.clone(),
    };
    let settings = match raw.resolve(&sources).await {
        Ok(s) => s,
        Err(e) => {
            let fix = match &e {
                Error::MissingPlaceholder { name, .. } => format!(
                    "store {name} in Vault KV (the path above), as a file named {name} in secret_path, or in the environment"
                ),
                _ => "see the error above".to_string(),
            };
            report.fail("placeholders", e, fix);
            return report;
        }
    };
    report.pass(
        "placeholders",
        if settings.placeholders.is_empty() {
            "none to fill".to_string()
        } else {
            format!("filled: {}", settings.placeholders.join(", "))
        },
    );

    let wanted: Vec<String> = match source {
        Some(s) if !settings.db_connection_strings.contains_key(s) => {
            let known: Vec<String> = settings.db_connection_strings.keys().cloned().collect();
            report.fail(
                format!("source {s}"),
                Error::UnknownSource {
                    name: s.to_string(),
                    known,
                },
                "use one of the known sources, or add it to db_connection_strings",
            );
            return report;
        }
        Some(s) => vec![s.to_string()],
        None => settings.db_connection_strings.keys().cloned().collect(),
    };
    if wanted.is_empty() {
        report.fail(
            "sources",
            "db_connection_strings is empty",
            "add a source: \"db_connection_strings\": {\"name\": \"postgres://user:pass@host:5432/db\"}",
        );
        return report;
    }
    let mut options = options;
    options.refresh.background = false;
    options.vault = vault_ok.as_ref().map(|v| v.config().clone());
    let client = match AsyncClient::new(options).await {
        Ok(c) => c,
        Err(e) => {
            report.fail("client", e, "see the steps above");
            return report;
        }
    };
    let namespace = vault_ok.as_ref().and_then(|v| k8s_namespace(v.config()));
    for name in &wanted {
        source_steps(&mut report, &client, name, namespace.as_deref()).await;
    }
    client.close().await;
    report
}

/// The Vault steps. `None` when a failure means nothing later can work; `Some(None)` when Vault
/// is not configured.
async fn vault_steps(
    report: &mut Report,
    options: &ClientOptions,
) -> Option<Option<Arc<VaultClient>>> {
    let config = match &options.vault {
        Some(c) => Some(c.clone()),
        None => match VaultConfig::from_env() {
            Ok(c) => c,
            Err(e) => {
                report.fail(
                    "Vault configuration",
                    e,
                    "set VKS_VAULT_ADDR, VKS_AUTH_PATH and K8S_SERVICEACCOUNT_PATH (Kubernetes), or VAULT_ADDR and VAULT_TOKEN",
                );
                return None;
            }
        },
    };
    let Some(config) = config else {
        report.skip(
            "Vault",
            "not configured: no VKS_VAULT_ADDR or VAULT_ADDR; placeholders come from files and the environment",
        );
        return Some(None);
    };
    let how = match &config.auth {
        VaultAuth::Kubernetes {
            login_path, role, ..
        } => format!("Kubernetes login at {login_path} as role {role}"),
        VaultAuth::Token { .. } => "token auth".to_string(),
    };
    report.pass("Vault configuration", format!("{} ({how})", config.addr));
    let vault = match VaultClient::new(config.clone()) {
        Ok(v) => Arc::new(v),
        Err(e) => {
            report.fail(
                "Vault configuration",
                e,
                "check VAULT_CACERT (a readable PEM file)",
            );
            return None;
        }
    };
    match vault.health().await {
        Ok((200 | 429 | 472 | 473, body)) => {
            let version = body.get("version").and_then(|v| v.as_str()).unwrap_or("?");
            report.pass("Vault reachable", format!("unsealed, version {version}"));
        }
        Ok((503, _)) => {
            report.fail(
                "Vault reachable",
                "Vault answers but is sealed (sys/health 503)",
                "ask the Vault operators to unseal it, or wait for the maintenance to end",
            );
            return None;
        }
        Ok((status, _)) => {
            report.fail(
                "Vault reachable",
                format!("sys/health answered HTTP {status}"),
                "Vault is not initialised or not healthy; check the address points at the right Vault",
            );
            return None;
        }
        Err(e) => {
            report.fail(
                "Vault reachable",
                e,
                "check the address (VKS_VAULT_ADDR / VAULT_ADDR), the network, and for https VAULT_CACERT",
            );
            return None;
        }
    }
    match vault.ensure_token().await {
        Ok(()) => report.pass("Vault login", how),
        Err(e) => {
            let fix = match (&e, &config.auth) {
                (
                    Error::Vault {
                        status: 400 | 403, ..
                    },
                    VaultAuth::Kubernetes { role, .. },
                ) => format!(
                    "Vault refused the service-account token: the Kubernetes auth role {role} may not exist or not be bound to this namespace's service account, or the token expired; set APPLICATION_NAME to the right role"
                ),
                (Error::Vault { status: 403, .. }, VaultAuth::Token { .. }) => {
                    "the token is invalid or expired: run `vault login` or set a fresh VAULT_TOKEN"
                        .to_string()
                }
                _ => "see the error; the service-account folder (K8S_SERVICEACCOUNT_PATH) must hold token and namespace".to_string(),
            };
            report.fail("Vault login", e, fix);
            return None;
        }
    }
    match &config.kv_path {
        None => report.skip(
            "Vault KV",
            "no KV path (VKS_KV_PATH or DATAVERK_VAULT_KV_PATH)",
        ),
        Some(kv) => match vault.kv_read(kv).await {
            Ok(map) => report.pass(
                "Vault KV",
                format!(
                    "{kv}: keys {}",
                    map.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ),
            Err(e) => {
                let fix = match &e {
                    Error::Vault { status: 403, .. } => format!(
                        "the namespace's Vault policy does not allow reading {kv}; ask for read access to it"
                    ),
                    Error::Vault { status: 404, .. } => format!(
                        "nothing is stored at {kv}: write POSTGRES_CREDENTIALS and POSTGRES_CREDS_PATH there"
                    ),
                    _ => "see the error".to_string(),
                };
                report.fail("Vault KV", e, fix);
                return None;
            }
        },
    }
    Some(Some(vault))
}

/// The Kubernetes namespace for access hints: the service account's, else the login role
/// (which defaults to it).
fn k8s_namespace(config: &VaultConfig) -> Option<String> {
    config.k8s_namespace().or_else(|| match &config.auth {
        VaultAuth::Kubernetes { role, .. } => Some(role.clone()),
        VaultAuth::Token { .. } => None,
    })
}

async fn source_steps(
    report: &mut Report,
    client: &AsyncClient,
    source: &str,
    namespace: Option<&str>,
) {
    let settings = client.settings();
    let url = match settings.connection_string(source) {
        Ok(u) => u.expose().to_string(),
        Err(e) => {
            report.fail(
                format!("{source}: URL"),
                e,
                "add it to db_connection_strings",
            );
            return;
        }
    };
    let step = |what: &str| format!("{source}: {what}");
    match scheme(&url) {
        Ok(Scheme::Postgres) => report.pass(step("URL"), redact(&url)),
        Ok(other) => {
            report.skip(
                step("URL"),
                format!("{other:?} sources have no server to check"),
            );
            return;
        }
        Err(message) => {
            report.fail(
                step("URL"),
                message,
                "write it as postgres://user:pass@host:5432/db",
            );
            return;
        }
    }
    if let Some(path) = settings.vault_path(source) {
        let Some(cache) = client.credentials() else {
            report.fail(
                step("credentials"),
                format!("db_vault_path is {path}, but Vault is not configured"),
                "set VKS_VAULT_ADDR and VKS_AUTH_PATH (Kubernetes), or VAULT_ADDR and VAULT_TOKEN",
            );
            return;
        };
        match cache.get(path).await {
            Ok(lease) => report.pass(
                step("credentials"),
                format!(
                    "{path}: lease {}, {}",
                    format_duration(lease.duration),
                    if lease.renewable {
                        "renewable"
                    } else {
                        "not renewable"
                    }
                ),
            ),
            Err(e) => {
                let fix = match &e {
                    Error::Vault { status: 403, .. } => {
                        let ns = namespace.unwrap_or("<namespace>");
                        hint_for_denied_creds_path(path, ns).unwrap_or_else(|| {
                            format!("the namespace's Vault policy does not allow reading {path}")
                        })
                    }
                    Error::VaultResponse { .. } => {
                        "db_vault_path must be a database secrets engine creds path, <mount>/creds/<role>"
                            .to_string()
                    }
                    _ => "see the error".to_string(),
                };
                report.fail(step("credentials"), e, fix);
                return;
            }
        }
    } else {
        report.skip(
            step("credentials"),
            "no db_vault_path: the URL's own user and password are used",
        );
    }
    let conn = match client.connect_postgres(source).await {
        Ok((conn, _)) => {
            report.pass(step("database login"), redact(&url));
            conn
        }
        Err(e) => {
            let fix = match &e {
                Error::LoginRefused { .. } => {
                    "the database refused the user even with fresh credentials: check that the Vault role's creation statements create a LOGIN role on this database"
                }
                Error::Connect { .. } => {
                    "the database is not reachable: check host, port and sslmode in the URL"
                }
                Error::Url { .. } => "correct the URL in db_connection_strings",
                _ => "see the error",
            };
            report.fail(step("database login"), e, fix);
            return;
        }
    };
    match postgres::execute(&conn.client, "SELECT 1").await {
        Ok(1) => report.pass(step("SELECT 1"), "1 row"),
        Ok(n) => report.fail(
            step("SELECT 1"),
            format!("returned {n} rows instead of 1"),
            "the server is not a normal PostgreSQL server",
        ),
        Err(e) => {
            report.fail(step("SELECT 1"), e, "the session cannot run queries");
            return;
        }
    }
    match settings.write_role(source) {
        None => report.skip(step("SET ROLE"), "no db_role and no Vault path"),
        Some(role) => {
            let set = format!("SET ROLE {}", quote_ident(&role));
            match postgres::execute(&conn.client, &set).await {
                Ok(_) => {
                    let _ = postgres::execute(&conn.client, "RESET ROLE").await;
                    report.pass(step("SET ROLE"), format!("{role}: allowed (for writes)"));
                }
                Err(e) => report.fail(
                    step("SET ROLE"),
                    e,
                    format!(
                        "the user may not act as role {role}: set db_role for {source} to a role it is granted, or grant {role} in the Vault role's creation statements"
                    ),
                ),
            }
        }
    }
}

fn format_duration(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}
