//! `dataverk access user|team|check`: files in the seed's shape, grants added to existing files,
//! problems with file and line, next steps, and exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn dataverk(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dataverk"))
        .env_remove("DATAVERK_VAULT_ENVS")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run dataverk")
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../dataverk/tests/fixtures/access")
        .join(name)
}

fn out(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

const USER: [&str; 12] = [
    "access",
    "user",
    "--email",
    "kari.nordmann@nav.no",
    "--namespace",
    "kari-nordmann",
    "--db",
    "flights",
    "--role",
    "admin",
    "--env",
    "dev-fss",
];

#[test]
fn user_prints_the_seeds_shape_and_the_next_steps() {
    let dir = tempfile::tempdir().unwrap();
    let o = dataverk(&USER, dir.path());
    let (stdout, stderr) = out(&o);
    assert!(o.status.success(), "{stderr}");
    assert_eq!(
        stdout,
        "email: kari.nordmann@nav.no\nkubeflow:\n  - namespace: kari-nordmann\npostgresql:\n  dev-fss:\n    - database_name: flights\n      permission_level: admin\n"
    );
    assert!(
        stderr.contains("POSTGRES_CREDS_PATH: \"postgresql/preprod-fss/creds/flights-admin\""),
        "{stderr}"
    );
    assert!(stderr.contains("5–10 minutes after the merge"), "{stderr}");
    assert!(
        stderr.contains("\"postgres_database\": \"${POSTGRES_CREDENTIALS}\""),
        "{stderr}"
    );
    // What it prints passes its own check.
    let file = dir.path().join("kari.yaml");
    std::fs::write(&file, &stdout).unwrap();
    let o = dataverk(&["access", "check", file.to_str().unwrap()], dir.path());
    assert!(o.status.success(), "{:?}", out(&o));
}

#[test]
fn team_with_file_adds_the_grant_and_policy_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("team.yaml");
    std::fs::copy(fixture("seed_team.yaml"), &file).unwrap();
    let before = std::fs::read_to_string(&file).unwrap();
    let args = [
        "access",
        "team",
        "--name",
        "mitt-team",
        "--group-id",
        "8d5e3a1c-4b2f-4c7e-9a61-0f2d3b4c5e6f",
        "--namespace",
        "mitt-team",
        "--db",
        "weather",
        "--role",
        "readonly",
        "--env",
        "dev-fss",
        "--file",
        file.to_str().unwrap(),
    ];
    let o = dataverk(&args, dir.path());
    let (stdout, stderr) = out(&o);
    assert!(o.status.success(), "{stderr}");
    assert_eq!(stdout, "", "with --file nothing goes to stdout");
    let after = std::fs::read_to_string(&file).unwrap();
    assert!(after.starts_with(&before[..before.find("kubeflow:").unwrap()]));
    assert!(after.contains("    - database_name: weather\n      permission_level: readonly"));
    assert!(after.contains("      - postgresql_preprod-fss_weather_readonly"));
    assert!(after.contains("      - postgresql_preprod-fss_flights_admin"));
    assert!(stderr.contains("postgresql/preprod-fss/creds/weather-readonly"));

    // The same grant again changes nothing.
    let o = dataverk(&args, dir.path());
    assert!(o.status.success());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), after);
    assert!(out(&o).1.contains("already holds this grant"));
}

#[test]
fn check_reports_file_line_and_fix_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let good = fixture("seed_user.yaml");
    let bad = fixture("policy_role_mismatch.yaml");
    let o = dataverk(
        &[
            "access",
            "check",
            good.to_str().unwrap(),
            bad.to_str().unwrap(),
        ],
        dir.path(),
    );
    let (stdout, stderr) = out(&o);
    assert_eq!(o.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("seed_user.yaml: ok"), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(!lines.is_empty());
    for line in &lines {
        assert!(
            line.starts_with(&format!("{}:", bad.display())),
            "every problem names the file: {line}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains(":10: ") && l.contains("readonly")),
        "{stdout}"
    );

    let o = dataverk(&["access", "check", good.to_str().unwrap()], dir.path());
    assert!(o.status.success());

    let o = dataverk(&["access", "check", "nowhere.yaml"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(out(&o).1.contains("nowhere.yaml"));
}

#[test]
fn bad_arguments_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = USER;
    args[9] = "owner";
    let o = dataverk(&args, dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(out(&o).1.contains("not one of admin, user, readonly"));

    let mut args = USER;
    args[11] = "dev-gcp";
    let o = dataverk(&args, dir.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(out(&o).1.contains("environment \"dev-gcp\" is unknown"));

    let mut with_map = USER.to_vec();
    with_map[11] = "dev-gcp";
    with_map.extend(["--vault-env", "dev-gcp=dev-gcp"]);
    let o = dataverk(&with_map, dir.path());
    assert!(o.status.success(), "{:?}", out(&o));
    assert!(out(&o).1.contains("postgresql/dev-gcp/creds/flights-admin"));
}
