//! The `dataverk` command line: glue between flags and the dataverk library.
//!
//! All behaviour lives in the library; this file parses arguments, sets up logging, prints
//! results and turns errors into a message on stderr and a non-zero exit code.

mod access;
mod inspect;
mod progress;
mod transfer;

use clap::{Parser, Subcommand};
use dataverk::ClientOptions;
use std::path::PathBuf;
use std::process::ExitCode;

/// Read from and write to databases by source name, with credentials from Vault.
#[derive(Parser)]
#[command(name = "dataverk", version, about, long_about = None)]
struct Cli {
    /// The settings file (default: $DATAVERK_SETTINGS, else ./settings.json).
    #[arg(long, global = true, value_name = "FILE")]
    settings: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a query on a source and print the result or write it to a file.
    ReadSql(transfer::ReadSql),
    /// Run a statement that returns no rows (DDL, INSERT, UPDATE, ...) and print the row count.
    Execute(transfer::Execute),
    /// Write the rows of a Parquet or CSV file into a table, all or nothing.
    Write(transfer::Write),
    /// Check every link from settings to database, one line per step with the fix for failures.
    Doctor {
        /// Only this source (default: every source in the settings).
        source: Option<String>,
    },
    /// Show the resolved settings, with secrets masked.
    Settings {
        #[command(subcommand)]
        command: inspect::SettingsCommand,
    },
    /// Talk to Vault directly.
    Vault {
        #[command(subcommand)]
        command: inspect::VaultCommand,
    },
    /// Write and check vault-iac access files (seed step 1).
    Access {
        #[command(subcommand)]
        command: access::AccessCommand,
    },
}

fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

/// Runs a command; `Ok(false)` when it ran but found problems (exit code 1, nothing more to say).
fn run(cli: Cli) -> dataverk::Result<bool> {
    let options = ClientOptions {
        settings_path: cli.settings.clone(),
        ..Default::default()
    };
    match cli.command {
        Command::ReadSql(args) => transfer::read_sql(options, args, cli.quiet),
        Command::Execute(args) => transfer::execute(options, args),
        Command::Write(args) => transfer::write(options, args, cli.quiet),
        Command::Doctor { source } => inspect::doctor(options, source.as_deref()),
        Command::Settings { command } => inspect::settings(options, command),
        Command::Vault { command } => inspect::vault(command),
        Command::Access { command } => access::run(command),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(hint) = dataverk::access::hint_for_error(&e) {
                eprintln!("{hint}");
            }
            ExitCode::FAILURE
        }
    }
}
