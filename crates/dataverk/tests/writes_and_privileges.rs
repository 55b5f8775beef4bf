//! Statements on Vault-issued credentials: writes run as the stable group role so their objects
//! outlive the temporary user, role names cannot inject SQL, and a statement refused for lost
//! privileges on a revoked lease runs once more with new credentials.

mod common;

use common::*;
use dataverk::Error;
use serde_json::json;

#[test]
fn tables_created_by_a_job_belong_to_the_group_role_and_outlive_its_user() {
    let w = World::start(WorldOptions::default());
    let mut client = new_client(w.seed_settings(), k8s_vault(&w));
    client
        .execute_sql("postgres_database", "CREATE TABLE made_by_job (x int)")
        .unwrap();
    assert_eq!(
        client
            .execute_sql(
                "postgres_database",
                "INSERT INTO made_by_job VALUES (1), (2)"
            )
            .unwrap(),
        2
    );
    let user = scalar(&client, "postgres_database", "SELECT session_user");
    assert!(user.starts_with("v-"));
    // Closing revokes the lease; devvault's default revocation drops what the user owns and
    // then the user.
    client.close();
    let roles = w.pg.psql(
        "postgres",
        &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{user}'"),
    );
    assert_eq!(roles.trim(), "0", "the temporary user is gone");
    let owner = w.pg.psql(
        "mydb",
        "SELECT tableowner || ':' || (SELECT count(*) FROM made_by_job) FROM pg_tables WHERE tablename = 'made_by_job'",
    );
    assert_eq!(owner.trim(), "mydb-admin:2");
}

#[test]
fn a_hostile_role_name_cannot_inject_sql() {
    let w = World::start(WorldOptions::default());
    let settings = w.settings(json!({
        "db_connection_strings": {"postgres_database": "${POSTGRES_CREDENTIALS}"},
        "db_vault_path": {"postgres_database": "${POSTGRES_CREDS_PATH}"},
        "db_role": {"postgres_database": "x\"; DROP TABLE flights; --"}
    }));
    let client = new_client(settings, k8s_vault(&w));
    let e = client
        .execute_sql("postgres_database", "SELECT 1")
        .unwrap_err();
    assert!(
        matches!(&e, Error::Sql { code: Some(c), .. } if c == "22023" || c == "42704"),
        "{e:?}"
    );
    assert!(e.to_string().contains("x\"; DROP TABLE flights; --"), "{e}");
    assert_eq!(
        w.pg.psql("mydb", "SELECT count(*) FROM flights").trim(),
        "3"
    );
}

#[test]
fn lost_privileges_on_a_revoked_lease_get_one_retry_with_new_credentials() {
    // A revocation that takes the group role away but leaves the user able to log in: the
    // statement fails with 42501, not with a login error.
    let w = World::start(WorldOptions {
        revocation_statements: vec!["REVOKE \"mydb-admin\" FROM \"{{name}}\";"],
        ..Default::default()
    });
    let client = new_client(w.seed_settings(), k8s_vault(&w));
    let cache = client.inner().credentials().unwrap().clone();
    let first = client.block_on(cache.get(CREDS_PATH)).unwrap();
    assert_eq!(
        scalar(&client, "postgres_database", "SELECT count(*) FROM flights"),
        "3"
    );
    // Revoked behind the client's back (as an operator would).
    let vault = client.inner().vault().unwrap().clone();
    client
        .block_on(vault.revoke_lease(&first.lease_id))
        .unwrap();
    assert_eq!(
        scalar(&client, "postgres_database", "SELECT count(*) FROM flights"),
        "3"
    );
    let second = client.block_on(cache.get(CREDS_PATH)).unwrap();
    assert_ne!(first.generation, second.generation);
    assert_eq!(cache.stats().issued, 2);
}
