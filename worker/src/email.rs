//! Customer email through SMTP. See `orderhub_core::store::email` for the
//! outbox; this is the loop that fills and drains it, the templates and the
//! SMTP client (lettre, rustls).
//!
//! One loop per process, every `worker.tick_ms`:
//! - the dispatcher turns new timeline events into outbox rows (one per
//!   event and recipient; with `[email] enabled = false` it only moves its
//!   watermark);
//! - the sender takes each due row under a lease, renders it once (the
//!   subject and bodies are stored, so a retry sends the same message with
//!   the same `Message-ID`), hands it to the SMTP server and records the
//!   attempt; a failure is retried after a backoff with full jitter
//!   (`email.retry_base_ms` doubling to `retry_max_secs`, the webhook
//!   outbox's [`crate::outbound::backoff_between`]).
//!
//! Templates: `<event>.<lang>.txt` whose first line is `Subject: …`, then a
//! blank line, then the text body; optionally `<event>.<lang>.html` (the
//! HTML part, auto-escaped). Looked up per language (the order's, then
//! `en`): the seller's `templates_dir`, else `email.templates_dir/<seller>/`,
//! then `email.templates_dir/`, then the built-in one
//! (`worker/templates/email/`). A seller template that fails to render is
//! logged and the built-in one is used. minijinja renders them.
//!
//! The SMTP user name and password come from the environment variables
//! `email.username_env` / `password_env` name; they are never logged, stored
//! or shown. Logs name the email's id, order and type, not the customer's
//! address.

use crate::app::App;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use orderhub_core::config::{EmailSettings, SellerEmailSettings};
use orderhub_core::store::email::{email_outbox, EmailOutcome};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Timeline events read per dispatcher pass.
const DISPATCH_BATCH: u64 = 500;
/// Emails one sender pass looks at.
const SEND_BATCH: u64 = 50;

/// The built-in templates, compiled in.
fn builtin(event: &str, lang: &str) -> Option<&'static str> {
    macro_rules! t {
        ($($ev:literal),*) => {
            match (event, lang) {
                $(
                    ($ev, "en") => Some(include_str!(concat!("../templates/email/", $ev, ".en.txt"))),
                    ($ev, "de") => Some(include_str!(concat!("../templates/email/", $ev, ".de.txt"))),
                )*
                _ => None,
            }
        };
    }
    t!(
        "order.received",
        "shipment.shipped",
        "shipment.out_for_delivery",
        "shipment.delivered",
        "delivery.problem",
        "order.exception",
        "return.received",
        "order.followup"
    )
}

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub language: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

/// The language for an order: its ship-to country's (`email.country_languages`),
/// else the seller's `language`, else `email.default_language`.
pub fn language_for(settings: &EmailSettings, seller: &str, country: Option<&str>) -> String {
    if let Some(l) = country
        .map(|c| c.trim().to_ascii_uppercase())
        .and_then(|c| settings.country_languages.get(&c))
    {
        return l.clone();
    }
    settings
        .sellers
        .get(seller)
        .and_then(|s| s.language.clone())
        .unwrap_or_else(|| settings.default_language.clone())
}

/// The directories a seller's templates may be in, in order.
fn override_dirs(settings: &EmailSettings, seller: &str) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = settings
        .sellers
        .get(seller)
        .and_then(|s| s.templates_dir.as_deref())
    {
        dirs.push(PathBuf::from(d));
    }
    if let Some(d) = settings.templates_dir.as_deref() {
        // A seller id is letters, digits, - and _ in practice; never a path.
        if !seller.is_empty()
            && seller
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            dirs.push(Path::new(d).join(seller));
        }
        dirs.push(PathBuf::from(d));
    }
    dirs
}

fn read_override(dirs: &[PathBuf], file: &str) -> Option<String> {
    dirs.iter()
        .find_map(|d| std::fs::read_to_string(d.join(file)).ok())
}

/// Split a `.txt` template into its subject line and body.
fn split_subject(src: &str) -> Result<(&str, &str), String> {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let (first, rest) = src.split_once('\n').unwrap_or((src, ""));
    let subject = first
        .trim_end_matches('\r')
        .strip_prefix("Subject:")
        .ok_or("the first line must be `Subject: …`")?
        .trim();
    Ok((subject, rest.trim_start_matches(['\r', '\n'])))
}

fn render_one(name: &str, src: &str, ctx: &Value) -> Result<String, String> {
    let mut env = minijinja::Environment::new();
    env.add_template(name, src).map_err(|e| e.to_string())?;
    env.get_template(name)
        .and_then(|t| t.render(minijinja::value::Serde(ctx)))
        .map_err(|e| e.to_string())
}

fn render_txt(name: &str, src: &str, ctx: &Value) -> Result<(String, String), String> {
    let (subject, body) = split_subject(src)?;
    let subject = render_one(&format!("{name}:subject"), subject, ctx)?;
    // One line, whatever the variables held.
    let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = render_one(name, body, ctx)?;
    Ok((subject, text))
}

/// Render `event` for `seller` in `lang` (falling back to `en`) with `ctx`.
pub fn render(
    settings: &EmailSettings,
    seller: &str,
    event: &str,
    lang: &str,
    ctx: &Value,
) -> Result<Rendered, String> {
    let dirs = override_dirs(settings, seller);
    let mut langs = vec![lang.to_string()];
    if lang != "en" {
        langs.push("en".into());
    }
    for l in &langs {
        let txt_name = format!("{event}.{l}.txt");
        let mut ctx = ctx.clone();
        ctx["language"] = json!(l);
        if let Some(src) = read_override(&dirs, &txt_name) {
            match render_txt(&txt_name, &src, &ctx) {
                Ok((subject, text)) => {
                    let html_name = format!("{event}.{l}.html");
                    let html = match read_override(&dirs, &html_name) {
                        Some(h) => match render_one(&html_name, &h, &ctx) {
                            Ok(h) => Some(h),
                            Err(e) => {
                                tracing::warn!(seller, template = %html_name, error = %e, "seller's HTML email template failed; sending text only");
                                None
                            }
                        },
                        None => None,
                    };
                    return Ok(Rendered {
                        language: l.clone(),
                        subject,
                        text,
                        html,
                    });
                }
                Err(e) => {
                    tracing::warn!(seller, template = %txt_name, error = %e, "seller's email template failed; using the built-in one");
                }
            }
        }
        if let Some(src) = builtin(event, l) {
            let (subject, text) = render_txt(&txt_name, src, &ctx)?;
            return Ok(Rendered {
                language: l.clone(),
                subject,
                text,
                html: None,
            });
        }
    }
    Err(format!("no template for `{event}`"))
}

/// Related products for the follow-up: by the skus bought first, then the
/// seller's list; no repeats, at most 6.
pub fn related_products(seller: Option<&SellerEmailSettings>, skus: &[String]) -> Vec<String> {
    let Some(s) = seller else { return Vec::new() };
    let mut out: Vec<String> = Vec::new();
    let by_sku = skus
        .iter()
        .filter_map(|k| s.related_by_sku.get(k))
        .flatten();
    for p in by_sku.chain(s.related_products.iter()) {
        if !out.contains(p) && !skus.contains(p) {
            out.push(p.clone());
        }
    }
    out.truncate(6);
    out
}

/// The template variables for one outbox row, and its language. None when
/// the order is gone.
async fn context(
    app: &App,
    row: &email_outbox::Model,
) -> Result<Option<(String, Value)>, sea_orm::DbErr> {
    let settings = &app.settings.email;
    let Some(stored) = app.store.get_order(row.order_id).await? else {
        return Ok(None);
    };
    let o = &stored.order;
    let seller_cfg = settings.sellers.get(&row.seller_id);
    let country = o
        .ship_to
        .as_ref()
        .and_then(|a| a.country.clone())
        .or_else(|| o.bill_to.as_ref().and_then(|a| a.country.clone()));
    let lang = language_for(settings, &row.seller_id, country.as_deref());
    let detail: Value = serde_json::from_str(&row.detail).unwrap_or(Value::Null);
    let ships = app.store.order_shipments(row.order_id).await?;
    let ship = match row.shipment_id {
        Some(id) => ships.iter().find(|s| s.shipment.id == id),
        None => ships
            .iter()
            .rev()
            .find(|s| s.shipment.tracking_code.is_some()),
    };
    let page = match ship {
        Some(s) => crate::server::tracking_page::page_url(app, s.shipment.id).await?,
        None => None,
    };
    let skus: Vec<String> = o.lines.iter().filter_map(|l| l.sku.clone()).collect();
    let customer_name = o
        .customer
        .as_ref()
        .and_then(|c| c.name.clone())
        .or_else(|| o.ship_to.as_ref().and_then(|a| a.name.clone()));
    let shop = seller_cfg
        .and_then(|s| s.from_name.clone())
        .or_else(|| settings.from_name.clone())
        .unwrap_or_else(|| row.seller_id.clone());
    let ctx = json!({
        "event": row.event_type,
        "shop": shop,
        "seller": row.seller_id,
        "order_number": o.number.clone().unwrap_or_else(|| o.external_id.clone()),
        "customer_name": customer_name,
        "placed_at": o.placed_at.format("%Y-%m-%d").to_string(),
        "lines": o.lines.iter().map(|l| json!({
            "title": l.title, "sku": l.sku, "quantity": l.quantity,
        })).collect::<Vec<_>>(),
        "shipping_method": o.shipping_method,
        "carrier": ship.and_then(|s| s.shipment.carrier.clone()),
        "service": ship.and_then(|s| s.shipment.service.clone()),
        "tracking_number": ship.and_then(|s| s.shipment.tracking_code.clone()),
        "carrier_tracking_url": ship.and_then(|s| s.shipment.tracking_url.clone()),
        "tracking_page_url": page,
        "tracking_status": ship.map(|s| s.shipment.tracking_status.clone()),
        "reason": detail["reason"].as_str(),
        "rma": detail["rma"].as_str(),
        "detail": detail,
        "survey_url": seller_cfg.and_then(|s| s.survey_url.clone()),
        "related_products": related_products(seller_cfg, &skus),
    });
    Ok(Some((lang, ctx)))
}

/// The SMTP transport from `[email]` and the credentials' environment variables.
pub fn transport(settings: &EmailSettings) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let host = settings.smtp_host.trim().to_string();
    let tls = match settings.tls.as_str() {
        "none" => Tls::None,
        "starttls" => Tls::Required(TlsParameters::new(host.clone())?),
        "tls" => Tls::Wrapper(TlsParameters::new(host.clone())?),
        other => anyhow::bail!("email.tls: `{other}` is not none, starttls or tls"),
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(settings.smtp_port)
        .tls(tls)
        .timeout(Some(Duration::from_millis(settings.timeout_ms.max(1))));
    if let (Some(u), Some(p)) = (&settings.username_env, &settings.password_env) {
        let user = std::env::var(u).unwrap_or_default();
        let pass = std::env::var(p).unwrap_or_default();
        b = b.credentials(Credentials::new(user, pass));
    }
    Ok(b.build())
}

/// The message for a rendered row.
fn message(settings: &EmailSettings, row: &email_outbox::Model) -> Result<Message, String> {
    let seller = settings.sellers.get(&row.seller_id);
    let name = seller
        .and_then(|s| s.from_name.clone())
        .or_else(|| settings.from_name.clone());
    let from_addr: lettre::Address = settings
        .from
        .parse()
        .map_err(|e| format!("email.from: {e}"))?;
    let from = Mailbox::new(name, from_addr);
    let to: Mailbox = row
        .recipient
        .parse()
        .map_err(|_| "the recipient is not a valid address".to_string())?;
    let domain = settings
        .from
        .rsplit_once('@')
        .map_or("orderhub", |(_, d)| d);
    let mut b = Message::builder()
        .from(from)
        .to(to)
        .subject(row.subject.clone().unwrap_or_default())
        .message_id(Some(format!("<orderhub.email.{}@{domain}>", row.id)));
    if let Some(r) = seller
        .and_then(|s| s.reply_to.clone())
        .or_else(|| settings.reply_to.clone())
    {
        if let Ok(m) = r.parse::<Mailbox>() {
            b = b.reply_to(m);
        }
    }
    let text = row.text_body.clone().unwrap_or_default();
    let built = match &row.html_body {
        Some(h) => b.multipart(MultiPart::alternative_plain_html(text, h.clone())),
        None => b.singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(text),
        ),
    };
    built.map_err(|e| format!("message: {e}"))
}

/// Hand one message to the SMTP server.
async fn send(
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    msg: Message,
    timeout: Duration,
) -> EmailOutcome {
    let started = Instant::now();
    let res = tokio::time::timeout(timeout, transport.send(msg)).await;
    let duration_ms = started.elapsed().as_millis() as i64;
    let code_of = |c: lettre::transport::smtp::response::Code| c.to_string().parse::<u16>().ok();
    match res {
        Ok(Ok(r)) => EmailOutcome {
            ok: true,
            smtp_code: code_of(r.code()),
            error: None,
            duration_ms,
            retry_at: None,
        },
        Ok(Err(e)) => EmailOutcome {
            ok: false,
            smtp_code: e.status().and_then(code_of),
            // lettre's errors name the reply or the I/O failure, never credentials.
            error: Some(e.to_string()),
            duration_ms,
            retry_at: None,
        },
        Err(_) => EmailOutcome {
            ok: false,
            smtp_code: None,
            error: Some("timeout".into()),
            duration_ms,
            retry_at: None,
        },
    }
}

/// Run the dispatcher and the sender until the process stops.
pub async fn run(app: Arc<App>) {
    let tick = Duration::from_millis(app.settings.worker.tick_ms.clamp(50, 5_000));
    let transport = if app.settings.email.enabled {
        match transport(&app.settings.email) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!(error = %e, "no SMTP transport; customer emails are queued, not sent");
                None
            }
        }
    } else {
        None
    };
    loop {
        run_once(&app, transport.as_ref()).await;
        tokio::time::sleep(tick).await;
    }
}

/// One dispatcher pass (until caught up, bounded) and one sender pass.
pub async fn run_once(app: &App, transport: Option<&AsyncSmtpTransport<Tokio1Executor>>) {
    let grace = chrono::Duration::seconds(app.settings.notifications.gap_grace_secs as i64);
    for _ in 0..20 {
        match app
            .store
            .dispatch_emails(&app.settings.email, DISPATCH_BATCH, grace)
            .await
        {
            Ok(r) => {
                if r.enqueued > 0 {
                    tracing::debug!(
                        events = r.events,
                        enqueued = r.enqueued,
                        watermark = r.watermark,
                        "customer emails enqueued"
                    );
                }
                if (r.events as u64) < DISPATCH_BATCH {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "email dispatcher pass failed");
                break;
            }
        }
    }
    if let Some(t) = transport {
        if let Err(e) = send_due(app, t).await {
            tracing::warn!(error = %e, "email sender pass failed");
        }
    }
}

async fn send_due(
    app: &App,
    transport: &AsyncSmtpTransport<Tokio1Executor>,
) -> Result<(), sea_orm::DbErr> {
    let settings = &app.settings.email;
    let timeout = Duration::from_millis(settings.timeout_ms.max(1)) * 2;
    let ttl_ms = timeout.as_millis() as i64 + app.settings.worker.lease_ttl_secs as i64 * 1000;
    let owner = app.instance.as_str();
    for due in app.store.due_emails(SEND_BATCH).await? {
        let Some(mut row) = app.store.claim_email(due.id, owner, ttl_ms).await? else {
            continue;
        };
        if row.subject.is_none() {
            let Some((lang, ctx)) = context(app, &row).await? else {
                app.store
                    .skip_email(row.id, "the order no longer exists")
                    .await?;
                continue;
            };
            match render(settings, &row.seller_id, &row.event_type, &lang, &ctx) {
                Ok(r) => {
                    if let Some(stored) = app
                        .store
                        .set_email_content(
                            row.id,
                            &r.language,
                            &r.subject,
                            &r.text,
                            r.html.as_deref(),
                        )
                        .await?
                    {
                        row = stored;
                    }
                }
                Err(e) => {
                    tracing::error!(email_id = row.id, order_id = row.order_id, event_type = %row.event_type, error = %e, "customer email could not be rendered");
                    app.store
                        .skip_email(row.id, &format!("not rendered: {e}"))
                        .await?;
                    continue;
                }
            }
        }
        let mut outcome = match message(settings, &row) {
            Ok(m) => send(transport, m, timeout).await,
            Err(e) => EmailOutcome {
                ok: false,
                smtp_code: None,
                error: Some(e),
                duration_ms: 0,
                retry_at: None,
            },
        };
        if outcome.ok {
            tracing::info!(
                email_id = row.id,
                order_id = row.order_id,
                event_type = %row.event_type,
                smtp_code = ?outcome.smtp_code,
                "customer email sent"
            );
        } else {
            let delay = crate::outbound::backoff_between(
                settings.retry_base_ms,
                settings.retry_max_secs,
                (row.attempts + 1) as u32,
                None,
            );
            outcome.retry_at =
                Some(chrono::Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default());
            tracing::info!(
                email_id = row.id,
                order_id = row.order_id,
                event_type = %row.event_type,
                attempt = row.attempts + 1,
                smtp_code = ?outcome.smtp_code,
                error = outcome.error.as_deref().unwrap_or(""),
                retry_in_ms = delay.as_millis() as u64,
                "customer email failed; will retry"
            );
        }
        app.store.record_email_attempt(row.id, &outcome).await?;
        if !outcome.ok {
            // The server is likely down: leave the rest for the next tick.
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> EmailSettings {
        EmailSettings::default()
    }

    #[test]
    fn every_builtin_template_renders_in_both_languages() {
        let ctx = json!({
            "shop": "Acme", "order_number": "#1001", "customer_name": "Ana",
            "carrier": "USPS", "tracking_number": "EZ1", "tracking_page_url": "https://t.example/t/ab",
            "reason": "past the promised date", "survey_url": "https://s.example/q",
            "related_products": ["Mug"], "lines": [{"title": "Cup", "quantity": 2, "sku": "C"}],
        });
        for ev in orderhub_core::config::EMAIL_EVENT_TYPES {
            for lang in ["en", "de"] {
                let r = render(&settings(), "acme", ev, lang, &ctx).unwrap();
                assert_eq!(r.language, lang);
                assert!(
                    !r.subject.is_empty() && !r.subject.contains('\n'),
                    "{ev} {lang}"
                );
                assert!(
                    r.text.contains("#1001") || r.subject.contains("#1001"),
                    "{ev} {lang}"
                );
            }
        }
        // An unknown language falls back to English.
        assert_eq!(
            render(&settings(), "acme", "order.received", "fr", &ctx)
                .unwrap()
                .language,
            "en"
        );
    }

    #[test]
    fn language_from_country_then_seller_then_default() {
        let mut s = settings();
        assert_eq!(language_for(&s, "acme", Some("DE")), "de");
        assert_eq!(language_for(&s, "acme", Some("us")), "en");
        s.sellers.insert(
            "acme".into(),
            SellerEmailSettings {
                language: Some("de".into()),
                ..Default::default()
            },
        );
        assert_eq!(language_for(&s, "acme", Some("US")), "de");
        assert_eq!(language_for(&s, "other", None), "en");
    }

    #[test]
    fn subject_line_is_required() {
        assert!(split_subject("Hello\n\nbody").is_err());
        assert_eq!(
            split_subject("Subject: Hi\n\nbody\n").unwrap(),
            ("Hi", "body\n")
        );
    }

    #[test]
    fn related_products_by_sku_first_without_repeats() {
        let s = SellerEmailSettings {
            related_products: vec!["Mug".into(), "Cap".into()],
            related_by_sku: [(
                "SKU-1".to_string(),
                vec!["Cap".to_string(), "Bag".to_string()],
            )]
            .into_iter()
            .collect(),
            ..Default::default()
        };
        assert_eq!(
            related_products(Some(&s), &["SKU-1".into()]),
            vec!["Cap", "Bag", "Mug"]
        );
        assert!(related_products(None, &[]).is_empty());
    }
}
