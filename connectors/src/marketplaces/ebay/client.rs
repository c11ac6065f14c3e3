//! The eBay connector: Sell Fulfillment API v1 through the shared HTTP client,
//! with an OAuth user token minted from the seller's refresh token.
//!
//! - Token: `POST /identity/v1/oauth2/token` (`grant_type=refresh_token`, Basic
//!   auth `client_id:client_secret`), cached until shortly before `expires_in`
//!   runs out; a 401 on an API call refreshes it once and repeats the call. A
//!   refresh eBay refuses (`invalid_grant`: the seller revoked consent or the
//!   token expired after its 18 months) is a permanent 401, so the channel shows
//!   as auth_failed.
//! - Orders: `GET /sell/fulfillment/v1/order?filter=lastmodifieddate:[since..]`
//!   with `limit`/`offset` paging; the page token is the next offset (taken from
//!   eBay's `next` href). eBay's filter reaches back 90 days only, so an older
//!   `since` is clamped (orders untouched for 90 days cannot be listed anyway).
//!   `fieldGroups=TAX_BREAKDOWN` is asked for so totals include the tax eBay
//!   collects (see `mapping`).
//! - Tracking: `createShippingFulfillment` is not idempotent, so each round first
//!   reads the order's fulfillments (`getShippingFulfillments`) and posts only
//!   when the tracking number is not there yet; the post itself is sent once per
//!   round (no blind retry), and a lost answer is followed by a fresh read.
//! - Webhooks: eBay has no order webhooks for REST apps (order notifications are
//!   the Trading API's SOAP Platform Notifications), so every delivery is refused.

use super::mapping::{external_id_of, normalize_value};
use super::wire::{
    BulkPriceQuantity, BulkPriceQuantityResponse, PriceQuantity, ShipToLocationAvailability,
};
use super::wire::{
    LineItemReference, Order as EbayOrder, OrderSearchPagedCollection, ShippingFulfillmentDetails,
    ShippingFulfillmentPagedCollection, TokenResponse,
};
use crate::http::{HttpClient, RateLimit, RawResponse, RemoteError, RetryPolicy};
use crate::marketplace::{
    ChannelSetup, Marketplace, OrderPage, StockPush, StockPushOutcome, TrackingPush,
    VerifiedWebhook, WebhookError, WebhookOrder,
};
use async_trait::async_trait;
use chrono::{DateTime, Duration as ChronoDuration, SecondsFormat, Utc};
use orderhub_core::Quarantined;
use reqwest::Method;
use serde_json::Value;
use std::time::{Duration, Instant};

pub const DEFAULT_MARKETPLACE_ID: &str = "EBAY_US";
/// eBay's maximum `limit` for getOrders (its default is 50).
pub const MAX_PAGE_SIZE: u32 = 200;
pub const DEFAULT_PAGE_SIZE: u32 = MAX_PAGE_SIZE;
pub const SCOPE_FULFILLMENT: &str = "https://api.ebay.com/oauth/api_scope/sell.fulfillment";
pub const HEADER_MARKETPLACE_ID: &str = "X-EBAY-C-MARKETPLACE-ID";
pub const TOKEN_PATH: &str = "/identity/v1/oauth2/token";
pub const ORDERS_PATH: &str = "/sell/fulfillment/v1/order";
/// Sell Inventory API: bulkUpdatePriceQuantity (quantity by sku, no lookup).
pub const BULK_PRICE_QUANTITY_PATH: &str = "/sell/inventory/v1/bulk_update_price_quantity";
/// The Inventory API's error for a sku it has no inventory item for.
pub const ERROR_SKU_NOT_FOUND: u64 = 25702;

/// The bulkUpdatePriceQuantity body for one sku's quantity.
pub fn stock_request(push: &StockPush) -> BulkPriceQuantity {
    BulkPriceQuantity {
        requests: vec![PriceQuantity {
            sku: push.sku.clone(),
            ship_to_location_availability: Some(ShipToLocationAvailability {
                quantity: push.available.max(0),
            }),
        }],
    }
}

/// What bulkUpdatePriceQuantity's answer says about `sku`.
pub fn stock_outcome(
    resp: &BulkPriceQuantityResponse,
    sku: &str,
) -> Result<StockPushOutcome, RemoteError> {
    let Some(r) = resp
        .responses
        .iter()
        .find(|r| r.sku.as_deref().is_none_or(|s| s == sku))
    else {
        return Err(RemoteError::permanent(format!(
            "eBay bulkUpdatePriceQuantity answered nothing for sku {sku}"
        )));
    };
    if (200..300).contains(&r.status_code) {
        return Ok(StockPushOutcome::Updated);
    }
    if r.status_code == 404 || r.errors.iter().any(|e| e.error_id == ERROR_SKU_NOT_FOUND) {
        return Ok(StockPushOutcome::NotListed);
    }
    let message = r
        .errors
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e.error_id,
                e.message.as_deref().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    if r.status_code == 429 || r.status_code >= 500 {
        return Err(RemoteError::retryable(
            format!("eBay stock update for {sku}: {} {message}", r.status_code),
            None,
        ));
    }
    Err(RemoteError::Permanent {
        status: Some(r.status_code),
        message: format!("eBay stock update for {sku}: {message}"),
    })
}
/// How far back eBay's `lastmodifieddate` filter reaches.
pub const FILTER_LOOKBACK_DAYS: i64 = 90;
/// eBay's published default call limit for the Sell Fulfillment API, per
/// application per day (more after an Application Growth Check).
pub const PUBLISHED_DAILY_CALLS: u64 = 100_000;
/// The client's pace: under the sandbox's documented smoothing of 25 calls/s
/// (eBay itself publishes only the daily quota).
pub const DEFAULT_RATE: RateLimit = RateLimit {
    per_second: 20.0,
    burst: 5,
};

/// Rounds of "read fulfillments, post once" before giving up with the last
/// retryable error, and the pause between them.
const PUSH_RETRY: RetryPolicy = RetryPolicy {
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

#[derive(Debug, Clone)]
struct CachedToken {
    token: Secret,
    /// Refresh from here on (a safety margin before eBay's expiry).
    refresh_at: Instant,
}

/// The eBay marketplace connector.
pub struct EbayConnector {
    channel_id: String,
    base: String,
    marketplace_id: String,
    page_size: u32,
    client_id: Secret,
    client_secret: Secret,
    refresh_token: Secret,
    /// Retries 429/5xx/timeouts (reads, the token endpoint).
    http: HttpClient,
    /// Same limiter, one attempt: for the non-idempotent fulfillment post.
    http_once: HttpClient,
    token: tokio::sync::Mutex<Option<CachedToken>>,
}

impl std::fmt::Debug for EbayConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EbayConnector")
            .field("channel_id", &self.channel_id)
            .field("base", &self.base)
            .field("marketplace_id", &self.marketplace_id)
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

fn valid_marketplace_id(s: &str) -> bool {
    s.starts_with("EBAY_") && s.len() > 5 && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
}

impl EbayConnector {
    /// Build from configuration; every problem is listed at once.
    pub fn new(setup: ChannelSetup) -> Result<Self, String> {
        let mut problems = Vec::new();
        let base = setup.http_base_url("an http(s) URL (https://api.ebay.com)", &mut problems);
        let marketplace_id = setup
            .options
            .get("marketplace_id")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| DEFAULT_MARKETPLACE_ID.to_string());
        if !valid_marketplace_id(&marketplace_id) {
            problems.push(format!(
                "option `marketplace_id` must be an eBay marketplace id such as EBAY_US (got `{marketplace_id}`)"
            ));
        }
        let page_size = setup.whole_number_option(
            "page_size",
            DEFAULT_PAGE_SIZE,
            1..=MAX_PAGE_SIZE,
            &mut problems,
        );
        let rate = match setup.options.get("requests_per_second").map(|s| s.trim()) {
            None => DEFAULT_RATE,
            Some(s) => match s.parse::<f64>() {
                Ok(r) if r.is_finite() && r > 0.0 && r <= 1000.0 => RateLimit {
                    per_second: r,
                    burst: DEFAULT_RATE.burst,
                },
                _ => {
                    problems.push(format!(
                        "option `requests_per_second` must be a number above 0 and at most 1000 (got `{s}`)"
                    ));
                    DEFAULT_RATE
                }
            },
        };
        setup.require_secrets(
            &["client_id", "client_secret", "refresh_token"],
            &mut problems,
        );
        for key in setup.options.keys() {
            if !["marketplace_id", "page_size", "requests_per_second"].contains(&key.as_str()) {
                problems.push(format!("unknown option `{key}`"));
            }
        }
        if !problems.is_empty() {
            return Err(format!(
                "ebay channel `{}`: {}",
                setup.channel_id,
                problems.join("; ")
            ));
        }
        let http = HttpClient::new(
            format!("ebay:{}", setup.channel_id),
            setup.request_timeout,
            Some(rate),
        );
        Ok(Self {
            http_once: http.clone().with_retry_policy(RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            }),
            http,
            base,
            marketplace_id,
            page_size,
            client_id: Secret(setup.secret("client_id").trim().to_string()),
            client_secret: Secret(setup.secret("client_secret").trim().to_string()),
            refresh_token: Secret(setup.secret("refresh_token").trim().to_string()),
            channel_id: setup.channel_id,
            token: tokio::sync::Mutex::new(None),
        })
    }

    /// Replace the shared client (e.g. a test's faster retry policy); the
    /// fulfillment post keeps a one-attempt copy of it.
    pub fn with_http_client(mut self, http: HttpClient) -> Self {
        self.http_once = http.clone().with_retry_policy(RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        });
        self.http = http;
        self
    }

    pub fn page_size(&self) -> u32 {
        self.page_size
    }

    /// A valid access token: the cached one, or a fresh one. `stale` names a
    /// token eBay just refused; it is replaced unless another call already did.
    async fn access_token(&self, stale: Option<&str>) -> Result<String, RemoteError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref() {
            let refused = stale.is_some_and(|s| s == t.token.0);
            if !refused && Instant::now() < t.refresh_at {
                return Ok(t.token.0.clone());
            }
        }
        let fresh = self.mint_token().await?;
        let value = fresh.token.0.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    async fn mint_token(&self) -> Result<CachedToken, RemoteError> {
        let url = format!("{}{TOKEN_PATH}", self.base);
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "refresh_token")
            .append_pair("refresh_token", &self.refresh_token.0)
            .append_pair("scope", SCOPE_FULFILLMENT)
            .finish();
        let started = Instant::now();
        let token: TokenResponse = self
            .http
            .execute(
                |c| {
                    c.post(&url)
                        .basic_auth(&self.client_id.0, Some(&self.client_secret.0))
                        .header(
                            http::header::CONTENT_TYPE,
                            "application/x-www-form-urlencoded",
                        )
                        .body(body.clone())
                },
                |r| r.json::<TokenResponse>(),
            )
            .await
            .map_err(|e| match e {
                // eBay answers a revoked/expired refresh token or wrong client
                // credentials with 400/401 `invalid_grant`/`invalid_client`.
                RemoteError::Permanent {
                    status: Some(400 | 401),
                    message,
                } if message.contains("invalid_grant") || message.contains("invalid_client") => {
                    RemoteError::Permanent {
                        status: Some(401),
                        message: format!(
                            "eBay refused the channel's OAuth credentials; re-authorize it ({message})"
                        ),
                    }
                }
                other => other,
            })?;
        if token.access_token.is_empty() {
            return Err(RemoteError::permanent("eBay issued an empty access token"));
        }
        let lifetime = Duration::from_secs(token.expires_in);
        let margin = (lifetime / 4).min(Duration::from_secs(120));
        Ok(CachedToken {
            token: Secret(token.access_token),
            refresh_at: started + lifetime.saturating_sub(margin),
        })
    }

    /// One Fulfillment API call with the bearer token; a 401 refreshes the token
    /// once and repeats the call. `retry` = let the shared client retry
    /// 429/5xx/timeouts (never for the non-idempotent post).
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        retry: bool,
    ) -> Result<RawResponse, RemoteError> {
        let mut url = format!("{}{path}", self.base);
        if !query.is_empty() {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in query {
                q.append_pair(k, v);
            }
            url = format!("{url}?{}", q.finish());
        }
        let http = if retry { &self.http } else { &self.http_once };
        let mut token = self.access_token(None).await?;
        let mut refreshed = false;
        loop {
            let result = http
                .execute(
                    |c| {
                        let mut rb = c
                            .request(method.clone(), &url)
                            .bearer_auth(&token)
                            .header(HEADER_MARKETPLACE_ID, &self.marketplace_id)
                            .header(http::header::ACCEPT, "application/json");
                        if let Some(b) = body {
                            rb = rb.json(b);
                        }
                        rb
                    },
                    Ok,
                )
                .await;
            match result {
                Err(RemoteError::Permanent {
                    status: Some(401), ..
                }) if !refreshed => {
                    refreshed = true;
                    token = self.access_token(Some(&token)).await?;
                }
                other => return other,
            }
        }
    }

    fn order_path(order_id: &str) -> Result<String, RemoteError> {
        // Order ids are `12-03468-77349` or legacy `110123456789!260000000562911`.
        let ok = !order_id.is_empty()
            && order_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'!' | b'_'));
        if ok {
            Ok(format!("{ORDERS_PATH}/{order_id}"))
        } else {
            Err(RemoteError::permanent(format!(
                "`{order_id}` is not an eBay order id"
            )))
        }
    }

    /// The line items a shipment carries: the push's lines by eBay line id (or
    /// sku, looked up on the order), or every line of the order when it names none.
    async fn shipment_lines(
        &self,
        push: &TrackingPush,
    ) -> Result<Vec<LineItemReference>, RemoteError> {
        if !push.lines.is_empty() && push.lines.iter().all(|l| l.external_id.is_some()) {
            return Ok(push
                .lines
                .iter()
                .filter_map(|l| {
                    l.external_id.as_ref().map(|id| LineItemReference {
                        line_item_id: id.clone(),
                        quantity: l.quantity.max(1),
                    })
                })
                .collect());
        }
        let order: EbayOrder = self
            .call(
                Method::GET,
                &Self::order_path(&push.order_external_id)?,
                &[],
                None,
                true,
            )
            .await?
            .json()?;
        if push.lines.is_empty() {
            return Ok(order
                .line_items
                .iter()
                .map(|l| LineItemReference {
                    line_item_id: l.line_item_id.clone(),
                    quantity: l.quantity,
                })
                .collect());
        }
        push.lines
            .iter()
            .map(|l| {
                let id = match (&l.external_id, &l.sku) {
                    (Some(id), _) => Some(id.clone()),
                    (None, Some(sku)) => order
                        .line_items
                        .iter()
                        .find(|li| li.sku.as_deref() == Some(sku.as_str()))
                        .map(|li| li.line_item_id.clone()),
                    (None, None) => None,
                };
                id.map(|line_item_id| LineItemReference {
                    line_item_id,
                    quantity: l.quantity.max(1),
                })
                .ok_or_else(|| {
                    RemoteError::permanent(format!(
                        "order {} has no line item for {:?}",
                        push.order_external_id, l
                    ))
                })
            })
            .collect()
    }
}

/// The page token (`offset`) in eBay's `next` href.
fn offset_of(href: &str) -> Option<u64> {
    let url = url::Url::parse(href)
        .or_else(|_| url::Url::parse(&format!("http://x{href}")))
        .ok()?;
    let offset = url
        .query_pairs()
        .find(|(k, _)| k == "offset")
        .and_then(|(_, v)| v.parse().ok());
    offset
}

/// orderhub's carrier names → eBay shipping carrier codes (the Trading API's
/// `ShippingCarrierCodeType`, which `createShippingFulfillment` takes). A name
/// not in the table is sent as written, so eBay decides rather than a guess.
pub fn ebay_carrier_code(carrier: &str) -> String {
    let key: String = carrier
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    let code = match key.as_str() {
        "usps" | "unitedstatespostalservice" => "USPS",
        "ups" => "UPS",
        "fedex" | "federalexpress" => "FedEx",
        "dhl" | "dhlparcel" | "dhlpaket" => "DHL",
        "dhlexpress" => "DHLEXPRESS",
        "dhlglobalmail" | "dhlecommerce" => "DHLGlobalMail",
        "royalmail" => "RoyalMail",
        "parcelforce" => "Parcelforce",
        "deutschepost" => "DeutschePost",
        "hermes" | "evri" => "Hermes",
        "dpd" => "DPD",
        "gls" => "GLS",
        "yodel" => "Yodel",
        "tnt" => "TNT",
        "australiapost" => "AustraliaPost",
        "postnl" => "PostNL",
        "colissimo" => "Colissimo",
        "chronopost" => "Chronopost",
        "laposte" => "LAPOSTE",
        "swisspost" => "SwissPost",
        "correos" => "Correos",
        _ => return carrier.trim().to_string(),
    };
    code.to_string()
}

#[async_trait]
impl Marketplace for EbayConnector {
    fn kind(&self) -> &'static str {
        "ebay"
    }

    async fn fetch_orders(
        &self,
        since: DateTime<Utc>,
        page: Option<String>,
    ) -> Result<OrderPage, RemoteError> {
        let offset: u64 = match page.as_deref() {
            None => 0,
            Some(p) => p.parse().map_err(|_| {
                RemoteError::permanent(format!("page token `{p}` is not an eBay offset"))
            })?,
        };
        // eBay's filter reaches back 90 days; a minute's slack keeps the clamped
        // start inside the window by the time eBay reads it.
        let floor =
            Utc::now() - ChronoDuration::days(FILTER_LOOKBACK_DAYS) + ChronoDuration::minutes(1);
        if since < floor {
            tracing::debug!(channel = %self.channel_id, %since, %floor, "since clamped to eBay's 90-day filter window");
        }
        let from = since.max(floor);
        let query = [
            (
                "filter",
                format!(
                    "lastmodifieddate:[{}..]",
                    from.to_rfc3339_opts(SecondsFormat::Millis, true)
                ),
            ),
            ("limit", self.page_size.to_string()),
            ("offset", offset.to_string()),
            ("fieldGroups", "TAX_BREAKDOWN".to_string()),
        ];
        let page: OrderSearchPagedCollection<Value> = self
            .call(Method::GET, ORDERS_PATH, &query, None, true)
            .await?
            .json()?;
        let count = page.orders.len() as u64;
        let orders = page
            .orders
            .iter()
            .map(|raw| {
                normalize_value(raw).map_err(|e| Quarantined {
                    external_id: external_id_of(raw),
                    reason: e.to_string(),
                    raw: raw.to_string(),
                })
            })
            .collect();
        let next_page = page
            .next
            .as_deref()
            .map(|href| offset_of(href).unwrap_or(page.offset + count))
            .filter(|_| count > 0)
            .map(|o| o.to_string());
        Ok(OrderPage { orders, next_page })
    }

    // getOrders lists by creation date, newest first: the cursor waits for the last page.
    fn pages_oldest_first(&self) -> bool {
        false
    }

    fn verify_webhook(
        &self,
        _headers: &http::HeaderMap,
        _body: &[u8],
    ) -> Result<VerifiedWebhook, WebhookError> {
        // Fail closed: nothing arriving here can be an eBay order webhook.
        Err(WebhookError::UnsupportedTopic(
            "eBay sends no order webhooks to REST apps".into(),
        ))
    }

    fn order_from_webhook(&self, topic: &str, body: &[u8]) -> Result<WebhookOrder, Quarantined> {
        Err(Quarantined {
            external_id: None,
            reason: format!("eBay sends no order webhooks to REST apps (topic `{topic}`)"),
            raw: String::from_utf8_lossy(body).into_owned(),
        })
    }

    /// One `bulk_update_price_quantity` call: eBay addresses inventory by
    /// sku, so there is nothing to look up or cache. Setting a quantity twice
    /// is harmless, so the shared client may retry it.
    async fn push_stock(&self, push: &StockPush) -> Result<StockPushOutcome, RemoteError> {
        let body = serde_json::to_value(stock_request(push))
            .map_err(|e| RemoteError::permanent(format!("encoding the stock update: {e}")))?;
        let resp: BulkPriceQuantityResponse = self
            .call(
                Method::POST,
                BULK_PRICE_QUANTITY_PATH,
                &[],
                Some(&body),
                true,
            )
            .await?
            .json()?;
        stock_outcome(&resp, &push.sku)
    }

    async fn push_tracking(&self, push: &TrackingPush) -> Result<(), RemoteError> {
        let number = push.tracking_number.trim();
        if number.is_empty() {
            return Err(RemoteError::permanent("tracking number is empty"));
        }
        let path = format!(
            "{}/shipping_fulfillment",
            Self::order_path(&push.order_external_id)?
        );
        let mut lines: Option<Vec<LineItemReference>> = None;
        let mut last: Option<RemoteError> = None;
        for round in 0..PUSH_RETRY.max_attempts {
            if let Some(err) = &last {
                tokio::time::sleep(PUSH_RETRY.delay(round - 1, err.retry_after())).await;
            }
            let existing: ShippingFulfillmentPagedCollection = self
                .call(Method::GET, &path, &[], None, true)
                .await?
                .json()?;
            let already = existing.fulfillments.iter().any(|f| {
                f.shipment_tracking_number
                    .as_deref()
                    .is_some_and(|n| n.trim().eq_ignore_ascii_case(number))
            });
            if already {
                return Ok(());
            }
            let items = match &lines {
                Some(l) => l.clone(),
                None => {
                    let l = self.shipment_lines(push).await?;
                    lines = Some(l.clone());
                    l
                }
            };
            let body = ShippingFulfillmentDetails {
                line_items: items,
                shipped_date: Some(push.shipped_at.to_rfc3339_opts(SecondsFormat::Millis, true)),
                shipping_carrier_code: Some(ebay_carrier_code(&push.carrier)),
                tracking_number: Some(number.to_string()),
            };
            let body = serde_json::to_value(&body)
                .map_err(|e| RemoteError::permanent(format!("encoding the fulfillment: {e}")))?;
            match self
                .call(Method::POST, &path, &[], Some(&body), false)
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if e.is_retryable() => {
                    tracing::debug!(channel = %self.channel_id, order = %push.order_external_id, error = %e, "fulfillment post unanswered; reading fulfillments again");
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| RemoteError::retryable("fulfillment not confirmed", None)))
    }
}
