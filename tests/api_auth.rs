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

/// The token key and the users come from Secrets Manager (the emulator's here, as on AWS),
/// and a rotation logs nobody out: after `put-secret-value` the new key signs, and a token
/// signed with the old one still verifies until it expires.
#[tokio::test]
async fn keys_and_users_come_from_secrets_and_a_rotation_logs_nobody_out() {
    use ps_aws::secrets;
    use ps_http::auth::{TokenKeys, UserDirectory, hash_password};
    let client = secrets::client(&placeholder_sync_tests::sdk_config().await, None);
    let name = format!("test-token-key-{}", rand::random::<u32>());
    let ttl = std::time::Duration::from_secs(900);
    let arn = secrets::put(&client, &name, &"a".repeat(64)).await.unwrap();
    let before =
        TokenKeys::from_versions(&secrets::read(&client, &arn).await.unwrap(), ttl).unwrap();
    let token = before.issue("alice").unwrap();

    secrets::put(&client, &name, &"b".repeat(64)).await.unwrap();
    let versions = secrets::read(&client, &arn).await.unwrap();
    assert_eq!(versions.current, "b".repeat(64));
    assert_eq!(versions.previous.as_deref(), Some("a".repeat(64).as_str()));
    let after = TokenKeys::from_versions(&versions, ttl).unwrap();
    assert_eq!(
        after.verify(&token).unwrap().sub,
        "alice",
        "an old token stays good"
    );
    assert!(
        before.verify(&after.issue("bob").unwrap()).is_err(),
        "the new key signs"
    );

    let users = format!("test-users-{}", rand::random::<u32>());
    let users_arn = secrets::put(
        &client,
        &users,
        &json!({"carol": hash_password("s3cret-enough")}).to_string(),
    )
    .await
    .unwrap();
    let directory =
        UserDirectory::from_json(&secrets::read(&client, &users_arn).await.unwrap().current)
            .unwrap();
    assert!(directory.verify("carol", "s3cret-enough"));
    assert!(!directory.verify("carol", "wrong"));
    let missing = secrets::read(&client, "no-such-secret").await;
    assert!(
        missing.is_err(),
        "a missing secret is an error, not an empty key"
    );
}

async fn login_from(api: &Api, ip: &str, user: &str, password: &str) -> (u16, Option<u64>) {
    let r = api
        .request_from(
            ip,
            "POST",
            "/auth/token",
            &[("content-type", "application/json")],
            Some(
                json!({"username": user, "password": password})
                    .to_string()
                    .as_bytes(),
            ),
        )
        .await;
    let retry_after = r.header("retry-after").and_then(|v| v.parse().ok());
    if r.status == 429 {
        assert!(
            r.json()["message"]
                .as_str()
                .unwrap()
                .contains("too many failed logins")
        );
    }
    (r.status, retry_after)
}

/// Ten failed logins for one user name, from anywhere, lock that name for a while: the
/// eleventh attempt is a 429 with `Retry-After` even with the right password, and the
/// password is not checked. Other names are not affected.
#[tokio::test]
async fn a_user_name_is_locked_after_ten_failures_in_five_minutes() {
    let api = Api::new().await;
    for i in 1..=10 {
        let (status, _) = login_from(&api, &format!("203.0.113.{i}"), USER, "wrong").await;
        assert_eq!(status, 401, "failure {i} is an ordinary refusal");
    }
    let (status, retry_after) = login_from(&api, "203.0.113.50", USER, PASSWORD).await;
    assert_eq!(status, 429);
    let wait = retry_after.expect("Retry-After");
    assert!((1..=600).contains(&wait), "{wait}");
    let (status, _) = login_from(&api, "203.0.113.50", "someone-else", "wrong").await;
    assert_eq!(
        status, 401,
        "another name from another address is not throttled"
    );
}

/// Ten failures from one address, whatever the names, throttle that address; a user
/// elsewhere logs in as usual.
#[tokio::test]
async fn an_address_is_throttled_after_ten_failures_and_others_are_not() {
    let api = Api::new().await;
    for i in 1..=10 {
        let (status, _) = login_from(&api, "198.51.100.7", &format!("guess{i}"), "wrong").await;
        assert_eq!(status, 401);
    }
    let (status, retry_after) = login_from(&api, "198.51.100.7", USER, PASSWORD).await;
    assert_eq!((status, retry_after.is_some()), (429, true));
    let (status, _) = login_from(&api, "198.51.100.8", USER, PASSWORD).await;
    assert_eq!(status, 200, "the user from elsewhere is not locked out");
}

/// A successful login clears its name's count: nine failures, a success, nine more, and the
/// right password still works.
#[tokio::test]
async fn a_successful_login_clears_the_names_failures() {
    let api = Api::new().await;
    for round in 0..2 {
        for i in 1..=9 {
            let ip = format!("192.0.2.{}", round * 10 + i);
            assert_eq!(login_from(&api, &ip, USER, "wrong").await.0, 401);
        }
        let ip = format!("192.0.2.{}", 100 + round);
        assert_eq!(
            login_from(&api, &ip, USER, PASSWORD).await.0,
            200,
            "round {round}"
        );
    }
}
