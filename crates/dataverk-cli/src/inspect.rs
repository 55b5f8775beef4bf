//! Commands that look at the chain rather than move data: `doctor`, `settings show`,
//! `vault creds`.

use clap::Subcommand;
use dataverk::credentials::Lease;
use dataverk::db::url::redact;
use dataverk::vault::{VaultAuth, VaultClient, VaultConfig};
use dataverk::{AsyncClient, ClientOptions, Error, Result};
use std::time::Duration;

/// `dataverk settings ...`
#[derive(Subcommand)]
pub enum SettingsCommand {
    /// Print the settings with placeholders filled, secrets masked (URLs without user-info).
    Show,
}

/// `dataverk vault ...`
#[derive(Subcommand)]
pub enum VaultCommand {
    /// Issue database credentials from a creds path and print the lease.
    Creds {
        /// The Vault path, e.g. postgresql/preprod-fss/creds/mydb-admin.
        path: String,
        /// Also print the password.
        #[arg(long)]
        reveal: bool,
    },
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("cannot start the async runtime: {e}")))
}

/// `dataverk doctor [SOURCE]`: one line per step; `Ok(false)` when a step failed.
pub fn doctor(options: ClientOptions, source: Option<&str>) -> Result<bool> {
    let report = runtime()?.block_on(dataverk::doctor::diagnose(options, source));
    print!("{report}");
    if report.ok() {
        println!("all checks passed");
    }
    Ok(report.ok())
}

/// `dataverk settings show`.
pub fn settings(options: ClientOptions, command: SettingsCommand) -> Result<bool> {
    let SettingsCommand::Show = command;
    let mut options = options;
    options.refresh.background = false;
    let rt = runtime()?;
    let client = rt.block_on(AsyncClient::new(options))?;
    let s = client.settings();
    println!("settings file: {}", s.path.display());
    println!(
        "placeholders filled: {}",
        if s.placeholders.is_empty() {
            "none".to_string()
        } else {
            s.placeholders.join(", ")
        }
    );
    match &s.secret_path {
        Some(p) => println!("secret_path: {}", p.display()),
        None => println!("secret_path: (none)"),
    }
    match client.vault() {
        Some(v) => {
            let how = match &v.config().auth {
                VaultAuth::Kubernetes {
                    login_path, role, ..
                } => format!("Kubernetes login at {login_path} as role {role}"),
                VaultAuth::Token { .. } => "token auth".to_string(),
            };
            println!("vault: {} ({how})", v.addr());
            if let Some(kv) = &v.config().kv_path {
                println!("vault kv: {kv}");
            }
        }
        None => println!("vault: not configured"),
    }
    println!("sources:");
    for (name, url) in &s.db_connection_strings {
        println!("  {name}:");
        println!("    url: {}", redact(url.expose()));
        if let Some(path) = s.vault_path(name) {
            println!("    vault path: {path}");
        }
        if let Some(role) = s.write_role(name) {
            println!("    write role: {role}");
        }
    }
    Ok(true)
}

/// `dataverk vault creds PATH [--reveal]`.
pub fn vault(command: VaultCommand) -> Result<bool> {
    let VaultCommand::Creds { path, reveal } = command;
    let config = VaultConfig::from_env()?.ok_or_else(|| {
        Error::VaultConfig(
            "not configured: set VKS_VAULT_ADDR and VKS_AUTH_PATH (Kubernetes), or VAULT_ADDR and VAULT_TOKEN"
                .into(),
        )
    })?;
    let path = path.trim().trim_matches('/').to_string();
    let vault = VaultClient::new(config)?;
    let envelope = runtime()?.block_on(vault.read(&path))?;
    let lease = Lease::from_envelope(&path, &envelope, 1, 2.0 / 3.0)?;
    println!("path: {path}");
    println!("lease_id: {}", lease.lease_id);
    println!(
        "ttl: {} ({} s)",
        humantime_secs(lease.duration),
        lease.duration.as_secs()
    );
    println!("renewable: {}", lease.renewable);
    println!("username: {}", lease.username.expose());
    if reveal {
        println!("password: {}", lease.password.expose());
    } else {
        println!("password: (hidden; --reveal prints it)");
    }
    Ok(true)
}

fn humantime_secs(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m{sec}s"),
        (h, m, sec) => format!("{h}h{m}m{sec}s"),
    }
}
