//! POST /auth/token.

use placeholder_sync_tests::Api;
use placeholder_sync_tests::api::{PASSWORD, USER};
use serde_json::json;

#[tokio::test]
async fn json_and_form_logins_issue_tokens_that_authorise_writes() {
    let api = Api::new().await;
    let json_login = api
        .request(
            "POST",
            "/auth/token",
            &[("content-type", "application/json")],
            Some(
                json!({"username": USER, "password": PASSWORD})
                    .to_string()
                    .as_bytes(),
            ),
        )
        .await;
    assert_eq!(json_login.status, 200);
    let body = json_login.json();
    assert_eq!(
        (body["token_type"].as_str(), body["expires_in"].as_u64()),
        (Some("Bearer"), Some(900))
    );
    let form = format!("username={USER}&password={PASSWORD}&grant_type=password");
    let form_login = api
        .request(
            "POST",
            "/auth/token",
            &[("content-type", "application/x-www-form-urlencoded")],
            Some(form.as_bytes()),
        )
        .await;
    assert_eq!(form_login.status, 200);

    let token = format!("Bearer {}", body["access_token"].as_str().unwrap());
    let created = api
        .request(
            "POST",
            "/posts",
            &[
                ("authorization", &token),
                ("content-type", "application/json"),
            ],
            Some(br#"{"title":"t","body":"b"}"#),
        )
        .await;
    assert_eq!(created.status, 201);
}

#[tokio::test]
async fn wrong_credentials_are_401_and_bad_requests_400() {
    let api = Api::new().await;
    for (user, password) in [
        (USER, "wrong"),
        ("nobody", PASSWORD),
        (USER, "demo-password "),
    ] {
        let body = json!({"username": user, "password": password}).to_string();
        let r = api
            .request(
                "POST",
                "/auth/token",
                &[("content-type", "application/json")],
                Some(body.as_bytes()),
            )
            .await;
        assert_eq!(r.status, 401, "{user}/{password}");
        assert_eq!(r.json()["message"], "invalid username or password");
        assert!(r.header("www-authenticate").is_some());
    }
    for body in [
        &b"{}"[..],
        br#"{"username":"demo"}"#,
        br#"{"username":"demo","password":5}"#,
        b"nope",
        br#"{"username":"demo","password":"x","role":"admin"}"#,
    ] {
        let r = api
            .request(
                "POST",
                "/auth/token",
                &[("content-type", "application/json")],
                Some(body),
            )
            .await;
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(body));
    }
}
