//! Seed step 1: the access request that lets a Kubeflow namespace read database credentials
//! from Vault.
//!
//! Access is granted by a pull request to an infrastructure-as-code repository (vault-iac) with a
//! YAML file per user (`terraform/users/`) or team (`terraform/teams/`). A user file names the
//! person's namespaces and, per environment, the databases and the role (`permission_level`); a
//! team file does the same and also gives each Kubeflow namespace the Vault policy
//! `postgresql_<vault env>_<database>_<role>` in `extra_policies`. Mistakes there show up only
//! later, as a 403 from Vault, so this module:
//!
//! - writes such a file, or adds a grant to an existing one without disturbing it
//!   ([`AccessRequest::render`], [`AccessRequest::add_to`], [`AccessRequest::write_to_file`]);
//! - checks a file and reports each problem with its line and fix ([`check`]);
//! - says what to do after the merge: `POSTGRES_CREDS_PATH`, the `settings.json` entry
//!   ([`AccessRequest::next_steps`]);
//! - turns a 403 on a creds path into the missing entry and the command that writes it
//!   ([`hint_for_denied_creds_path`], [`hint_for_error`]).
//!
//! Environments: files name the cluster environment (`dev-fss`, `prod-fss`), Vault mounts and
//! policies the Vault environment (`preprod-fss`, `prod-fss`). [`VaultEnvs`] maps one to the
//! other; the default is the seed's, and `DATAVERK_VAULT_ENVS` or `--vault-env` change it.

mod check;
mod edit;
mod hint;
mod yaml;

pub use check::{check, check_file, Problem};
pub use edit::{Added, WriteOutcome};
pub use hint::{
    hint_for_denied_creds_path, hint_for_denied_creds_path_with, hint_for_error, MissingAccess,
};

use crate::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// The environment variable that adds to or changes the environment map, e.g.
/// `dev-fss=preprod-fss,prod-fss=prod-fss`.
pub const VAULT_ENVS_VAR: &str = "DATAVERK_VAULT_ENVS";

/// A database role, as database-iac defines them: the `permission_level` of a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Owns the schema: may create tables.
    Admin,
    /// Reads and writes data.
    User,
    /// Reads only.
    Readonly,
}

impl Role {
    /// Every role, in the order messages list them.
    pub const ALL: [Role; 3] = [Role::Admin, Role::User, Role::Readonly];

    /// The name used in files, policies and Vault paths.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
            Role::Readonly => "readonly",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Role> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "role {s:?} is not one of admin, user, readonly (database-iac's roles)"
                ))
            })
    }
}

/// The map from the environments named in access files (`dev-fss`) to the Vault environments of
/// mounts and policies (`preprod-fss`). Its keys are the environments `check` knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultEnvs {
    pairs: Vec<(String, String)>,
}

impl Default for VaultEnvs {
    /// The seed's map: `dev-fss` → `preprod-fss`, `prod-fss` → `prod-fss`.
    fn default() -> Self {
        VaultEnvs {
            pairs: vec![
                ("dev-fss".into(), "preprod-fss".into()),
                ("prod-fss".into(), "prod-fss".into()),
            ],
        }
    }
}

impl VaultEnvs {
    /// The default map with the pairs of `$DATAVERK_VAULT_ENVS` added or replaced.
    pub fn from_env() -> Result<VaultEnvs> {
        let mut envs = VaultEnvs::default();
        if let Ok(spec) = std::env::var(VAULT_ENVS_VAR) {
            envs.apply(&spec)
                .map_err(|e| Error::Usage(format!("{VAULT_ENVS_VAR}: {e}")))?;
        }
        Ok(envs)
    }

    /// Adds or replaces pairs given as `ENV=VAULT_ENV`, comma-separated.
    pub fn apply(&mut self, spec: &str) -> Result<()> {
        for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (env, vault) = pair
                .split_once('=')
                .map(|(a, b)| (a.trim(), b.trim()))
                .filter(|(a, b)| is_env_name(a) && is_env_name(b))
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "{pair:?} is not ENV=VAULT_ENV (e.g. dev-fss=preprod-fss)"
                    ))
                })?;
            match self.pairs.iter_mut().find(|(e, _)| e == env) {
                Some(p) => p.1 = vault.to_string(),
                None => self.pairs.push((env.to_string(), vault.to_string())),
            }
        }
        Ok(())
    }

    /// The Vault environment of a file environment.
    pub fn vault_env(&self, env: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(e, _)| e == env)
            .map(|(_, v)| v.as_str())
    }

    /// The file environment of a Vault environment.
    pub fn file_env(&self, vault_env: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(_, v)| v == vault_env)
            .map(|(e, _)| e.as_str())
    }

    /// The known file environments, in order.
    pub fn file_envs(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|(e, _)| e.as_str())
    }

    /// `dev-fss (Vault: preprod-fss), prod-fss (Vault: prod-fss)`, for messages.
    pub fn describe(&self) -> String {
        self.pairs
            .iter()
            .map(|(e, v)| format!("{e} (Vault: {v})"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The Vault environment of `env`, or an error naming the known ones.
    fn require(&self, env: &str) -> Result<&str> {
        self.vault_env(env).ok_or_else(|| {
            Error::Usage(format!(
                "environment {env:?} is unknown; known: {}\n  hint: map it with --vault-env {env}=VAULT_ENV or {VAULT_ENVS_VAR}",
                self.describe()
            ))
        })
    }
}

fn is_env_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

/// The Vault path of a database role's credentials: `postgresql/<vault env>/creds/<db>-<role>`,
/// the value of `POSTGRES_CREDS_PATH`.
pub fn creds_path(vault_env: &str, database: &str, role: Role) -> String {
    format!("postgresql/{vault_env}/creds/{database}-{role}")
}

/// The Vault policy a team's namespace needs in `extra_policies`:
/// `postgresql_<vault env>_<db>_<role>`.
pub fn policy_name(vault_env: &str, database: &str, role: Role) -> String {
    format!("postgresql_{vault_env}_{database}_{role}")
}

/// Who the file belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// A person, for a personal namespace (`terraform/users/`).
    User {
        /// The person's e-mail address.
        email: String,
    },
    /// A team, for a team namespace (`terraform/teams/`).
    Team {
        /// The team's name.
        name: String,
        /// The ID of the team's Azure AD group.
        group_id: String,
    },
}

/// One grant to write: a namespace gets `role` on `database` in environment `env`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRequest {
    /// The user or team the file belongs to.
    pub owner: Owner,
    /// The Kubeflow namespace that reads the database.
    pub namespace: String,
    /// The database name as in database-iac.
    pub database: String,
    /// The role (`permission_level`).
    pub role: Role,
    /// The file environment (`dev-fss`, `prod-fss`).
    pub env: String,
}

impl AccessRequest {
    /// Checks every field the way `check` would check it in a file.
    pub fn validate(&self, envs: &VaultEnvs) -> Result<()> {
        let mut errors = Vec::new();
        match &self.owner {
            Owner::User { email } => errors.extend(check::email_problem(email)),
            Owner::Team { name, group_id } => {
                errors.extend(check::text_problem("team name", name));
                errors.extend(check::text_problem("group id", group_id));
            }
        }
        errors.extend(check::namespace_problem(&self.namespace));
        errors.extend(check::database_problem(&self.database));
        let mut errors: Vec<String> = errors
            .into_iter()
            .map(|(problem, fix)| format!("{problem} — {fix}"))
            .collect();
        if let Err(e) = envs.require(&self.env) {
            errors.push(e.to_string());
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Usage(errors.join("\n")))
        }
    }

    /// The Vault environment of the request's environment.
    pub fn vault_env<'e>(&self, envs: &'e VaultEnvs) -> Result<&'e str> {
        envs.require(&self.env)
    }

    /// `POSTGRES_CREDS_PATH` for this grant.
    pub fn creds_path(&self, envs: &VaultEnvs) -> Result<String> {
        Ok(creds_path(self.vault_env(envs)?, &self.database, self.role))
    }

    /// The `extra_policies` entry for this grant.
    pub fn policy(&self, envs: &VaultEnvs) -> Result<String> {
        Ok(policy_name(
            self.vault_env(envs)?,
            &self.database,
            self.role,
        ))
    }

    /// What to do once the file is written, for a person: the pull request and its sync delay,
    /// the two Vault KV values, and the `settings.json` entry for source `source`.
    pub fn next_steps(&self, envs: &VaultEnvs, source: &str) -> Result<String> {
        let creds = self.creds_path(envs)?;
        let folder = match self.owner {
            Owner::User { .. } => "terraform/users/",
            Owner::Team { .. } => "terraform/teams/",
        };
        let settings = settings_snippet(source);
        let settings = settings
            .lines()
            .map(|l| format!("     {l}"))
            .collect::<Vec<_>>()
            .join("\n");
        let (ns, db) = (&self.namespace, &self.database);
        Ok(format!(
            "Next steps for namespace {ns}, database {db} ({env}, {role}):\n\
             1. Open a pull request in navikt/vault-iac with this file in {folder}.\n\
             \x20  Access is synced to Vault 5–10 minutes after the merge.\n\
             2. In Vault, under the KV path of namespace {ns}, store:\n\
             \x20    POSTGRES_CREDENTIALS: \"postgres://user:pass@<host>:<port>/{db}\"\n\
             \x20    POSTGRES_CREDS_PATH: \"{creds}\"\n\
             \x20  Host and port are in navikt/database-iac. Keep user:pass as it is: dataverk\n\
             \x20  replaces it with credentials from Vault.\n\
             3. In settings.json:\n\
             {settings}\n\
             4. Then: dataverk read-sql {source} \"SELECT 1\"\n",
            env = self.env,
            role = self.role,
        ))
    }
}

/// The `settings.json` entries for a Postgres source whose credentials come from Vault, in the
/// seed's shape.
pub fn settings_snippet(source: &str) -> String {
    let mut connection = serde_json::Map::new();
    connection.insert(source.into(), "${POSTGRES_CREDENTIALS}".into());
    let mut vault_path = serde_json::Map::new();
    vault_path.insert(source.into(), "${POSTGRES_CREDS_PATH}".into());
    let mut top = serde_json::Map::new();
    top.insert("db_connection_strings".into(), connection.into());
    top.insert("db_vault_path".into(), vault_path.into());
    serde_json::to_string_pretty(&serde_json::Value::Object(top)).expect("a JSON object")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_map_is_the_seeds_and_can_be_changed() {
        let mut envs = VaultEnvs::default();
        assert_eq!(envs.vault_env("dev-fss"), Some("preprod-fss"));
        assert_eq!(envs.vault_env("prod-fss"), Some("prod-fss"));
        assert_eq!(envs.file_env("preprod-fss"), Some("dev-fss"));
        assert_eq!(envs.vault_env("dev-gcp"), None);
        envs.apply("dev-fss=dev-fss, dev-gcp=dev-gcp").unwrap();
        assert_eq!(envs.vault_env("dev-fss"), Some("dev-fss"));
        assert_eq!(envs.vault_env("dev-gcp"), Some("dev-gcp"));
        assert_eq!(
            envs.file_envs().collect::<Vec<_>>(),
            ["dev-fss", "prod-fss", "dev-gcp"]
        );
        assert!(envs.apply("dev-fss").is_err());
        assert!(envs.apply("dev-fss=").is_err());
        assert!(envs.apply("a b=c").is_err());
    }

    #[test]
    fn paths_and_policies() {
        assert_eq!(
            creds_path("preprod-fss", "mydb", Role::Admin),
            "postgresql/preprod-fss/creds/mydb-admin"
        );
        assert_eq!(
            policy_name("preprod-fss", "my_db", Role::Readonly),
            "postgresql_preprod-fss_my_db_readonly"
        );
        assert_eq!("user".parse::<Role>().unwrap(), Role::User);
        assert!("owner".parse::<Role>().is_err());
    }

    #[test]
    fn settings_snippet_has_the_seeds_shape() {
        let v: serde_json::Value = serde_json::from_str(&settings_snippet("pg")).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "db_connection_strings": {"pg": "${POSTGRES_CREDENTIALS}"},
                "db_vault_path": {"pg": "${POSTGRES_CREDS_PATH}"}
            })
        );
    }
}
