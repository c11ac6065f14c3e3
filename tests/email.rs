//! Customer email through SMTP, against an SMTP sink this test runs (a small
//! SMTP server below: EHLO, AUTH PLAIN/LOGIN checked against the configured
//! credentials, MAIL, RCPT, DATA; it records every message).
//!
//! `the_customer_hears_about_every_step_once_across_smtp_outages_and_restarts`
//! runs the real `orderhub run` binary (SQLite) with the Shopify and EasyPost
//! sandboxes: order received and shipped emails reach each order's customer
//! with the carrier, the tracking number and a `/t/<token>` link that
//! resolves to the tracking page; a German order gets German emails; a
//! seller's template file wins over the built-in one; with the SMTP server
//! down the out-for-delivery emails fail, are retried and are delivered once
//! it is back; delivered emails and one follow-up per order (survey link,
//! related products) after `followup_after_secs`; the process killed and
//! started again sends nothing twice; the SMTP password (which the sink
//! checks) never appears in the logs or the API.
//!
//! `delivery_problems_reach_the_customer_and_orders_without_email_are_skipped`
//! (in-process, PostgreSQL): the delivery-problem sweep's exception becomes
//! a `delivery.problem` email; an order without an email address is recorded
//! as `skipped` and nothing is sent for it.

mod common;

use base64::Engine;
use common::flow::*;
use common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_orderhub");
const OPS_TOKEN: &str = "email-test-ops-token";
const SMTP_USER: &str = "orderhub-mailer";
const SMTP_PASS: &str = "pw-9f3c1e7a-SMTP-never-logged";

// ---------------------------------------------------------------------------
// The SMTP sink

#[derive(Debug, Clone, Default)]
struct Mail {
    user: String,
    pass: String,
    from: String,
    rcpt: Vec<String>,
    data: String,
}

impl Mail {
    fn header(&self, name: &str) -> String {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        // Unfold continuation lines.
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
            .unwrap_or_default()
    }

    fn subject(&self) -> String {
        decode_words(&self.header("Subject"))
    }

    /// The text body, transfer encoding undone (single-part messages).
    fn text(&self) -> String {
        let body = self.data.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        match self
            .header("Content-Transfer-Encoding")
            .to_ascii_lowercase()
            .as_str()
        {
            "base64" => String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(body.split_whitespace().collect::<String>())
                    .unwrap(),
            )
            .unwrap(),
            "quoted-printable" => quoted_printable(body),
            _ => body.to_string(),
        }
    }
}

/// RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`), joined.
fn decode_words(s: &str) -> String {
    if !s.contains("=?") {
        return s.to_string();
    }
    let mut out = String::new();
    for w in s.split_whitespace() {
        let Some(inner) = w.strip_prefix("=?").and_then(|w| w.strip_suffix("?=")) else {
            out.push_str(w);
            out.push(' ');
            continue;
        };
        let parts: Vec<&str> = inner.splitn(3, '?').collect();
        let bytes = match parts[1].to_ascii_lowercase().as_str() {
            "b" => base64::engine::general_purpose::STANDARD
                .decode(parts[2])
                .unwrap(),
            _ => quoted_printable(&parts[2].replace('_', " ")).into_bytes(),
        };
        out.push_str(&String::from_utf8(bytes).unwrap());
    }
    out.trim_end().to_string()
}

fn quoted_printable(s: &str) -> String {
    let s = s.replace("=\r\n", "");
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

#[derive(Default)]
struct SinkState {
    mails: Vec<Mail>,
}

struct Sink {
    addr: SocketAddr,
    state: Arc<Mutex<SinkState>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Sink {
    async fn start() -> Sink {
        let mut s = Sink {
            addr: "127.0.0.1:0".parse().unwrap(),
            state: Arc::default(),
            task: None,
        };
        s.listen().await;
        s
    }

    async fn listen(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.addr = listener.local_addr().unwrap();
        let state = self.state.clone();
        self.task = Some(tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((sock, _)) = listener.accept().await {
                conns.spawn(session(sock, state.clone()));
            }
        }));
    }

    /// The server goes away: connections are refused until `restart`.
    fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    async fn restart(&mut self) {
        for _ in 0..50 {
            if tokio::net::TcpListener::bind(self.addr).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.listen().await;
    }

    fn mails(&self) -> Vec<Mail> {
        self.state.lock().unwrap().mails.clone()
    }
}

async fn session(sock: tokio::net::TcpStream, state: Arc<Mutex<SinkState>>) {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    let mut mail = Mail::default();
    let mut authed = false;
    if w.write_all(b"220 sink.test ESMTP\r\n").await.is_err() {
        return;
    }
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            "250-sink.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n".into()
        } else if upper.starts_with("HELO") {
            "250 sink.test\r\n".into()
        } else if upper.starts_with("AUTH PLAIN") {
            let b64 = cmd[10..].trim().to_string();
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap_or_default();
            let parts: Vec<String> = raw
                .split(|b| *b == 0)
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            if parts.len() == 3 && parts[1] == SMTP_USER && parts[2] == SMTP_PASS {
                authed = true;
                mail.user = parts[1].clone();
                mail.pass = parts[2].clone();
                "235 2.7.0 Authentication successful\r\n".into()
            } else {
                "535 5.7.8 Authentication credentials invalid\r\n".into()
            }
        } else if upper.starts_with("AUTH LOGIN") {
            // Username and password prompts.
            let mut answers = Vec::new();
            for prompt in ["334 VXNlcm5hbWU6\r\n", "334 UGFzc3dvcmQ6\r\n"] {
                if w.write_all(prompt.as_bytes()).await.is_err() {
                    return;
                }
                let mut a = String::new();
                if r.read_line(&mut a).await.unwrap_or(0) == 0 {
                    return;
                }
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(a.trim())
                    .unwrap_or_default();
                answers.push(String::from_utf8_lossy(&raw).into_owned());
            }
            if answers[0] == SMTP_USER && answers[1] == SMTP_PASS {
                authed = true;
                mail.user = answers[0].clone();
                mail.pass = answers[1].clone();
                "235 2.7.0 Authentication successful\r\n".into()
            } else {
                "535 5.7.8 Authentication credentials invalid\r\n".into()
            }
        } else if upper.starts_with("MAIL FROM:") {
            if !authed {
                "530 5.7.0 Authentication required\r\n".into()
            } else {
                mail.from = cmd[10..]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_string();
                mail.rcpt.clear();
                "250 2.1.0 Ok\r\n".into()
            }
        } else if upper.starts_with("RCPT TO:") {
            let to = cmd[8..].trim();
            let to = to.split_whitespace().next().unwrap_or("");
            mail.rcpt
                .push(to.trim_matches(|c| c == '<' || c == '>').to_string());
            "250 2.1.5 Ok\r\n".into()
        } else if upper == "DATA" {
            if w.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await
                .is_err()
            {
                return;
            }
            let mut data = String::new();
            loop {
                let mut l = String::new();
                if r.read_line(&mut l).await.unwrap_or(0) == 0 {
                    return;
                }
                if l == ".\r\n" || l == ".\n" {
                    break;
                }
                let l = l.strip_prefix('.').map_or(l.clone(), str::to_string);
                data.push_str(&l);
            }
            mail.data = data;
            state.lock().unwrap().mails.push(mail.clone());
            "250 2.0.0 Ok: queued\r\n".into()
        } else if upper == "RSET" || upper == "NOOP" {
            "250 2.0.0 Ok\r\n".into()
        } else if upper == "QUIT" {
            let _ = w.write_all(b"221 2.0.0 Bye\r\n").await;
            return;
        } else {
            "502 5.5.2 Command not recognized\r\n".into()
        };
        if w.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------
// Helpers

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn get(&self, path: &str) -> (u16, String) {
        match self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(OPS_TOKEN)
            .send()
            .await
        {
            Ok(r) => {
                let s = r.status().as_u16();
                (s, r.text().await.unwrap_or_default())
            }
            Err(_) => (0, String::new()),
        }
    }

    async fn json(&self, path: &str) -> Value {
        let (s, body) = self.get(path).await;
        assert_eq!(s, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    async fn emails(&self) -> Vec<Value> {
        self.json("/api/emails?limit=500").await["emails"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    async fn healthy(&self) -> bool {
        self.http
            .get(format!("{}/healthz", self.base))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    }
}

fn count_by<'a>(emails: &'a [Value], ty: &str, status: &str) -> Vec<&'a Value> {
    emails
        .iter()
        .filter(|e| e["event_type"] == ty && e["status"] == status)
        .collect()
}

fn email_toml(sink: SocketAddr, templates: &Path) -> String {
    format!(
        r#"
[email]
enabled = true
smtp_host = "127.0.0.1"
smtp_port = {port}
tls = "none"
username_env = "ORDERHUB_TEST_SMTP_USER"
password_env = "ORDERHUB_TEST_SMTP_PASSWORD"
from = "shop@acme.example"
from_name = "Acme Shop"
templates_dir = "{dir}"
followup_after_secs = 3
retry_base_ms = 300
retry_max_secs = 1
timeout_ms = 3000

[email.sellers.acme]
reply_to = "care@acme.example"
survey_url = "https://survey.acme.example/q?s=42"
related_products = ["Acme Travel Mug", "Acme Cap"]
"#,
        port = sink.port(),
        dir = templates.display()
    )
}

fn spawn_orderhub(cfg: &Path, log: &Path) -> Child {
    let log_file = std::fs::File::create(log).unwrap();
    Command::new(BIN)
        .args(["--config", cfg.to_str().unwrap(), "run"])
        .env("ORDERHUB_TEST_SHOPIFY_TOKEN", TOKEN)
        .env("ORDERHUB_TEST_SHOPIFY_WEBHOOK_SECRET", HOOK_SECRET)
        .env("ORDERHUB_TEST_EP_KEY", EP_KEY)
        .env("ORDERHUB_TEST_EP_HOOK_SECRET", EP_HOOK_SECRET)
        .env("ORDERHUB_TEST_SMTP_USER", SMTP_USER)
        .env("ORDERHUB_TEST_SMTP_PASSWORD", SMTP_PASS)
        .env("ORDERHUB_API_TOKEN", OPS_TOKEN)
        .env("ORDERHUB_LOG", "info,orderhub=debug")
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn advance(easypost: &Sandbox, code: &str) {
    easypost
        .post(&format!("/_sandbox/trackers/{code}/advance"), json!({}))
        .await;
}

// ---------------------------------------------------------------------------
// The whole story, with the real binary

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_customer_hears_about_every_step_once_across_smtp_outages_and_restarts() {
    let mut sink = Sink::start().await;
    let shopify = Sandbox::start().await;
    shopify.seed(4, 100).await;
    let easypost = easypost(0).await; // trackers move only when asked
    let db = fresh_db(Db::Sqlite).await;
    let dir =
        std::env::temp_dir().join(format!("orderhub-email-{}", uuid::Uuid::new_v4().simple()));
    let templates = dir.join("templates");
    std::fs::create_dir_all(templates.join("acme")).unwrap();
    // The seller's own delivered email (English only: German keeps the built-in one).
    std::fs::write(
        templates.join("acme").join("shipment.delivered.en.txt"),
        "Subject: Acme override: {{ order_number }} is with you\n\nSELLER-TEMPLATE {{ order_number }} {{ tracking_number }}\n",
    )
    .unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let toml = flow_toml(&db, &shopify.base, &easypost.base, "").replace(
        "[server]\nlisten = \"127.0.0.1:0\"",
        &format!("[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"{base}\""),
    ) + &email_toml(sink.addr, &templates);
    let cfg = dir.join("orderhub.toml");
    std::fs::write(&cfg, &toml).unwrap();
    let api = Api {
        base: base.clone(),
        http: reqwest::Client::new(),
    };

    let log_a = dir.join("a.log");
    let mut a = spawn_orderhub(&cfg, &log_a);
    assert!(
        wait_for(Duration::from_secs(30), || api.healthy()).await,
        "orderhub came up"
    );
    register_webhook(&easypost, format!("127.0.0.1:{port}").parse().unwrap()).await;

    // Received and shipped: 4 + 4.
    let ok = wait_for(Duration::from_secs(90), || async {
        let e = api.emails().await;
        count_by(&e, "order.received", "sent").len() == 4
            && count_by(&e, "shipment.shipped", "sent").len() == 4
    })
    .await;
    assert!(
        ok,
        "received and shipped emails sent: {:#}",
        json!(api.emails().await)
    );

    let orders = api.json("/api/orders?limit=10").await["orders"]
        .as_array()
        .cloned()
        .unwrap();
    assert_eq!(orders.len(), 4);
    let mut details = BTreeMap::new();
    for o in &orders {
        let id = o["id"].as_i64().unwrap();
        details.insert(id, api.json(&format!("/api/orders/{id}")).await);
    }
    let email_of = |d: &Value| d["customer"]["email"].as_str().unwrap().to_string();
    let number_of = |d: &Value| d["number"].as_str().unwrap().to_string();
    let is_german = |d: &Value| d["ship_to"]["country"] == "DE";
    assert!(
        details.values().any(is_german) && details.values().any(|d| !is_german(d)),
        "the seeded orders include a German one and another: {:?}",
        details
            .values()
            .map(|d| d["ship_to"]["country"].clone())
            .collect::<Vec<_>>()
    );

    let mails = sink.mails();
    assert_eq!(
        mails.len(),
        8,
        "one received and one shipped email per order"
    );
    for m in &mails {
        assert_eq!(m.user, SMTP_USER);
        assert_eq!(m.pass, SMTP_PASS, "the sink checked the credentials");
        assert_eq!(m.from, "<shop@acme.example>");
        assert!(m.header("From").contains("shop@acme.example"), "{}", m.data);
        assert!(
            m.header("Reply-To").contains("care@acme.example"),
            "{}",
            m.data
        );
    }
    let http = reqwest::Client::new();
    for d in details.values() {
        let to = email_of(d);
        let number = number_of(d);
        let mine: Vec<&Mail> = mails
            .iter()
            .filter(|m| m.rcpt == vec![to.clone()])
            .collect();
        assert_eq!(mine.len(), 2, "two emails to {to}");
        assert!(mine.iter().all(|m| m.header("To").contains(&to)));
        let german = is_german(d);
        let received = mine
            .iter()
            .find(|m| {
                m.subject()
                    .contains(if german { "eingegangen" } else { "received" })
            })
            .unwrap_or_else(|| {
                panic!(
                    "order received email for {number}: {:?}",
                    mine.iter().map(|m| m.subject()).collect::<Vec<_>>()
                )
            });
        assert!(
            received.subject().contains(&number),
            "{}",
            received.subject()
        );
        let shipped = mine
            .iter()
            .find(|m| {
                m.subject()
                    .contains(if german { "verschickt" } else { "shipped" })
            })
            .unwrap_or_else(|| panic!("shipped email for {number}"));
        let text = shipped.text();
        let ship = &d["shipments"][0];
        let code = ship["tracking_code"].as_str().unwrap();
        assert!(text.contains(code), "tracking number in {text}");
        assert!(
            text.contains(ship["carrier"].as_str().unwrap()),
            "carrier in {text}"
        );
        // The tracking page link, on server.public_url, and it resolves.
        let link_at = text
            .find(&format!("{base}/t/"))
            .unwrap_or_else(|| panic!("link in {text}"));
        let link: String = text[link_at..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        assert_eq!(link.len(), base.len() + 3 + 64, "{link}");
        assert_eq!(ship["tracking_page_url"], link.as_str());
        let page = http.get(&link).send().await.unwrap();
        assert_eq!(page.status().as_u16(), 200);
        assert!(page.text().await.unwrap().contains(code));
        if german {
            assert!(text.contains("Sendungsnummer"), "German body: {text}");
        } else {
            assert!(text.contains("Tracking number"), "{text}");
        }
    }
    let emails = api.emails().await;
    for e in &emails {
        let d = &details[&e["order_id"].as_i64().unwrap()];
        assert_eq!(e["language"], if is_german(d) { "de" } else { "en" }, "{e}");
        assert_eq!(e["recipient"], email_of(d).as_str());
    }

    // Every tracker to in_transit while the SMTP server is up (no email).
    let codes: Vec<String> = details
        .values()
        .map(|d| {
            d["shipments"][0]["tracking_code"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for c in &codes {
        advance(&easypost, c).await;
    }
    // SMTP down; out for delivery: the emails fail and are retried.
    sink.stop();
    for c in &codes {
        advance(&easypost, c).await;
    }
    let retried = wait_for(Duration::from_secs(60), || async {
        let e = api.emails().await;
        let failed = count_by(&e, "shipment.out_for_delivery", "failed");
        failed.len() == 4
            && failed
                .iter()
                .any(|f| f["attempt_count"].as_i64() >= Some(2))
    })
    .await;
    let emails = api.emails().await;
    assert!(
        retried,
        "failed and retried while SMTP is down: {:#}",
        json!(emails)
    );
    let f = count_by(&emails, "shipment.out_for_delivery", "failed")[0];
    assert!(
        f["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "{f}"
    );
    assert!(f["next_attempt_at"].is_string(), "{f}");
    assert_eq!(
        f["attempts"].as_array().unwrap().len() as i64,
        f["attempt_count"].as_i64().unwrap()
    );
    assert_eq!(
        sink.mails().len(),
        8,
        "nothing reached the sink while it was down"
    );
    sink.restart().await;
    let back = wait_for(Duration::from_secs(30), || async {
        count_by(&api.emails().await, "shipment.out_for_delivery", "sent").len() == 4
    })
    .await;
    assert!(
        back,
        "sent once SMTP is back: {:#}",
        json!(api.emails().await)
    );

    // Delivered: the delivered emails, then one follow-up per order.
    for c in &codes {
        advance(&easypost, c).await;
    }
    let done = wait_for(Duration::from_secs(60), || async {
        let e = api.emails().await;
        count_by(&e, "shipment.delivered", "sent").len() == 4
            && count_by(&e, "order.followup", "sent").len() == 4
    })
    .await;
    assert!(
        done,
        "delivered and follow-up emails: {:#}",
        json!(api.emails().await)
    );
    // Settle a little: still one follow-up each.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mails = sink.mails();
    assert_eq!(mails.len(), 4 * 5, "five emails per order, none twice");
    for d in details.values() {
        let to = email_of(d);
        let number = number_of(d);
        let mine: Vec<&Mail> = mails
            .iter()
            .filter(|m| m.rcpt == vec![to.clone()])
            .collect();
        assert_eq!(mine.len(), 5, "{to}");
        let german = is_german(d);
        let ofd: Vec<_> = mine
            .iter()
            .filter(|m| {
                m.subject().contains(if german {
                    "kommt heute"
                } else {
                    "arrives today"
                })
            })
            .collect();
        assert_eq!(ofd.len(), 1, "one out-for-delivery email to {to}");
        let delivered: Vec<_> = mine
            .iter()
            .filter(|m| {
                let s = m.subject();
                if german {
                    s.contains("zugestellt")
                } else {
                    s.starts_with("Acme override:")
                }
            })
            .collect();
        assert_eq!(
            delivered.len(),
            1,
            "delivered email to {to}: {:?}",
            mine.iter().map(|m| m.subject()).collect::<Vec<_>>()
        );
        if german {
            assert!(!delivered[0].text().contains("SELLER-TEMPLATE"));
        } else {
            // The seller's template won.
            assert!(
                delivered[0]
                    .text()
                    .contains(&format!("SELLER-TEMPLATE {number}")),
                "{}",
                delivered[0].text()
            );
        }
        let followups: Vec<_> = mine
            .iter()
            .filter(|m| m.text().contains("https://survey.acme.example/q?s=42"))
            .collect();
        assert_eq!(followups.len(), 1, "one follow-up to {to}");
        assert!(
            followups[0].text().contains("Acme Travel Mug"),
            "{}",
            followups[0].text()
        );
    }
    // The follow-up waited for its delay after delivery.
    let emails = api.emails().await;
    for f in count_by(&emails, "order.followup", "sent") {
        let delivered = emails
            .iter()
            .find(|e| e["event_type"] == "shipment.delivered" && e["order_id"] == f["order_id"])
            .unwrap();
        let t = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
        assert!(
            t(&f["sent_at"]) - t(&delivered["created_at"]) >= chrono::Duration::milliseconds(2900),
            "{f} {delivered}"
        );
    }

    // Kill the process and start it again: nothing is sent twice.
    a.kill().unwrap();
    a.wait().unwrap();
    let before = sink.mails().len();
    let log_b = dir.join("b.log");
    let mut b = spawn_orderhub(&cfg, &log_b);
    assert!(wait_for(Duration::from_secs(30), || api.healthy()).await);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        sink.mails().len(),
        before,
        "no email sent again after a restart"
    );
    let emails = api.emails().await;
    assert_eq!(emails.len(), 20);
    assert!(
        emails.iter().all(|e| e["status"] == "sent"),
        "{:#}",
        json!(emails)
    );

    // The password: used (the sink checked it), never shown.
    let mut outputs = vec![
        std::fs::read_to_string(&log_a).unwrap(),
        std::fs::read_to_string(&log_b).unwrap(),
        serde_json::to_string(&emails).unwrap(),
        api.get("/api/emails?status=sent").await.1,
        api.get("/api/openapi.json").await.1,
    ];
    for id in details.keys() {
        outputs.push(api.get(&format!("/api/orders/{id}")).await.1);
    }
    assert!(
        outputs[0].contains("customer email sent"),
        "the log is captured at debug level"
    );
    for o in &outputs {
        assert!(!o.contains(SMTP_PASS), "the SMTP password leaked");
        assert!(
            !o.contains(&base64::engine::general_purpose::STANDARD.encode(SMTP_PASS)),
            "the SMTP password leaked (base64)"
        );
    }
    b.kill().unwrap();
    b.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------
// Delivery problems and orders without an address, in-process

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delivery_problems_reach_the_customer_and_orders_without_email_are_skipped() {
    let sink = Sink::start().await;
    let shopify = Sandbox::start().await;
    shopify.seed(2, 100).await;
    let easypost = easypost(0).await;
    let db = fresh_db(Db::Postgres).await;
    let templates =
        std::env::temp_dir().join(format!("orderhub-email-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&templates).unwrap();
    let toml =
        // One sync at start: a later poll would store the order's address again.
        flow_toml(&db, &shopify.base, &easypost.base, "")
            .replace("poll_interval_secs = 1", "poll_interval_secs = 3600")
            + &email_toml(sink.addr, &templates);
    set_flow_secrets();
    std::env::set_var("ORDERHUB_TEST_SMTP_USER", SMTP_USER);
    std::env::set_var("ORDERHUB_TEST_SMTP_PASSWORD", SMTP_PASS);
    std::env::set_var("ORDERHUB_API_TOKEN", OPS_TOKEN);
    let loaded = orderhub::settings::load_layers(None, Some(&toml)).expect("valid test config");
    let app = orderhub::app::App::start(loaded).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    register_webhook(&easypost, addr).await;
    tokio::spawn(orderhub::run(app.clone(), listener));
    let api = Api {
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
    };

    let ready = wait_for(Duration::from_secs(90), || async {
        let e = api.emails().await;
        count_by(&e, "order.received", "sent").len() == 2
            && count_by(&e, "shipment.shipped", "sent").len() == 2
    })
    .await;
    assert!(ready, "both shipped: {:#}", json!(api.emails().await));
    let mut orders: Vec<i64> = api.json("/api/orders?limit=10").await["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect();
    orders.sort();
    let (with_email, without) = (orders[0], orders[1]);
    let to = api.json(&format!("/api/orders/{with_email}")).await["customer"]["email"]
        .as_str()
        .unwrap()
        .to_string();
    app.store
        .execute_unprepared(&format!(
            "UPDATE orders SET customer_email = NULL WHERE id = {without}"
        ))
        .await
        .unwrap();
    let sent_before = sink.mails().len();
    assert_eq!(sent_before, 4);

    // Both trackers stalled: the sweep raises two delivery problems.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let raised = orderhub::server::tracking_page::raise_delivery_problems(
        &app,
        chrono::Duration::seconds(1),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(raised, 2);
    let ok = wait_for(Duration::from_secs(30), || async {
        let e = api.emails().await;
        count_by(&e, "delivery.problem", "sent").len() == 1
            && count_by(&e, "delivery.problem", "skipped").len() == 1
    })
    .await;
    let emails = api.emails().await;
    assert!(ok, "{:#}", json!(emails));
    let sent = count_by(&emails, "delivery.problem", "sent")[0];
    assert_eq!(sent["order_id"], with_email);
    assert_eq!(sent["recipient"], to.as_str());
    let skipped = count_by(&emails, "delivery.problem", "skipped")[0];
    assert_eq!(skipped["order_id"], without);
    assert_eq!(skipped["recipient"], "");
    assert_eq!(skipped["last_error"], "the order has no email address");
    assert_eq!(skipped["attempt_count"], 0);
    // Exceptions other than delivery problems are not mailed by default.
    assert!(count_by(&emails, "order.exception", "sent").is_empty());

    let mails = sink.mails();
    assert_eq!(
        mails.len(),
        sent_before + 1,
        "one email, to the customer with an address"
    );
    let m = mails.last().unwrap();
    assert_eq!(m.rcpt, vec![to.clone()]);
    assert!(
        m.subject().contains("delayed") || m.subject().contains("verzögert"),
        "{}",
        m.subject()
    );
    // Filters: by order and by status, and a bad status is a 400.
    let by_order = api.json(&format!("/api/emails?order_id={without}")).await;
    assert!(by_order["emails"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["order_id"] == without));
    let (s, _) = api.get("/api/emails?status=bogus").await;
    assert_eq!(s, 400);
    let (s, _) = api.get("/api/emails?order_id=999999").await;
    assert_eq!(s, 404);
    let _ = std::fs::remove_dir_all(&templates);
}
