//! Vault over HTTPS: the certificate is verified by default against VAULT_CACERT, a certificate
//! nobody trusts fails at once with the fix named, and skipping verification takes an explicit
//! setting.

mod common;

use common::*;
use dataverk::{Client, Error};
use std::time::Instant;

fn tls_world() -> World {
    World::start(WorldOptions {
        vault_tls: true,
        ..Default::default()
    })
}

#[test]
fn a_vault_certificate_from_vault_cacert_is_verified_and_used() {
    let w = tls_world();
    assert!(w.vault.addr().starts_with("https://127.0.0.1:"));
    let mut vault = k8s_vault(&w);
    vault.ca_cert = w.vault_ca.clone();
    let client = new_client(w.seed_settings(), vault);
    assert_eq!(
        scalar(&client, "postgres_database", "SELECT count(*) FROM flights"),
        "3"
    );
}

#[test]
fn an_untrusted_vault_certificate_fails_at_once_and_says_how_to_fix_it() {
    let w = tls_world();
    let started = Instant::now();
    let e = Client::with_options(options(w.seed_settings(), k8s_vault(&w)))
        .err()
        .expect("an untrusted certificate must be refused");
    let text = e.to_string();
    assert!(
        matches!(e, Error::VaultUnreachable { attempts: 1, .. }),
        "{e:?}"
    );
    assert!(text.contains("VAULT_CACERT"), "{text}");
    assert!(text.to_lowercase().contains("certificate"), "{text}");
    assert!(
        started.elapsed().as_secs() < 10,
        "not retried as if transient"
    );
}

#[test]
fn skipping_verification_needs_the_explicit_setting() {
    let w = tls_world();
    let mut vault = k8s_vault(&w);
    vault.skip_verify = true;
    let client = new_client(w.seed_settings(), vault);
    assert_eq!(
        scalar(&client, "postgres_database", "SELECT count(*) FROM flights"),
        "3"
    );
}
