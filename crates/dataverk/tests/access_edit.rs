//! Writing access files: new ones in the seed's shape, and grants added to existing ones with
//! every other line, comment and the order kept, no duplicates, and atomic replacement.

use dataverk::access::{check, AccessRequest, Owner, Role, VaultEnvs};
use std::path::PathBuf;

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/access")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

fn user(ns: &str, db: &str, role: Role, env: &str) -> AccessRequest {
    AccessRequest {
        owner: Owner::User {
            email: "ola.nordmann@nav.no".into(),
        },
        namespace: ns.into(),
        database: db.into(),
        role,
        env: env.into(),
    }
}

fn team(ns: &str, db: &str, role: Role, env: &str) -> AccessRequest {
    AccessRequest {
        owner: Owner::Team {
            name: "mitt-team".into(),
            group_id: "8d5e3a1c-4b2f-4c7e-9a61-0f2d3b4c5e6f".into(),
        },
        namespace: ns.into(),
        database: db.into(),
        role,
        env: env.into(),
    }
}

fn envs() -> VaultEnvs {
    VaultEnvs::default()
}

/// Adds `req` to `text`, asserts the result is clean and adding again changes nothing.
fn add(text: &str, req: &AccessRequest) -> (String, Vec<String>) {
    let added = req.add_to(text, &envs()).unwrap();
    assert_eq!(check(&added.text, &envs()), [], "{}", added.text);
    let again = req.add_to(&added.text, &envs()).unwrap();
    assert_eq!(again.changes, Vec::<String>::new(), "{}", added.text);
    assert_eq!(again.text, added.text);
    (added.text, added.changes)
}

#[test]
fn new_user_file_is_the_seeds_example() {
    let text = fixture("seed_user.yaml");
    let mut req = user("ola-nordmann", "flights-dev", Role::Readonly, "dev-fss");
    let first = req.render(&envs()).unwrap();
    assert_eq!(
        first,
        "email: ola.nordmann@nav.no\nkubeflow:\n  - namespace: ola-nordmann\npostgresql:\n  dev-fss:\n    - database_name: flights-dev\n      permission_level: readonly\n"
    );
    req.database = "flights".into();
    req.env = "prod-fss".into();
    let (both, _) = add(&first, &req);
    assert_eq!(both, text);
}

#[test]
fn new_team_file_is_the_seeds_example() {
    let req = team("mitt-team", "flights", Role::Admin, "dev-fss");
    assert_eq!(req.render(&envs()).unwrap(), fixture("seed_team.yaml"));
}

#[test]
fn render_refuses_what_check_would_refuse() {
    let envs = envs();
    for (req, wanted) in [
        (user("Ola", "flights", Role::User, "dev-fss"), "namespace"),
        (user("ola", "my db", Role::User, "dev-fss"), "database_name"),
        (
            user("ola", "flights", Role::User, "dev-gcp"),
            "--vault-env dev-gcp=",
        ),
        (
            AccessRequest {
                owner: Owner::User {
                    email: "ola".into(),
                },
                ..user("ola", "flights", Role::User, "dev-fss")
            },
            "e-mail",
        ),
    ] {
        let e = req.render(&envs).unwrap_err().to_string();
        assert!(e.contains(wanted), "{e}");
    }
}

#[test]
fn values_that_need_quotes_are_quoted() {
    let mut req = team("t", "flights", Role::User, "dev-fss");
    req.owner = Owner::Team {
        name: "true".into(),
        group_id: "123".into(),
    };
    let text = req.render(&envs()).unwrap();
    assert!(
        text.contains("name: \"true\"\ngroup_id: \"123\"\n"),
        "{text}"
    );
    assert_eq!(check(&text, &envs()), []);
}

#[test]
fn adding_keeps_comments_blank_lines_order_and_style() {
    let text = fixture("commented_user.yaml");
    let (out, changes) = add(
        &text,
        &user("ola-nordmann", "planes", Role::User, "dev-fss"),
    );
    assert_eq!(changes, ["added planes (user) to postgresql.dev-fss"]);
    // The compact list style of the file (dash under the key) is kept for the new item.
    let expected = text.replace(
        "    permission_level: readonly\n\n",
        "    permission_level: readonly\n  - database_name: planes\n    permission_level: user\n\n",
    );
    assert_eq!(out, expected);

    let (out, changes) = add(&out, &user("ola-team", "planes", Role::User, "dev-fss"));
    assert_eq!(changes, ["added namespace ola-team to kubeflow"]);
    assert!(
        out.contains("kubeflow:\n- namespace: ola-nordmann\n- namespace: ola-team\npostgresql:"),
        "{out}"
    );
    // Everything that was there is still there, in the same order.
    let kept: Vec<&str> = out
        .lines()
        .filter(|l| text.lines().any(|t| t == *l))
        .collect();
    assert_eq!(kept, text.lines().collect::<Vec<_>>());
}

#[test]
fn adding_a_new_environment_and_missing_sections() {
    let base = "email: ola.nordmann@nav.no\nkubeflow:\n  - namespace: ola-nordmann\npostgresql:\n  dev-fss:\n    - database_name: flights\n      permission_level: user\n";
    let (out, changes) = add(
        base,
        &user("ola-nordmann", "flights", Role::User, "prod-fss"),
    );
    assert_eq!(changes, ["added flights (user) to postgresql.prod-fss"]);
    assert_eq!(
        out,
        format!("{base}  prod-fss:\n    - database_name: flights\n      permission_level: user\n")
    );

    let (out, changes) = add(
        "# just me\nemail: ola.nordmann@nav.no\n",
        &user("ola-nordmann", "flights", Role::Admin, "dev-fss"),
    );
    assert_eq!(
        changes,
        [
            "added namespace ola-nordmann to kubeflow",
            "added flights (admin) to postgresql.dev-fss"
        ]
    );
    assert_eq!(
        out,
        "# just me\nemail: ola.nordmann@nav.no\nkubeflow:\n  - namespace: ola-nordmann\npostgresql:\n  dev-fss:\n    - database_name: flights\n      permission_level: admin\n"
    );
}

#[test]
fn adding_under_empty_keys() {
    let (out, _) = add(
        "email: ola.nordmann@nav.no\nkubeflow: ~  # to do\npostgresql:\n  dev-fss:\n",
        &user("ola-nordmann", "flights", Role::Readonly, "dev-fss"),
    );
    assert_eq!(
        out,
        "email: ola.nordmann@nav.no\nkubeflow:  # to do\n  - namespace: ola-nordmann\npostgresql:\n  dev-fss:\n    - database_name: flights\n      permission_level: readonly\n"
    );
}

#[test]
fn adding_to_a_team_adds_the_policy_where_it_is_missing() {
    let seed = fixture("seed_team.yaml");
    // Another database for the same namespace: a grant and a policy.
    let (out, changes) = add(
        &seed,
        &team("mitt-team", "planes", Role::Readonly, "dev-fss"),
    );
    assert_eq!(
        changes,
        [
            "added planes (readonly) to postgresql.dev-fss",
            "added postgresql_preprod-fss_planes_readonly to the extra_policies of namespace mitt-team"
        ]
    );
    assert_eq!(
        out,
        "name: mitt-team\ngroup_id: 8d5e3a1c-4b2f-4c7e-9a61-0f2d3b4c5e6f\npostgresql:\n  dev-fss:\n    - database_name: flights\n      permission_level: admin\n    - database_name: planes\n      permission_level: readonly\nkubeflow:\n  - namespace: mitt-team\n    extra_policies:\n      - postgresql_preprod-fss_flights_admin\n      - postgresql_preprod-fss_planes_readonly\n"
    );
    // Another namespace: it gets its own entry with the policy.
    let (out, _) = add(
        &out,
        &team("mitt-team-2", "flights", Role::Admin, "dev-fss"),
    );
    assert!(out.ends_with("  - namespace: mitt-team-2\n    extra_policies:\n      - postgresql_preprod-fss_flights_admin\n"), "{out}");
    // A namespace without extra_policies gets the key.
    let bare = "name: mitt-team\ngroup_id: g-1\nkubeflow:\n  - namespace: mitt-team  # ours\npostgresql:\n  prod-fss:\n    - database_name: flights\n      permission_level: user\n";
    let req = AccessRequest {
        owner: Owner::Team {
            name: "mitt-team".into(),
            group_id: "g-1".into(),
        },
        ..team("mitt-team", "flights", Role::User, "prod-fss")
    };
    let (out, changes) = add(bare, &req);
    assert_eq!(
        changes,
        ["added postgresql_prod-fss_flights_user to the extra_policies of namespace mitt-team"]
    );
    assert!(
        out.contains("  - namespace: mitt-team  # ours\n    extra_policies:\n      - postgresql_prod-fss_flights_user\npostgresql:"),
        "{out}"
    );
}

#[test]
fn adding_fills_in_missing_owner_keys() {
    let (out, _) = add(
        "# team file\nname: mitt-team\nkubeflow:\n  - namespace: mitt-team\n",
        &team("mitt-team", "flights", Role::User, "dev-fss"),
    );
    assert!(
        out.starts_with("# team file\nname: mitt-team\ngroup_id: 8d5e3a1c-4b2f-4c7e-9a61-0f2d3b4c5e6f\nkubeflow:"),
        "{out}"
    );
}

#[test]
fn another_role_for_the_same_database_is_added_with_a_note() {
    let added = user("ola-nordmann", "flights", Role::Admin, "prod-fss")
        .add_to(&fixture("seed_user.yaml"), &envs())
        .unwrap();
    assert_eq!(
        added.changes,
        ["added flights (admin) to postgresql.prod-fss"]
    );
    assert_eq!(added.notes.len(), 1);
    assert!(
        added.notes[0].contains("already gives flights permission_level readonly"),
        "{:?}",
        added.notes
    );
}

#[test]
fn crlf_files_stay_crlf_and_a_missing_last_newline_is_added() {
    let text = fixture("seed_user.yaml").replace('\n', "\r\n");
    let (out, _) = add(
        &text,
        &user("ola-nordmann", "planes", Role::User, "prod-fss"),
    );
    assert!(!out.replace("\r\n", "").contains('\n'), "{out:?}");
    assert!(out.ends_with("      permission_level: user\r\n"), "{out:?}");

    let text = fixture("seed_user.yaml");
    let (out, _) = add(
        text.trim_end(),
        &user("ola-nordmann", "planes", Role::User, "prod-fss"),
    );
    assert!(out.ends_with("      permission_level: user\n"), "{out:?}");
}

#[test]
fn empty_or_comment_only_files_get_the_whole_request() {
    let req = user("ola-nordmann", "flights", Role::User, "dev-fss");
    let fresh = req.render(&envs()).unwrap();
    assert_eq!(req.add_to("", &envs()).unwrap().text, fresh);
    let out = req.add_to("# Ola\n", &envs()).unwrap().text;
    assert_eq!(out, format!("# Ola\n{fresh}"));
}

#[test]
fn refuses_someone_elses_file_the_wrong_kind_and_flow_style() {
    let envs = envs();
    let other = "email: kari.nordmann@nav.no\n";
    let e = user("ola", "flights", Role::User, "dev-fss")
        .add_to(other, &envs)
        .unwrap_err()
        .to_string();
    assert!(e.contains("user file of kari.nordmann@nav.no"), "{e}");
    let e = user("ola", "flights", Role::User, "dev-fss")
        .add_to(&fixture("seed_team.yaml"), &envs)
        .unwrap_err()
        .to_string();
    assert!(e.contains("team file"), "{e}");
    let e = team("mitt-team", "flights", Role::Admin, "dev-fss")
        .add_to(&fixture("seed_user.yaml"), &envs)
        .unwrap_err()
        .to_string();
    assert!(e.contains("user file"), "{e}");
    let mut wrong_group = fixture("seed_team.yaml");
    wrong_group = wrong_group.replace("8d5e3a1c", "00000000");
    let e = team("mitt-team", "flights", Role::Admin, "dev-fss")
        .add_to(&wrong_group, &envs)
        .unwrap_err()
        .to_string();
    assert!(e.contains("group_id") && e.contains("--group-id"), "{e}");
    let flow = "email: ola.nordmann@nav.no\nkubeflow: [{namespace: ola}]\n";
    let e = user("ola-nordmann", "flights", Role::User, "dev-fss")
        .add_to(flow, &envs)
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 2") && e.contains("flow style"), "{e}");
    let broken = fixture("not_yaml.yaml");
    let e = user("ola-nordmann", "flights", Role::User, "dev-fss")
        .add_to(&broken, &envs)
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 7") && e.contains("not valid YAML"), "{e}");
}

#[test]
fn many_grants_in_a_row_stay_clean_and_are_all_there() {
    let mut text = String::new();
    let dbs = ["flights", "planes", "weather_daily", "airports-v2"];
    let nss = ["mitt-team", "mitt-team-dev"];
    let mut n = 0;
    for (i, db) in dbs.iter().enumerate() {
        for (j, ns) in nss.iter().enumerate() {
            let role = Role::ALL[(i + j) % 3];
            let env = ["dev-fss", "prod-fss"][(i * 2 + j) % 2];
            let req = team(ns, db, role, env);
            text = req.add_to(&text, &envs()).unwrap().text;
            assert_eq!(check(&text, &envs()), [], "{text}");
            assert!(text.contains(&req.policy(&envs()).unwrap()));
            n += 1;
        }
    }
    assert_eq!(n, 8);
    assert_eq!(text.matches("- namespace:").count(), 2, "{text}");
}

#[test]
fn write_to_file_creates_adds_and_replaces_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ola.yaml");
    let envs = envs();
    let req = user("ola-nordmann", "flights", Role::User, "dev-fss");
    let out = req.write_to_file(&path, &envs).unwrap();
    assert!(out.created && out.changes.is_empty() && out.problems.is_empty());
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        req.render(&envs).unwrap()
    );

    let out = req.write_to_file(&path, &envs).unwrap();
    assert!(!out.created && out.changes.is_empty(), "{out:?}");

    let more = user("ola-nordmann", "planes", Role::User, "dev-fss");
    let out = more.write_to_file(&path, &envs).unwrap();
    assert_eq!(out.changes, ["added planes (user) to postgresql.dev-fss"]);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("planes") && text.contains("flights"),
        "{text}"
    );
    // Only the file itself is left in the folder: no temporary file.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["ola.yaml"]);
}

#[cfg(unix)]
#[test]
fn write_to_file_keeps_permissions_and_symlinks_and_leaves_a_file_it_refuses_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.yaml");
    std::fs::write(&real, fixture("seed_user.yaml")).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
    let link = dir.path().join("link.yaml");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    user("ola-nordmann", "planes", Role::User, "dev-fss")
        .write_to_file(&link, &envs())
        .unwrap();
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(std::fs::read_to_string(&real).unwrap().contains("planes"));
    assert_eq!(
        std::fs::metadata(&real).unwrap().permissions().mode() & 0o777,
        0o640
    );

    let before = std::fs::read_to_string(&real).unwrap();
    let e = team("mitt-team", "flights", Role::User, "dev-fss")
        .write_to_file(&real, &envs())
        .unwrap_err()
        .to_string();
    assert!(e.contains("real.yaml"), "{e}");
    assert_eq!(std::fs::read_to_string(&real).unwrap(), before);
}

#[test]
fn next_steps_name_the_creds_path_settings_and_sync_delay() {
    let envs = envs();
    let req = user("ola-nordmann", "flights", Role::Readonly, "dev-fss");
    assert_eq!(
        req.creds_path(&envs).unwrap(),
        "postgresql/preprod-fss/creds/flights-readonly"
    );
    let steps = req.next_steps(&envs, "postgres_database").unwrap();
    assert!(
        steps.contains("POSTGRES_CREDS_PATH: \"postgresql/preprod-fss/creds/flights-readonly\""),
        "{steps}"
    );
    assert!(
        steps.contains("POSTGRES_CREDENTIALS: \"postgres://user:pass@<host>:<port>/flights\""),
        "{steps}"
    );
    assert!(
        steps.contains("\"postgres_database\": \"${POSTGRES_CREDS_PATH}\""),
        "{steps}"
    );
    assert!(
        steps.contains("\"postgres_database\": \"${POSTGRES_CREDENTIALS}\""),
        "{steps}"
    );
    assert!(steps.contains("5–10 minutes after the merge"), "{steps}");
    assert!(steps.contains("terraform/users/"), "{steps}");

    let mut custom = VaultEnvs::default();
    custom.apply("dev-fss=dev-fss").unwrap();
    let steps = team("mitt-team", "flights", Role::Admin, "dev-fss")
        .next_steps(&custom, "pg")
        .unwrap();
    assert!(
        steps.contains("postgresql/dev-fss/creds/flights-admin"),
        "{steps}"
    );
    assert!(steps.contains("terraform/teams/"), "{steps}");
}
