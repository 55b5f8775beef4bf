//! What the CLI tests share: the binary run against a [`World`] the seed's way.

use std::path::Path;
use std::process::Command;
use testkit::scenario::World;

/// The `dataverk` binary with a clean environment configured the seed's way (Kubernetes login
/// to the world's devvault) and `--settings settings`; add arguments and variables to it.
pub fn dataverk(w: &World, settings: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dataverk"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", w.dir.path())
        .env("VKS_VAULT_ADDR", w.vault.addr())
        .env("VKS_AUTH_PATH", "auth/kubernetes/login")
        .env("VKS_KV_PATH", "secret/kubeflow")
        .env("K8S_SERVICEACCOUNT_PATH", w.serviceaccount_dir())
        .current_dir(w.dir.path())
        .arg("--settings")
        .arg(settings);
    cmd
}
