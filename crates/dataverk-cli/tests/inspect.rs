//! `dataverk doctor`, `settings show` and `vault creds` against a real PostgreSQL cluster and
//! devvault: one broken link at a time, each named with its fix, and never a secret printed.

mod common;

use serde_json::json;
use std::path::Path;
use std::process::{Command, Output};
use testkit::scenario::{k8s_jwt, World, WorldOptions, CREDS_PATH};

fn run(w: &World, settings: &Path, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
    let mut cmd = common::dataverk(w, settings);
    cmd.env("RUST_LOG", "debug").args(args);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.output().expect("run dataverk")
}

/// stdout and stderr together, after checking that no secret the test knows is in them.
fn output(w: &World, out: &Output, also_secret: &[&str]) -> String {
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for secret in [w.pg.password(), w.vault.root_token()]
        .into_iter()
        .chain(also_secret.iter().copied())
    {
        assert!(!all.contains(secret), "a secret was printed:\n{all}");
    }
    all
}

/// The stdout line of step `name` (after the ✓/✗/- mark).
fn step<'a>(stdout: &'a str, name: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| {
            l.split_once(' ')
                .is_some_and(|(_, rest)| rest.starts_with(name))
        })
        .unwrap_or_else(|| panic!("no step {name:?} in:\n{stdout}"))
}

#[test]
fn doctor_passes_every_step_of_a_working_chain() {
    let w = World::start(WorldOptions::default());
    let out = run(&w, &w.seed_settings(), &["doctor"], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let all = output(&w, &out, &[]);
    assert!(out.status.success(), "{all}");
    assert!(
        step(&stdout, "settings file").starts_with("✓")
            && step(&stdout, "settings file")
                .ends_with("placeholders: POSTGRES_CREDENTIALS, POSTGRES_CREDS_PATH"),
        "{stdout}"
    );
    assert!(step(&stdout, "Vault reachable").starts_with("✓ Vault reachable: unsealed"));
    assert_eq!(
        step(&stdout, "Vault login"),
        "✓ Vault login: Kubernetes login at auth/kubernetes/login as role team-a"
    );
    assert_eq!(
        step(&stdout, "Vault KV"),
        "✓ Vault KV: secret/kubeflow/team-a: keys POSTGRES_CREDENTIALS, POSTGRES_CREDS_PATH"
    );
    assert_eq!(
        step(&stdout, "postgres_database: credentials"),
        format!("✓ postgres_database: credentials: {CREDS_PATH}: lease 1h, renewable")
    );
    assert_eq!(
        step(&stdout, "postgres_database: database login"),
        format!(
            "✓ postgres_database: database login: postgres://127.0.0.1:{}/mydb",
            w.pg.port()
        )
    );
    assert_eq!(
        step(&stdout, "postgres_database: SET ROLE"),
        "✓ postgres_database: SET ROLE: mydb-admin: allowed (for writes)"
    );
    assert!(stdout.trim_end().ends_with("all checks passed"), "{stdout}");
    // The lease doctor took was revoked when it finished: no Vault user is left in Postgres.
    let users = w.pg.psql(
        "postgres",
        "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'v-%'",
    );
    assert_eq!(users.trim(), "0", "doctor left its database user behind");
}

#[test]
fn doctor_names_each_broken_link_with_its_fix() {
    let w = World::start(WorldOptions::default());
    let seed = w.seed_settings();
    let doctor = |settings: &Path, env: &[(&str, &str)], failing: &str, needles: &[&str]| {
        let out = run(&w, settings, &["doctor"], env);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let all = output(&w, &out, &[]);
        assert_eq!(out.status.code(), Some(1), "{all}");
        let line = format!("\n{stdout}");
        let line = line
            .split("\n✗ ")
            .nth(1)
            .unwrap_or_else(|| panic!("no failed step in:\n{stdout}"));
        assert!(
            line.starts_with(failing),
            "expected {failing:?} to fail:\n{stdout}"
        );
        for needle in needles {
            assert!(line.contains(needle), "expected {needle:?} in:\n{line}");
        }
        assert!(!stdout.contains("all checks passed"));
    };

    let broken = w.dir.path().join("broken.json");
    std::fs::write(&broken, "{\"db_connection_strings\": {,}}").unwrap();
    doctor(
        &broken,
        &[],
        "settings file",
        &["broken.json:1:28", "fix: correct the JSON"],
    );

    doctor(
        &seed,
        &[("VKS_VAULT_ADDR", "http://127.0.0.1:9")],
        "Vault reachable",
        &["unreachable", "fix: check the address"],
    );

    let other_ns = w.dir.path().join("other-sa");
    std::fs::create_dir(&other_ns).unwrap();
    std::fs::write(other_ns.join("token"), k8s_jwt("team-b")).unwrap();
    std::fs::write(other_ns.join("namespace"), "team-a").unwrap();
    doctor(
        &seed,
        &[("K8S_SERVICEACCOUNT_PATH", other_ns.to_str().unwrap())],
        "Vault login",
        &["Kubernetes auth role team-a", "APPLICATION_NAME"],
    );

    doctor(
        &seed,
        &[("VKS_KV_PATH", "secret/elsewhere")],
        "Vault KV",
        &["secret/elsewhere/team-a", "policy does not allow reading"],
    );

    let missing = w.settings(json!({"db_connection_strings": {"x": "${NOT_THERE}"}}));
    doctor(
        &missing,
        &[],
        "placeholders",
        &["${NOT_THERE}", "store NOT_THERE in Vault KV"],
    );

    let denied = w.settings(json!({
        "db_connection_strings": {"pg": "${POSTGRES_CREDENTIALS}"},
        "db_vault_path": {"pg": "postgresql/preprod-fss/creds/otherdb-readonly"}
    }));
    doctor(
        &denied,
        &[],
        "pg: credentials",
        &[
            "HTTP 403",
            "namespace team-a probably has no access to database otherdb as readonly in dev-fss",
            "dataverk access user --email <your e-mail> --namespace team-a --db otherdb --role readonly --env dev-fss",
            "postgresql_preprod-fss_otherdb_readonly",
        ],
    );

    let no_db = w.settings(json!({
        "db_connection_strings": {"pg": "postgres://user:pass@127.0.0.1:9/mydb"},
        "db_vault_path": {"pg": "${POSTGRES_CREDS_PATH}"}
    }));
    doctor(
        &no_db,
        &[],
        "pg: database login",
        &["127.0.0.1:9", "not reachable"],
    );

    w.vault
        .inject_fault(json!({"path_prefix": "sys/health", "status": 503}));
    doctor(
        &seed,
        &[],
        "Vault reachable",
        &["sealed (sys/health 503)", "unseal"],
    );
    w.vault.clear_faults();

    w.pg.psql("mydb", "CREATE ROLE outsiders NOLOGIN");
    let role = w.settings(json!({
        "db_connection_strings": {"pg": "${POSTGRES_CREDENTIALS}"},
        "db_vault_path": {"pg": "${POSTGRES_CREDS_PATH}"},
        "db_role": {"pg": "outsiders"}
    }));
    doctor(
        &role,
        &[],
        "pg: SET ROLE",
        &[
            "permission denied to set role \"outsiders\"",
            "set db_role for pg",
        ],
    );
}

#[test]
fn settings_show_masks_secrets_and_vault_creds_reveals_only_when_asked() {
    let w = World::start(WorldOptions::default());
    let secret_url = format!(
        "postgres://postgres:{}@127.0.0.1:{}/mydb",
        w.pg.password(),
        w.pg.port()
    );
    let settings = w.settings(json!({
        "db_connection_strings": {"vaulted": "${POSTGRES_CREDENTIALS}", "static": secret_url},
        "db_vault_path": {"vaulted": "${POSTGRES_CREDS_PATH}"}
    }));
    let out = run(&w, &settings, &["settings", "show"], &[]);
    let all = output(&w, &out, &[]);
    assert!(out.status.success(), "{all}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let port = w.pg.port();
    for line in [
        "placeholders filled: POSTGRES_CREDENTIALS, POSTGRES_CREDS_PATH".to_string(),
        format!("    url: postgres://127.0.0.1:{port}/mydb"),
        format!("    vault path: {CREDS_PATH}"),
        "    write role: mydb-admin".to_string(),
        "vault kv: secret/kubeflow/team-a".to_string(),
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "{line:?} not in:\n{stdout}"
        );
    }

    let out = run(&w, &settings, &["vault", "creds", CREDS_PATH], &[]);
    let all = output(&w, &out, &[]);
    assert!(out.status.success(), "{all}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ttl: 1h0m0s (3600 s)"), "{stdout}");
    assert!(stdout.contains("renewable: true"), "{stdout}");
    assert!(
        stdout.contains(&format!("lease_id: {CREDS_PATH}/")),
        "{stdout}"
    );
    assert!(
        stdout.contains("password: (hidden; --reveal prints it)"),
        "{stdout}"
    );

    let out = run(
        &w,
        &settings,
        &["vault", "creds", CREDS_PATH, "--reveal"],
        &[],
    );
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} in {stdout}"))
            .to_string()
    };
    let (user, password) = (field("username"), field("password"));
    assert!(password.len() >= 16, "{password}");
    // The revealed credentials are real: they log in to the database.
    let url = format!("postgres://127.0.0.1:{port}/mydb");
    let login = Command::new("psql")
        .args([
            "-X",
            "-At",
            "-d",
            &url,
            "-U",
            &user,
            "-c",
            "SELECT current_user",
        ])
        .env("PGPASSWORD", &password)
        .output()
        .expect("psql");
    assert_eq!(String::from_utf8_lossy(&login.stdout).trim(), user);

    let out = run(
        &w,
        &settings,
        &[
            "vault",
            "creds",
            "postgresql/preprod-fss/creds/otherdb-admin",
        ],
        &[],
    );
    let all = output(&w, &out, &[]);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("HTTP 403"), "{all}");
    assert!(
        all.contains("--namespace team-a --db otherdb --role admin --env dev-fss"),
        "{all}"
    );
}
