//! The WooCommerce connector: REST API v3 through the shared HTTP client.
//!
//! - Auth: HTTP Basic with the consumer key and secret (WooCommerce accepts it
//!   over HTTPS), or the same pair as `consumer_key`/`consumer_secret` query
//!   parameters for hosts that strip the `Authorization` header
//!   (option `query_string_auth = "true"`).
//! - Changed orders: `GET /wp-json/wc/v3/orders?modified_after=…&modified_before=…
//!   &dates_are_gmt=true&orderby=modified&order=asc&status=any&per_page=…&page=…`.
//!   WordPress compares `modified_after`/`modified_before` strictly and to the
//!   second, so the window is sent as `since − 1 s` … `now + 2 s`.
//! - Paging: plain page numbers over a list that changes while it is read would
//!   skip orders: an order already read that is edited mid-sync moves past the
//!   fixed upper bound and leaves the list, and every later order shifts one
//!   place up, so the first order of the next page is never seen (and the
//!   watermark moves past it). So the page token is a keyset: the next page
//!   starts again at page 1 with `modified_after` = the last order's modified
//!   second − 1 s (its second is re-read; duplicates are harmless), under the
//!   same `modified_before` fixed at the first page (orders edited meanwhile are
//!   left to the next poll instead of shifting this one). Only when a whole page
//!   shares one second (more orders modified in one second than a page holds)
//!   does the token fall back to the next page number within that second.
//! - Tracking: the order's notes (and, with `shipment_tracking = "true"`, the
//!   Shipment Tracking extension's trackings) are read first; the note /
//!   tracking is created only when the number is not there yet, each POST sent
//!   once (no blind retry), and a lost answer is followed by a fresh read. The
//!   order is then set to `completed` (a PUT, idempotent by itself).
//! - Webhooks: `X-WC-Webhook-Signature` = base64 HMAC-SHA256 of the raw body with
//!   the webhook secret. The unsigned `webhook_id=N` ping WooCommerce sends when a
//!   webhook is saved is accepted as topic `ping` and ignored (it carries nothing).

use super::mapping::{self, external_id_of, parse_gmt};
use super::wire::{
    WcNoteInput, WcOrderNote, WcOrderUpdate, WcShipmentTracking, WcShipmentTrackingInput,
};
use super::wire::{WcProductRef, WcStockUpdate};
use crate::http::{HttpClient, RateLimit, RawResponse, RemoteError, RetryPolicy};
use crate::marketplace::{
    ChannelSetup, Marketplace, OrderPage, StockPush, StockPushOutcome, TrackingPush,
    VerifiedWebhook, WebhookError, WebhookOrder,
};
use async_trait::async_trait;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use orderhub_core::Quarantined;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

pub const API_PREFIX: &str = "/wp-json/wc/v3";
pub const SHIPMENT_TRACKING_PREFIX: &str = "/wp-json/wc-shipment-tracking/v3";
/// WooCommerce's cap on `per_page`.
pub const MAX_PAGE_SIZE: u32 = 100;
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// WooCommerce publishes no limit (it runs on the merchant's host); this stays
/// under the host-style limit the sandbox assumes (25 requests/s, burst 50).
pub const DEFAULT_MAX_REQUESTS_PER_SECOND: u32 = 20;
const DEFAULT_BURST: u32 = 10;

pub const HEADER_SIGNATURE: &str = "X-WC-Webhook-Signature";
pub const HEADER_TOPIC: &str = "X-WC-Webhook-Topic";
pub const HEADER_RESOURCE: &str = "X-WC-Webhook-Resource";
pub const HEADER_EVENT: &str = "X-WC-Webhook-Event";
pub const HEADER_WEBHOOK_ID: &str = "X-WC-Webhook-ID";
pub const HEADER_SOURCE: &str = "X-WC-Webhook-Source";
/// As WooCommerce's `WC_Webhook::deliver()` sends it.
pub const HEADER_DELIVERY_ID: &str = "X-WC-Webhook-Delivery-ID";
/// The spelling in the REST API docs' webhook section; accepted too.
pub const HEADER_DELIVERY_ID_DOCS: &str = "X-WC-Delivery-ID";
/// The order topics the connector accepts (plus the unsigned `ping`).
pub const TOPICS: [&str; 4] = [
    "order.created",
    "order.updated",
    "order.deleted",
    "order.restored",
];
pub const TOPIC_PING: &str = "ping";

/// Rounds of "read, write what is missing once" before giving up with the last
/// retryable error, and the pause between them.
const PUSH_ROUNDS: RetryPolicy = RetryPolicy {
    max_attempts: 6,
    base: Duration::from_millis(200),
    max: Duration::from_secs(5),
};

/// A secret that never prints.
#[derive(Clone)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where a listing continues: `modified_after` (exclusive, unix seconds), the
/// page within it, and the `modified_before` bound fixed at the first page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageToken {
    pub after: i64,
    pub page: u32,
    pub before: i64,
}

impl PageToken {
    pub fn first(since: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        Self {
            after: (since.timestamp() - 1).max(0),
            page: 1,
            before: now.timestamp() + 2,
        }
    }

    pub fn encode(&self) -> String {
        format!("v1:{}:{}:{}", self.after, self.page, self.before)
    }

    pub fn decode(s: &str) -> Option<Self> {
        let mut parts = s.strip_prefix("v1:")?.split(':');
        let token = Self {
            after: parts.next()?.parse().ok()?,
            page: parts.next()?.parse().ok().filter(|p| *p >= 1)?,
            before: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(token)
    }

    /// The token after a page whose last order was modified at `last_modified`.
    pub fn next(&self, last_modified: Option<i64>) -> Self {
        match last_modified {
            Some(t) if t - 1 > self.after => Self {
                after: t - 1,
                page: 1,
                before: self.before,
            },
            _ => Self {
                page: self.page.saturating_add(1),
                ..*self
            },
        }
    }
}

/// A GMT time as WooCommerce takes it with `dates_are_gmt=true`.
pub fn wc_time(unix: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix, 0)
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

/// The Shipment Tracking extension's predefined provider for an orderhub carrier
/// name; `None` = send it as a custom provider with its own link.
pub fn shipment_tracking_provider(carrier: &str) -> Option<&'static str> {
    let c = carrier.trim().to_ascii_lowercase();
    Some(match c.as_str() {
        "usps" => "USPS",
        "ups" => "UPS",
        "fedex" => "Fedex",
        "fedex sameday" => "FedEx Sameday",
        "ontrac" => "OnTrac",
        "dhl" | "dhl express" => "DHL US",
        "dhl parcel uk" => "DHL Parcel UK",
        "royal mail" => "Royal Mail",
        "parcelforce" => "ParcelForce",
        "dpd uk" | "dpd.co.uk" => "DPD.co.uk",
        "deutsche post" | "dhl paket" => "Deutsche Post DHL",
        "hermes" | "hermes de" => "Hermes (DE)",
        "canada post" => "Canada Post",
        "australia post" => "Australia Post",
        _ => return None,
    })
}

/// The order note orderhub adds; the sandbox parses the same words.
pub fn tracking_note(carrier: &str, number: &str, url: Option<&str>) -> String {
    match url {
        Some(u) => format!("Shipped with {carrier}, tracking {number}: {u}"),
        None => format!("Shipped with {carrier}, tracking {number}"),
    }
}

/// Whether `hay` holds `needle` as a whole token (not inside a longer number).
pub fn contains_token(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    hay.match_indices(needle).any(|(i, _)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + needle.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

pub fn sign_webhook(secret: &str, body: &[u8]) -> String {
    // new_from_slice accepts keys of any length for HMAC.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn header<'a>(headers: &'a http::HeaderMap, name: &'static str) -> Result<&'a str, WebhookError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(WebhookError::MissingHeader(name))
}

/// The ping WooCommerce posts when a webhook is saved: `webhook_id=N`, form
/// encoded, with no signature and no topic.
fn ping_webhook_id(headers: &http::HeaderMap, body: &[u8]) -> Option<u64> {
    if headers.contains_key(HEADER_SIGNATURE) || headers.contains_key(HEADER_TOPIC) {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?.trim();
    let id = text.strip_prefix("webhook_id=")?;
    (!id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit()))
        .then(|| id.parse().ok())
        .flatten()
}

pub fn verify_woocommerce_webhook(
    secret: &str,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<VerifiedWebhook, WebhookError> {
    if let Some(id) = ping_webhook_id(headers, body) {
        return Ok(VerifiedWebhook {
            delivery_id: format!("ping-{id}"),
            topic: TOPIC_PING.to_string(),
        });
    }
    let signature = header(headers, HEADER_SIGNATURE)?;
    if secret.is_empty() {
        return Err(WebhookError::BadSignature);
    }
    let expected = base64::engine::general_purpose::STANDARD
        .decode(signature)
        .map_err(|_| WebhookError::BadSignature)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|_| WebhookError::BadSignature)?;
    mac.update(body);
    // verify_slice compares in constant time.
    mac.verify_slice(&expected)
        .map_err(|_| WebhookError::BadSignature)?;
    let topic = header(headers, HEADER_TOPIC)?;
    let delivery_id = header(headers, HEADER_DELIVERY_ID)
        .or_else(|_| header(headers, HEADER_DELIVERY_ID_DOCS))?;
    if !TOPICS.contains(&topic) {
        return Err(WebhookError::UnsupportedTopic(
            topic.chars().take(100).collect(),
        ));
    }
    Ok(VerifiedWebhook {
        delivery_id: delivery_id.to_string(),
        topic: topic.to_string(),
    })
}

fn quarantine(raw: &Value, reason: String) -> Quarantined {
    Quarantined {
        external_id: external_id_of(raw),
        reason,
        raw: raw.to_string(),
    }
}

fn bool_option(setup: &ChannelSetup, name: &str, problems: &mut Vec<String>) -> bool {
    match setup.options.get(name).map(|s| s.trim()) {
        None | Some("false") | Some("") => false,
        Some("true") => true,
        Some(_) => {
            problems.push(format!("option `{name}` must be \"true\" or \"false\""));
            false
        }
    }
}

/// The WooCommerce marketplace connector.
pub struct WooCommerceConnector {
    channel_id: String,
    /// The store URL without a trailing slash (`https://shop.example`).
    base: String,
    consumer_key: Secret,
    consumer_secret: Secret,
    webhook_secret: Secret,
    query_string_auth: bool,
    shipment_tracking: bool,
    page_size: u32,
    http: HttpClient,
    /// sku → the product path (`/products/{id}` or `/products/{p}/variations/{id}`).
    stock_paths: Mutex<HashMap<String, String>>,
}

/// The path a stock write for `sku` goes to, from a `GET /products?sku=` result.
pub fn stock_path_in(items: &[WcProductRef], sku: &str) -> Option<String> {
    let p = items.iter().find(|p| p.sku == sku)?;
    Some(if p.kind == "variation" && p.parent_id != 0 {
        format!("{API_PREFIX}/products/{}/variations/{}", p.parent_id, p.id)
    } else {
        format!("{API_PREFIX}/products/{}", p.id)
    })
}

impl std::fmt::Debug for WooCommerceConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WooCommerceConnector")
            .field("channel_id", &self.channel_id)
            .field("base", &self.base)
            .field("page_size", &self.page_size)
            .field("shipment_tracking", &self.shipment_tracking)
            .field("query_string_auth", &self.query_string_auth)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
struct OrderStatusOnly {
    status: String,
}

impl WooCommerceConnector {
    /// Build from configuration; every problem is listed at once.
    pub fn new(setup: ChannelSetup) -> Result<Self, String> {
        let mut problems = Vec::new();
        let base = setup.http_base_url("the store's http(s) URL", &mut problems);
        let page_size = setup.whole_number_option(
            "page_size",
            DEFAULT_PAGE_SIZE,
            1..=MAX_PAGE_SIZE,
            &mut problems,
        );
        let rps = setup.whole_number_option(
            "max_requests_per_second",
            DEFAULT_MAX_REQUESTS_PER_SECOND,
            1..=1000,
            &mut problems,
        );
        let shipment_tracking = bool_option(&setup, "shipment_tracking", &mut problems);
        let query_string_auth = bool_option(&setup, "query_string_auth", &mut problems);
        for (name, prefix) in [
            ("consumer_key", Some("ck_")),
            ("consumer_secret", Some("cs_")),
            ("webhook_secret", None),
        ] {
            let value = setup.secret(name).trim();
            if value.is_empty() {
                problems.push(format!("secret `{name}` is missing"));
            } else if let Some(p) = prefix.filter(|p| !value.starts_with(p)) {
                problems.push(format!("secret `{name}` must start with `{p}`"));
            }
        }
        if !problems.is_empty() {
            return Err(format!(
                "woocommerce channel `{}`: {}",
                setup.channel_id,
                problems.join("; ")
            ));
        }
        let http = HttpClient::new(
            format!("woocommerce:{}", setup.channel_id),
            setup.request_timeout,
            Some(RateLimit {
                per_second: rps as f64,
                burst: DEFAULT_BURST.min(rps),
            }),
        );
        Ok(Self {
            base,
            consumer_key: Secret(setup.secret("consumer_key").trim().to_string()),
            consumer_secret: Secret(setup.secret("consumer_secret").trim().to_string()),
            webhook_secret: Secret(setup.secret("webhook_secret").to_string()),
            channel_id: setup.channel_id,
            query_string_auth,
            shipment_tracking,
            page_size,
            http,
            stock_paths: Mutex::new(HashMap::new()),
        })
    }

    /// Replace the shared client (e.g. a test's faster retry policy).
    pub fn with_http_client(mut self, http: HttpClient) -> Self {
        self.http = http;
        self
    }

    pub fn page_size(&self) -> u32 {
        self.page_size
    }

    /// The URL of `path` with `query` (and the key pair with `query_string_auth`).
    fn url(&self, path: &str, query: &[(&str, String)]) -> String {
        let mut qs = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in query {
            qs.append_pair(k, v);
        }
        if self.query_string_auth {
            qs.append_pair("consumer_key", &self.consumer_key.0);
            qs.append_pair("consumer_secret", &self.consumer_secret.0);
        }
        let qs = qs.finish();
        if qs.is_empty() {
            format!("{}{path}", self.base)
        } else {
            format!("{}{path}?{qs}", self.base)
        }
    }

    fn authed(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if self.query_string_auth {
            req
        } else {
            req.basic_auth(&self.consumer_key.0, Some(&self.consumer_secret.0))
        }
    }

    async fn get_raw(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<RawResponse, RemoteError> {
        let url = self.url(path, query);
        self.http
            .execute(
                |c| {
                    self.authed(c.get(&url))
                        .header(http::header::ACCEPT, "application/json")
                },
                Ok,
            )
            .await
    }

    async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, RemoteError> {
        self.get_raw(path, &[]).await?.json()
    }

    /// A write; `once` sends it a single time (the caller reads again before
    /// another attempt), else the shared client retries it.
    async fn send_json<B: Serialize>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &B,
        once: bool,
    ) -> Result<(), RemoteError> {
        let url = self.url(path, &[]);
        let client = if once {
            self.http.clone().with_retry_policy(RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            })
        } else {
            self.http.clone()
        };
        client
            .execute(
                |c| {
                    self.authed(c.request(method.clone(), &url))
                        .header(http::header::ACCEPT, "application/json")
                        .json(body)
                },
                |_| Ok(()),
            )
            .await
    }

    /// One round of the tracking push: read, then write only what is missing.
    async fn push_round(
        &self,
        id: u64,
        push: &TrackingPush,
        number: &str,
    ) -> Result<(), RemoteError> {
        let order: OrderStatusOnly = self.get_json(&format!("{API_PREFIX}/orders/{id}")).await?;
        if matches!(
            order.status.as_str(),
            "cancelled" | "refunded" | "failed" | "trash"
        ) {
            return Err(RemoteError::permanent(format!(
                "order {id} is {} at WooCommerce; tracking not pushed",
                order.status
            )));
        }
        let url = push
            .tracking_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        if self.shipment_tracking {
            let path = format!("{SHIPMENT_TRACKING_PREFIX}/orders/{id}/shipment-trackings");
            let trackings: Vec<WcShipmentTracking> = self.get_json(&path).await?;
            if !trackings.iter().any(|t| t.tracking_number.trim() == number) {
                let mut input = WcShipmentTrackingInput {
                    tracking_number: number.to_string(),
                    date_shipped: Some(push.shipped_at.format("%Y-%m-%d").to_string()),
                    ..Default::default()
                };
                match shipment_tracking_provider(&push.carrier) {
                    Some(p) => input.tracking_provider = Some(p.to_string()),
                    None => {
                        input.custom_tracking_provider = Some(push.carrier.trim().to_string());
                        input.custom_tracking_link = url.map(str::to_string);
                    }
                }
                self.send_json(reqwest::Method::POST, &path, &input, true)
                    .await?;
            }
        }
        let notes_path = format!("{API_PREFIX}/orders/{id}/notes");
        let notes: Vec<WcOrderNote> = self.get_json(&notes_path).await?;
        if !notes.iter().any(|n| contains_token(&n.note, number)) {
            let note = WcNoteInput {
                note: tracking_note(push.carrier.trim(), number, url),
                customer_note: push.notify_customer,
            };
            self.send_json(reqwest::Method::POST, &notes_path, &note, true)
                .await?;
        }
        if order.status != "completed" {
            let update = WcOrderUpdate {
                status: "completed".to_string(),
            };
            self.send_json(
                reqwest::Method::PUT,
                &format!("{API_PREFIX}/orders/{id}"),
                &update,
                false,
            )
            .await?;
        }
        Ok(())
    }
}

impl WooCommerceConnector {
    fn stock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.stock_paths.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn find_stock_path(&self, sku: &str) -> Result<Option<String>, RemoteError> {
        let items: Vec<WcProductRef> = self
            .get_raw(
                &format!("{API_PREFIX}/products"),
                &[("sku", sku.to_string())],
            )
            .await?
            .json()?;
        Ok(stock_path_in(&items, sku))
    }
}

#[async_trait]
impl Marketplace for WooCommerceConnector {
    /// `GET /products?sku=` once (cached), then `PUT` the product (or
    /// variation) with `manage_stock: true` and `stock_quantity`.
    async fn push_stock(&self, push: &StockPush) -> Result<StockPushOutcome, RemoteError> {
        for _ in 0..2 {
            let cached = self.stock_cache().get(&push.sku).cloned();
            let path = match cached {
                Some(p) => p,
                None => match self.find_stock_path(&push.sku).await? {
                    Some(p) => {
                        self.stock_cache().insert(push.sku.clone(), p.clone());
                        p
                    }
                    None => return Ok(StockPushOutcome::NotListed),
                },
            };
            let body = WcStockUpdate {
                manage_stock: true,
                stock_quantity: push.available.max(0),
            };
            match self
                .send_json(reqwest::Method::PUT, &path, &body, false)
                .await
            {
                Ok(()) => return Ok(StockPushOutcome::Updated),
                // `woocommerce_rest_product_invalid_id`: deleted since cached.
                Err(RemoteError::Permanent {
                    status: Some(404), ..
                }) => {
                    self.stock_cache().remove(&push.sku);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(StockPushOutcome::NotListed)
    }

    fn kind(&self) -> &'static str {
        "woocommerce"
    }

    async fn fetch_orders(
        &self,
        since: DateTime<Utc>,
        page: Option<String>,
    ) -> Result<OrderPage, RemoteError> {
        let token = match page {
            None => PageToken::first(since, Utc::now()),
            Some(t) => PageToken::decode(&t)
                .ok_or_else(|| RemoteError::permanent("unreadable WooCommerce page token"))?,
        };
        let query = [
            ("modified_after", wc_time(token.after)),
            ("modified_before", wc_time(token.before)),
            ("dates_are_gmt", "true".to_string()),
            ("orderby", "modified".to_string()),
            ("order", "asc".to_string()),
            ("status", "any".to_string()),
            ("per_page", self.page_size.to_string()),
            ("page", token.page.to_string()),
        ];
        let raw = self
            .get_raw(&format!("{API_PREFIX}/orders"), &query)
            .await?;
        let items: Vec<Value> = raw.json()?;
        let total_pages: Option<u32> = raw
            .headers
            .get("X-WP-TotalPages")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let last_modified = items
            .iter()
            .filter_map(|v| v.get("date_modified_gmt")?.as_str())
            .filter_map(|s| parse_gmt("date_modified_gmt", s).ok())
            .map(|t| t.timestamp())
            .max();
        let has_more = match total_pages {
            Some(pages) => token.page < pages,
            None => items.len() as u32 >= self.page_size,
        };
        let orders = items
            .iter()
            .map(|v| mapping::order_from_value(v).map_err(|e| quarantine(v, e.to_string())))
            .collect();
        Ok(OrderPage {
            orders,
            next_page: (has_more && !items.is_empty()).then(|| token.next(last_modified).encode()),
        })
    }

    fn verify_webhook(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<VerifiedWebhook, WebhookError> {
        verify_woocommerce_webhook(&self.webhook_secret.0, headers, body)
    }

    fn order_from_webhook(&self, topic: &str, body: &[u8]) -> Result<WebhookOrder, Quarantined> {
        if topic == TOPIC_PING {
            return Ok(WebhookOrder::Ignored);
        }
        let raw_text = String::from_utf8_lossy(body).into_owned();
        let value: Value = serde_json::from_slice(body).map_err(|e| Quarantined {
            external_id: None,
            reason: format!("{topic}: body is not JSON: {e}"),
            raw: raw_text.clone(),
        })?;
        // `order.deleted` carries `{"id": N}` only.
        let id_only = value.as_object().is_some_and(|o| o.len() == 1);
        if topic == "order.deleted" || id_only {
            return external_id_of(&value)
                .map(|external_id| WebhookOrder::Changed { external_id })
                .ok_or_else(|| Quarantined {
                    external_id: None,
                    reason: format!("{topic}: no order id in the body"),
                    raw: raw_text,
                });
        }
        mapping::order_from_value(&value)
            .map(|o| WebhookOrder::Order(Box::new(o)))
            .map_err(|e| Quarantined {
                external_id: external_id_of(&value),
                reason: format!("{topic}: {e}"),
                raw: raw_text,
            })
    }

    async fn push_tracking(&self, push: &TrackingPush) -> Result<(), RemoteError> {
        let number = push.tracking_number.trim();
        if number.is_empty() {
            return Err(RemoteError::permanent("empty tracking number"));
        }
        let id: u64 = push.order_external_id.trim().parse().map_err(|_| {
            RemoteError::permanent(format!(
                "`{}` is not a WooCommerce order id",
                push.order_external_id.chars().take(40).collect::<String>()
            ))
        })?;
        let mut round = 0;
        loop {
            match self.push_round(id, push, number).await {
                Err(err) if err.is_retryable() && round + 1 < PUSH_ROUNDS.max_attempts => {
                    let delay = PUSH_ROUNDS.delay(round, err.retry_after());
                    tracing::debug!(channel = %self.channel_id, order = id, round, delay_ms = delay.as_millis() as u64, error = %err, "tracking push unanswered; reading again before another attempt");
                    tokio::time::sleep(delay).await;
                    round += 1;
                }
                other => return other,
            }
        }
    }
}
