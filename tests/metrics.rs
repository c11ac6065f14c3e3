//! `GET /metrics` of the real worker and server against the Shopify and
//! EasyPost sandboxes, on SQLite and PostgreSQL: orders synced and
//! fulfilled, a good and a bad webhook, 429s injected by the sandbox; then
//! the exposition is parsed and checked against the store and against what
//! the sandbox counted from its side.

mod common;

use base64::Engine;
use common::flow::*;
use common::*;
use hmac::{Hmac, Mac};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const ORDER: &str =
    include_str!("../connectors/src/marketplaces/shopify/testdata/webhook_order.json");

const QUEUES: [&str; 6] = [
    orderhub::queue::POLL_QUEUE,
    orderhub::queue::ROUTE_QUEUE,
    orderhub::queue::BUY_LABEL_QUEUE,
    orderhub::queue::PUSH_TRACKING_QUEUE,
    orderhub::queue::TRACKING_EVENT_QUEUE,
    orderhub::queue::VOID_LABEL_QUEUE,
];

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

// ------------------------------------------------------------- a small parser

#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_value(v: &str) -> f64 {
    match v {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().unwrap_or_else(|_| panic!("not a number: {v:?}")),
    }
}

/// `{k="v",...}` → the labels and the rest of the line.
fn parse_labels(s: &str) -> (BTreeMap<String, String>, &str) {
    let mut labels = BTreeMap::new();
    let mut rest = s.strip_prefix('{').unwrap();
    loop {
        if let Some(r) = rest.strip_prefix('}') {
            return (labels, r);
        }
        let eq = rest.find('=').expect("label without =");
        let key = &rest[..eq];
        assert!(valid_name(key) && !key.contains(':'), "label name {key:?}");
        rest = rest[eq + 1..]
            .strip_prefix('"')
            .expect("label value quoted");
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next().expect("unterminated label value") {
                (i, '"') => break i,
                (_, '\\') => match chars.next().expect("dangling escape").1 {
                    'n' => value.push('\n'),
                    c @ ('\\' | '"') => value.push(c),
                    c => panic!("bad escape \\{c}"),
                },
                (_, '\n') => panic!("newline in label value"),
                (_, c) => value.push(c),
            }
        };
        assert!(
            labels.insert(key.to_string(), value).is_none(),
            "label {key} twice"
        );
        rest = &rest[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// Parse an OpenMetrics text exposition, checking its structure: metadata
/// lines, each sample under its family's `# TYPE` with a suffix the type
/// allows, label syntax, numbers, histogram buckets, `# EOF` at the end.
fn parse(text: &str) -> Vec<Sample> {
    let body = text
        .strip_suffix("# EOF\n")
        .expect("the exposition ends with # EOF");
    let mut samples = Vec::new();
    let mut family: Option<(String, String)> = None;
    let mut seen_families = std::collections::BTreeSet::new();
    for line in body.lines() {
        assert!(!line.is_empty(), "empty line in the exposition");
        if let Some(meta) = line.strip_prefix("# ") {
            let mut parts = meta.splitn(3, ' ');
            let kind = parts.next().unwrap();
            let name = parts.next().expect("metadata names a family");
            assert!(valid_name(name), "family name {name:?}");
            match kind {
                "HELP" | "UNIT" => {}
                "TYPE" => {
                    let ty = parts.next().expect("a type");
                    assert!(
                        [
                            "counter",
                            "gauge",
                            "histogram",
                            "summary",
                            "info",
                            "stateset",
                            "gaugehistogram",
                            "unknown"
                        ]
                        .contains(&ty),
                        "type {ty}"
                    );
                    assert!(
                        seen_families.insert(name.to_string()),
                        "family {name} described twice"
                    );
                    family = Some((name.to_string(), ty.to_string()));
                }
                other => panic!("unknown metadata line {other}: {line}"),
            }
            continue;
        }
        let name_end = line.find(['{', ' ']).expect("a sample has a value");
        let name = &line[..name_end];
        assert!(valid_name(name), "sample name {name:?}");
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end..])
        } else {
            (BTreeMap::new(), &line[name_end..])
        };
        let mut fields = rest
            .strip_prefix(' ')
            .expect("space before value")
            .split(' ');
        let value = parse_value(fields.next().unwrap());
        if let Some(ts) = fields.next() {
            parse_value(ts);
        }
        let (fam, ty) = family
            .as_ref()
            .unwrap_or_else(|| panic!("sample {name} before any # TYPE"));
        let suffix = name
            .strip_prefix(fam.as_str())
            .unwrap_or_else(|| panic!("sample {name} outside its family {fam}"));
        let allowed: &[&str] = match ty.as_str() {
            "counter" => &["_total", "_created"],
            "histogram" | "gaugehistogram" => &["_bucket", "_count", "_sum", "_created"],
            "summary" => &["", "_count", "_sum", "_created"],
            "info" => &["_info"],
            _ => &[""],
        };
        assert!(allowed.contains(&suffix), "{name} in a {ty} family");
        if suffix == "_bucket" {
            assert!(labels.contains_key("le"), "{name} without le");
        }
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    samples
}

/// The samples named `name` whose labels include `want`.
fn find<'a>(samples: &'a [Sample], name: &str, want: &[(&str, &str)]) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|s| {
            s.name == name
                && want
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

fn one(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> f64 {
    let found = find(samples, name, want);
    assert_eq!(found.len(), 1, "exactly one {name}{want:?}: {found:?}");
    found[0].value
}

#[test]
fn the_parser_rejects_what_is_not_the_format() {
    let ok = "# HELP a_b x\n# TYPE a_b counter\na_b_total{k=\"v\\\"\"} 1\n# EOF\n";
    assert_eq!(parse(ok)[0].labels["k"], "v\"");
    for bad in [
        "# TYPE a counter\na_total 1\n",                // no EOF
        "# TYPE a counter\na 1\n# EOF\n",               // counter without _total
        "a 1\n# EOF\n",                                 // no TYPE
        "# TYPE a gauge\na{k=v} 1\n# EOF\n",            // unquoted
        "# TYPE a gauge\nb 1\n# EOF\n",                 // outside the family
        "# TYPE a gauge\na one\n# EOF\n",               // not a number
        "# TYPE a histogram\na_bucket 1\n# EOF\n",      // bucket without le
        "# TYPE a gauge\n# TYPE a gauge\na 1\n# EOF\n", // twice
    ] {
        assert!(
            std::panic::catch_unwind(|| parse(bad)).is_err(),
            "accepted: {bad:?}"
        );
    }
}

// ------------------------------------------------------------------ the test

async fn scrape(base: &str) -> (String, String) {
    let r = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(r.status(), 200);
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (ct, r.text().await.unwrap())
}

async fn samples(base: &str) -> Vec<Sample> {
    parse(&scrape(base).await.1)
}

/// What the sandbox refused for rate: injected 429s plus its own limit's.
fn sandbox_throttled(stats: &serde_json::Value) -> u64 {
    stats["faults_injected"]["429"].as_u64().unwrap_or(0) + stats["throttled"].as_u64().unwrap_or(0)
}

async fn metrics_case(db: Db, channel: &str) {
    set_flow_secrets();
    let shopify = Sandbox::start().await;
    shopify.seed(10, 100).await;
    let easypost = easypost(0).await;
    let url = fresh_db(db).await;
    // A channel id of this test's own: the connector counters are
    // process-wide, keyed by client (`shopify:<channel>`).
    let toml = flow_toml(&url, &shopify.base, &easypost.base, "")
        .replace("id = \"shop\"\n", &format!("id = \"{channel}\"\n"));
    assert!(toml.contains(channel));
    let loaded = orderhub::settings::load_layers(None, Some(&toml)).expect("valid test config");
    let app = orderhub::app::App::start(loaded).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    register_webhook(&easypost, addr).await;
    tokio::spawn(orderhub::run(app.clone(), listener));
    let base = format!("http://{addr}");
    let client = format!("shopify:{channel}");

    // Orders synced and routed (the scheduler polls; the jobs run).
    let app2 = Arc::clone(&app);
    let ch = channel.to_string();
    assert!(
        wait_for(Duration::from_secs(60), || {
            let (app, ch) = (app2.clone(), ch.clone());
            async move {
                app.store.count_orders(Some(&ch)).await.unwrap_or(0) >= 10
                    && app
                        .store
                        .fulfillment_counts()
                        .await
                        .map(|c| c.shipments)
                        .unwrap_or(0)
                        >= 1
            }
        })
        .await,
        "orders synced and shipments created"
    );

    // A good webhook and a bad one.
    let hook = format!("{base}/webhooks/channels/{channel}");
    let post = |body: &'static [u8], sig: String| {
        reqwest::Client::new()
            .post(&hook)
            .header("X-Shopify-Hmac-Sha256", sig)
            .header("X-Shopify-Topic", "orders/create")
            .header("X-Shopify-Webhook-Id", "metrics-w1")
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    let good = post(ORDER.as_bytes(), sign(ORDER.as_bytes()))
        .await
        .unwrap();
    assert_eq!(good.status(), 200);
    let bad = post(ORDER.as_bytes(), sign(b"tampered")).await.unwrap();
    assert_eq!(bad.status(), 401);
    // A path naming no channel: counted as `unknown`, its id not kept.
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{base}/webhooks/channels/no-such-shop-4711"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Garbage at /metrics: never a 5xx.
    let r = http
        .get(format!("{base}/metrics?name[]=%FF&%00=1&&limit=-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .post(format!("{base}/metrics"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);

    // 429s: the sandbox refuses 30% of the calls while more orders come.
    shopify
        .faults(serde_json::json!({ "rate_429": 0.3, "retry_after_secs": 0.05 }))
        .await;
    shopify.seed(10, 100).await;
    let app2 = Arc::clone(&app);
    let ch = channel.to_string();
    assert!(
        wait_for(Duration::from_secs(60), || {
            let (app, ch) = (app2.clone(), ch.clone());
            let shopify = &shopify;
            async move {
                app.store.count_orders(Some(&ch)).await.unwrap_or(0) >= 20
                    && shopify.stats().await["faults_injected"]["429"]
                        .as_u64()
                        .unwrap_or(0)
                        >= 3
            }
        })
        .await,
        "orders synced through the 429s"
    );
    // Quiet again: no refusal is in flight when the counts are compared.
    shopify.faults(serde_json::json!({})).await;

    // Every 429 the sandbox sent was received and counted by the one client.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let (counted, expected) = loop {
        let s = samples(&base).await;
        let counted = one(
            &s,
            "orderhub_remote_throttled_total",
            &[("client", &client)],
        );
        let expected = sandbox_throttled(&shopify.stats().await);
        if counted == expected as f64 || std::time::Instant::now() > deadline {
            break (counted, expected);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let settled = counted == expected as f64;
    assert!(
        settled,
        "throttled_total {counted} = the sandbox's refusals {expected}"
    );
    assert!(expected > 0);

    let app2 = Arc::clone(&app);
    let ch = channel.to_string();
    assert!(
        wait_for(Duration::from_secs(30), || {
            let (app, ch) = (app2.clone(), ch.clone());
            async move {
                app.store
                    .channel_statuses(None)
                    .await
                    .map(|v| v.iter().any(|c| c.id == ch && c.state == "ok"))
                    .unwrap_or(false)
            }
        })
        .await,
        "the channel syncs again"
    );

    // The exposition.
    let (content_type, text) = scrape(&base).await;
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let s = parse(&text);

    // Jobs by queue and status: every queue, every status.
    for q in QUEUES {
        for st in orderhub::jobs_api::STATUSES {
            one(&s, "orderhub_jobs", &[("queue", q), ("status", st)]);
        }
    }
    assert!(
        one(
            &s,
            "orderhub_jobs",
            &[("queue", QUEUES[0]), ("status", "Done")]
        ) >= 1.0
    );
    assert!(
        one(
            &s,
            "orderhub_jobs",
            &[("queue", QUEUES[1]), ("status", "Done")]
        ) >= 1.0
    );

    // Latency of recently done jobs: a histogram per queue.
    let poll = [("queue", QUEUES[0])];
    let count = one(&s, "orderhub_job_latency_seconds_count", &poll);
    assert!(count >= 1.0);
    assert!(one(&s, "orderhub_job_latency_seconds_sum", &poll) >= 0.0);
    let inf = one(
        &s,
        "orderhub_job_latency_seconds_bucket",
        &[("queue", QUEUES[0]), ("le", "+Inf")],
    );
    assert_eq!(inf, count);
    let buckets: Vec<f64> = find(&s, "orderhub_job_latency_seconds_bucket", &poll)
        .iter()
        .map(|b| b.value)
        .collect();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");

    // Sync lag and state of the channel.
    let lag = one(
        &s,
        "orderhub_channel_lag_seconds",
        &[("channel", channel), ("kind", "shopify")],
    );
    assert!((0.0..600.0).contains(&lag), "{lag}");
    assert_eq!(
        one(
            &s,
            "orderhub_channel_state",
            &[("channel", channel), ("state", "ok")]
        ),
        1.0
    );
    let states: f64 = find(&s, "orderhub_channel_state", &[("channel", channel)])
        .iter()
        .map(|x| x.value)
        .sum();
    assert_eq!(states, 1.0, "one current state");

    // Remote calls of the Shopify client.
    let by = |outcome| {
        one(
            &s,
            "orderhub_remote_requests_total",
            &[
                ("client", &client),
                ("connector", "shopify"),
                ("outcome", outcome),
            ],
        )
    };
    assert!(by("ok") > 0.0);
    assert!(
        by("retryable") >= counted,
        "every throttle was a retryable attempt"
    );
    assert_eq!(by("permanent"), 0.0);
    assert!(one(&s, "orderhub_remote_retries_total", &[("client", &client)]) > 0.0);
    // The attempts are what the sandbox saw.
    let seen: u64 = shopify.stats().await["requests_by_path"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    let attempts = by("ok") + by("retryable") + by("permanent");
    assert!(
        attempts <= seen as f64 && attempts > 0.0,
        "{attempts} attempts, sandbox saw {seen}"
    );
    // The carrier's client is counted too.
    assert!(
        one(
            &s,
            "orderhub_remote_requests_total",
            &[
                ("client", &format!("easypost:{CARRIER_ID}")),
                ("outcome", "ok")
            ]
        ) > 0.0
    );

    // Webhooks by result.
    let hooks = |result| {
        one(
            &s,
            "orderhub_webhooks_total",
            &[
                ("source", "channel"),
                ("source_id", channel),
                ("result", result),
            ],
        )
    };
    assert_eq!(hooks("accepted"), 1.0);
    assert_eq!(hooks("rejected"), 1.0);
    assert!(
        one(
            &s,
            "orderhub_webhooks_total",
            &[
                ("source", "channel"),
                ("source_id", ""),
                ("result", "unknown")
            ]
        ) >= 1.0
    );
    assert!(!text.contains("no-such-shop-4711"));
    // The carrier's tracker webhooks (EasyPost) are counted too.
    assert!(
        one(
            &s,
            "orderhub_webhooks_total",
            &[
                ("source", "carrier"),
                ("source_id", CARRIER_ID),
                ("result", "accepted")
            ]
        ) >= 1.0
    );

    // Orders and shipments.
    let orders = app.store.count_orders(Some(channel)).await.unwrap();
    assert_eq!(
        one(&s, "orderhub_orders_total", &[("channel", channel)]),
        orders as f64
    );
    let in_status: f64 = find(&s, "orderhub_orders_in_status", &[("channel", channel)])
        .iter()
        .map(|x| x.value)
        .sum();
    assert_eq!(in_status, orders as f64);
    let shipments: f64 = find(&s, "orderhub_shipments", &[])
        .iter()
        .map(|x| x.value)
        .sum();
    assert!(shipments >= 1.0);
    assert_eq!(one(&s, "orderhub_store_up", &[]), 1.0);

    // No label carries anything but ids, kinds, queues and statuses: no
    // URL, no secret, nothing from the order (its buyer, its address).
    for (k, v) in s.iter().flat_map(|x| x.labels.iter()) {
        for leak in [TOKEN, HOOK_SECRET, EP_KEY, "http", "@", "127.0.0.1"] {
            assert!(!v.contains(leak), "label {k}={v:?}");
        }
    }
    let order: serde_json::Value = serde_json::from_str(ORDER).unwrap();
    let email = order["email"].as_str().unwrap_or("@");
    assert!(!text.contains(email));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_sqlite() {
    metrics_case(Db::Sqlite, "mshop_sqlite").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_postgres() {
    metrics_case(Db::Postgres, "mshop_pg").await
}
