//! `dataverk access`: write and check the vault-iac access files of seed step 1.

use clap::{Args, Subcommand};
use dataverk::access::{check_file, AccessRequest, Owner, Role, VaultEnvs};
use dataverk::{Error, Result};
use std::path::PathBuf;

/// The `access` subcommands.
#[derive(Subcommand)]
pub enum AccessCommand {
    /// Print (or add to --file) a user file granting a personal namespace a database role.
    User {
        /// The person's e-mail address.
        #[arg(long)]
        email: String,
        #[command(flatten)]
        grant: Grant,
    },
    /// Print (or add to --file) a team file, with the namespace's extra_policies entry.
    Team {
        /// The team's name.
        #[arg(long)]
        name: String,
        /// The ID of the team's Azure AD group.
        #[arg(long)]
        group_id: String,
        #[command(flatten)]
        grant: Grant,
    },
    /// Check a user or team file: one line per problem with its line number and the fix.
    Check {
        /// The YAML files to check.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Map a file environment to a Vault environment, e.g. dev-gcp=dev-gcp (repeatable).
        #[arg(long = "vault-env", value_name = "ENV=VAULT_ENV")]
        vault_envs: Vec<String>,
    },
}

/// What both generators take.
#[derive(Args)]
pub struct Grant {
    /// The Kubeflow namespace that reads the database.
    #[arg(long)]
    namespace: String,
    /// The database name as in database-iac.
    #[arg(long = "db", value_name = "NAME")]
    database: String,
    /// The role (permission_level): admin, user or readonly.
    #[arg(long, value_parser = parse_role)]
    role: Role,
    /// The environment in the file: dev-fss or prod-fss (or one mapped with --vault-env).
    #[arg(long)]
    env: String,
    /// Add the grant to this file (created when missing) instead of printing a whole file.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// The source name used in the printed settings.json snippet.
    #[arg(long, default_value = "postgres_database", value_name = "NAME")]
    source: String,
    /// Map a file environment to a Vault environment, e.g. dev-gcp=dev-gcp (repeatable).
    #[arg(long = "vault-env", value_name = "ENV=VAULT_ENV")]
    vault_envs: Vec<String>,
}

fn parse_role(s: &str) -> std::result::Result<Role, String> {
    s.parse().map_err(|e: Error| e.to_string())
}

fn envs(extra: &[String]) -> Result<VaultEnvs> {
    let mut envs = VaultEnvs::from_env()?;
    for spec in extra {
        envs.apply(spec)
            .map_err(|e| Error::Usage(format!("--vault-env: {e}")))?;
    }
    Ok(envs)
}

/// Runs an `access` subcommand; `Ok(false)` when `check` found problems.
pub fn run(command: AccessCommand) -> Result<bool> {
    match command {
        AccessCommand::User { email, grant } => generate(Owner::User { email }, grant),
        AccessCommand::Team {
            name,
            group_id,
            grant,
        } => generate(Owner::Team { name, group_id }, grant),
        AccessCommand::Check { files, vault_envs } => {
            let envs = envs(&vault_envs)?;
            let mut clean = true;
            for file in &files {
                let problems = check_file(file, &envs)?;
                let name = file.display().to_string();
                if problems.is_empty() {
                    eprintln!("{name}: ok");
                }
                for p in &problems {
                    println!("{}", p.render(&name));
                    clean = false;
                }
            }
            Ok(clean)
        }
    }
}

fn generate(owner: Owner, grant: Grant) -> Result<bool> {
    let envs = envs(&grant.vault_envs)?;
    let request = AccessRequest {
        owner,
        namespace: grant.namespace,
        database: grant.database,
        role: grant.role,
        env: grant.env,
    };
    let mut clean = true;
    match &grant.file {
        None => print!("{}", request.render(&envs)?),
        Some(path) => {
            let outcome = request.write_to_file(path, &envs)?;
            let name = path.display();
            if outcome.created {
                eprintln!("wrote {name}");
            } else if outcome.changes.is_empty() {
                eprintln!("{name} already holds this grant; left unchanged");
            } else {
                for change in &outcome.changes {
                    eprintln!("{name}: {change}");
                }
            }
            for note in &outcome.notes {
                eprintln!("note: {note}");
            }
            for p in &outcome.problems {
                eprintln!("problem elsewhere in {}", p.render(&name.to_string()));
                clean = false;
            }
        }
    }
    eprintln!();
    eprint!("{}", request.next_steps(&envs, &grant.source)?);
    Ok(clean)
}
