use http::{Method, StatusCode, header};
use serde_json::json;

use super::*;

const PROTECTED: &str = "/admin/api/v1/tenants/single-tenant/keys";

async fn status_with(app: &TestApp, cred: Cred) -> Answer {
    app.send(Method::GET, PROTECTED, cred, &[], None).await
}

#[tokio::test]
async fn credentials_are_checked_on_every_protected_route() {
    let app = TestApp::new().await;

    for cred in [
        Cred::None,
        Cred::Bearer("garbage".into()),
        Cred::Bearer("eyJhbGciOiJIUzI1NiJ9.e30.c2ln".into()),
        Cred::Raw("Token abc".into()),
        Cred::Raw("Basic !!!".into()),
        Cred::Basic("admin".into(), ADMIN_TOKEN.into()),
        Cred::Basic(String::new(), "wrong".into()),
    ] {
        let a = status_with(&app, cred.clone()).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{cred:?}: {}", a.text);
        assert_eq!(a.code(), "unauthenticated");
        let challenge = a.headers[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(
            challenge.contains("Bearer") && challenge.contains("Basic"),
            "{challenge}"
        );
    }

    // A tenant's API key is a valid credential of the wrong kind, by Bearer or Basic.
    for cred in [
        Cred::Bearer(app.tenant_key.clone()),
        Cred::Basic("single-tenant".into(), app.tenant_key.clone()),
    ] {
        let a = status_with(&app, cred).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.text);
        assert_eq!(a.code(), "forbidden");
        assert!(!a.text.contains(&app.tenant_key));
    }

    // The admin token, by Bearer or Basic with an empty username.
    for cred in [admin(), Cred::Basic(String::new(), ADMIN_TOKEN.into())] {
        assert_eq!(status_with(&app, cred).await.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn sessions_sign_in_and_expire() {
    let app = TestApp::new().await;
    let a = app
        .send(
            Method::POST,
            "/admin/api/v1/login",
            Cred::None,
            &[],
            Some(json!({"username": USER, "password": PASSWORD})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json["token_type"], "Bearer");
    assert_eq!(a.headers[header::CACHE_CONTROL], "no-store");
    let expires = crate::views::parse_rfc3339(a.json["expires_at"].as_str().unwrap()).unwrap();
    let token = a.json["token"].as_str().unwrap().to_owned();
    assert!(expires > app.clock.now() + Duration::from_secs(590));

    assert_eq!(
        status_with(&app, Cred::Bearer(token.clone())).await.status,
        StatusCode::OK
    );

    // Wrong password and unknown user: the same 401 and message.
    let wrong = |user: &str, pw: &str| json!({"username": user, "password": pw});
    let mut messages = Vec::new();
    for body in [wrong(USER, "nope nope nope"), wrong("mallory", PASSWORD)] {
        let a = app
            .send(
                Method::POST,
                "/admin/api/v1/login",
                Cred::None,
                &[],
                Some(body),
            )
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.text);
        messages.push(a.json["error"]["message"].clone());
    }
    assert_eq!(messages[0], messages[1]);

    // Missing fields are named; a non-JSON body is 415.
    let a = app
        .send(
            Method::POST,
            "/admin/api/v1/login",
            Cred::None,
            &[],
            Some(json!({"user": "x"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.fields(), ["username", "password", "user"]);
    let a = app
        .send(
            Method::POST,
            "/admin/api/v1/login",
            Cred::None,
            &[("content-type", "text/plain")],
            Some(json!({})),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(a.code(), "unsupported_media_type");

    // After the session's lifetime it is refused.
    app.clock.advance(Duration::from_secs(601));
    let a = status_with(&app, Cred::Bearer(token)).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.headers.contains_key(header::WWW_AUTHENTICATE));
}

#[tokio::test]
async fn tokens_created_later_authenticate_after_the_snapshot_refresh() {
    let app = TestApp::new().await;
    let (_, token) = app
        .db
        .create_admin_token(
            "ci",
            None,
            &Pepper::new(b"admin-api-test-pepper".to_vec()).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        status_with(&app, Cred::Bearer(token.clone())).await.status,
        StatusCode::UNAUTHORIZED
    );
    app.refresh().await;
    assert_eq!(
        status_with(&app, Cred::Bearer(token)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn repeated_failed_sign_ins_lock_the_user_name_for_a_while() {
    let app = TestApp::new().await;
    let login = |password: &str| json!({"username": USER, "password": password});
    for _ in 0..5 {
        let a = app
            .send(
                Method::POST,
                "/admin/api/v1/login",
                Cred::None,
                &[],
                Some(login("wrong guess")),
            )
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.text);
    }
    // Even the right password is refused now, without a check, with a retry hint.
    let a = app
        .send(
            Method::POST,
            "/admin/api/v1/login",
            Cred::None,
            &[],
            Some(login(PASSWORD)),
        )
        .await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.text);
    assert_eq!(a.code(), "too_many_requests");
    let retry: u64 = a.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "Retry-After {retry}");
    // After the window the right password works again.
    app.clock.advance(Duration::from_secs(901));
    let a = app
        .send(
            Method::POST,
            "/admin/api/v1/login",
            Cred::None,
            &[],
            Some(login(PASSWORD)),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
}
