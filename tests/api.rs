//! The HTTP API's contract, on SQLite and PostgreSQL, against the real server:
//! `GET /api/openapi.json` documents every route the server registers (found
//! by reading `worker/src/server/`) and describes what the handlers really
//! answer; every `/api` route but the document wants the ops token; bad input
//! (garbage queries, odd ids, long or non-UTF-8 paths, wrong methods) gets a
//! 4xx, never a 5xx.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

/// The ops token for every test of this binary (they share the process env).
const OPS_TOKEN: &str = "api-test-ops-token";

fn set_ops_token() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::env::set_var("ORDERHUB_API_TOKEN", OPS_TOKEN));
}

/// `(method, path)` of every `.route("path", get(..).post(..))` in the
/// server's sources, so a route added anywhere under `worker/src/server/` is
/// checked without editing this test.
fn registered_routes() -> BTreeSet<(String, String)> {
    let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/server")];
    let mut files = Vec::new();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut routes = BTreeSet::new();
    for file in files {
        let src = std::fs::read_to_string(&file).unwrap();
        let mut rest = src.as_str();
        while let Some(at) = rest.find(".route(") {
            rest = &rest[at + ".route(".len()..];
            let Some(lit) = rest.trim_start().strip_prefix('"') else {
                continue;
            };
            let path = &lit[..lit.find('"').unwrap()];
            // The method router: up to the `)` closing `.route(`.
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .unwrap()
                .0;
            let call = &rest[..end];
            let mut found = false;
            for m in ["get", "post", "put", "patch", "delete"] {
                let needle = format!("{m}(");
                let hit = call.match_indices(&needle).any(|(i, _)| {
                    !call[..i]
                        .chars()
                        .next_back()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_')
                });
                if hit {
                    routes.insert((m.to_string(), path.to_string()));
                    found = true;
                }
            }
            assert!(
                found,
                "{}: no method found for route {path}",
                file.display()
            );
        }
    }
    routes
}

/// A concrete path for a route template: every `{param}` becomes `1`.
fn concrete(template: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in template.chars() {
        match c {
            '{' => in_param = true,
            '}' => {
                in_param = false;
                out.push('1');
            }
            _ if !in_param => out.push(c),
            _ => {}
        }
    }
    out
}

/// Follow a `$ref` into `components`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.strip_prefix("#/components/schemas/").unwrap();
            let found = &doc["components"]["schemas"][name];
            assert!(found.is_object(), "dangling {r}");
            resolve(doc, found)
        }
        None => schema,
    }
}

/// Whether `value` is what `schema` describes: the JSON types, enums, and for
/// documented objects exactly the documented properties. An object schema
/// without properties (a core type such as `StoredOrder`) is open.
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(doc, schema);
    if let Some(alts) = schema["oneOf"].as_array() {
        return if alts.iter().any(|s| conforms(doc, s, value, at).is_ok()) {
            Ok(())
        } else {
            Err(format!("{at}: {value} matches none of {schema}"))
        };
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let fits = types.is_empty()
        || types.contains(&kind)
        || (kind == "integer" && types.contains(&"number"));
    if !fits {
        return Err(format!("{at}: {value} is {kind}, documented as {types:?}"));
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !value.is_null() && !allowed.contains(value) {
            return Err(format!(
                "{at}: {value} is not one of the documented {allowed:?}"
            ));
        }
    }
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                conforms(doc, &schema["items"], item, &format!("{at}[{i}]"))?;
            }
        }
        Value::Object(fields) => {
            if let Some(props) = schema["properties"].as_object() {
                let documented: BTreeSet<&str> = props.keys().map(String::as_str).collect();
                let served: BTreeSet<&str> = fields.keys().map(String::as_str).collect();
                if documented != served {
                    return Err(format!(
                        "{at}: served fields {served:?} differ from the documented {documented:?} \
                         (update worker/src/server/openapi.rs)"
                    ));
                }
                for (k, v) in fields {
                    conforms(doc, &props[k], v, &format!("{at}.{k}"))?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[derive(Debug)]
enum Want {
    Is(u16),
    ClientError,
    /// Input that is odd but legitimate (e.g. a filter matching nothing).
    NotServerError,
}

/// A path fit for a failure message.
fn short(path: &str) -> String {
    if path.len() > 80 {
        format!("{}… ({} bytes)", &path[..60], path.len())
    } else {
        path.to_string()
    }
}

struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    async fn send(&self, method: Method, path: &str, auth: Option<&str>) -> (StatusCode, String) {
        match self.try_send(method.clone(), path, auth).await {
            Ok(answer) => answer,
            Err(e) => panic!("{method} {}: {e}", short(path)),
        }
    }

    /// An error when the server answered nothing (e.g. closed the connection).
    async fn try_send(
        &self,
        method: Method,
        path: &str,
        auth: Option<&str>,
    ) -> Result<(StatusCode, String), String> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let resp = req.send().await.map_err(|e| format!("{e:?}"))?;
        let status = resp.status();
        Ok((status, resp.text().await.unwrap_or_default()))
    }

    async fn ops(&self, method: Method, path: &str) -> (StatusCode, String) {
        self.send(method, path, Some(&format!("Bearer {OPS_TOKEN}")))
            .await
    }

    async fn ops_json(&self, method: Method, path: &str) -> Value {
        let (status, body) = self.ops(method.clone(), path).await;
        assert_eq!(status, 200, "{method} {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{method} {path}: {e}: {body}"))
    }
}

/// Send a request line by hand; the answer's status, or `None` when the
/// server closed the connection without one.
async fn raw_status(base: &str, method: &str, path: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.strip_prefix("http://").unwrap();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {OPS_TOKEN}\r\nConnection: close\r\n\r\n"
    );
    // The server may stop reading (and answer) before the request is written.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let head = String::from_utf8_lossy(&answer[..answer.len().min(64)]).into_owned();
    head.strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
}

async fn api_case(db: Db) {
    set_ops_token();
    let sb = Sandbox::start().await;
    sb.seed(3, 1000).await;
    let app = app(&fresh_db(db).await, &sb.base, "").await;
    assert_eq!(sync_until(&app, 3, Duration::from_secs(20)).await, 3);
    // No workers run in this test: the job stays where we put it.
    app.queue
        .push_poll(orderhub::jobs::PollChannel {
            channel_id: "shop".into(),
        })
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let c = Client {
        base: format!("http://{}", listener.local_addr().unwrap()),
        http: reqwest::Client::new(),
    };
    tokio::spawn(orderhub::server::serve(app.clone(), listener));

    // The document: public, valid JSON, every registered route and no other.
    let (status, body) = c.send(Method::GET, "/api/openapi.json", None).await;
    assert_eq!(status, 200, "{body}");
    let doc: Value = serde_json::from_str(&body).expect("the document is JSON");
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["type"],
        "http"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let routes = registered_routes();
    for known in [
        ("get", "/healthz"),
        ("post", "/webhooks/channels/{channel_id}"),
        ("get", "/api/openapi.json"),
        ("get", "/api/channels"),
        ("get", "/api/orders"),
        ("get", "/api/orders/{id}"),
        ("get", "/api/jobs"),
        ("get", "/api/jobs/{id}"),
        ("post", "/api/jobs/{id}/retry"),
        ("post", "/api/jobs/{id}/cancel"),
    ] {
        assert!(
            routes.contains(&(known.0.into(), known.1.into())),
            "the route scan missed {known:?}: {routes:?}"
        );
    }
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }
    assert_eq!(
        routes, documented,
        "registered routes vs the OpenAPI document (worker/src/server/openapi.rs)"
    );
    for (method, path) in &routes {
        let op = &doc["paths"][path][method];
        let secured = op["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
        let public = !path.starts_with("/api/") || path == "/api/openapi.json";
        assert_eq!(
            secured, !public,
            "{method} {path}: security {}",
            op["security"]
        );
        for (code, _) in op["responses"].as_object().unwrap() {
            assert!(
                code.len() == 3 && code.parse::<u16>().is_ok(),
                "{method} {path}: {code}"
            );
        }
        // Every path parameter is declared.
        for param in path.split('{').skip(1).map(|p| &p[..p.find('}').unwrap()]) {
            assert!(
                op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["name"] == param && p["in"] == "path")),
                "{method} {path}: {{{param}}} undocumented"
            );
        }
    }

    // Every /api route but the document wants the token.
    for (method, path) in routes.iter().filter(|(_, p)| p.starts_with("/api/")) {
        if path == "/api/openapi.json" {
            continue;
        }
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let p = concrete(path);
        for auth in [
            None,
            Some("Bearer wrong-token".to_string()),
            Some(format!("Bearer {OPS_TOKEN}x")),
            Some(format!("Bearer {}", &OPS_TOKEN[..OPS_TOKEN.len() - 1])),
            Some("Bearer ".to_string()),
            Some(OPS_TOKEN.to_string()),
            Some(format!("Basic {OPS_TOKEN}")),
        ] {
            let (status, body) = c.send(m.clone(), &p, auth.as_deref()).await;
            assert_eq!(status, 401, "{method} {p} with {auth:?}: {body}");
        }
        // ...and still 401 with garbage that would otherwise be a 400.
        let (status, _) = c.send(m.clone(), &format!("{p}?limit=abc"), None).await;
        assert_eq!(status, 401, "{method} {p}?limit=abc without a token");
    }

    // What the handlers serve is what the document says.
    let op_schema = |method: &str, path: &str| {
        doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
            .clone()
    };
    let check = |method: &str, path: &str, value: &Value| {
        let schema = op_schema(method, path);
        assert!(!schema.is_null(), "{method} {path}: no 200 JSON schema");
        if let Err(e) = conforms(&doc, &schema, value, path) {
            panic!("{method} {path} does not match its documented schema: {e}");
        }
    };
    let channels = c.ops_json(Method::GET, "/api/channels").await;
    assert_eq!(
        channels["channels"].as_array().unwrap().len(),
        1,
        "{channels}"
    );
    check("get", "/api/channels", &channels);
    let ch = &channels["channels"][0];
    assert!(
        ["ok", "never_synced", "failing", "auth_failed"].contains(&ch["state"].as_str().unwrap()),
        "{ch}"
    );
    assert!(ch["next_poll_at"].is_string(), "{ch}");
    let orders = c.ops_json(Method::GET, "/api/orders?limit=2").await;
    assert_eq!(orders["orders"].as_array().unwrap().len(), 2, "{orders}");
    assert!(orders["next_after"].is_i64(), "{orders}");
    check("get", "/api/orders", &orders);
    let last = c
        .ops_json(
            Method::GET,
            &format!("/api/orders?after={}", orders["next_after"]),
        )
        .await;
    assert_eq!(last["orders"].as_array().unwrap().len(), 1, "{last}");
    check("get", "/api/orders", &last);
    let order_id = orders["orders"][0]["id"].as_i64().unwrap();
    let order = c
        .ops_json(Method::GET, &format!("/api/orders/{order_id}"))
        .await;
    assert_eq!(order["id"], order_id);
    check("get", "/api/orders/{id}", &order);
    let jobs = c.ops_json(Method::GET, "/api/jobs").await;
    assert!(!jobs["jobs"].as_array().unwrap().is_empty(), "{jobs}");
    check("get", "/api/jobs", &jobs);
    let job_id = jobs["jobs"][0]["id"].as_str().unwrap().to_string();
    let job = c
        .ops_json(Method::GET, &format!("/api/jobs/{job_id}"))
        .await;
    check("get", "/api/jobs/{id}", &job);
    let cancelled = c
        .ops_json(Method::POST, &format!("/api/jobs/{job_id}/cancel"))
        .await;
    check("post", "/api/jobs/{id}/cancel", &cancelled);
    let retried = c
        .ops_json(Method::POST, &format!("/api/jobs/{job_id}/retry"))
        .await;
    check("post", "/api/jobs/{id}/retry", &retried);
    let (status, body) = c.send(Method::GET, "/healthz", None).await;
    assert_eq!((status.as_u16(), body.as_str()), (200, "ok"));

    // Bad input: a 4xx (the exact one where it matters), never a 5xx.
    let long_digits = "9".repeat(10_000);
    let long_id = "j".repeat(10_000);
    // Near the longest URI the client side (`http::Uri`) can build: 64 KiB.
    let long_path = format!("/api/{}", "a".repeat(60 * 1024));
    let long_query = format!("/api/orders?channel={}", "c".repeat(60 * 1024));
    use Want::*;
    let cases: Vec<(Method, String, Want)> = vec![
        // Garbage query strings.
        (Method::GET, "/api/orders?status=bogus".into(), Is(400)),
        (Method::GET, "/api/orders?status=".into(), Is(400)),
        (Method::GET, "/api/orders?status=%FF".into(), Is(400)),
        (Method::GET, "/api/orders?limit=-1".into(), Is(400)),
        (Method::GET, "/api/orders?limit=abc".into(), Is(400)),
        (Method::GET, "/api/orders?limit=1e3".into(), Is(400)),
        (
            Method::GET,
            "/api/orders?limit=99999999999999999999999".into(),
            Is(400),
        ),
        (Method::GET, "/api/orders?limit=1&limit=2".into(), Is(400)),
        (Method::GET, "/api/orders?after=x".into(), Is(400)),
        (Method::GET, "/api/orders?after=".into(), Is(400)),
        (
            Method::GET,
            "/api/orders?after=99999999999999999999999".into(),
            Is(400),
        ),
        (Method::GET, "/api/orders?channel=%00".into(), ClientError),
        // Unknown or undecodable text filters match nothing; unknown keys are ignored.
        (
            Method::GET,
            "/api/orders?channel=%FF%FE".into(),
            NotServerError,
        ),
        (Method::GET, "/api/orders?%%%=&&==".into(), NotServerError),
        (Method::GET, long_query, NotServerError),
        (Method::GET, "/api/jobs?status=bogus".into(), Is(400)),
        (Method::GET, "/api/jobs?status=%FF".into(), Is(400)),
        (Method::GET, "/api/jobs?status=%00".into(), Is(400)),
        (Method::GET, "/api/jobs?limit=-1".into(), Is(400)),
        (Method::GET, "/api/jobs?limit=abc".into(), Is(400)),
        (Method::GET, "/api/jobs?queue=%00".into(), ClientError),
        (Method::GET, "/api/jobs?channel=%00".into(), ClientError),
        (
            Method::GET,
            "/api/jobs?queue=%FF&channel=%FE".into(),
            NotServerError,
        ),
        // Ids: not numbers, too big, unknown, not UTF-8, NUL, very long.
        (Method::GET, "/api/orders/abc".into(), Is(400)),
        (Method::GET, "/api/orders/1.5".into(), Is(400)),
        (Method::GET, "/api/orders/0x10".into(), Is(400)),
        (
            Method::GET,
            "/api/orders/99999999999999999999999".into(),
            Is(400),
        ),
        (Method::GET, format!("/api/orders/{long_digits}"), Is(400)),
        (
            Method::GET,
            "/api/orders/9223372036854775807".into(),
            Is(404),
        ),
        (
            Method::GET,
            "/api/orders/-9223372036854775808".into(),
            Is(404),
        ),
        (Method::GET, "/api/orders/0".into(), Is(404)),
        (Method::GET, "/api/orders/%FF".into(), Is(400)),
        (Method::GET, "/api/orders/%00".into(), Is(400)),
        (Method::GET, "/api/jobs/nope".into(), Is(404)),
        (
            Method::GET,
            "/api/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
            Is(404),
        ),
        (Method::GET, format!("/api/jobs/{long_id}"), Is(404)),
        (Method::POST, "/api/jobs/nope/retry".into(), Is(404)),
        (Method::POST, "/api/jobs/nope/cancel".into(), Is(404)),
        (Method::POST, format!("/api/jobs/{long_id}/retry"), Is(404)),
        (
            Method::POST,
            "/api/jobs/'%3B%20DROP%20TABLE%20Jobs%3B--/cancel".into(),
            Is(404),
        ),
        (Method::GET, "/api/jobs/%FF%FE".into(), Is(400)),
        (Method::POST, "/api/jobs/%FF/retry".into(), Is(400)),
        (Method::POST, "/api/jobs/%C3%28/cancel".into(), Is(400)),
        (Method::GET, "/api/jobs/%00".into(), ClientError),
        (Method::POST, "/api/jobs/%00/retry".into(), ClientError),
        (Method::POST, "/api/jobs/a%00b/cancel".into(), ClientError),
        // Paths that are not routes, very long ones included.
        (Method::GET, "/api/orders/1/extra".into(), Is(404)),
        (Method::GET, "/api/orders/".into(), Is(404)),
        (Method::GET, "/api/nope".into(), Is(404)),
        (Method::GET, "/api/%FF".into(), Is(404)),
        (Method::GET, long_path, Is(404)),
        // Wrong methods.
        (Method::POST, "/api/channels".into(), Is(405)),
        (Method::DELETE, "/api/orders".into(), Is(405)),
        (Method::PUT, "/api/orders/1".into(), Is(405)),
        (Method::PATCH, "/api/jobs".into(), Is(405)),
        (Method::DELETE, "/api/jobs/1".into(), Is(405)),
        (Method::GET, "/api/jobs/1/retry".into(), Is(405)),
        (Method::PUT, "/api/jobs/1/cancel".into(), Is(405)),
        (Method::POST, "/api/openapi.json".into(), Is(405)),
        (Method::POST, "/healthz".into(), Is(405)),
        (Method::GET, "/webhooks/channels/shop".into(), Is(405)),
        // Webhooks: unknown channel, no signature, non-UTF-8 channel id.
        (Method::POST, "/webhooks/channels/nope".into(), Is(404)),
        (Method::POST, "/webhooks/channels/shop".into(), Is(401)),
        (Method::POST, "/webhooks/channels/%FF".into(), Is(400)),
        (Method::POST, "/webhooks/channels/%00".into(), Is(404)),
    ];
    let mut failures = Vec::new();
    for (method, path, want) in &cases {
        let shown = short(path);
        let answer = c
            .try_send(method.clone(), path, Some(&format!("Bearer {OPS_TOKEN}")))
            .await;
        let (status, body) = match answer {
            Ok(a) => a,
            Err(e) => {
                failures.push(format!("{method} {shown}: no answer (want {want:?}): {e}"));
                continue;
            }
        };
        let ok = match want {
            Is(w) => status.as_u16() == *w,
            ClientError => status.is_client_error(),
            NotServerError => !status.is_server_error(),
        };
        if !ok {
            let body: String = body.chars().take(200).collect();
            failures.push(format!("{method} {shown}: {status} (want {want:?}) {body}"));
        }
    }
    // Longer than any client library sends: written by hand. The server may
    // refuse (4xx) or hang up, but never answer 5xx or stop serving.
    for len in [100 * 1024, 1024 * 1024] {
        for path in [
            format!("/api/jobs/{}", "b".repeat(len)),
            format!("/api/orders?channel={}", "c".repeat(len)),
        ] {
            // hyper answers 414 (100 KiB) and 431 (1 MiB), then closes.
            match raw_status(&c.base, "GET", &path).await {
                Some(status) if (400..500).contains(&status) => {}
                None => {}
                other => failures.push(format!("GET {}: {other:?}", short(&path))),
            }
        }
    }
    assert!(failures.is_empty(), "{db:?}:\n{}", failures.join("\n"));
    // The server is still up and the data intact.
    let again = c.ops_json(Method::GET, "/api/orders").await;
    assert_eq!(again["orders"].as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_sqlite() {
    api_case(Db::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_postgres() {
    api_case(Db::Postgres).await
}
