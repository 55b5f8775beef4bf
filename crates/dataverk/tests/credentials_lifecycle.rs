//! Credentials that never let a job down: single flight, background renewal of leases and of
//! the Vault token, pooled connections across rotations, Vault and Postgres faults, and a soak
//! of concurrent readers through many credential rotations.

mod common;

use common::*;
use dataverk::vault::RetryPolicy;
use dataverk::{Client, Error};
use futures_util::future::join_all;
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const COUNT: &str = "SELECT count(*) FROM flights";

fn user_of(client: &Client) -> String {
    scalar(client, "postgres_database", "SELECT current_user")
}

#[test]
fn concurrent_first_use_causes_one_vault_request() {
    let w = World::start(WorldOptions::default());
    let client = lazy_client(w.seed_settings(), k8s_vault(&w));
    let inner = client.inner();
    let results = client.block_on(join_all(
        (0..24).map(|_| inner.read_sql("postgres_database", COUNT)),
    ));
    for r in results {
        assert_eq!(r.unwrap().num_rows(), 1);
    }
    assert_eq!(w.vault.creds_issued(CREDS_PATH), 1);
    assert_eq!(client.inner().credentials().unwrap().stats().issued, 1);
}

#[test]
fn an_idle_job_finds_fresh_credentials_thanks_to_the_background_refresh() {
    // Leases of 2 s that cannot be renewed past 2 s: each refresh is a rotation.
    let w = World::start(WorldOptions {
        ttl: "2s",
        max_ttl: "2s",
        ..Default::default()
    });
    let client = new_client(w.seed_settings(), k8s_vault(&w));
    let first = user_of(&client);
    std::thread::sleep(Duration::from_millis(4500));
    let issued = client.inner().credentials().unwrap().stats().issued;
    assert!(
        issued >= 3,
        "rotated in the background while idle: {issued}"
    );
    let current = client
        .inner()
        .credentials()
        .unwrap()
        .current(CREDS_PATH)
        .unwrap();
    assert!(
        current.ttl() > Duration::from_millis(300),
        "the current lease is alive"
    );
    let second = user_of(&client);
    assert_ne!(first, second);
    // The read used the credentials the background task had fetched: no extra request.
    assert_eq!(client.inner().credentials().unwrap().stats().issued, issued);
}

#[test]
fn the_vault_token_is_renewed_so_its_leases_live_on() {
    // Vault revokes a token's leases with the token: a 2 s token must be kept alive for the
    // 1 h database lease to survive.
    let w = World::start(WorldOptions {
        token_ttl: "2s",
        ..Default::default()
    });
    let client = new_client(w.seed_settings(), k8s_vault(&w));
    let first = user_of(&client);
    std::thread::sleep(Duration::from_millis(5000));
    assert_eq!(
        user_of(&client),
        first,
        "same lease, alive after 2.5 token lifetimes"
    );
    assert_eq!(w.vault.creds_issued(CREDS_PATH), 1);
    let stats = w.vault.stats();
    assert_eq!(stats["logins"], 1, "renewed, not logged in again: {stats}");
}

#[test]
fn pooled_connections_are_reused_and_retired_when_their_lease_ends() {
    let w = World::start(WorldOptions {
        ttl: "3s",
        max_ttl: "3s",
        ..Default::default()
    });
    let client = lazy_client(w.seed_settings(), k8s_vault(&w));
    let first = user_of(&client);
    assert_eq!(user_of(&client), first);
    assert_eq!(client.inner().pool_stats().reused, 1);
    std::thread::sleep(Duration::from_millis(3300));
    let second = user_of(&client);
    assert_ne!(first, second);
    let stats = client.inner().pool_stats();
    assert_eq!(stats.retired, 1, "{stats:?}");
}

#[test]
fn transient_vault_errors_are_retried_and_others_fail_at_once() {
    let w = World::start(WorldOptions::default());
    for status in [429, 500, 502, 503] {
        w.vault
            .inject_fault(json!({"path_prefix": "postgresql/", "status": status, "count": 2}));
        let client = lazy_client(w.seed_settings(), k8s_vault(&w));
        assert!(user_of(&client).starts_with("v-"), "after two {status}s");
        w.vault.clear_faults();
    }
    w.vault
        .inject_fault(json!({"path_prefix": "", "delay_ms": 700}));
    let client = lazy_client(w.seed_settings(), k8s_vault(&w));
    assert!(user_of(&client).starts_with("v-"), "slow Vault");
    w.vault.clear_faults();

    w.vault
        .inject_fault(json!({"path_prefix": "postgresql/", "status": 400, "count": 5}));
    let client = lazy_client(w.seed_settings(), k8s_vault(&w));
    let started = Instant::now();
    let e = client.read_sql("postgres_database", COUNT).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(matches!(&e, Error::Vault { status: 400, .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("devvault injected fault") && msg.contains(CREDS_PATH),
        "{msg}"
    );
}

#[test]
fn vault_stopped_and_restarted() {
    let mut w = World::start(WorldOptions {
        ttl: "4s",
        max_ttl: "1m",
        ..Default::default()
    });
    let mut opts = options(w.seed_settings(), k8s_vault(&w));
    opts.retry = RetryPolicy {
        max_elapsed: Duration::from_secs(3),
        ..Default::default()
    };
    let client = Client::with_options(opts).unwrap();
    let first = user_of(&client);
    w.vault.stop();
    // Past the refresh point, Vault down: the current lease still holds and is used at once.
    std::thread::sleep(Duration::from_millis(3000));
    let started = Instant::now();
    assert_eq!(user_of(&client), first);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "not held up by the dead Vault"
    );
    // A fresh Vault knows neither the token nor the lease: log in again, new credentials.
    w.vault.restart();
    std::thread::sleep(Duration::from_millis(2500));
    let second = user_of(&client);
    assert_ne!(first, second);
}

#[test]
fn postgres_restarted_between_queries() {
    let w = World::start(WorldOptions::default());
    let client = lazy_client(w.seed_settings(), k8s_vault(&w));
    assert_eq!(scalar(&client, "postgres_database", COUNT), "3");
    w.pg.restart();
    assert_eq!(scalar(&client, "postgres_database", COUNT), "3");
    assert_eq!(
        w.vault.creds_issued(CREDS_PATH),
        1,
        "the credentials were still good"
    );
}

#[test]
fn a_lease_revoked_early_is_replaced() {
    let w = World::start(WorldOptions::default());
    let client = lazy_client(w.seed_settings(), k8s_vault(&w));
    let first = user_of(&client);
    let cache = client.inner().credentials().unwrap().clone();
    let lease = cache.current(CREDS_PATH).unwrap();
    let vault = client.inner().vault().unwrap().clone();
    client
        .block_on(vault.revoke_lease(&lease.lease_id))
        .unwrap();
    let second = user_of(&client);
    assert_ne!(first, second);
    assert_eq!(w.vault.creds_issued(CREDS_PATH), 2);
}

/// 16 concurrent readers for 60 s (DATAVERK_SOAK_SECS for longer) with 3 s credentials.
#[test]
fn soak_concurrent_readers_through_rotations() {
    let secs: u64 = std::env::var("DATAVERK_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let w = World::start(WorldOptions {
        ttl: "3s",
        max_ttl: "3s",
        ..Default::default()
    });
    let client = new_client(w.seed_settings(), k8s_vault(&w));
    let attempted = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let users = Arc::new(Mutex::new(BTreeSet::new()));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let inner = client.inner();
    client.block_on(join_all((0..16).map(|_| {
        let (attempted, failed, users, first_error) = (
            attempted.clone(),
            failed.clone(),
            users.clone(),
            first_error.clone(),
        );
        async move {
            while Instant::now() < deadline {
                attempted.fetch_add(1, Ordering::Relaxed);
                match inner
                    .read_sql(
                        "postgres_database",
                        "SELECT current_user, count(*) FROM flights",
                    )
                    .await
                {
                    Ok(t) => {
                        let b = t.concat().unwrap();
                        let user =
                            arrow::util::display::array_value_to_string(b.column(0), 0).unwrap();
                        let n =
                            arrow::util::display::array_value_to_string(b.column(1), 0).unwrap();
                        if n != "3" {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                        users.lock().unwrap().insert(user);
                    }
                    Err(e) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        first_error.lock().unwrap().get_or_insert(e.to_string());
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    })));
    let attempted = attempted.load(Ordering::Relaxed);
    let failed = failed.load(Ordering::Relaxed);
    let rotations = users.lock().unwrap().len() as u64;
    let requests = w.vault.creds_issued(CREDS_PATH);
    eprintln!(
        "soak: {secs} s, 16 readers, 3 s credentials: {attempted} queries attempted, {failed} failed, \
         {rotations} rotations (distinct users), {requests} Vault credential requests, \
         {:.2} requests per rotation; pool {:?}",
        requests as f64 / rotations as f64,
        client.inner().pool_stats()
    );
    assert_eq!(failed, 0, "first error: {:?}", first_error.lock().unwrap());
    assert!(attempted > 1000, "{attempted}");
    assert!(
        rotations as f64 >= secs as f64 / 3.0 * 0.8,
        "{rotations} rotations in {secs} s"
    );
    assert_eq!(requests, rotations, "one Vault request per rotation");
}
