//! Tempo's search and tag routes at the edge: parameters (every bad one a plain-text 400 naming
//! it, every good one the exact request the port sees) and authorisation. Answers (JSON shapes,
//! `a|b` merging, port errors) are in `search_answer_tests`.

use sextant_model::{SearchQuery, TagRef, TagScope};

use super::auth_tests::{basic, bearer, fake_auth};
use super::*;

pub(super) fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
    }
}

fn search_request(query: SearchQuery) -> SearchRequest {
    SearchRequest {
        query,
        range: None,
        min_duration: None,
        max_duration: None,
        limit: 20,
        spans_per_spanset: 3,
    }
}

fn tags(pairs: &[(&str, &str)]) -> SearchQuery {
    SearchQuery::Tags(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

fn get_as(uri: &str, tenant: &str) -> Request<Body> {
    Request::get(uri)
        .header("x-scope-orgid", tenant)
        .body(Body::empty())
        .unwrap()
}

pub(super) fn text(body: &bytes::Bytes) -> String {
    String::from_utf8(body.to_vec()).unwrap()
}

/// Sends `uri` as tenant `acme` and expects 400 naming `message`; nothing reaches the port.
async fn assert_bad(app: &App, uri: &str, message: &str) {
    let before = app.searcher.searches.lock().unwrap().len()
        + app.searcher.tag_name_requests.lock().unwrap().len()
        + app.searcher.tag_value_requests.lock().unwrap().len();
    let (status, headers, body) = send(app.router(), get_as(uri, "acme")).await;
    assert_eq!(status, 400, "{uri}: {}", text(&body));
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
        "{uri}"
    );
    assert!(
        text(&body).contains(message),
        "{uri}: {:?} does not contain {message:?}",
        text(&body)
    );
    let after = app.searcher.searches.lock().unwrap().len()
        + app.searcher.tag_name_requests.lock().unwrap().len()
        + app.searcher.tag_value_requests.lock().unwrap().len();
    assert_eq!(before, after, "{uri} reached the port");
}

#[tokio::test]
async fn search_parameters_become_the_request_the_port_sees() {
    let app = app();
    let ms = Duration::from_millis;
    let range = Some(TimeRange::from_unix_seconds(100, 200));
    let cases: Vec<(&str, SearchRequest)> = vec![
        ("/api/search", search_request(tags(&[]))),
        (
            "/api/search?q=%7B.a%20%3D%201%7D&limit=5&spss=7&start=100&end=200",
            SearchRequest {
                range,
                limit: 5,
                spans_per_spanset: 7,
                ..search_request(SearchQuery::TraceQl("{.a = 1}".into()))
            },
        ),
        (
            "/api/search?q=",
            search_request(SearchQuery::TraceQl(String::new())),
        ),
        (
            "/api/search?tags=service.name%3Dapi%20name%3D%22GET%20%2Fx%20%5C%22y%5C%22%22\
             &minDuration=100ms&maxDuration=1.5s&limit=1000&spss=100",
            SearchRequest {
                min_duration: Some(ms(100)),
                max_duration: Some(ms(1500)),
                limit: 1000,
                spans_per_spanset: 100,
                ..search_request(tags(&[("service.name", "api"), ("name", "GET /x \"y\"")]))
            },
        ),
        // Legacy: neither q/tags nor start/end, so the other parameters are tags (sorted).
        (
            "/api/search?service.name=api&http.status_code=500&empty=&limit=3&minDuration=1h2m",
            SearchRequest {
                min_duration: Some(Duration::from_secs(3720)),
                limit: 3,
                ..search_request(tags(&[
                    ("http.status_code", "500"),
                    ("service.name", "api"),
                ]))
            },
        ),
        (
            "/api/search?foo=bar&start=100&end=200",
            SearchRequest {
                range,
                ..search_request(tags(&[]))
            },
        ),
        (
            "/api/search?minDuration=300us&maxDuration=300%C2%B5s",
            SearchRequest {
                min_duration: Some(Duration::from_micros(300)),
                max_duration: Some(Duration::from_micros(300)),
                ..search_request(tags(&[]))
            },
        ),
        (
            "/api/search?q=%7B%7D&start=0&end=0&minDuration=0&maxDuration=10ns",
            SearchRequest {
                min_duration: Some(Duration::ZERO),
                max_duration: Some(Duration::from_nanos(10)),
                ..search_request(SearchQuery::TraceQl("{}".into()))
            },
        ),
    ];
    for (uri, expected) in cases {
        let (status, headers, body) = send(app.router(), get_as(uri, "acme")).await;
        assert_eq!(status, 200, "{uri}: {}", text(&body));
        assert_eq!(headers["content-type"], "application/json");
        let (tenant, seen) = app.searcher.searches.lock().unwrap().pop().unwrap();
        assert_eq!(tenant.as_str(), "acme");
        assert_eq!(seen, expected, "{uri}");
    }
}

#[tokio::test]
async fn bad_search_parameters_are_a_400_naming_them() {
    let app = app();
    app.tenants.set(
        "small",
        Limits {
            max_spans_per_span_set: 5,
            ..Limits::default()
        },
    );
    for (uri, message) in [
        (
            "/api/search?q=%7B%7D&tags=a%3Db",
            "q and tags cannot be used together",
        ),
        (
            "/api/search?tags=a%3Db%20a%3Dc",
            "invalid tags: duplicate key \"a\"",
        ),
        (
            "/api/search?tags=a",
            "invalid tags: expected '=' after key \"a\"",
        ),
        (
            "/api/search?tags=a%3D%22b",
            "invalid tags: unterminated quoted value",
        ),
        ("/api/search?minDuration=abc", "invalid minDuration \"abc\""),
        (
            "/api/search?minDuration=-1s",
            "invalid minDuration \"-1s\": must not be negative",
        ),
        ("/api/search?maxDuration=5", "invalid maxDuration \"5\""),
        (
            "/api/search?minDuration=2s&maxDuration=1s",
            "invalid maxDuration: must be greater than or equal to minDuration",
        ),
        (
            "/api/search?limit=0",
            "invalid limit: must be a positive number",
        ),
        ("/api/search?limit=-1", "invalid limit \"-1\""),
        ("/api/search?limit=ten", "invalid limit \"ten\""),
        (
            "/api/search?limit=1001",
            "invalid limit: must be at most 1000",
        ),
        (
            "/api/search?spss=0",
            "invalid spss: must be a positive number",
        ),
        ("/api/search?spss=101", "invalid spss: must be at most 100"),
        ("/api/search?spss=x", "invalid spss \"x\""),
        ("/api/search?start=200&end=100", "invalid time range"),
        ("/api/search?start=abc&end=100", "invalid start \"abc\""),
        ("/api/search?start=100&end=1.5", "invalid end \"1.5\""),
    ] {
        assert_bad(&app, uri, message).await;
    }
    // `spss` is checked against the tenant's own limit; its default is capped by it.
    let (status, _, body) = send(app.router(), get_as("/api/search?spss=6", "small")).await;
    assert_eq!(status, 400);
    assert_eq!(text(&body), "invalid spss: must be at most 5");
    let (status, _, _) = send(app.router(), get_as("/api/search?spss=5", "small")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn search_defaults_come_from_the_config() {
    let config = GatewayConfig {
        default_search_limit: 7,
        max_search_limit: 50,
        default_spans_per_span_set: 2,
        ..Default::default()
    };
    let app = app_with(config, FakeReader::default());
    let (status, _, _) = send(app.router(), get_as("/api/search?q=%7B%7D", "acme")).await;
    assert_eq!(status, 200);
    let (_, seen) = app.searcher.searches.lock().unwrap().pop().unwrap();
    assert_eq!((seen.limit, seen.spans_per_spanset), (7, 2));
    assert_bad(
        &app,
        "/api/search?limit=51",
        "invalid limit: must be at most 50",
    )
    .await;
}

#[tokio::test]
async fn tag_parameters_become_the_request_the_port_sees() {
    let app = app();
    let range = Some(TimeRange::from_unix_seconds(1, 2));
    let names = |scopes: Vec<TagScope>, query: Option<&str>, limit: u32, range| TagNamesRequest {
        scopes,
        range,
        query: query.map(str::to_owned),
        limit,
    };
    use TagScope::{Intrinsic, Resource, Span};
    for (uri, expected) in [
        (
            "/api/search/tags",
            names(vec![Resource, Span], None, 0, None),
        ),
        ("/api/v2/search/tags", names(vec![], None, 0, None)),
        (
            "/api/search/tags?scope=intrinsic",
            names(vec![Intrinsic], None, 0, None),
        ),
        ("/api/search/tags?scope=", names(vec![], None, 0, None)),
        ("/api/search/tags?scope=none", names(vec![], None, 0, None)),
        (
            "/api/v2/search/tags?scope=resource&q=%7B.a%3D1%7D&limit=5000&start=1&end=2\
             &maxStaleValues=3",
            names(vec![Resource], Some("{.a=1}"), 5000, range),
        ),
    ] {
        let (status, headers, body) = send(app.router(), get_as(uri, "acme")).await;
        assert_eq!(status, 200, "{uri}: {}", text(&body));
        assert_eq!(headers["content-type"], "application/json");
        let (tenant, seen) = app
            .searcher
            .tag_name_requests
            .lock()
            .unwrap()
            .pop()
            .unwrap();
        assert_eq!(tenant.as_str(), "acme");
        assert_eq!(seen, expected, "{uri}");
    }
    let values = |tag: TagRef, query: Option<&str>, limit: u32, range| TagValuesRequest {
        tag,
        range,
        query: query.map(str::to_owned),
        limit,
    };
    for (uri, expected) in [
        (
            "/api/search/tag/http.method/values",
            values(TagRef::Name("http.method".into()), None, 0, None),
        ),
        (
            "/api/v2/search/tag/resource.service.name/values?q=%7B%7D&limit=10&start=1&end=2",
            values(
                TagRef::Identifier("resource.service.name".into()),
                Some("{}"),
                10,
                range,
            ),
        ),
        (
            "/api/v2/search/tag/span.a%2Fb%20c/values",
            values(TagRef::Identifier("span.a/b c".into()), None, 0, None),
        ),
    ] {
        let (status, _, body) = send(app.router(), get_as(uri, "acme")).await;
        assert_eq!(status, 200, "{uri}: {}", text(&body));
        let (_, seen) = app
            .searcher
            .tag_value_requests
            .lock()
            .unwrap()
            .pop()
            .unwrap();
        assert_eq!(seen, expected, "{uri}");
    }
    for (uri, message) in [
        ("/api/search/tags?scope=trace2", "invalid scope: trace2"),
        ("/api/v2/search/tags?scope=Span", "invalid scope: Span"),
        ("/api/v2/search/tags?limit=many", "invalid limit \"many\""),
        ("/api/search/tags?start=5&end=5", "invalid time range"),
        (
            "/api/v2/search/tag/x/values?limit=-2",
            "invalid limit \"-2\"",
        ),
        (
            "/api/search/tag/%20/values",
            "invalid tag: must not be empty",
        ),
        (
            "/api/v2/search/tag/x/values?start=9&end=1",
            "invalid time range",
        ),
    ] {
        assert_bad(&app, uri, message).await;
    }
}

const ROUTES: [&str; 5] = [
    "/api/search?q=%7B%7D",
    "/api/search/tags",
    "/api/v2/search/tags",
    "/api/search/tag/a/values",
    "/api/v2/search/tag/a/values",
];

pub(super) fn keyed() -> App {
    app_full(
        AuthMode::Keys,
        fake_auth(),
        GatewayConfig::default(),
        FakeReader::default(),
    )
}

#[tokio::test]
async fn search_routes_need_read_access_to_every_tenant_named() {
    let app = keyed();
    let with = |uri: &str, headers: &[(&str, String)]| {
        let mut b = Request::get(uri);
        for (name, value) in headers {
            b = b.header(*name, value);
        }
        b.body(Body::empty()).unwrap()
    };
    for uri in ROUTES {
        for (who, headers, expected) in [
            ("nobody", vec![], 401),
            (
                "wrong secret",
                vec![("authorization", bearer("sxt_nope"))],
                401,
            ),
            (
                "write-only key",
                vec![("authorization", bearer("sxt_a_write"))],
                403,
            ),
            (
                "other tenant's header",
                vec![
                    ("authorization", bearer("sxt_a_rw")),
                    ("x-scope-orgid", "bbb".to_owned()),
                ],
                403,
            ),
            (
                "a set the key may not read",
                vec![
                    ("authorization", bearer("sxt_a_rw")),
                    ("x-scope-orgid", "aaa|bbb".to_owned()),
                ],
                403,
            ),
            (
                "read key",
                vec![("authorization", basic("aaa", "sxt_a_read"))],
                200,
            ),
        ] {
            let (status, _, body) = send(app.router(), with(uri, &headers)).await;
            assert_eq!(status.as_u16(), expected, "{uri} {who}: {}", text(&body));
        }
    }
    // Only the read key's requests reached the port, each for its own tenant.
    let searches = app.searcher.searches.lock().unwrap();
    assert_eq!(searches.len(), 1);
    assert_eq!(searches[0].0.as_str(), "aaa");
    assert_eq!(app.searcher.tag_name_requests.lock().unwrap().len(), 2);
    assert_eq!(app.searcher.tag_value_requests.lock().unwrap().len(), 2);
}

/// The tenants each recorded usage delta counted a query for, draining them.
fn queries_recorded(app: &App) -> Vec<(String, u64)> {
    app.usage
        .recorded
        .lock()
        .unwrap()
        .drain(..)
        .map(|(t, _, d)| {
            assert_eq!(
                (d.accepted_bytes, d.accepted_spans, d.discarded.len()),
                (0, 0, 0),
                "a query is not ingest"
            );
            (t.to_string(), d.queries)
        })
        .collect()
}

#[tokio::test]
async fn each_query_request_counts_one_query_per_tenant_read() {
    let app = app();
    let (status, _, body) = send(app.router(), get_as("/api/search?q=%7B%7D", "acme")).await;
    assert_eq!(status, 200, "{}", text(&body));
    assert_eq!(queries_recorded(&app), [("acme".to_owned(), 1)]);
    // A federated search counts once for each tenant it reads.
    let (status, _, body) = send(app.router(), get_as("/api/search", "acme|other")).await;
    assert_eq!(status, 200, "{}", text(&body));
    assert_eq!(
        queries_recorded(&app),
        [("acme".to_owned(), 1), ("other".to_owned(), 1)]
    );
    for uri in ROUTES {
        send(app.router(), get_as(uri, "acme")).await;
        assert_eq!(queries_recorded(&app), [("acme".to_owned(), 1)], "{uri}");
    }
    let (status, _, _) = send(app.router(), get_as("/api/echo", "acme")).await;
    assert_eq!(status, 200);
    assert!(queries_recorded(&app).is_empty(), "echo is no query");
}
