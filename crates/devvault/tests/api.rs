//! devvault's Vault API without a database: health, KV v1/v2, mount lookup, Kubernetes login,
//! policies, tokens, faults, stats and restarts, over real HTTP.

mod common;

use std::time::{Duration, Instant};

use common::{config, legacy_jwt, projected_jwt, Api};
use reqwest::StatusCode;
use serde_json::{json, Value};
use testkit::DevVault;

const ROOT: &str = "root-token-for-tests";

fn start() -> (DevVault, Api) {
    let vault = DevVault::start(config(json!([])));
    let api = Api::new(vault.addr());
    (vault, api)
}

#[tokio::test]
async fn health_needs_no_token() {
    let (_vault, api) = start();
    let (status, body) = api.call("GET", "sys/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["initialized"], true);
    assert_eq!(body["sealed"], false);
    assert_eq!(body["standby"], false);
    assert_eq!(
        body["version"],
        concat!("devvault-", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test]
async fn kv_version_2_round_trip_keeps_versions() {
    let (_vault, api) = start();
    let (status, body) = api.get("secret/data/kubeflow/my-ns", ROOT).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"]["data"]["POSTGRES_CREDS_PATH"],
        "postgresql/preprod-fss/creds/mydb-admin"
    );
    assert_eq!(body["data"]["metadata"]["version"], 1);
    assert_eq!(body["lease_duration"], 0);
    for key in [
        "request_id",
        "lease_id",
        "renewable",
        "wrap_info",
        "warnings",
        "auth",
    ] {
        assert!(body.get(key).is_some(), "envelope lacks {key}: {body}");
    }

    let (status, body) = api
        .post(
            "secret/data/app",
            ROOT,
            json!({"data": {"k": "one \"quoted\" \\ value"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["version"], 1);
    assert_eq!(body["data"]["destroyed"], false);
    assert_eq!(body["data"]["deletion_time"], "");
    let (status, body) = api
        .call(
            "PUT",
            "secret/data/app",
            Some(ROOT),
            Some(json!({"data": {"k": "two"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["version"], 2);

    let (_, latest) = api.get("secret/data/app", ROOT).await;
    assert_eq!(latest["data"]["data"], json!({"k": "two"}));
    assert_eq!(latest["data"]["metadata"]["version"], 2);
    let (_, first) = api.get("secret/data/app?version=1", ROOT).await;
    assert_eq!(
        first["data"]["data"],
        json!({"k": "one \"quoted\" \\ value"})
    );

    let (status, body) = api.get("secret/data/missing", ROOT).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"errors": []}));
    let (status, _) = api.get("secret/app", ROOT).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "v1-style path on a v2 mount");

    let (status, body) = api.call("LIST", "secret/metadata", Some(ROOT), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["keys"], json!(["app", "kubeflow/"]));
}

#[tokio::test]
async fn kv_version_1_round_trip_and_delete() {
    let (vault, api) = start();
    let (status, body) = api.get("kv/plain", ROOT).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"], json!({"a": "b"}));
    assert_eq!(body["lease_duration"], 2_764_800);

    vault.put_kv("kv/team/app", json!({"user": "u", "pass": "p@ss"}));
    let (_, body) = api.get("kv/team/app", ROOT).await;
    assert_eq!(body["data"], json!({"user": "u", "pass": "p@ss"}));

    let (status, _) = api.call("DELETE", "kv/team/app", Some(ROOT), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = api.get("kv/team/app", ROOT).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"errors": []}));

    vault.put_kv("secret/via/testkit", json!({"x": "y"}));
    let (_, body) = api.get("secret/data/via/testkit", ROOT).await;
    assert_eq!(body["data"]["data"], json!({"x": "y"}));
}

#[tokio::test]
async fn mount_lookup_tells_kv_versions_apart() {
    let (_vault, api) = start();
    let (status, body) = api
        .get("sys/internal/ui/mounts/secret/kubeflow/my-ns", ROOT)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["path"], "secret/");
    assert_eq!(body["data"]["type"], "kv");
    assert_eq!(body["data"]["options"], json!({"version": "2"}));
    let (_, body) = api.get("sys/internal/ui/mounts/kv/plain", ROOT).await;
    assert_eq!(body["data"]["options"], json!({"version": "1"}));

    let (status, body) = api.get("sys/internal/ui/mounts/nowhere/x", ROOT).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["errors"][0]
        .as_str()
        .unwrap()
        .contains("preflight capability check returned 403"));

    // A namespace token sees the mount it has policies under, and not the others.
    let token = api.login("my-ns", "my-ns", "default").await;
    let (status, _) = api
        .get("sys/internal/ui/mounts/secret/kubeflow/my-ns", &token)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api.get("sys/internal/ui/mounts/kv/plain", &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn kubernetes_login_issues_a_token_with_the_roles_policies() {
    let (_vault, api) = start();
    let (status, body) = api
        .call(
            "POST",
            "auth/kubernetes/login",
            None,
            Some(json!({"role": "my-ns", "jwt": projected_jwt("my-ns", "default", Some(600))})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let auth = &body["auth"];
    let token = auth["client_token"].as_str().unwrap();
    assert!(token.starts_with("hvs.") && token.len() >= 28, "{token}");
    assert!(!auth["accessor"].as_str().unwrap().is_empty());
    assert_eq!(auth["policies"], json!(["default", "my-ns"]));
    assert_eq!(auth["token_policies"], json!(["default", "my-ns"]));
    assert_eq!(auth["metadata"]["role"], "my-ns");
    assert_eq!(auth["metadata"]["service_account_namespace"], "my-ns");
    assert_eq!(auth["metadata"]["service_account_name"], "default");
    assert_eq!(auth["lease_duration"], 3600);
    assert_eq!(auth["renewable"], true);

    let (status, body) = api.get("auth/token/lookup-self", token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["display_name"], "kubernetes-my-ns-default");
    assert!(
        body["data"].get("id").is_none(),
        "lookup-self must not echo the token"
    );
    assert_eq!(body["data"]["renewable"], true);
    assert_eq!(body["data"]["creation_ttl"], 3600);
    let ttl = body["data"]["ttl"].as_u64().unwrap();
    assert!((3595..=3600).contains(&ttl), "{ttl}");
    assert!(body["data"]["expire_time"].as_str().unwrap().ends_with('Z'));

    // The token reads what its policy allows, and nothing else.
    let (status, _) = api.get("secret/data/kubeflow/my-ns", token).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = api.get("secret/data/kubeflow/other-ns", token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["errors"][0]
        .as_str()
        .unwrap()
        .contains("permission denied"));
    let (status, _) = api.get("kv/plain", token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Legacy secret-based tokens work too.
    let (status, body) = api
        .call(
            "POST",
            "auth/kubernetes/login",
            None,
            Some(json!({"role": "my-ns", "jwt": legacy_jwt("my-ns", "builder")})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["auth"]["metadata"]["service_account_name"], "builder");
}

#[tokio::test]
async fn kubernetes_login_refusals_use_vaults_statuses_and_words() {
    let (_vault, api) = start();
    let login = |role: &str, jwt: String| {
        let body = json!({"role": role, "jwt": jwt});
        let api = &api;
        async move {
            api.call("POST", "auth/kubernetes/login", None, Some(body))
                .await
        }
    };
    let error = |body: &Value| body["errors"][0].as_str().unwrap_or_default().to_string();

    let (status, body) = login("my-ns", projected_jwt("other-ns", "default", None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error(&body), "namespace not authorized");

    let (status, body) = login("short", projected_jwt("any", "not-runner", None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error(&body), "service account name not authorized");

    let (status, body) = login("nope", projected_jwt("my-ns", "default", None)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error(&body), "invalid role name \"nope\"");

    let (status, body) = login("my-ns", "not.a-jwt".to_string()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error(&body), "permission denied");

    let (status, body) = login("my-ns", projected_jwt("my-ns", "default", Some(-10))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "expired JWT: {body}");

    let (status, body) = api
        .call(
            "POST",
            "auth/kubernetes/login",
            None,
            Some(json!({"role": "my-ns"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error(&body), "missing jwt");
}

#[tokio::test]
async fn bad_tokens_are_refused_and_bearer_is_accepted() {
    let (_vault, api) = start();
    for token in [None, Some("hvs.unknown")] {
        let (status, body) = api
            .call("GET", "secret/data/kubeflow/my-ns", token, None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body, json!({"errors": ["permission denied"]}));
    }
    let response = reqwest::Client::new()
        .get(format!("{}/v1/auth/token/lookup-self", api.addr()))
        .header("Authorization", format!("Bearer {ROOT}"))
        .header("X-Vault-Namespace", "ignored/ns")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["display_name"], "root");
    assert_eq!(body["data"]["expire_time"], Value::Null);
    assert_eq!(body["data"]["policies"], json!(["root"]));

    let (status, body) = api.get("no/such/mount", ROOT).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"errors": []}));
}

#[tokio::test]
async fn tokens_renew_up_to_their_max_ttl_then_expire() {
    let (_vault, api) = start();
    let jwt = projected_jwt("ns", "runner", None);
    let (_, body) = api
        .call(
            "POST",
            "auth/kubernetes/login",
            None,
            Some(json!({"role": "short", "jwt": jwt})),
        )
        .await;
    let token = body["auth"]["client_token"].as_str().unwrap().to_string();
    assert_eq!(body["auth"]["lease_duration"], 2);

    let (status, body) = api
        .post("auth/token/renew-self", &token, json!({"increment": "1h"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let granted = body["auth"]["lease_duration"].as_u64().unwrap();
    assert!(
        (3..=4).contains(&granted),
        "capped at max_ttl 4s: {granted}"
    );
    assert!(body["warnings"][0].as_str().unwrap().contains("capped"));

    tokio::time::sleep(Duration::from_millis(4300)).await;
    let (status, body) = api.get("auth/token/lookup-self", &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "expired token: {body}");
    assert_eq!(body, json!({"errors": ["permission denied"]}));
}

#[tokio::test]
async fn revoke_self_ends_the_token() {
    let (_vault, api) = start();
    let token = api.login("my-ns", "my-ns", "default").await;
    let (status, _) = api
        .post("auth/token/renew-self", &token, json!({"increment": 60}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api.post("auth/token/revoke-self", &token, json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api.get("auth/token/lookup-self", &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn faults_delay_and_fail_matching_requests_then_clear() {
    let (_vault, api) = start();
    let token = api.login("my-ns", "my-ns", "default").await;
    let (status, _) = api
        .post("sys/devvault/faults", &token, json!({"status": 503}))
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "devvault endpoints are root-only"
    );

    let (status, _) = api
        .post(
            "sys/devvault/faults",
            ROOT,
            json!({"status": 503, "count": 2, "path_prefix": "secret/"}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for _ in 0..2 {
        let (status, body) = api.get("secret/data/kubeflow/my-ns", &token).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, json!({"errors": ["devvault injected fault"]}));
    }
    let (status, _) = api.get("kv/plain", ROOT).await;
    assert_eq!(status, StatusCode::OK, "other paths are not affected");
    let (status, _) = api.get("secret/data/kubeflow/my-ns", &token).await;
    assert_eq!(status, StatusCode::OK, "the count is used up");

    api.post(
        "sys/devvault/faults",
        ROOT,
        json!({"delay_ms": 300, "path_prefix": "kv/"}),
    )
    .await;
    for _ in 0..2 {
        let started = Instant::now();
        let (status, _) = api.get("kv/plain", ROOT).await;
        assert_eq!(status, StatusCode::OK);
        assert!(started.elapsed() >= Duration::from_millis(300));
    }
    let (status, _) = api
        .call("DELETE", "sys/devvault/faults", Some(ROOT), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let started = Instant::now();
    api.get("kv/plain", ROOT).await;
    assert!(started.elapsed() < Duration::from_millis(300));

    let (_, stats) = api.get("sys/devvault/stats", ROOT).await;
    assert_eq!(stats["data"]["logins"], 1);
    assert!(stats["data"]["requests"].as_u64().unwrap() >= 7);
}

#[tokio::test]
async fn restart_keeps_the_address_and_forgets_everything_else() {
    let (mut vault, api) = start();
    let addr = vault.addr();
    let token = api.login("my-ns", "my-ns", "default").await;
    vault.put_kv("kv/written", json!({"v": 1}));

    vault.restart();
    assert_eq!(vault.addr(), addr);
    // A pooled connection to the old server may be dead, as after a real Vault restart.
    let api = Api::new(vault.addr());
    let (status, _) = api.get("auth/token/lookup-self", &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "tokens are lost on restart");
    let (status, _) = api.get("kv/written", ROOT).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "written secrets are lost");
    let (status, _) = api.get("kv/plain", ROOT).await;
    assert_eq!(status, StatusCode::OK, "configured secrets come back");
}

#[tokio::test]
async fn refuses_non_loopback_addresses() {
    let result = devvault::Server::start(config(json!([])), "0.0.0.0:0".parse().unwrap()).await;
    assert!(matches!(result, Err(devvault::Error::NotLoopback(_))));
}
