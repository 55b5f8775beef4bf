//! The PostgreSQL database secrets engine against a real throwaway cluster: issued users can
//! log in, renewals move their expiry but never past max_ttl, revocation and expiry drop them,
//! and a dead database gives a clear error without secrets.

mod common;

use std::time::Duration;

use common::{config, eventually, Api};
use reqwest::StatusCode;
use serde_json::{json, Value};
use testkit::{DevVault, PgCluster};

const ROOT: &str = "root-token-for-tests";
const CREDS: &str = "postgresql/preprod-fss/creds/mydb-admin";

/// A cluster with database `mydb`, group role `mydb-admin` owning a table, and a devvault whose
/// `mydb-admin` role issues members of that group with the given TTLs and options.
fn start(role: Value) -> (PgCluster, DevVault, Api) {
    let pg = PgCluster::start();
    pg.psql("postgres", "CREATE DATABASE mydb;");
    pg.psql(
        "mydb",
        "CREATE ROLE \"mydb-admin\" NOLOGIN;
         GRANT USAGE, CREATE ON SCHEMA public TO \"mydb-admin\";
         CREATE TABLE flights (id int); INSERT INTO flights VALUES (1), (2);
         GRANT SELECT ON flights TO \"mydb-admin\";",
    );
    let mut role_config = json!({
        "creation_statements": [
            "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
            "GRANT \"mydb-admin\" TO \"{{name}}\";"
        ],
        "default_ttl": "10s",
        "max_ttl": "1m"
    });
    for (key, value) in role.as_object().unwrap() {
        role_config[key] = value.clone();
    }
    let database = json!([
        {"mount": "postgresql/preprod-fss", "connection_url": pg.url("mydb"),
         "roles": {"mydb-admin": role_config}},
        {"mount": "postgresql/unreachable",
         "connection_url": format!("postgres://postgres:s3cret-admin-pw@127.0.0.1:{}/mydb", testkit::free_port()),
         "roles": {"mydb-admin": {"creation_statements": ["CREATE ROLE \"{{name}}\";"]}}}
    ]);
    let vault = DevVault::start(config(database));
    let api = Api::new(vault.addr());
    (pg, vault, api)
}

async fn issue(api: &Api, token: &str) -> (String, String, String, Value) {
    let (status, body) = api.get(CREDS, token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let username = body["data"]["username"].as_str().unwrap().to_string();
    let password = body["data"]["password"].as_str().unwrap().to_string();
    let lease_id = body["lease_id"].as_str().unwrap().to_string();
    (username, password, lease_id, body)
}

/// Connects with the config builder, so any character in the password is fine.
async fn connect(
    pg: &PgCluster,
    user: &str,
    password: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::Config::new()
        .host("127.0.0.1")
        .port(pg.port())
        .dbname("mydb")
        .user(user)
        .password(password)
        .connect(tokio_postgres::NoTls)
        .await?;
    tokio::spawn(connection);
    Ok(client)
}

fn role_exists(pg: &PgCluster, user: &str) -> bool {
    pg.psql(
        "mydb",
        &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{user}';"),
    )
    .trim()
        == "1"
}

#[tokio::test]
async fn credentials_work_renew_up_to_max_ttl_and_die_on_revoke() {
    let (pg, _vault, api) = start(json!({}));
    let token = api.login("my-ns", "my-ns", "default").await;
    let (username, password, lease_id, body) = issue(&api, &token).await;

    assert!(username.starts_with("v-kubernet-mydb-adm-"), "{username}");
    assert!(username.len() <= 63);
    assert!(password.starts_with("A1a-") && password.len() == 20);
    assert!(lease_id.starts_with(&format!("{CREDS}/")), "{lease_id}");
    assert_eq!(body["renewable"], true);
    assert_eq!(body["lease_duration"], 10);

    let client = connect(&pg, &username, &password)
        .await
        .expect("issued credentials log in");
    let row = client
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), username);
    client
        .batch_execute("SET ROLE \"mydb-admin\"")
        .await
        .unwrap();
    let rows = client.query("SELECT id FROM flights", &[]).await.unwrap();
    assert_eq!(rows.len(), 2);

    // Renewal: the increment is granted, then capped so the lease never outlives max_ttl.
    let (status, body) = api
        .call(
            "PUT",
            "sys/leases/renew",
            Some(&token),
            Some(json!({"lease_id": lease_id, "increment": 30})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["lease_id"], lease_id.as_str());
    assert_eq!(body["lease_duration"], 30);
    let valid_until = pg.psql(
        "mydb",
        &format!("SELECT extract(epoch FROM rolvaliduntil - now())::int FROM pg_roles WHERE rolname = '{username}';"),
    );
    let left: i64 = valid_until.trim().parse().unwrap();
    assert!(
        (25..=31).contains(&left),
        "VALID UNTIL moved to ~30s from now: {left}"
    );

    let (_, body) = api
        .call(
            "PUT",
            "sys/leases/renew",
            Some(&token),
            Some(json!({"lease_id": lease_id, "increment": "1h"})),
        )
        .await;
    let capped = body["lease_duration"].as_u64().unwrap();
    assert!((55..=60).contains(&capped), "capped at max_ttl 1m: {body}");
    assert!(body["warnings"][0].as_str().unwrap().contains("capped"));

    let (status, body) = api
        .call(
            "PUT",
            "sys/leases/lookup",
            Some(&token),
            Some(json!({"lease_id": lease_id})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["id"], lease_id.as_str());
    assert!(body["data"]["last_renewal"].is_string());
    assert!(body["data"]["ttl"].as_u64().unwrap() >= 50);

    // The namespace token may not revoke (as with Vault's default policy); root may.
    let (status, _) = api
        .call(
            "PUT",
            "sys/leases/revoke",
            Some(&token),
            Some(json!({"lease_id": lease_id})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api
        .call(
            "PUT",
            "sys/leases/revoke",
            Some(ROOT),
            Some(json!({"lease_id": lease_id})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    assert!(!role_exists(&pg, &username), "revocation drops the user");
    let refused = connect(&pg, &username, &password).await;
    assert!(refused.is_err(), "a revoked user cannot log in");
    let (status, body) = api
        .call(
            "PUT",
            "sys/leases/renew",
            Some(&token),
            Some(json!({"lease_id": lease_id})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap()
            .contains("lease not found"),
        "{body}"
    );

    let (_, stats) = api.get("sys/devvault/stats", ROOT).await;
    assert_eq!(stats["data"]["creds_issued"][CREDS], 1);
    assert_eq!(stats["data"]["lease_renewals"], 2);
    assert_eq!(stats["data"]["lease_revocations"], 1);
}

#[tokio::test]
async fn leases_expire_and_ended_tokens_take_their_leases_with_them() {
    let (pg, _vault, api) = start(json!({"default_ttl": "2s", "max_ttl": "4s"}));
    let token = api.login("my-ns", "my-ns", "default").await;
    let (expiring, _, lease_id, body) = issue(&api, &token).await;
    assert_eq!(body["lease_duration"], 2);
    assert!(role_exists(&pg, &expiring));

    let second = api.login("my-ns", "my-ns", "other").await;
    let (orphaned, _, _, _) = issue(&api, &second).await;
    let (status, _) = api.post("auth/token/revoke-self", &second, json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        eventually(Duration::from_secs(2), || !role_exists(&pg, &orphaned)).await,
        "revoking a token revokes its leases"
    );

    assert!(
        eventually(Duration::from_secs(5), || !role_exists(&pg, &expiring)).await,
        "the reaper drops the user when the lease expires"
    );
    let (status, body) = api
        .call(
            "PUT",
            "sys/leases/renew",
            Some(&token),
            Some(json!({"lease_id": lease_id})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap()
            .contains("lease not found"),
        "{body}"
    );

    let (_, stats) = api.get("sys/devvault/stats", ROOT).await;
    assert_eq!(stats["data"]["leases_expired"], 1);
    assert_eq!(stats["data"]["lease_revocations"], 1);
}

#[tokio::test]
async fn templates_charsets_and_errors() {
    let (pg, _vault, api) = start(json!({
        "username_template": "dv_{{role}}_{{random}}",
        "password_charset": "abcXYZ019@:/%#?",
        "revocation_statements": ["DROP ROLE IF EXISTS \"{{name}}\";"]
    }));
    let (username, password, lease_id, _) = issue(&api, ROOT).await;
    assert!(
        username.starts_with("dv_mydb-admin_") && username.len() == 14 + 20,
        "{username}"
    );
    assert_eq!(password.chars().count(), 20);
    assert!(password.chars().all(|c| "abcXYZ019@:/%#?".contains(c)));
    connect(&pg, &username, &password)
        .await
        .expect("special-character passwords work");

    // Custom revocation statements run instead of the default.
    api.call(
        "PUT",
        &format!("sys/leases/revoke/{lease_id}"),
        Some(ROOT),
        None,
    )
    .await;
    assert!(!role_exists(&pg, &username));

    let (status, body) = api.get("postgresql/preprod-fss/creds/nope", ROOT).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"errors": ["unknown role: nope"]}));

    let (status, body) = api
        .get("postgresql/unreachable/creds/mydb-admin", ROOT)
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let error = body["errors"][0].as_str().unwrap();
    assert!(
        error.contains("could not connect to the database"),
        "{error}"
    );
    assert!(
        !error.contains("s3cret-admin-pw"),
        "no password in errors: {error}"
    );

    let (_, body) = api
        .get(
            "sys/internal/ui/mounts/postgresql/preprod-fss/creds/mydb-admin",
            ROOT,
        )
        .await;
    assert_eq!(body["data"]["type"], "database");
    assert_eq!(body["data"]["path"], "postgresql/preprod-fss/");
}
