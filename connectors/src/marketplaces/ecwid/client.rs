//! The Ecwid connector: REST API v3 calls through the shared HTTP client.
//!
//! - `GET {base}/api/v3/{storeId}/orders?updatedFrom=<unix s>&offset=&limit=`,
//!   each item mapped on its own (a bad one is quarantined with its raw JSON).
//!   Ecwid documents no sort parameter for orders, so paging is by offset over
//!   a list that may change while it is read. An order updated mid-sync stays
//!   in the result set (its update time only grows) and its new update time is
//!   after the sync began, so the worker's next, overlapping window sees it
//!   again; new orders only push items forward (a repeat, not a loss). Only a
//!   deletion mid-sync pulls items back: each next page starts
//!   [`PAGE_OVERLAP`] items early, so a few deletions per page lose nothing.
//! - The store's currency and weight unit come from `GET /profile` (orders carry
//!   neither), read once; option `currency` overrides it.
//! - Tracking: `PUT /orders/{orderId}` with `fulfillmentStatus: SHIPPED` and
//!   `trackingNumber`/`trackingUrl`. The order is read first so a retry or a
//!   second run sends nothing, and so a DELIVERED order is not pulled back.
//! - Delivery status: OUT_FOR_DELIVERY and DELIVERED, forward only.
//! - Webhooks: `X-Ecwid-Webhook-Signature` = base64(HMAC-SHA256(client_secret,
//!   "{eventCreated}.{eventId}")); events carry ids only.

use super::mapping::{self, external_id_of, StoreFormats, WeightUnit};
use super::wire::{
    EcwidOrder, ErrorBody, OrderUpdate, OrdersPage, ProductsPage, StockUpdate, StoreProfile,
    UpdateResult, WebhookEvent,
};
use crate::http::{HttpClient, RateLimit, RawResponse, RemoteError};
use crate::marketplace::{
    ChannelSetup, DeliveryStatusPush, Marketplace, OrderPage, StockPush, StockPushOutcome,
    TrackingPush, VerifiedWebhook, WebhookError, WebhookOrder,
};
use async_trait::async_trait;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use orderhub_core::{Currency, Quarantined, TrackingStatus};
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Mutex;

pub const HEADER_SIGNATURE: &str = "X-Ecwid-Webhook-Signature";
/// Ecwid's cap on `limit` for searches.
pub const MAX_PAGE: u32 = 100;
/// Items each next page re-reads from the previous one (see the module docs).
pub const PAGE_OVERLAP: u64 = 2;
/// Ecwid accepts 600 requests per minute per token. 9/s with a burst of 10
/// allows at most 10 + 540 = 550 in any 60 s window, under the limit even
/// when the window is measured from the sandbox's side.
pub const CLIENT_RATE: RateLimit = RateLimit {
    per_second: 9.0,
    burst: 10,
};
/// Order events that mean "poll this order".
pub const ORDER_EVENTS: [&str; 2] = ["order.created", "order.updated"];

/// A secret that never prints.
#[derive(Clone)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

pub struct EcwidConnector {
    channel_id: String,
    store_id: String,
    /// `{base}/api/v3/{storeId}`
    api: String,
    access_token: Secret,
    client_secret: Secret,
    http: HttpClient,
    page_size: u32,
    currency_override: Option<Currency>,
    formats: Mutex<Option<StoreFormats>>,
    /// sku → the product (and variation) that carries it, found once.
    stock_targets: Mutex<HashMap<String, StockTarget>>,
}

/// Where a sku's stock lives in Ecwid: a product, or one of its variations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockTarget {
    pub product_id: u64,
    pub combination_id: Option<u64>,
}

/// The product or variation of a `GET /products?sku=` result carrying `sku`.
pub fn stock_target_in(page: &ProductsPage, sku: &str) -> Option<StockTarget> {
    for p in &page.items {
        if p.sku.as_deref() == Some(sku) {
            return Some(StockTarget {
                product_id: p.id,
                combination_id: None,
            });
        }
        if let Some(c) = p
            .combinations
            .iter()
            .find(|c| c.sku.as_deref() == Some(sku))
        {
            return Some(StockTarget {
                product_id: p.id,
                combination_id: Some(c.id),
            });
        }
    }
    None
}

impl std::fmt::Debug for EcwidConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcwidConnector")
            .field("channel_id", &self.channel_id)
            .field("store_id", &self.store_id)
            .field("api", &self.api)
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

impl EcwidConnector {
    /// Build from configuration; every problem is listed at once.
    pub fn new(setup: ChannelSetup) -> Result<Self, String> {
        let mut problems = Vec::new();
        let base = setup.http_base_url("an http(s) URL", &mut problems);
        let store_id = setup
            .options
            .get("store_id")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        if store_id.is_empty() || !store_id.bytes().all(|b| b.is_ascii_digit()) {
            problems.push("option `store_id` (the numeric Ecwid store id) is required".into());
        }
        let page_size =
            setup.whole_number_option("page_size", MAX_PAGE, 1..=MAX_PAGE, &mut problems);
        let currency_override = match setup.options.get("currency") {
            None => None,
            Some(c) => match Currency::try_from(c.trim().to_string()) {
                Ok(c) => Some(c),
                Err(e) => {
                    problems.push(format!("option `currency`: {e}"));
                    None
                }
            },
        };
        setup.require_secrets(&["access_token", "client_secret"], &mut problems);
        if !problems.is_empty() {
            return Err(format!(
                "ecwid channel `{}`: {}",
                setup.channel_id,
                problems.join("; ")
            ));
        }
        let http = HttpClient::new(
            format!("ecwid:{}", setup.channel_id),
            setup.request_timeout,
            Some(CLIENT_RATE),
        );
        Ok(Self {
            api: format!("{base}/api/v3/{store_id}"),
            store_id,
            access_token: Secret(setup.secret("access_token").trim().to_string()),
            client_secret: Secret(setup.secret("client_secret").to_string()),
            channel_id: setup.channel_id,
            http,
            page_size,
            currency_override,
            formats: Mutex::new(None),
            stock_targets: Mutex::new(HashMap::new()),
        })
    }

    /// Swap the HTTP client (tests use faster retries).
    pub fn with_http_client(mut self, http: HttpClient) -> Self {
        self.http = http;
        self
    }

    pub fn page_size(&self) -> u32 {
        self.page_size
    }

    pub fn api_base(&self) -> &str {
        &self.api
    }

    fn order_url(&self, order_id: &str) -> Result<String, RemoteError> {
        let id = order_id.trim();
        if id.is_empty() {
            return Err(RemoteError::permanent("empty Ecwid order id"));
        }
        let mut url = url::Url::parse(&format!("{}/orders/", self.api))
            .map_err(|e| RemoteError::permanent(format!("bad API URL: {e}")))?;
        url.path_segments_mut()
            .map_err(|_| RemoteError::permanent("bad API URL"))?
            .pop_if_empty()
            .push(id);
        Ok(url.to_string())
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        url: &str,
        query: &[(&str, String)],
    ) -> Result<T, RemoteError> {
        let mut url = url::Url::parse(url)
            .map_err(|e| RemoteError::permanent(format!("bad API URL: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let token = self.access_token.0.as_str();
        self.http
            .execute(
                |c| {
                    c.get(url.clone())
                        .bearer_auth(token)
                        .header(http::header::ACCEPT, "application/json")
                },
                |raw: RawResponse| raw.json::<T>(),
            )
            .await
            .map_err(describe_error)
    }

    /// The store's currency and weight unit, read once from the profile.
    async fn store_formats(&self) -> Result<StoreFormats, RemoteError> {
        if let Some(f) = self.lock_formats().clone() {
            return Ok(f);
        }
        let profile: StoreProfile = self.get_json(&format!("{}/profile", self.api), &[]).await?;
        let units = profile.formats_and_units;
        let currency = match (
            &self.currency_override,
            units.as_ref().and_then(|u| u.currency.clone()),
        ) {
            (Some(c), _) => c.clone(),
            (None, Some(c)) => Currency::try_from(c.trim().to_string())
                .map_err(|e| RemoteError::permanent(format!("Ecwid profile currency: {e}")))?,
            (None, None) => {
                return Err(RemoteError::permanent(
                    "Ecwid profile has no formatsAndUnits.currency; set option `currency`",
                ))
            }
        };
        let formats = StoreFormats {
            currency,
            precision: units
                .as_ref()
                .and_then(|u| u.currency_precision)
                .filter(|p| *p <= 4)
                .unwrap_or(2),
            weight_unit: units
                .as_ref()
                .and_then(|u| u.weight_unit.as_deref())
                .and_then(WeightUnit::parse),
        };
        *self.lock_formats() = Some(formats.clone());
        Ok(formats)
    }

    fn lock_formats(&self) -> std::sync::MutexGuard<'_, Option<StoreFormats>> {
        self.formats.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn get_order(&self, order_id: &str) -> Result<EcwidOrder, RemoteError> {
        let url = self.order_url(order_id)?;
        self.get_json(&url, &[]).await
    }

    /// `PUT /orders/{orderId}`. Sending the same values twice is harmless, so
    /// the shared client may retry it.
    async fn update_order(&self, order_id: &str, update: &OrderUpdate) -> Result<(), RemoteError> {
        let url = self.order_url(order_id)?;
        let token = self.access_token.0.as_str();
        let result: UpdateResult = self
            .http
            .execute(
                |c| c.put(&url).bearer_auth(token).json(update),
                |raw: RawResponse| raw.json::<UpdateResult>(),
            )
            .await
            .map_err(describe_error)?;
        if result.update_count == 0 {
            tracing::debug!(channel = %self.channel_id, order = order_id, "Ecwid updated nothing (values already set)");
        }
        Ok(())
    }
}

impl EcwidConnector {
    fn cached_target(&self, sku: &str) -> Option<StockTarget> {
        self.stock_targets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(sku)
            .cloned()
    }

    fn cache_target(&self, sku: &str, target: Option<StockTarget>) {
        let mut g = self.stock_targets.lock().unwrap_or_else(|p| p.into_inner());
        match target {
            Some(t) => g.insert(sku.to_string(), t),
            None => g.remove(sku),
        };
    }

    /// `GET /products?sku=`: Ecwid matches the product's or a variation's sku exactly.
    async fn find_stock_target(&self, sku: &str) -> Result<Option<StockTarget>, RemoteError> {
        let page: ProductsPage = self
            .get_json(
                &format!("{}/products", self.api),
                &[("sku", sku.to_string())],
            )
            .await?;
        Ok(stock_target_in(&page, sku))
    }

    /// `PUT /products/{id}` or `/products/{id}/combinations/{id}` with the
    /// quantity; `Ok(false)` when Ecwid answers 404 (the product is gone).
    async fn put_stock(&self, target: &StockTarget, available: i64) -> Result<bool, RemoteError> {
        let url = match target.combination_id {
            None => format!("{}/products/{}", self.api, target.product_id),
            Some(c) => format!(
                "{}/products/{}/combinations/{c}",
                self.api, target.product_id
            ),
        };
        let body = StockUpdate {
            quantity: available.max(0),
            unlimited: false,
        };
        let token = self.access_token.0.as_str();
        let result = self
            .http
            .execute(
                |c| c.put(&url).bearer_auth(token).json(&body),
                |raw: RawResponse| raw.json::<UpdateResult>(),
            )
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(RemoteError::Permanent {
                status: Some(404), ..
            }) => Ok(false),
            Err(e) => Err(describe_error(e)),
        }
    }
}

/// Put Ecwid's `errorCode` first in a remote error's message when the body has one.
fn describe_error(err: RemoteError) -> RemoteError {
    let code_of = |message: &str| -> Option<String> {
        let json = message.split_once(": ").map(|(_, b)| b)?;
        let body: ErrorBody = serde_json::from_str(json).ok()?;
        body.error_code
    };
    match err {
        RemoteError::Permanent { status, message } => match code_of(&message) {
            Some(code) => RemoteError::Permanent {
                status,
                message: format!("Ecwid {code}: {message}"),
            },
            None => RemoteError::Permanent { status, message },
        },
        other => other,
    }
}

/// Compute Ecwid's webhook signature for an event.
pub fn sign_webhook(client_secret: &str, event_created: &str, event_id: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(client_secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(format!("{event_created}.{event_id}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `eventCreated` as it was written in the body (a number, kept as its text).
fn event_created_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

/// Verify an Ecwid webhook on its raw body. Fails closed: no secret, an
/// unreadable body or signature, or a mismatch are all refusals.
pub fn verify_ecwid_webhook(
    client_secret: &str,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<VerifiedWebhook, WebhookError> {
    let sig = headers
        .get(HEADER_SIGNATURE)
        .ok_or(WebhookError::MissingHeader(HEADER_SIGNATURE))?
        .to_str()
        .map_err(|_| WebhookError::BadSignature)?
        .trim();
    if client_secret.is_empty() {
        return Err(WebhookError::BadSignature);
    }
    let event: WebhookEvent =
        serde_json::from_slice(body).map_err(|_| WebhookError::BadSignature)?;
    let created = event_created_text(&event.event_created).ok_or(WebhookError::BadSignature)?;
    let claimed = base64::engine::general_purpose::STANDARD
        .decode(sig)
        .map_err(|_| WebhookError::BadSignature)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(client_secret.as_bytes())
        .map_err(|_| WebhookError::BadSignature)?;
    mac.update(format!("{created}.{}", event.event_id).as_bytes());
    // `verify_slice` compares in constant time.
    mac.verify_slice(&claimed)
        .map_err(|_| WebhookError::BadSignature)?;
    Ok(VerifiedWebhook {
        delivery_id: event.event_id,
        topic: event.event_type,
    })
}

/// How far an Ecwid fulfillment status has got, for "forward only".
fn fulfillment_rank(status: &str) -> Option<u8> {
    Some(match status {
        "AWAITING_PROCESSING" | "PROCESSING" | "READY_FOR_PICKUP" => 0,
        "SHIPPED" => 1,
        "OUT_FOR_DELIVERY" => 2,
        "DELIVERED" => 3,
        // WILL_NOT_DELIVER, RETURNED, custom statuses: not ours to move.
        _ => return None,
    })
}

/// The Ecwid fulfillment status for a carrier tracking status, where Ecwid has one.
pub fn ecwid_delivery_status(status: TrackingStatus) -> Option<&'static str> {
    match status {
        TrackingStatus::OutForDelivery => Some("OUT_FOR_DELIVERY"),
        TrackingStatus::Delivered => Some("DELIVERED"),
        _ => None,
    }
}

fn same_number(a: &Option<String>, b: &str) -> bool {
    a.as_deref()
        .is_some_and(|n| n.trim().eq_ignore_ascii_case(b.trim()))
}

#[async_trait]
impl Marketplace for EcwidConnector {
    fn kind(&self) -> &'static str {
        "ecwid"
    }

    async fn fetch_orders(
        &self,
        since: DateTime<Utc>,
        page: Option<String>,
    ) -> Result<OrderPage, RemoteError> {
        let offset: u64 = match page.as_deref() {
            None => 0,
            Some(p) => p
                .trim()
                .parse()
                .map_err(|_| RemoteError::permanent(format!("bad Ecwid page token `{p}`")))?,
        };
        let formats = self.store_formats().await?;
        // Whole seconds, rounded down: `updatedFrom` is inclusive.
        let query = [
            ("updatedFrom", since.timestamp().max(0).to_string()),
            ("offset", offset.to_string()),
            ("limit", self.page_size.to_string()),
        ];
        let result: OrdersPage = self
            .get_json(&format!("{}/orders", self.api), &query)
            .await?;
        let orders = result
            .items
            .iter()
            .map(|raw| {
                mapping::order_from_value(raw, &formats).map_err(|e| Quarantined {
                    external_id: external_id_of(raw),
                    reason: e.to_string(),
                    raw: raw.to_string(),
                })
            })
            .collect();
        let read = result.items.len() as u64;
        let next_page = (read > 0 && offset + read < result.total).then(|| {
            (offset + read)
                .saturating_sub(PAGE_OVERLAP)
                .max(offset + 1)
                .to_string()
        });
        Ok(OrderPage { orders, next_page })
    }

    // Ecwid documents no sort order for orders (its list comes newest first): the cursor waits for the last page.
    fn pages_oldest_first(&self) -> bool {
        false
    }

    /// Found by `GET /products?sku=` once (cached), then one
    /// `PUT /products/{productId}` with `quantity` per push.
    async fn push_stock(&self, push: &StockPush) -> Result<StockPushOutcome, RemoteError> {
        for _ in 0..2 {
            let target = match self.cached_target(&push.sku) {
                Some(t) => t,
                None => match self.find_stock_target(&push.sku).await? {
                    Some(t) => {
                        self.cache_target(&push.sku, Some(t.clone()));
                        t
                    }
                    None => return Ok(StockPushOutcome::NotListed),
                },
            };
            if self.put_stock(&target, push.available).await? {
                return Ok(StockPushOutcome::Updated);
            }
            // Deleted since it was cached: look it up again.
            self.cache_target(&push.sku, None);
        }
        Ok(StockPushOutcome::NotListed)
    }

    fn verify_webhook(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<VerifiedWebhook, WebhookError> {
        verify_ecwid_webhook(&self.client_secret.0, headers, body)
    }

    /// Ecwid's events name the order (`data.orderId`, else the older
    /// `entityId`); the worker then polls. Other events (products, customers,
    /// unfinished orders, `order.deleted`) say nothing to act on.
    fn order_from_webhook(&self, topic: &str, body: &[u8]) -> Result<WebhookOrder, Quarantined> {
        let raw_text = String::from_utf8_lossy(body).into_owned();
        let event: WebhookEvent = serde_json::from_slice(body).map_err(|e| Quarantined {
            external_id: None,
            reason: format!("{topic}: not an Ecwid webhook event: {e}"),
            raw: raw_text.clone(),
        })?;
        if !ORDER_EVENTS.contains(&event.event_type.as_str()) {
            return Ok(WebhookOrder::Ignored);
        }
        let store_matches = match &event.store_id {
            Some(Value::Number(n)) => n.to_string() == self.store_id,
            Some(Value::String(s)) => s.trim() == self.store_id,
            _ => true,
        };
        if !store_matches {
            tracing::warn!(channel = %self.channel_id, "Ecwid webhook for another store ignored");
            return Ok(WebhookOrder::Ignored);
        }
        let from_data = event.data.as_ref().and_then(|d| d.order_id.clone());
        let from_entity = match &event.entity_id {
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        match from_data
            .or(from_entity)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
        {
            Some(external_id) => Ok(WebhookOrder::Changed { external_id }),
            None => Err(Quarantined {
                external_id: None,
                reason: format!("{topic}: event names no order"),
                raw: raw_text,
            }),
        }
    }

    async fn push_tracking(&self, push: &TrackingPush) -> Result<(), RemoteError> {
        let number = push.tracking_number.trim();
        if number.is_empty() {
            return Err(RemoteError::permanent("empty tracking number"));
        }
        let order = self.get_order(&push.order_external_id).await?;
        let status = order.fulfillment_status.as_deref().unwrap_or("");
        let shipped_or_later = fulfillment_rank(status).is_some_and(|r| r >= 1);
        let url = push.tracking_url.clone().filter(|u| !u.trim().is_empty());
        let url_known = url.is_none() || order.tracking_url == url;
        if same_number(&order.tracking_number, number) && shipped_or_later && url_known {
            return Ok(()); // already there: a retry or a second run
        }
        // Ecwid holds one tracking number per order: a later parcel replaces it.
        let update = OrderUpdate {
            // Never pull an order that is out for delivery or delivered back.
            fulfillment_status: (!shipped_or_later && status != "WILL_NOT_DELIVER")
                .then(|| "SHIPPED".to_string()),
            tracking_number: Some(number.to_string()),
            tracking_url: url,
        };
        if status == "WILL_NOT_DELIVER" {
            return Err(RemoteError::permanent(format!(
                "Ecwid order {} is cancelled (WILL_NOT_DELIVER)",
                push.order_external_id
            )));
        }
        self.update_order(&push.order_external_id, &update).await
    }

    async fn push_delivery_status(&self, push: &DeliveryStatusPush) -> Result<(), RemoteError> {
        let Some(target) = ecwid_delivery_status(push.status) else {
            return Ok(()); // Ecwid has no fulfillment status for it
        };
        let order = self.get_order(&push.order_external_id).await?;
        if !same_number(&order.tracking_number, &push.tracking_number) {
            tracing::debug!(channel = %self.channel_id, order = %push.order_external_id, "order holds another tracking number; status not pushed");
            return Ok(());
        }
        let current = order.fulfillment_status.as_deref().unwrap_or("");
        match (fulfillment_rank(current), fulfillment_rank(target)) {
            (Some(now), Some(to)) if to > now => {
                let update = OrderUpdate {
                    fulfillment_status: Some(target.to_string()),
                    ..OrderUpdate::default()
                };
                self.update_order(&push.order_external_id, &update).await
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn setup() -> ChannelSetup {
        ChannelSetup {
            channel_id: "ecwid-1".into(),
            base_url: "https://app.ecwid.com/".into(),
            options: BTreeMap::from([("store_id".to_string(), "1003".to_string())]),
            secrets: BTreeMap::from([
                ("access_token".to_string(), "secret_tok123".to_string()),
                ("client_secret".to_string(), "cs_abc".to_string()),
            ]),
            request_timeout: Duration::from_secs(2),
        }
    }

    #[test]
    fn builds_the_api_base_and_hides_secrets() {
        let c = EcwidConnector::new(setup()).unwrap();
        assert_eq!(c.api_base(), "https://app.ecwid.com/api/v3/1003");
        assert_eq!(
            c.order_url("SALE-G01ZG").unwrap(),
            "https://app.ecwid.com/api/v3/1003/orders/SALE-G01ZG"
        );
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("secret_tok123") && !dbg.contains("cs_abc"),
            "{dbg}"
        );
    }

    #[test]
    fn config_problems_are_listed_together() {
        let mut s = setup();
        s.secrets.clear();
        s.options = BTreeMap::from([
            ("page_size".to_string(), "250".to_string()),
            ("currency".to_string(), "usd".to_string()),
        ]);
        s.base_url = "ftp:/x".into();
        let err = EcwidConnector::new(s).unwrap_err();
        for needle in [
            "base_url",
            "store_id",
            "page_size",
            "currency",
            "access_token",
            "client_secret",
        ] {
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn delivery_statuses_only_move_forward() {
        assert_eq!(
            ecwid_delivery_status(TrackingStatus::Delivered),
            Some("DELIVERED")
        );
        assert_eq!(ecwid_delivery_status(TrackingStatus::InTransit), None);
        assert!(fulfillment_rank("DELIVERED") > fulfillment_rank("OUT_FOR_DELIVERY"));
        assert_eq!(fulfillment_rank("RETURNED"), None);
    }
}
