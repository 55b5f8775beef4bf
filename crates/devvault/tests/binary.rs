//! The `devvault` binary: starts from a config file on port 0, publishes its address through
//! --addr-file, warns that it is a development server, keeps secrets out of its logs, stops on
//! SIGTERM, and refuses non-loopback addresses and a missing root token.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{projected_jwt, Api};
use reqwest::StatusCode;
use serde_json::json;

const ROOT: &str = "bin-root-token-7Hq2";

fn write_config(dir: &Path, root_token: Option<&str>) -> std::path::PathBuf {
    let mut config = json!({
        "kv": [{"mount": "secret", "version": 2}],
        "secrets": {"secret/app": {"password": "kv-secret-value-9Zx"}},
        "policies": {"app": ["secret/data/app"]},
        "kubernetes": [{"mount": "kubernetes", "roles": {"app": {
            "bound_service_account_namespaces": ["ns"], "bound_service_account_names": ["*"],
            "policies": ["app"]}}}]
    });
    if let Some(token) = root_token {
        config["root_token"] = json!(token);
    }
    let path = dir.join("devvault.json");
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

#[tokio::test]
async fn serves_on_port_zero_and_logs_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), None);
    let addr_file = dir.path().join("addr");
    let log = dir.path().join("stderr.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_devvault"))
        .arg("--config")
        .arg(&config)
        .args(["--listen", "127.0.0.1:0", "--addr-file"])
        .arg(&addr_file)
        .env("DEVVAULT_ROOT_TOKEN", ROOT)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    while !addr_file.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let addr = std::fs::read_to_string(&addr_file).expect("the address file appears");
    assert!(
        addr.starts_with("http://127.0.0.1:") && !addr.ends_with(":0"),
        "{addr}"
    );

    let api = Api::new(addr.clone());
    let (status, _) = api.call("GET", "sys/health", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let jwt = projected_jwt("ns", "sa", Some(600));
    let (status, body) = api
        .call(
            "POST",
            "auth/kubernetes/login",
            None,
            Some(json!({"role": "app", "jwt": jwt})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let token = body["auth"]["client_token"].as_str().unwrap().to_string();
    let (status, body) = api.get("secret/data/app", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["data"]["password"], "kv-secret-value-9Zx");
    let (status, _) = api.get("auth/token/lookup-self", ROOT).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the root token comes from the environment"
    );

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "SIGTERM is a clean stop: {exit}");

    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(stderr.contains("DEVELOPMENT server"), "{stderr}");
    assert!(stderr.contains("NOT use it in production"), "{stderr}");
    assert!(stderr.contains(&addr), "the address is logged: {stderr}");
    assert!(
        stderr.contains("GET /v1/secret/data/app -> 200"),
        "{stderr}"
    );
    for secret in [ROOT, token.as_str(), "kv-secret-value-9Zx", jwt.as_str()] {
        assert!(
            !stderr.contains(secret),
            "a secret leaked into the log: {stderr}"
        );
    }
}

#[test]
fn refuses_non_loopback_and_a_missing_root_token() {
    let dir = tempfile::tempdir().unwrap();
    let with_token = write_config(dir.path(), Some(ROOT));
    let output = Command::new(env!("CARGO_BIN_EXE_devvault"))
        .arg("--config")
        .arg(&with_token)
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("loopback"));

    let without_token = write_config(dir.path(), None);
    let output = Command::new(env!("CARGO_BIN_EXE_devvault"))
        .arg("--config")
        .arg(&without_token)
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("DEVVAULT_ROOT_TOKEN")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no root token"));
}
