//! `access::check` on good and broken user and team files: one fixture per rule, every problem
//! with its line, and the seed's own examples (filled in: clean; as printed: each placeholder).

use dataverk::access::{check, check_file, Problem, VaultEnvs};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/access")
        .join(name)
}

fn problems(name: &str) -> Vec<Problem> {
    check_file(&fixture(name), &VaultEnvs::default()).unwrap()
}

/// Asserts the problems of `name` are exactly `expected`: (line, a piece of the problem, a
/// piece of the fix), in order.
fn assert_problems(name: &str, expected: &[(usize, &str, &str)]) {
    let got = problems(name);
    let shown = got
        .iter()
        .map(|p| p.render(name))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(got.len(), expected.len(), "{name}:\n{shown}");
    for (p, (line, message, fix)) in got.iter().zip(expected) {
        assert_eq!(p.line, *line, "{shown}");
        assert!(p.message.contains(message), "{message:?} not in:\n{shown}");
        assert!(p.fix.contains(fix), "{fix:?} not in:\n{shown}");
    }
}

#[test]
fn the_seeds_examples_filled_in_are_clean() {
    assert_problems("seed_user.yaml", &[]);
    assert_problems("seed_team.yaml", &[]);
}

#[test]
fn the_seeds_examples_as_printed_name_every_placeholder() {
    assert_problems(
        "seed_user_placeholders.yaml",
        &[
            (6, "placeholder <databasenavn_dev>", "database-iac"),
            (7, "placeholder <rolle>", "admin, user or readonly"),
            (9, "placeholder <databasenavn_prod>", "database-iac"),
            (10, "placeholder <rolle>", "admin, user or readonly"),
        ],
    );
    assert_problems(
        "seed_team_placeholders.yaml",
        &[
            (
                2,
                "group_id still has the placeholder <gruppe-id>",
                "Azure AD group",
            ),
            (5, "<databasenavn>", "database-iac"),
            (6, "<rolle>", "admin, user or readonly"),
            (
                8,
                "namespace still has the placeholder <namespace>",
                "Kubeflow namespace",
            ),
            (
                10,
                "postgresql_preprod-fss_<databasenavn>_<rolle>",
                "declared under postgresql",
            ),
        ],
    );
}

#[test]
fn comments_blank_lines_compact_lists_and_other_keys_are_fine() {
    assert_problems("commented_user.yaml", &[]);
}

#[test]
fn required_keys() {
    assert_problems(
        "missing_keys_user.yaml",
        &[
            (2, "no postgresql section", "postgresql:"),
            (2, "no kubeflow section", "- namespace:"),
        ],
    );
    assert_problems(
        "missing_keys_team.yaml",
        &[(1, "the team file has no group_id", "group_id: <")],
    );
    assert_problems(
        "neither_user_nor_team.yaml",
        &[(1, "neither email", "email: <your address>")],
    );
    let both = "email: a@nav.no\nname: t\ngroup_id: g\nkubeflow:\n  - namespace: t\npostgresql:\n  dev-fss:\n    - database_name: d\n      permission_level: user\n";
    let got = check(both, &VaultEnvs::default());
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].line, 2);
    assert!(got[0].message.contains("both email"), "{got:?}");
}

#[test]
fn roles_must_be_admin_user_or_readonly() {
    assert_problems(
        "bad_roles.yaml",
        &[
            (
                7,
                "permission_level \"owner\" is not a role",
                "admin, user or readonly",
            ),
            (
                9,
                "permission_level \"Admin\" is not a role",
                "admin, user or readonly",
            ),
            (10, "has no permission_level", "permission_level: <"),
        ],
    );
}

#[test]
fn environments_must_be_known() {
    assert_problems(
        "unknown_env.yaml",
        &[
            (
                5,
                "environment \"dev-gcp\" is unknown",
                "--vault-env dev-gcp=",
            ),
            (
                8,
                "environment \"preprod-fss\" is unknown",
                "files name the environment dev-fss",
            ),
        ],
    );
    // A mapped environment is known.
    let mut envs = VaultEnvs::default();
    envs.apply("dev-gcp=dev-gcp").unwrap();
    let got = check_file(&fixture("unknown_env.yaml"), &envs).unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].line, 8);
}

#[test]
fn policies_must_match_a_declared_database_and_permission_level() {
    assert_problems(
        "policy_role_mismatch.yaml",
        &[(
            10,
            "has role admin, but postgresql.dev-fss gives flights permission_level readonly",
            "use postgresql_preprod-fss_flights_readonly, or set permission_level: admin",
        )],
    );
    assert_problems(
        "policy_not_declared.yaml",
        &[
            (
                10,
                "grants planes in dev-fss, but postgresql.dev-fss does not declare planes",
                "add `- database_name: planes` with `permission_level: admin` under postgresql.dev-fss",
            ),
            (
                11,
                "grants flights in prod-fss, but postgresql.prod-fss does not declare flights",
                "under postgresql.prod-fss",
            ),
        ],
    );
    assert_problems(
        "policy_malformed.yaml",
        &[
            (
                10,
                "is not postgresql_<vault env>_<database>_<role>",
                "postgresql_preprod-fss_<database>_<role>",
            ),
            (
                11,
                "names the file environment dev-fss",
                "postgresql_preprod-fss_flights_admin",
            ),
            (
                12,
                "ends in \"owner\", which is not a role",
                "admin, user or readonly",
            ),
            (13, "is a number, not a policy name", "postgresql_"),
        ],
    );
}

#[test]
fn policies_follow_the_environment_map() {
    let text = std::fs::read_to_string(fixture("seed_team.yaml")).unwrap();
    let mut envs = VaultEnvs::default();
    envs.apply("dev-fss=dev-fss").unwrap();
    let got = check(&text, &envs);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].message.contains("\"preprod-fss\", which is unknown"),
        "{got:?}"
    );
    let fixed = text.replace("preprod-fss", "dev-fss");
    assert_eq!(check(&fixed, &envs), []);
}

#[test]
fn database_names_with_underscores_in_policies() {
    let text = "name: t\ngroup_id: g\npostgresql:\n  prod-fss:\n    - database_name: my_big_db\n      permission_level: user\nkubeflow:\n  - namespace: t\n    extra_policies:\n      - postgresql_prod-fss_my_big_db_user\n";
    assert_eq!(check(text, &VaultEnvs::default()), []);
}

#[test]
fn namespaces_must_be_present_and_valid() {
    assert_problems(
        "namespace_problems.yaml",
        &[
            (3, "a kubeflow entry has no namespace", "- namespace:"),
            (
                4,
                "\"Ola_Nordmann\" is not a Kubernetes namespace name",
                "lowercase",
            ),
            (6, "namespace ola-nordmann is listed twice", "merge"),
        ],
    );
}

#[test]
fn values_of_the_wrong_shape() {
    assert_problems(
        "wrong_shapes.yaml",
        &[
            (
                1,
                "\"ola.nordmann\" is not an e-mail address",
                "ola.nordmann@nav.no",
            ),
            (
                2,
                "kubeflow is text, not a list of namespaces",
                "- namespace:",
            ),
            (
                3,
                "postgresql is a list, not a mapping of environments",
                "dev-fss:",
            ),
        ],
    );
    assert_problems(
        "empty_sections.yaml",
        &[
            (2, "the group id is empty", "fill in"),
            (
                4,
                "postgresql.dev-fss lists no databases",
                "- database_name:",
            ),
            (
                7,
                "extra_policies is an empty list",
                "or remove extra_policies",
            ),
        ],
    );
    assert_problems(
        "duplicates.yaml",
        &[(8, "flights (user) is listed twice", "remove one")],
    );
}

#[test]
fn files_that_are_not_yaml_or_not_a_mapping() {
    assert_problems(
        "not_yaml.yaml",
        &[(7, "not valid YAML at column", "correct the syntax")],
    );
    assert_problems(
        "duplicate_key.yaml",
        &[(8, "duplicated key", "merge the two")],
    );
    let envs = VaultEnvs::default();
    let empty = check("", &envs);
    assert_eq!((empty.len(), empty[0].line), (1, 1), "{empty:?}");
    let list = check("# a list\n- a\n", &envs);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].line, 2);
    assert!(list[0].message.contains("not a mapping"), "{list:?}");
    let two = check("email: a@nav.no\n---\nemail: b@nav.no\n", &envs);
    assert_eq!(two[0].line, 2, "{two:?}");
}

#[test]
fn problem_lines_have_the_file_line_problem_and_fix() {
    let p = &problems("policy_role_mismatch.yaml")[0];
    let line = p.render("teams/mitt-team.yaml");
    assert!(
        line.starts_with("teams/mitt-team.yaml:10: policy "),
        "{line}"
    );
    assert_eq!(line.matches(" — ").count(), 1, "{line}");
    assert!(!line.contains('\n'), "{line}");
    // Every problem of every fixture is one line.
    for entry in std::fs::read_dir(fixture("")).unwrap() {
        let path = entry.unwrap().path();
        for p in check_file(&path, &VaultEnvs::default()).unwrap() {
            let line = p.render("f");
            assert!(!line.contains('\n') && line.contains(" — "), "{line}");
        }
    }
}

#[test]
fn unreadable_file_is_an_error_naming_it() {
    let e = check_file(&fixture("no-such-file.yaml"), &VaultEnvs::default()).unwrap_err();
    assert!(e.to_string().contains("no-such-file.yaml"), "{e}");
}
