//! The `devvault` binary: loads a config file, starts the server on a loopback address and
//! runs until interrupted. A thin wrapper over the library.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

/// A Vault-API-compatible development server: in memory, loopback only, NOT for production.
#[derive(Parser, Debug)]
#[command(name = "devvault", version)]
struct Args {
    /// JSON configuration file (mounts, secrets, policies, roles).
    #[arg(long)]
    config: PathBuf,
    /// Loopback address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8200")]
    listen: SocketAddr,
    /// Root token, overriding the config's `root_token`.
    #[arg(long, env = "DEVVAULT_ROOT_TOKEN", hide_env_values = true)]
    root_token: Option<String>,
    /// Write the server address (`http://127.0.0.1:PORT`) to this file once listening.
    #[arg(long)]
    addr_file: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("devvault: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("devvault: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let mut config = devvault::Config::from_file(&args.config).map_err(|e| e.to_string())?;
    if let Some(token) = args.root_token {
        config.root_token = Some(token);
    }
    if config.root_token.as_deref().unwrap_or_default().is_empty() {
        // The token is never printed, so a generated one would be unusable.
        return Err(
            "no root token: set \"root_token\" in the config, --root-token or DEVVAULT_ROOT_TOKEN"
                .to_string(),
        );
    }
    eprintln!(
        "WARNING: devvault is a DEVELOPMENT server. All data is kept in memory and lost on exit, \
         Kubernetes tokens are not verified, and it listens on loopback only. \
         Do NOT use it in production."
    );
    let server = devvault::Server::start(config, args.listen)
        .await
        .map_err(|e| e.to_string())?;
    let addr = format!("http://{}", server.local_addr());
    if let Some(path) = &args.addr_file {
        write_atomically(path, &addr)
            .map_err(|e| format!("cannot write the address to {}: {e}", path.display()))?;
    }
    tracing::info!("devvault listening on {addr}");
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.stop().await;
    Ok(())
}

/// Writes `contents` to a temporary file beside `path` and renames it into place, so a reader
/// polling for the file never sees it half written.
fn write_atomically(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(format!(".tmp-{}", std::process::id()));
    let temp = PathBuf::from(temp);
    std::fs::write(&temp, contents)?;
    std::fs::rename(&temp, path)
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
