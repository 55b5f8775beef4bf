//! `dataverk access check`: the rules a user or team file must follow, each problem with its
//! line and the fix.
//!
//! Only definite mistakes are problems, so a clean file exits 0 and the check can gate a pull
//! request: missing keys, values of the wrong shape, unfilled `<placeholders>` copied from the
//! how-to, roles outside admin/user/readonly, unknown environments, namespaces Kubernetes would
//! refuse, and `extra_policies` entries that name a database or role the file does not declare
//! (the 403 the how-to warns about). Keys the check does not know are left alone: vault-iac
//! files may hold more than database access.

use super::yaml::{self, Doc};
use super::{Role, VaultEnvs};
use crate::{Error, Result};
use saphyr::MarkedYaml;
use std::fmt;
use std::path::Path;

/// One problem in a file: where, what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The line (1-based).
    pub line: usize,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub fix: String,
}

impl Problem {
    /// The problem as one line: `FILE:LINE: problem — fix`.
    pub fn render(&self, file: &str) -> String {
        format!("{file}:{self}")
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} — {}", self.line, self.message, self.fix)
    }
}

/// Checks the text of a user or team file; no problems means it is ready for a pull request.
pub fn check(text: &str, envs: &VaultEnvs) -> Vec<Problem> {
    let doc = match Doc::load(text) {
        Ok(doc) => doc,
        Err(e) => {
            let fix = if e.message.contains("duplicated key") {
                "a key may appear once per mapping: merge the two"
            } else {
                "correct the syntax there (indent with spaces, `key: value`, `- item`)"
            };
            return vec![Problem {
                line: e.line,
                message: format!("not valid YAML at column {}: {}", e.column, e.message),
                fix: fix.into(),
            }];
        }
    };
    let Some(root) = doc.root.as_ref() else {
        return vec![Problem {
            line: 1,
            message: "the file holds no YAML document".into(),
            fix: "write one with `dataverk access user ...` or `dataverk access team ...`".into(),
        }];
    };
    let mut checker = Checker {
        envs,
        problems: Vec::new(),
        declared: Vec::new(),
    };
    checker.file(root);
    let mut problems = checker.problems;
    problems.sort_by_key(|p| p.line);
    problems
}

/// Reads and checks a file.
pub fn check_file(path: &Path, envs: &VaultEnvs) -> Result<Vec<Problem>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?;
    Ok(check(&text, envs))
}

/// Field kinds: each has its own placeholder fix and value rules.
#[derive(Clone, Copy)]
enum Field {
    Email,
    TeamName,
    GroupId,
    Namespace,
    Database,
    Role,
}

impl Field {
    fn key(self) -> &'static str {
        match self {
            Field::Email => "email",
            Field::TeamName => "name",
            Field::GroupId => "group_id",
            Field::Namespace => "namespace",
            Field::Database => "database_name",
            Field::Role => "permission_level",
        }
    }

    /// What the value should be, for fixes.
    fn wanted(self) -> &'static str {
        match self {
            Field::Email => "your e-mail address",
            Field::TeamName => "the team's name",
            Field::GroupId => "the object ID of the team's Azure AD group",
            Field::Namespace => "the Kubeflow namespace",
            Field::Database => "the database's name in navikt/database-iac",
            Field::Role => "admin, user or readonly",
        }
    }

    /// The problem with a filled-in value, if any.
    fn value_problem(self, value: &str) -> Option<(String, String)> {
        match self {
            Field::Email => email_problem(value),
            Field::TeamName => text_problem("team name", value),
            Field::GroupId => text_problem("group id", value),
            Field::Namespace => namespace_problem(value),
            Field::Database => database_problem(value),
            Field::Role => value.parse::<Role>().err().map(|_| {
                (
                    format!("permission_level {value:?} is not a role"),
                    "use admin, user or readonly (database-iac's roles)".into(),
                )
            }),
        }
    }
}

/// The first `<...>` in `s`: a placeholder from the how-to left in the file.
fn placeholder(s: &str) -> Option<&str> {
    let start = s.find('<')?;
    let len = s[start..].find('>')?;
    Some(&s[start..=start + len])
}

pub(super) fn email_problem(email: &str) -> Option<(String, String)> {
    let ok = email
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !email.chars().any(char::is_whitespace);
    (!ok).then(|| {
        (
            format!("email {email:?} is not an e-mail address"),
            "write the address, e.g. ola.nordmann@nav.no".into(),
        )
    })
}

pub(super) fn text_problem(what: &str, value: &str) -> Option<(String, String)> {
    if value.trim().is_empty() {
        Some((
            format!("the {what} is empty"),
            format!("fill in the {what}"),
        ))
    } else if value.chars().any(char::is_control) {
        Some((
            format!("the {what} holds a control character"),
            "remove it".into(),
        ))
    } else {
        None
    }
}

/// Kubernetes namespaces are DNS labels (RFC 1123): a namespace Kubernetes would refuse cannot
/// be the one the pod runs in.
pub(super) fn namespace_problem(ns: &str) -> Option<(String, String)> {
    let ok = !ns.is_empty()
        && ns.len() <= 63
        && ns
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !ns.starts_with('-')
        && !ns.ends_with('-');
    (!ok).then(|| {
        (
            format!("namespace {ns:?} is not a Kubernetes namespace name"),
            "use the namespace as Kubeflow shows it: lowercase letters, digits and '-', at most 63"
                .into(),
        )
    })
}

/// Database names end up in Vault paths and policy names, so only the characters those allow.
pub(super) fn database_problem(db: &str) -> Option<(String, String)> {
    let ok = !db.is_empty()
        && db
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    (!ok).then(|| {
        (
            format!("database_name {db:?} is not a database name"),
            "use the name from navikt/database-iac: letters, digits, '-' and '_'".into(),
        )
    })
}

/// A `permission_level` declared under `postgresql`.
struct Declared {
    env: String,
    database: String,
    role: String,
}

struct Checker<'e> {
    envs: &'e VaultEnvs,
    problems: Vec<Problem>,
    declared: Vec<Declared>,
}

impl Checker<'_> {
    fn problem(&mut self, line: usize, message: impl Into<String>, fix: impl Into<String>) {
        self.problems.push(Problem {
            line,
            message: message.into(),
            fix: fix.into(),
        });
    }

    fn file(&mut self, root: &MarkedYaml) {
        let top = root.span.start.line();
        if yaml::entries(root).is_empty() {
            self.problem(
                top,
                format!("the file is {}, not a mapping of keys", yaml::kind(root)),
                "start with `email:` (user file) or `name:` and `group_id:` (team file), then `kubeflow:` and `postgresql:`",
            );
            return;
        }
        let email = yaml::get(root, "email");
        let name = yaml::get(root, "name");
        let group_id = yaml::get(root, "group_id");
        let team = name.or(group_id);
        match (email, team) {
            (Some(_), Some((k, _))) => self.problem(
                k.span.start.line(),
                "the file has both email (a user file) and name/group_id (a team file)",
                "keep one kind: user files go in terraform/users/, team files in terraform/teams/",
            ),
            (None, None) => self.problem(
                top,
                "the file has neither email (a user file) nor name and group_id (a team file)",
                "add `email: <your address>` for a personal namespace, or `name:` and `group_id:` for a team",
            ),
            _ => {}
        }
        if let Some((_, v)) = email {
            self.text(v, Field::Email);
        }
        if team.is_some() && email.is_none() {
            for (entry, field) in [(name, Field::TeamName), (group_id, Field::GroupId)] {
                match entry {
                    Some((_, v)) => {
                        self.text(v, field);
                    }
                    None => self.problem(
                        top,
                        format!("the team file has no {}", field.key()),
                        format!("add `{}: <{}>`", field.key(), field.wanted()),
                    ),
                }
            }
        }
        match yaml::get(root, "postgresql") {
            Some((k, v)) => self.postgresql(k, v),
            None => self.problem(
                top,
                "no postgresql section: the file grants no database",
                "add `postgresql:` with an environment and `- database_name: ...` / `permission_level: ...` (`dataverk access user|team ... --file FILE` writes it)",
            ),
        }
        // After postgresql: policies are checked against what it declares.
        match yaml::get(root, "kubeflow") {
            Some((k, v)) => self.kubeflow(k, v),
            None => self.problem(
                top,
                "no kubeflow section: no namespace gets the access",
                "add `kubeflow:` with `- namespace: <namespace>`",
            ),
        }
    }

    /// Checks a text value; returns it when it is filled in and valid.
    fn text<'n>(&mut self, node: &'n MarkedYaml, field: Field) -> Option<&'n str> {
        let line = node.span.start.line();
        let key = field.key();
        let Some(value) = yaml::as_str(node) else {
            self.problem(
                line,
                format!("{key} is {}, not text", yaml::kind(node)),
                format!("write {}", field.wanted()),
            );
            return None;
        };
        if let Some(p) = placeholder(value) {
            self.problem(
                line,
                format!("{key} still has the placeholder {p}"),
                format!("replace it with {}", field.wanted()),
            );
            return None;
        }
        if let Some((message, fix)) = field.value_problem(value) {
            self.problem(line, message, fix);
            return None;
        }
        Some(value)
    }

    fn postgresql(&mut self, key: &MarkedYaml, value: &MarkedYaml) {
        let environments = yaml::entries(value);
        if environments.is_empty() {
            self.problem(
                key.span.start.line(),
                format!("postgresql is {}, not a mapping of environments", yaml::kind(value)),
                "write `postgresql:`, then `  dev-fss:` (or prod-fss) and its `- database_name:` entries",
            );
            return;
        }
        for (env_key, list) in environments {
            let line = env_key.span.start.line();
            let Some(env) = yaml::as_str(env_key) else {
                self.problem(
                    line,
                    "an environment key that is not text",
                    "use dev-fss or prod-fss",
                );
                continue;
            };
            if self.envs.vault_env(env).is_none() {
                let known = self.envs.file_envs().collect::<Vec<_>>().join(", ");
                let fix = match self.envs.file_env(env) {
                    Some(file_env) => {
                        format!("{env} is the Vault name; files name the environment {file_env}")
                    }
                    None => {
                        format!("use one of {known}, or map it with --vault-env {env}=VAULT_ENV")
                    }
                };
                self.problem(line, format!("environment {env:?} is unknown"), fix);
            }
            let entries = yaml::items(list);
            if entries.is_empty() {
                self.problem(
                    line,
                    format!("postgresql.{env} lists no databases ({})", yaml::kind(list)),
                    "add `- database_name: <name>` with `permission_level: <role>` below it, or remove it",
                );
                continue;
            }
            for entry in entries {
                self.database_entry(env, entry);
            }
        }
    }

    fn database_entry(&mut self, env: &str, entry: &MarkedYaml) {
        let line = entry.span.start.line();
        if yaml::entries(entry).is_empty() {
            self.problem(
                line,
                format!(
                    "a postgresql.{env} entry is {}, not database_name and permission_level",
                    yaml::kind(entry)
                ),
                "write `- database_name: <name>` and, aligned below it, `permission_level: <role>`",
            );
            return;
        }
        let mut values = [None, None];
        for (slot, field) in values.iter_mut().zip([Field::Database, Field::Role]) {
            match yaml::get(entry, field.key()) {
                Some((_, v)) => *slot = self.text(v, field).map(str::to_string),
                None => self.problem(
                    line,
                    format!("a postgresql.{env} entry has no {}", field.key()),
                    format!("add `{}: <{}>`", field.key(), field.wanted()),
                ),
            }
        }
        let [Some(database), Some(role)] = values else {
            return;
        };
        if self
            .declared
            .iter()
            .any(|d| d.env == env && d.database == database && d.role == role)
        {
            self.problem(
                line,
                format!("{database} ({role}) is listed twice under postgresql.{env}"),
                "remove one of them",
            );
            return;
        }
        self.declared.push(Declared {
            env: env.to_string(),
            database,
            role,
        });
    }

    fn kubeflow(&mut self, key: &MarkedYaml, value: &MarkedYaml) {
        let namespaces = yaml::items(value);
        if namespaces.is_empty() {
            self.problem(
                key.span.start.line(),
                format!(
                    "kubeflow is {}, not a list of namespaces",
                    yaml::kind(value)
                ),
                "write `kubeflow:` then `  - namespace: <namespace>`",
            );
            return;
        }
        let mut seen: Vec<String> = Vec::new();
        for entry in namespaces {
            let line = entry.span.start.line();
            match yaml::get(entry, "namespace") {
                Some((_, v)) => {
                    if let Some(ns) = self.text(v, Field::Namespace) {
                        if seen.iter().any(|s| s == ns) {
                            self.problem(
                                line,
                                format!("namespace {ns} is listed twice under kubeflow"),
                                "merge the two entries (and their extra_policies) into one",
                            );
                        }
                        seen.push(ns.to_string());
                    }
                }
                None => self.problem(
                    line,
                    match yaml::entries(entry).is_empty() {
                        true => format!(
                            "a kubeflow entry is {}, not `namespace: ...`",
                            yaml::kind(entry)
                        ),
                        false => "a kubeflow entry has no namespace".to_string(),
                    },
                    "write `- namespace: <the Kubeflow namespace>`",
                ),
            }
            if let Some((k, policies)) = yaml::get(entry, "extra_policies") {
                self.policies(k, policies);
            }
        }
    }

    fn policies(&mut self, key: &MarkedYaml, list: &MarkedYaml) {
        let items = yaml::items(list);
        if items.is_empty() {
            self.problem(
                key.span.start.line(),
                format!("extra_policies is {}, not a list", yaml::kind(list)),
                "list the policies as `- postgresql_<vault env>_<database>_<role>`, or remove extra_policies",
            );
            return;
        }
        for item in items {
            let line = item.span.start.line();
            match yaml::as_str(item) {
                Some(p) if p.starts_with("postgresql_") => self.policy(line, p),
                Some(_) => {} // other kinds of policies are not ours to judge
                None => self.problem(
                    line,
                    format!(
                        "an extra_policies entry is {}, not a policy name",
                        yaml::kind(item)
                    ),
                    "write the policy name, e.g. `- postgresql_preprod-fss_mydb_readonly`",
                ),
            }
        }
    }

    /// `postgresql_<vault env>_<database>_<role>` must name a grant declared in this file: the
    /// seed's warning that the policy's role must match the `permission_level`.
    fn policy(&mut self, line: usize, policy: &str) {
        let example_env = self
            .envs
            .file_envs()
            .next()
            .and_then(|e| self.envs.vault_env(e))
            .unwrap_or("preprod-fss")
            .to_string();
        if let Some(p) = placeholder(policy) {
            self.problem(
                line,
                format!("policy {policy} still has the placeholder {p}"),
                "replace it with the database and permission_level declared under postgresql",
            );
            return;
        }
        let parsed = policy
            .strip_prefix("postgresql_")
            .and_then(|rest| rest.split_once('_'))
            .and_then(|(venv, rest)| rest.rsplit_once('_').map(|(db, role)| (venv, db, role)))
            .filter(|(venv, db, role)| !venv.is_empty() && !db.is_empty() && !role.is_empty());
        let Some((venv, database, role)) = parsed else {
            self.problem(
                line,
                format!("policy {policy} is not postgresql_<vault env>_<database>_<role>"),
                format!("write it as postgresql_{example_env}_<database>_<role>"),
            );
            return;
        };
        if role.parse::<Role>().is_err() {
            self.problem(
                line,
                format!("policy {policy} ends in {role:?}, which is not a role"),
                "end it with the permission_level declared for the database: admin, user or readonly",
            );
            return;
        }
        if let Some(vault_name) = self.envs.vault_env(venv).filter(|v| *v != venv) {
            self.problem(
                line,
                format!(
                    "policy {policy} names the file environment {venv}, not the Vault environment"
                ),
                format!("policies use Vault's name: postgresql_{vault_name}_{database}_{role}"),
            );
            return;
        }
        let Some(env) = self.envs.file_env(venv) else {
            let known = self
                .envs
                .file_envs()
                .filter_map(|e| self.envs.vault_env(e))
                .collect::<Vec<_>>()
                .join(", ");
            self.problem(
                line,
                format!("policy {policy} names the Vault environment {venv:?}, which is unknown"),
                format!("use one of {known} (Vault's names, not the file's), or map it with --vault-env ENV={venv}"),
            );
            return;
        };
        let declared: Vec<&str> = self
            .declared
            .iter()
            .filter(|d| d.env == env && d.database == database)
            .map(|d| d.role.as_str())
            .collect();
        if declared.is_empty() {
            self.problem(
                line,
                format!("policy {policy} grants {database} in {env}, but postgresql.{env} does not declare {database}"),
                format!("add `- database_name: {database}` with `permission_level: {role}` under postgresql.{env}, or correct the policy"),
            );
        } else if !declared.contains(&role) {
            let first = declared[0];
            self.problem(
                line,
                format!("policy {policy} has role {role}, but postgresql.{env} gives {database} permission_level {}", declared.join(", ")),
                format!("the two must match: use postgresql_{venv}_{database}_{first}, or set permission_level: {role}"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found() {
        assert_eq!(placeholder("<databasenavn>"), Some("<databasenavn>"));
        assert_eq!(
            placeholder("postgresql_preprod-fss_<db>_<rolle>"),
            Some("<db>")
        );
        assert_eq!(placeholder("mydb"), None);
        assert_eq!(placeholder("a<b"), None);
    }

    #[test]
    fn field_rules() {
        assert!(email_problem("ola.nordmann@nav.no").is_none());
        assert!(email_problem("ola").is_some());
        assert!(email_problem("ola @nav.no").is_some());
        assert!(namespace_problem("ola-nordmann").is_none());
        assert!(namespace_problem("Ola").is_some());
        assert!(namespace_problem("-ola").is_some());
        assert!(namespace_problem(&"a".repeat(64)).is_some());
        assert!(database_problem("my_db-1").is_none());
        assert!(database_problem("my db").is_some());
        assert!(database_problem("a/b").is_some());
    }
}
