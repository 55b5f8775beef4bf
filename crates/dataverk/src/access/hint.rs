//! From a 403 on a database creds path back to the access entry that is probably missing.
//!
//! `dataverk doctor` calls this when Vault refuses `postgresql/<vault env>/creds/<db>-<role>`:
//! the usual cause is that the namespace's user or team file does not grant that database and
//! role (or the merge has not synced yet), and the fix is a command of this module.

use super::{policy_name, Role, VaultEnvs};
use std::fmt;

/// The access a namespace lacks when Vault refuses a database creds path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingAccess {
    /// The refused path.
    pub creds_path: String,
    /// The namespace that asked.
    pub namespace: String,
    /// The file environment (`dev-fss`).
    pub env: String,
    /// The Vault environment in the path (`preprod-fss`).
    pub vault_env: String,
    /// The database.
    pub database: String,
    /// The role.
    pub role: Role,
}

impl MissingAccess {
    /// Reads `postgresql/<vault env>/creds/<db>-<role>`; `None` for any other kind of path, or
    /// a Vault environment `envs` does not know.
    pub fn from_creds_path(path: &str, namespace: &str, envs: &VaultEnvs) -> Option<MissingAccess> {
        let path = path.trim().trim_matches('/');
        let path = path.strip_prefix("v1/").unwrap_or(path);
        let rest = path.strip_prefix("postgresql/")?;
        let (vault_env, db_role) = rest.split_once("/creds/")?;
        let (database, role) = db_role.rsplit_once('-')?;
        let role = role.parse::<Role>().ok()?;
        if vault_env.is_empty() || vault_env.contains('/') || database.is_empty() {
            return None;
        }
        let env = envs.file_env(vault_env)?;
        Some(MissingAccess {
            creds_path: path.to_string(),
            namespace: namespace.to_string(),
            env: env.to_string(),
            vault_env: vault_env.to_string(),
            database: database.to_string(),
            role,
        })
    }

    /// The `extra_policies` entry a team namespace needs.
    pub fn policy(&self) -> String {
        policy_name(&self.vault_env, &self.database, self.role)
    }

    /// The command that adds the grant to a personal namespace's user file.
    pub fn user_command(&self) -> String {
        format!(
            "dataverk access user --email <your e-mail> --namespace {} --db {} --role {} --env {} --file <your file in terraform/users/>",
            self.namespace, self.database, self.role, self.env
        )
    }

    /// The command that adds the grant to a team namespace's team file.
    pub fn team_command(&self) -> String {
        format!(
            "dataverk access team --name <team> --group-id <AAD group id> --namespace {} --db {} --role {} --env {} --file <the team's file in terraform/teams/>",
            self.namespace, self.database, self.role, self.env
        )
    }
}

impl fmt::Display for MissingAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (ns, db, role, env) = (&self.namespace, &self.database, self.role, &self.env);
        writeln!(
            f,
            "Vault refused {}: namespace {ns} probably has no access to database {db} as {role} in {env}.",
            self.creds_path
        )?;
        writeln!(
            f,
            "The vault-iac file for {ns} needs postgresql.{env}: database_name {db}, permission_level {role}, \
             and, for a team namespace, {} in the extra_policies of namespace {ns}.",
            self.policy()
        )?;
        writeln!(f, "  personal namespace: {}", self.user_command())?;
        writeln!(f, "  team namespace:     {}", self.team_command())?;
        write!(
            f,
            "If the pull request is merged already, wait: access syncs to Vault 5–10 minutes after the merge."
        )
    }
}

/// For a 403 on `path` from namespace `namespace`: the likely missing access entry and the
/// `dataverk access` command that writes it. `None` when `path` is not a Postgres creds path.
/// Uses the environment map of `$DATAVERK_VAULT_ENVS` over the default (`dev-fss` ↔ `preprod-fss`).
pub fn hint_for_denied_creds_path(path: &str, namespace: &str) -> Option<String> {
    let envs = VaultEnvs::from_env().unwrap_or_default();
    hint_for_denied_creds_path_with(path, namespace, &envs)
}

/// For an error of any call: when it is Vault's 403 on a Postgres creds path, the access entry
/// that is probably missing and the command that writes it, for the namespace of the configured
/// Kubernetes login (else a `<namespace>` placeholder). The CLI prints it under the error, and
/// the Python package adds it to the exception's message.
pub fn hint_for_error(e: &crate::Error) -> Option<String> {
    let crate::Error::Vault {
        status: 403, path, ..
    } = e
    else {
        return None;
    };
    let namespace = crate::vault::VaultConfig::from_env()
        .ok()
        .flatten()
        .and_then(|c| c.k8s_namespace())
        .unwrap_or_else(|| "<namespace>".into());
    hint_for_denied_creds_path(path, &namespace)
}

/// [`hint_for_denied_creds_path`] with an explicit environment map.
pub fn hint_for_denied_creds_path_with(
    path: &str,
    namespace: &str,
    envs: &VaultEnvs,
) -> Option<String> {
    MissingAccess::from_creds_path(path, namespace, envs).map(|m| m.to_string())
}
