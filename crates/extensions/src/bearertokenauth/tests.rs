use super::*;

fn cfg(f: impl FnOnce(&mut BearerTokenAuthConfig)) -> BearerTokenAuthConfig {
    let mut c = BearerTokenAuthConfig::default();
    f(&mut c);
    c
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

#[test]
fn validation_matches_otelcol() {
    assert_eq!(
        BearerTokenAuthConfig::default().validate(),
        vec!["no bearer token provided"]
    );
    let both = cfg(|c| {
        c.token = Secret::new("a");
        c.tokens = vec![Secret::new("b")];
    });
    assert_eq!(
        both.validate(),
        vec!["either tokens or token should be specified, not both"]
    );
    let bad = cfg(|c| c.token = Secret::new("s3cr3t\nvalue"));
    let errs = bad.validate();
    assert_eq!(errs.len(), 1);
    assert!(!errs[0].contains("s3cr3t"), "{errs:?}");
    assert!(cfg(|c| c.filename = "/t".into()).validate().is_empty());
    assert!(format!("{:?}", cfg(|c| c.token = Secret::new("s3cr3t"))).contains("[REDACTED]"));
}

#[test]
fn server_accepts_only_a_configured_token() {
    let auth = BearerTokenAuth::new(
        "bearertokenauth",
        &cfg(|c| c.tokens = vec![Secret::new("one"), Secret::new("two")]),
    )
    .unwrap();
    assert!(auth
        .authenticate(&headers(&[("authorization", "Bearer one")]))
        .is_ok());
    assert!(auth
        .authenticate(&headers(&[("Authorization", "Bearer two")]))
        .is_ok());
    assert_eq!(
        auth.authenticate(&headers(&[])).unwrap_err(),
        "missing or empty authorization header: authorization"
    );
    for wrong in [
        "Bearer three",
        "Bearer on",
        "bearer one",
        "one",
        "Bearer one ",
    ] {
        let err = auth
            .authenticate(&headers(&[("authorization", wrong)]))
            .unwrap_err();
        assert_eq!(
            err, "provided authorization does not match expected scheme or token",
            "{wrong}"
        );
    }
    // Only the first value counts, as in otelcol.
    assert!(auth
        .authenticate(&headers(&[
            ("authorization", "Bearer nope"),
            ("authorization", "Bearer one")
        ]))
        .is_err());
}

#[test]
fn custom_header_and_empty_scheme() {
    let auth = BearerTokenAuth::new(
        "bearertokenauth/x",
        &cfg(|c| {
            c.header = "X-Api-Key".into();
            c.scheme = String::new();
            c.token = Secret::new("k");
        }),
    )
    .unwrap();
    assert!(auth.authenticate(&headers(&[("x-api-key", "k")])).is_ok());
    assert!(auth
        .authenticate(&headers(&[("authorization", "k")]))
        .is_err());
    let h = ClientAuthenticator::headers(&auth).unwrap();
    assert_eq!(h[0].0, "x-api-key");
    assert_eq!(h[0].1, "k");
    assert!(h[0].1.is_sensitive());
}

#[tokio::test]
async fn token_file_is_read_at_start_and_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "first\n\n  second  \n").unwrap();
    let auth = Arc::new(
        BearerTokenAuth::new(
            "bearertokenauth",
            &cfg(|c| {
                c.filename = path.display().to_string();
                c.token = Secret::new("ignored");
            }),
        )
        .unwrap(),
    );
    assert!(auth
        .authenticate(&headers(&[("authorization", "Bearer first")]))
        .is_err());
    auth.start().await.unwrap();
    for ok in ["Bearer first", "Bearer second"] {
        assert!(auth
            .authenticate(&headers(&[("authorization", ok)]))
            .is_ok());
    }
    for bad in ["Bearer ", "Bearer ignored"] {
        assert!(auth
            .authenticate(&headers(&[("authorization", bad)]))
            .is_err());
    }
    assert_eq!(
        ClientAuthenticator::headers(auth.as_ref()).unwrap()[0].1,
        "Bearer first"
    );

    std::fs::write(&path, "rotated-token-value\n").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while auth
        .authenticate(&headers(&[("authorization", "Bearer rotated-token-value")]))
        .is_err()
    {
        assert!(std::time::Instant::now() < deadline, "file not reloaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(auth
        .authenticate(&headers(&[("authorization", "Bearer first")]))
        .is_err());
    auth.shutdown().await;
}

#[tokio::test]
async fn missing_token_file_fails_start() {
    let auth = BearerTokenAuth::new(
        "bearertokenauth",
        &cfg(|c| c.filename = "/nonexistent/kakehashi-token".into()),
    )
    .unwrap();
    let err = auth.start().await.unwrap_err().to_string();
    assert!(
        err.contains("failed to read token file /nonexistent/kakehashi-token"),
        "{err}"
    );
}

#[tokio::test]
async fn tokens_win_over_a_filename() {
    // contrib returns early with `tokens`: the file is never read (here it does not exist).
    let auth = BearerTokenAuth::new(
        "bearertokenauth",
        &cfg(|c| {
            c.filename = "/nonexistent/kakehashi-token".into();
            c.tokens = vec![Secret::new("a"), Secret::new("b")];
        }),
    )
    .unwrap();
    auth.start().await.unwrap();
    assert!(auth
        .authenticate(&headers(&[("authorization", "Bearer b")]))
        .is_ok());
    auth.shutdown().await;
}
