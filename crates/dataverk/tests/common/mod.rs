//! Shared set-up for the integration tests: testkit's [`World`] plus Vault configurations and
//! clients built on it.
#![allow(dead_code)]

pub use testkit::scenario::*;

use dataverk::vault::{VaultAuth, VaultConfig};
use dataverk::{Client, ClientOptions};
use std::path::PathBuf;

/// Vault configured the seed's way: Kubernetes login, KV at secret/kubeflow/<namespace>.
pub fn k8s_vault(w: &World) -> VaultConfig {
    VaultConfig {
        addr: w.vault.addr(),
        auth: VaultAuth::Kubernetes {
            login_path: "auth/kubernetes/login".into(),
            role: NAMESPACE.into(),
            jwt_file: w.serviceaccount_dir().join("token"),
        },
        namespace: None,
        ca_cert: None,
        skip_verify: false,
        kv_path: Some("secret/kubeflow/team-a".into()),
    }
}

/// Vault configured with the root token.
pub fn token_vault(w: &World, kv_path: Option<&str>) -> VaultConfig {
    VaultConfig {
        addr: w.vault.addr(),
        auth: VaultAuth::Token {
            token: Some(w.vault.root_token().into()),
            file: None,
        },
        namespace: None,
        ca_cert: None,
        skip_verify: false,
        kv_path: kv_path.map(str::to_string),
    }
}

/// Client options for `settings` with `vault`, no dotenv.
pub fn options(settings: PathBuf, vault: VaultConfig) -> ClientOptions {
    ClientOptions {
        settings_path: Some(settings),
        env_file: None,
        vault: Some(vault),
        ..Default::default()
    }
}

/// A client on `settings` with `vault`, no dotenv.
pub fn new_client(settings: PathBuf, vault: VaultConfig) -> Client {
    Client::with_options(options(settings, vault)).expect("client")
}

/// A client that refreshes credentials only when they are used (no background task), for
/// tests that count Vault requests.
pub fn lazy_client(settings: PathBuf, vault: VaultConfig) -> Client {
    let mut opts = options(settings, vault);
    opts.refresh.background = false;
    Client::with_options(opts).expect("client")
}

/// The single value of a one-row, one-column result, as text.
pub fn scalar(client: &Client, source: &str, sql: &str) -> String {
    let table = client.read_sql(source, sql).expect("query");
    assert_eq!(table.num_rows(), 1, "{sql}");
    let batch = table.concat().unwrap();
    arrow::util::display::array_value_to_string(batch.column(0), 0).unwrap()
}
