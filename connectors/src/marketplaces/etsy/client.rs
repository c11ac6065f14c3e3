//! The Etsy connector: Open API v3 calls through the shared HTTP client.
//!
//! - Every call carries `x-api-key: {keystring}:{shared_secret}` and
//!   `Authorization: Bearer {access_token}`. Access tokens (an hour at Etsy)
//!   come from `POST /v3/public/oauth/token` with `grant_type=refresh_token`;
//!   they are refreshed before they expire and once more on a 401.
//! - Orders: `GET /v3/application/shops/{shop_id}/receipts?min_last_modified=
//!   &sort_on=updated&sort_order=asc&limit=&offset=`, oldest update first;
//!   each receipt is mapped on its own. Offset paging over a list that can
//!   change while it is read: an update moves a receipt to the end (seen
//!   there), which pulls the items behind it back by one, so each next page
//!   starts [`PAGE_OVERLAP`] items early.
//! - Tracking: `POST .../receipts/{receipt_id}/tracking` adds a shipment each
//!   time it is called, so the receipt's `shipments[]` is read first and after
//!   any failed attempt, and the POST itself is never blindly retried.

use super::mapping::{self, external_id_of};
use super::wire::{inventory_with_quantity, ListingInventory, ListingsPage};
use super::wire::{CreateReceiptShipment, ReceiptsPage, ShopReceipt, TokenResponse};
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
use serde::Deserialize;
use sha2::Sha256;
use std::time::{Duration, Instant};

/// Etsy's cap on `limit`.
pub const MAX_PAGE: u32 = 100;
/// Items each next page re-reads from the previous one (see the module docs).
pub const PAGE_OVERLAP: u64 = 2;
/// Etsy allows 10 requests per second (and 10,000 per rolling 24 h) per app.
/// 7/s with a burst of 2 sends at most 9 in any one-second window.
pub const CLIENT_RATE: RateLimit = RateLimit {
    per_second: 7.0,
    burst: 2,
};
/// Refresh this long before Etsy's `expires_in` runs out.
const TOKEN_MARGIN: Duration = Duration::from_secs(30);
/// Standard Webhooks headers Etsy signs its deliveries with.
pub const HEADER_WEBHOOK_ID: &str = "webhook-id";
pub const HEADER_WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_WEBHOOK_SIGNATURE: &str = "webhook-signature";
/// How far a webhook timestamp may be from now.
const WEBHOOK_TOLERANCE_SECS: i64 = 300;

/// A secret that never prints.
#[derive(Clone)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone)]
struct AccessToken {
    token: Secret,
    expires: Instant,
}

#[derive(Debug)]
struct TokenState {
    refresh_token: Secret,
    access: Option<AccessToken>,
}

pub struct EtsyConnector {
    channel_id: String,
    shop_id: String,
    /// `{base}/v3/application/shops/{shop_id}`
    api: String,
    token_url: String,
    keystring: Secret,
    /// `keystring:shared_secret`, the `x-api-key` value.
    api_key: Secret,
    tokens: tokio::sync::Mutex<TokenState>,
    http: HttpClient,
    /// Same limiter, no automatic retries: for the non-idempotent POST.
    http_once: HttpClient,
    retry: RetryPolicy,
    page_size: u32,
    /// sku → listing id, from one scan of the shop's active listings.
    listings: std::sync::Mutex<ListingIndex>,
}

/// The shop's skus by listing, and when they were last scanned.
#[derive(Debug, Default)]
struct ListingIndex {
    by_sku: std::collections::HashMap<String, u64>,
    scanned_at: Option<std::time::Instant>,
}

/// How long a scan of the shop's listings answers "not listed" for a sku it
/// did not find, before the next push of that sku scans again.
pub const LISTING_SCAN_TTL: Duration = Duration::from_secs(600);
/// Etsy's largest offering quantity.
pub const MAX_OFFERING_QUANTITY: i64 = 999;

impl std::fmt::Debug for EtsyConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtsyConnector")
            .field("channel_id", &self.channel_id)
            .field("shop_id", &self.shop_id)
            .field("api", &self.api)
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

/// The carrier name Etsy knows for orderhub's carrier name (Etsy's shipping
/// carrier list uses lower-case slugs such as `usps`).
pub fn etsy_carrier_name(carrier: &str) -> String {
    let c = carrier.trim().to_ascii_lowercase();
    let known = match c.as_str() {
        "usps" => "usps",
        "ups" => "ups",
        "fedex" => "fedex",
        "dhl" => "dhl",
        "dhl express" | "dhl-express" => "dhl-express",
        "dhl ecommerce" | "dhl global mail" => "dhl-global-mail",
        "royal mail" => "royal-mail",
        "canada post" => "canada-post",
        "australia post" => "australia-post",
        "deutsche post" => "deutsche-post",
        "dpd" => "dpd",
        "evri" | "hermes" => "hermes",
        "parcelforce" => "parcel-force",
        "la poste" | "colissimo" => "colissimo",
        "" => "other",
        _ => "",
    };
    if known.is_empty() {
        c.split_whitespace().collect::<Vec<_>>().join("-")
    } else {
        known.to_string()
    }
}

fn form_body(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

impl EtsyConnector {
    /// Build from configuration; every problem is listed at once.
    pub fn new(setup: ChannelSetup) -> Result<Self, String> {
        let mut problems = Vec::new();
        let base = setup.http_base_url("an http(s) URL (https://openapi.etsy.com)", &mut problems);
        let shop_id = setup
            .options
            .get("shop_id")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        if shop_id.is_empty() || !shop_id.bytes().all(|b| b.is_ascii_digit()) {
            problems.push("option `shop_id` (the numeric Etsy shop id) is required".into());
        }
        let page_size =
            setup.whole_number_option("page_size", MAX_PAGE, 1..=MAX_PAGE, &mut problems);
        setup.require_secrets(super::SECRETS, &mut problems);
        if !problems.is_empty() {
            return Err(format!(
                "etsy channel `{}`: {}",
                setup.channel_id,
                problems.join("; ")
            ));
        }
        let http = HttpClient::new(
            format!("etsy:{}", setup.channel_id),
            setup.request_timeout,
            Some(CLIENT_RATE),
        );
        let keystring = setup.secret("keystring").trim().to_string();
        let shared = setup.secret("shared_secret").trim().to_string();
        let retry = RetryPolicy::default();
        Ok(Self {
            api: format!("{base}/v3/application/shops/{shop_id}"),
            token_url: format!("{base}/v3/public/oauth/token"),
            shop_id,
            api_key: Secret(format!("{keystring}:{shared}")),
            keystring: Secret(keystring),
            tokens: tokio::sync::Mutex::new(TokenState {
                refresh_token: Secret(setup.secret("refresh_token").trim().to_string()),
                access: None,
            }),
            http_once: http.clone().with_retry_policy(RetryPolicy {
                max_attempts: 1,
                ..retry
            }),
            http,
            retry,
            channel_id: setup.channel_id,
            page_size,
            listings: std::sync::Mutex::new(ListingIndex::default()),
        })
    }

    /// Swap the HTTP client and retry schedule (tests use faster retries).
    pub fn with_http_client(mut self, http: HttpClient, retry: RetryPolicy) -> Self {
        self.http_once = http.clone().with_retry_policy(RetryPolicy {
            max_attempts: 1,
            ..retry
        });
        self.http = http.with_retry_policy(retry);
        self.retry = retry;
        self
    }

    pub fn api_base(&self) -> &str {
        &self.api
    }

    /// A valid access token, refreshed when missing or about to expire.
    async fn access_token(&self, stale: Option<&str>) -> Result<String, RemoteError> {
        let mut state = self.tokens.lock().await;
        if let Some(a) = &state.access {
            if a.expires > Instant::now() && stale != Some(a.token.0.as_str()) {
                return Ok(a.token.0.clone());
            }
        }
        let body = form_body(&[
            ("grant_type", "refresh_token"),
            ("client_id", &self.keystring.0),
            ("refresh_token", &state.refresh_token.0),
        ]);
        let api_key = self.api_key.0.as_str();
        let result = self
            .http
            .execute(
                |c| {
                    c.post(&self.token_url)
                        .header("x-api-key", api_key)
                        .header(
                            http::header::CONTENT_TYPE,
                            "application/x-www-form-urlencoded",
                        )
                        .body(body.clone())
                },
                |raw: RawResponse| raw.json::<TokenResponse>(),
            )
            .await;
        let token = match result {
            Ok(t) => t,
            // A refused refresh token (`invalid_grant`, 400) means the
            // seller's grant is gone: show it as the auth failure it is.
            Err(RemoteError::Permanent {
                status: Some(400 | 401 | 403),
                message,
            }) => {
                return Err(RemoteError::Permanent {
                    status: Some(401),
                    message: format!("Etsy refused the refresh token: {message}"),
                })
            }
            Err(e) => return Err(e),
        };
        if let Some(r) = token.refresh_token.filter(|r| !r.trim().is_empty()) {
            state.refresh_token = Secret(r);
        }
        let lifetime = Duration::from_secs(token.expires_in.unwrap_or(3600));
        // Refresh a little early (a quarter of short lifetimes) so no call
        // goes out with a token about to lapse.
        let margin = TOKEN_MARGIN.min(lifetime / 4);
        state.access = Some(AccessToken {
            token: Secret(token.access_token.clone()),
            expires: Instant::now() + lifetime - margin,
        });
        Ok(token.access_token)
    }

    /// One authenticated call; a 401 refreshes the token and tries once more.
    async fn call<T: DeserializeOwned>(
        &self,
        method: http::Method,
        url: &url::Url,
        form: Option<&str>,
        once: bool,
    ) -> Result<T, RemoteError> {
        let mut stale: Option<String> = None;
        loop {
            let token = self.access_token(stale.as_deref()).await?;
            let api_key = self.api_key.0.as_str();
            let client = if once { &self.http_once } else { &self.http };
            let result = client
                .execute(
                    |c| {
                        let req = c
                            .request(method.clone(), url.clone())
                            .header("x-api-key", api_key)
                            .bearer_auth(&token)
                            .header(http::header::ACCEPT, "application/json");
                        match form {
                            Some(f) => req
                                .header(
                                    http::header::CONTENT_TYPE,
                                    "application/x-www-form-urlencoded",
                                )
                                .body(f.to_string()),
                            None => req,
                        }
                    },
                    |raw: RawResponse| raw.json::<T>(),
                )
                .await;
            match result {
                Err(RemoteError::Permanent {
                    status: Some(401), ..
                }) if stale.is_none() => stale = Some(token),
                other => return other,
            }
        }
    }

    fn url(&self, path: &str, query: &[(&str, String)]) -> Result<url::Url, RemoteError> {
        let mut url = url::Url::parse(&format!("{}{path}", self.api))
            .map_err(|e| RemoteError::permanent(format!("bad API URL: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        Ok(url)
    }

    fn receipt_path(receipt_id: &str) -> Result<String, RemoteError> {
        let id = receipt_id.trim();
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RemoteError::permanent(format!(
                "`{receipt_id}` is not an Etsy receipt id"
            )));
        }
        Ok(format!("/receipts/{id}"))
    }

    /// `{base}/v3/application{path}` (listing endpoints are not under the shop).
    fn app_url(&self, path: &str) -> Result<url::Url, RemoteError> {
        let app = self
            .api
            .strip_suffix(&format!("/shops/{}", self.shop_id))
            .unwrap_or(&self.api);
        url::Url::parse(&format!("{app}{path}"))
            .map_err(|e| RemoteError::permanent(format!("bad API URL: {e}")))
    }

    /// A JSON-bodied call (updateListingInventory); a 401 refreshes the token
    /// once. Setting an inventory twice is harmless, so it may be retried.
    async fn call_json<T: DeserializeOwned>(
        &self,
        method: http::Method,
        url: &url::Url,
        body: &serde_json::Value,
    ) -> Result<T, RemoteError> {
        let mut stale: Option<String> = None;
        loop {
            let token = self.access_token(stale.as_deref()).await?;
            let api_key = self.api_key.0.as_str();
            let result = self
                .http
                .execute(
                    |c| {
                        c.request(method.clone(), url.clone())
                            .header("x-api-key", api_key)
                            .bearer_auth(&token)
                            .header(http::header::ACCEPT, "application/json")
                            .json(body)
                    },
                    |raw: RawResponse| raw.json::<T>(),
                )
                .await;
            match result {
                Err(RemoteError::Permanent {
                    status: Some(401), ..
                }) if stale.is_none() => stale = Some(token),
                other => return other,
            }
        }
    }

    fn listing_index(&self) -> std::sync::MutexGuard<'_, ListingIndex> {
        self.listings.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The listing carrying `sku`: from the index, else from a fresh scan of
    /// the shop's active listings (`skus` of each), at most once per
    /// [`LISTING_SCAN_TTL`] for skus the last scan did not find.
    async fn listing_of(&self, sku: &str, rescan: bool) -> Result<Option<u64>, RemoteError> {
        {
            let idx = self.listing_index();
            if !rescan {
                if let Some(id) = idx.by_sku.get(sku) {
                    return Ok(Some(*id));
                }
                if idx
                    .scanned_at
                    .is_some_and(|t| t.elapsed() < LISTING_SCAN_TTL)
                {
                    return Ok(None);
                }
            }
        }
        let mut by_sku = std::collections::HashMap::new();
        let mut offset = 0u64;
        loop {
            let url = self.url(
                "/listings",
                &[
                    ("state", "active".to_string()),
                    ("limit", MAX_PAGE.to_string()),
                    ("offset", offset.to_string()),
                ],
            )?;
            let page: ListingsPage = self.call(http::Method::GET, &url, None, false).await?;
            let n = page.results.len() as u64;
            for l in page.results {
                for s in l.skus {
                    by_sku.entry(s).or_insert(l.listing_id);
                }
            }
            offset += n;
            if n == 0 || offset >= page.count {
                break;
            }
        }
        let found = by_sku.get(sku).copied();
        let mut idx = self.listing_index();
        idx.by_sku = by_sku;
        idx.scanned_at = Some(std::time::Instant::now());
        Ok(found)
    }

    async fn get_receipt(&self, receipt_id: &str) -> Result<ShopReceipt, RemoteError> {
        let url = self.url(&Self::receipt_path(receipt_id)?, &[])?;
        self.call(http::Method::GET, &url, None, false).await
    }
}

fn has_code(receipt: &ShopReceipt, code: &str) -> bool {
    receipt.shipments.iter().any(|s| {
        s.tracking_code
            .as_deref()
            .is_some_and(|c| c.trim().eq_ignore_ascii_case(code))
    })
}

/// `v1,<base64>` signature of a Standard Webhooks delivery.
pub fn sign_webhook(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&webhook_key(secret))
        .expect("HMAC takes keys of any length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// Etsy's signing secrets are `whsec_` + base64 of the key.
fn webhook_key(secret: &str) -> Vec<u8> {
    let s = secret.trim();
    let b64 = s.strip_prefix("whsec_").unwrap_or(s);
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap_or_else(|_| s.as_bytes().to_vec())
}

/// Verify an Etsy webhook (Standard Webhooks: HMAC-SHA256 over
/// `{webhook-id}.{webhook-timestamp}.{body}`) on its raw body. Fails closed.
pub fn verify_etsy_webhook(
    secret: Option<&str>,
    headers: &http::HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<VerifiedWebhook, WebhookError> {
    let header = |name: &'static str| -> Result<String, WebhookError> {
        headers
            .get(name)
            .ok_or(WebhookError::MissingHeader(name))?
            .to_str()
            .map(|s| s.trim().to_string())
            .map_err(|_| WebhookError::BadSignature)
    };
    let id = header(HEADER_WEBHOOK_ID)?;
    let ts = header(HEADER_WEBHOOK_TIMESTAMP)?;
    let sigs = header(HEADER_WEBHOOK_SIGNATURE)?;
    let secret = secret
        .filter(|s| !s.trim().is_empty())
        .ok_or(WebhookError::BadSignature)?;
    let ts_secs: i64 = ts.parse().map_err(|_| WebhookError::BadSignature)?;
    if (now.timestamp() - ts_secs).abs() > WEBHOOK_TOLERANCE_SECS {
        return Err(WebhookError::BadSignature);
    }
    let key = webhook_key(secret);
    let matched = sigs.split_whitespace().any(|sig| {
        let Some(b64) = sig.strip_prefix("v1,") else {
            return false;
        };
        let Ok(claimed) = base64::engine::general_purpose::STANDARD.decode(b64) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
            return false;
        };
        mac.update(format!("{id}.{ts}.").as_bytes());
        mac.update(body);
        // Constant-time comparison.
        mac.verify_slice(&claimed).is_ok()
    });
    if !matched {
        return Err(WebhookError::BadSignature);
    }
    let topic = serde_json::from_slice::<WebhookEvent>(body)
        .map(|e| e.event_type)
        .map_err(|_| WebhookError::BadSignature)?;
    Ok(VerifiedWebhook {
        delivery_id: id,
        topic,
    })
}

/// Etsy's webhook body: `{"event_type", "resource_url", "shop_id"}`.
#[derive(Debug, Deserialize)]
pub struct WebhookEvent {
    pub event_type: String,
    #[serde(default)]
    pub resource_url: Option<String>,
    #[serde(default)]
    pub shop_id: Option<serde_json::Value>,
}

/// Order events, as Etsy spells them in bodies and in its portal.
const ORDER_EVENTS: [&str; 4] = [
    "order.paid",
    "order.canceled",
    "order.shipped",
    "order.delivered",
];

#[async_trait]
impl Marketplace for EtsyConnector {
    fn kind(&self) -> &'static str {
        "etsy"
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
                .map_err(|_| RemoteError::permanent(format!("bad Etsy page token `{p}`")))?,
        };
        // Whole seconds, rounded down, so the inclusive bound loses nothing.
        let url = self.url(
            "/receipts",
            &[
                ("min_last_modified", since.timestamp().max(0).to_string()),
                ("sort_on", "updated".into()),
                ("sort_order", "asc".into()),
                ("limit", self.page_size.to_string()),
                ("offset", offset.to_string()),
            ],
        )?;
        let result: ReceiptsPage = self.call(http::Method::GET, &url, None, false).await?;
        let orders = result
            .results
            .iter()
            .map(|raw| {
                mapping::order_from_value(raw).map_err(|e| Quarantined {
                    external_id: external_id_of(raw),
                    reason: e.to_string(),
                    raw: raw.to_string(),
                })
            })
            .collect();
        let read = result.results.len() as u64;
        let next_page = (read > 0 && offset + read < result.count).then(|| {
            (offset + read)
                .saturating_sub(PAGE_OVERLAP)
                .max(offset + 1)
                .to_string()
        });
        Ok(OrderPage { orders, next_page })
    }

    fn verify_webhook(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<VerifiedWebhook, WebhookError> {
        // Etsy's webhook signing secret is not among this kind's secrets yet
        // (webhooks are for commercial apps only): refuse every delivery.
        verify_etsy_webhook(None, headers, body, Utc::now())
    }

    /// Etsy's order events carry only the receipt's URL; the worker polls.
    fn order_from_webhook(&self, topic: &str, body: &[u8]) -> Result<WebhookOrder, Quarantined> {
        let raw = String::from_utf8_lossy(body).into_owned();
        let event: WebhookEvent = serde_json::from_slice(body).map_err(|e| Quarantined {
            external_id: None,
            reason: format!("{topic}: not an Etsy webhook event: {e}"),
            raw: raw.clone(),
        })?;
        if !ORDER_EVENTS.contains(&event.event_type.to_ascii_lowercase().as_str()) {
            return Ok(WebhookOrder::Ignored);
        }
        let receipt_id = event
            .resource_url
            .as_deref()
            .and_then(|u| u.trim_end_matches('/').rsplit('/').next())
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
        match receipt_id {
            Some(id) => Ok(WebhookOrder::Changed {
                external_id: id.to_string(),
            }),
            None => Err(Quarantined {
                external_id: None,
                reason: format!("{topic}: resource_url names no receipt"),
                raw,
            }),
        }
    }

    /// The listing is found once (a scan of the shop's active listings,
    /// cached); each push reads the listing's inventory and puts it back with
    /// the sku's offering quantity changed (Etsy's inventory update replaces
    /// every product, so it is a read and a write).
    async fn push_stock(&self, push: &StockPush) -> Result<StockPushOutcome, RemoteError> {
        let quantity = push.available.clamp(0, MAX_OFFERING_QUANTITY);
        for rescan in [false, true] {
            let Some(listing_id) = self.listing_of(&push.sku, rescan).await? else {
                return Ok(StockPushOutcome::NotListed);
            };
            let url = self.app_url(&format!("/listings/{listing_id}/inventory"))?;
            let inv: ListingInventory = match self.call(http::Method::GET, &url, None, false).await
            {
                Ok(inv) => inv,
                Err(RemoteError::Permanent {
                    status: Some(404), ..
                }) => continue, // the listing is gone: scan again
                Err(e) => return Err(e),
            };
            let Some(update) = inventory_with_quantity(&inv, &push.sku, quantity) else {
                continue; // the sku moved to another listing
            };
            let body = serde_json::to_value(&update)
                .map_err(|e| RemoteError::permanent(format!("encoding the inventory: {e}")))?;
            let _: serde_json::Value = self.call_json(http::Method::PUT, &url, &body).await?;
            return Ok(StockPushOutcome::Updated);
        }
        Ok(StockPushOutcome::NotListed)
    }

    async fn push_tracking(&self, push: &TrackingPush) -> Result<(), RemoteError> {
        let code = push.tracking_number.trim();
        if code.is_empty() {
            return Err(RemoteError::permanent("empty tracking number"));
        }
        let receipt = self.get_receipt(&push.order_external_id).await?;
        if has_code(&receipt, code) {
            return Ok(()); // already there: a retry or a second run
        }
        if receipt.status.eq_ignore_ascii_case("canceled") {
            return Err(RemoteError::permanent(format!(
                "Etsy receipt {} is canceled",
                push.order_external_id
            )));
        }
        let shipment = CreateReceiptShipment {
            tracking_code: code.to_string(),
            carrier_name: etsy_carrier_name(&push.carrier),
            send_bcc: Some(push.notify_customer),
        };
        let body = form_body(&[
            ("tracking_code", &shipment.tracking_code),
            ("carrier_name", &shipment.carrier_name),
            (
                "send_bcc",
                if push.notify_customer {
                    "true"
                } else {
                    "false"
                },
            ),
        ]);
        let url = self.url(
            &format!("{}/tracking", Self::receipt_path(&push.order_external_id)?),
            &[],
        )?;
        let mut attempt = 0;
        loop {
            match self
                .call::<serde_json::Value>(http::Method::POST, &url, Some(&body), true)
                .await
            {
                Ok(_) => return Ok(()),
                Err(err) if err.is_retryable() && attempt + 1 < self.retry.max_attempts => {
                    tokio::time::sleep(self.retry.delay(attempt, err.retry_after())).await;
                    attempt += 1;
                    // The failed POST may have been applied (a timeout after
                    // Etsy recorded it): look before sending it again.
                    if has_code(&self.get_receipt(&push.order_external_id).await?, code) {
                        return Ok(());
                    }
                }
                Err(err) => return Err(err),
            }
        }
    }
}
