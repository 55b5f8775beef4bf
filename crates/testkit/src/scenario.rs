//! [`World`]: the project's standard scenario for integration tests, the seed's set-up in
//! miniature: a PostgreSQL cluster with database `mydb`, group role `mydb-admin` and a small
//! `flights` table; a devvault with KV v1 and v2, Kubernetes auth for namespace `team-a`, and a
//! database secrets engine issuing `mydb-admin` credentials; a service-account folder; and the
//! connection string and creds path stored in KV at `secret/kubeflow/team-a`.

use crate::{DevVault, PgCluster};
use serde_json::json;
use std::path::PathBuf;

/// The Vault path of the database credentials used throughout.
pub const CREDS_PATH: &str = "postgresql/preprod-fss/creds/mydb-admin";
/// The Kubernetes namespace (and Vault role) of the tests.
pub const NAMESPACE: &str = "team-a";

/// base64url without padding, as JWTs use it.
pub fn b64url(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32;
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// An unsigned service-account JWT for `namespace`, the shape devvault decodes.
pub fn k8s_jwt(namespace: &str) -> String {
    let header = b64url(br#"{"alg":"RS256","kid":"test"}"#);
    let payload = b64url(
        json!({
            "iss": "kubernetes/serviceaccount",
            "kubernetes.io/serviceaccount/namespace": namespace,
            "kubernetes.io/serviceaccount/service-account.name": "default",
            "sub": format!("system:serviceaccount:{namespace}:default"),
        })
        .to_string()
        .as_bytes(),
    );
    format!("{header}.{payload}.c2lnbmF0dXJl")
}

/// A Postgres cluster with database `mydb`, group role `mydb-admin` and a small table, plus a
/// devvault that issues credentials for it.
pub struct World {
    pub pg: PgCluster,
    pub vault: DevVault,
    pub dir: tempfile::TempDir,
    /// The CA certificate that signed devvault's, when it serves HTTPS.
    pub vault_ca: Option<PathBuf>,
}

/// Options for [`World::start`].
pub struct WorldOptions {
    pub ttl: &'static str,
    pub max_ttl: &'static str,
    pub username_template: &'static str,
    pub password_charset: &'static str,
    /// TTL of the Vault tokens issued by Kubernetes login.
    pub token_ttl: &'static str,
    /// Revocation statements (empty: devvault's default, which drops the user).
    pub revocation_statements: Vec<&'static str>,
    /// devvault over HTTPS with a test CA ([`World::vault_ca`]); its KV secrets are then set
    /// in its config, since testkit's own requests speak plain HTTP.
    pub vault_tls: bool,
}

impl Default for WorldOptions {
    fn default() -> Self {
        WorldOptions {
            ttl: "1h",
            max_ttl: "24h",
            username_template: "",
            password_charset: "",
            token_ttl: "1h",
            revocation_statements: Vec::new(),
            vault_tls: false,
        }
    }
}

impl World {
    pub fn start(opts: WorldOptions) -> World {
        let pg = PgCluster::start();
        pg.psql("postgres", "CREATE DATABASE mydb");
        pg.psql(
            "mydb",
            "CREATE ROLE \"mydb-admin\" NOLOGIN;
             GRANT USAGE, CREATE ON SCHEMA public TO \"mydb-admin\";
             CREATE TABLE flights (carrier text, dep_delay double precision, flight int);
             INSERT INTO flights VALUES ('AA', 1.5, 1), ('AA', NULL, 2), ('UA', -3, 3);
             GRANT SELECT ON flights TO \"mydb-admin\";",
        );
        let url = format!("postgres://user:pass@127.0.0.1:{}/mydb", pg.port());
        let kv = json!({"POSTGRES_CREDENTIALS": url, "POSTGRES_CREDS_PATH": CREDS_PATH});
        let mut config: devvault::Config = serde_json::from_value(json!({
            "kv": [{"mount": "secret", "version": 2}, {"mount": "kv", "version": 1}],
            "policies": {
                "team-a": ["secret/data/kubeflow/team-a", "kv/kubeflow/team-a",
                           "sys/internal/ui/mounts/*", "postgresql/preprod-fss/creds/mydb-admin",
                           "sys/leases/*"]
            },
            "kubernetes": [{"mount": "kubernetes", "roles": {
                "team-a": {"bound_service_account_namespaces": ["team-a"],
                           "bound_service_account_names": ["*"],
                           "policies": ["team-a"], "ttl": opts.token_ttl, "max_ttl": "24h"}}}],
            "database": [{"mount": "postgresql/preprod-fss", "connection_url": pg.url("mydb"),
                "roles": {"mydb-admin": {
                    "creation_statements": [
                        "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
                        "GRANT \"mydb-admin\" TO \"{{name}}\";"],
                    "default_ttl": opts.ttl, "max_ttl": opts.max_ttl,
                    "username_template": opts.username_template,
                    "password_charset": opts.password_charset,
                    "revocation_statements": opts.revocation_statements}}}]
        }))
        .expect("devvault config");
        let dir = tempfile::tempdir().unwrap();
        let (vault, vault_ca) = if opts.vault_tls {
            let certs = crate::certs::TestCerts::make(&dir.path().join("vault-certs"));
            let serde_json::Value::Object(kv) = kv else {
                unreachable!()
            };
            config.secrets.insert("secret/kubeflow/team-a".into(), kv);
            (DevVault::start_tls(config, &certs), Some(certs.ca))
        } else {
            let vault = DevVault::start(config);
            vault.put_kv("secret/kubeflow/team-a", kv);
            (vault, None)
        };
        let sa = dir.path().join("serviceaccount");
        std::fs::create_dir(&sa).unwrap();
        std::fs::write(sa.join("token"), k8s_jwt(NAMESPACE)).unwrap();
        std::fs::write(sa.join("namespace"), NAMESPACE).unwrap();
        World {
            pg,
            vault,
            dir,
            vault_ca,
        }
    }

    /// Writes `settings` as settings.json in the world's folder and returns its path.
    pub fn settings(&self, settings: serde_json::Value) -> PathBuf {
        let path = self.dir.path().join("settings.json");
        std::fs::write(&path, serde_json::to_string_pretty(&settings).unwrap()).unwrap();
        path
    }

    /// The seed's settings file.
    pub fn seed_settings(&self) -> PathBuf {
        self.settings(json!({
            "db_connection_strings": {"postgres_database": "${POSTGRES_CREDENTIALS}"},
            "db_vault_path": {"postgres_database": "${POSTGRES_CREDS_PATH}"}
        }))
    }

    /// The service-account folder (`token` and `namespace`).
    pub fn serviceaccount_dir(&self) -> PathBuf {
        self.dir.path().join("serviceaccount")
    }
}
