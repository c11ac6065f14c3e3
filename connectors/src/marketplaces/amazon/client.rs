//! The Amazon connector: Login with Amazon token refresh, Orders v2026-01-01
//! `searchOrders`/`getOrder`, Orders v0 `confirmShipment`, each operation
//! paced by a local token bucket that mirrors Amazon's usage plan so the
//! client waits instead of meeting `QuotaExceeded` (which carries no
//! `Retry-After`).

use super::mapping::{external_id_of, order_from_value};
use super::wire::{
    ConfirmShipmentOrderItem, ConfirmShipmentRequest, GetOrderResponse, LwaTokenResponse,
    PackageDetail, SearchOrdersResponse,
};
use super::wire::{
    FulfillmentAvailability, ListingsItemPatchRequest, ListingsItemSubmissionResponse,
    PatchOperation,
};
use crate::http::{HttpClient, RawResponse, RemoteError, RetryPolicy};
use crate::marketplace::{
    ChannelSetup, Marketplace, OrderPage, StockPush, StockPushOutcome, TrackingPush,
    VerifiedWebhook, WebhookError, WebhookOrder,
};
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use orderhub_core::Quarantined;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const DEFAULT_MARKETPLACE: &str = "ATVPDKIKX0DER";
pub const LWA_URL: &str = "https://api.amazon.com";
/// Data sets asked of `searchOrders`: items are always included.
pub const INCLUDED_DATA: &str = "BUYER,RECIPIENT,PROCEEDS,FULFILLMENT,PACKAGES";
/// Default usage plans (requests/s, burst).
pub const SEARCH_ORDERS_PLAN: (f64, u32) = (0.0056, 20);
pub const GET_ORDER_PLAN: (f64, u32) = (0.5, 30);
pub const CONFIRM_SHIPMENT_PLAN: (f64, u32) = (2.0, 10);
/// Listings Items 2021-08-01 `patchListingsItem`: 5 requests/s, burst 5.
pub const PATCH_LISTINGS_PLAN: (f64, u32) = (5.0, 5);

/// The `patchListingsItem` body that sets a sku's seller-fulfilled quantity.
pub fn stock_patch(available: i64) -> ListingsItemPatchRequest {
    ListingsItemPatchRequest {
        // A patch of offer attributes needs no product type of its own:
        // `PRODUCT` is the generic one Amazon's examples use.
        product_type: "PRODUCT".into(),
        patches: vec![PatchOperation {
            op: "replace".into(),
            path: "/attributes/fulfillment_availability".into(),
            value: Some(serde_json::json!([FulfillmentAvailability {
                fulfillment_channel_code: "DEFAULT".into(),
                quantity: available.max(0),
            }])),
        }],
    }
}
/// The client refills a little slower than Amazon so clock skew never
/// turns into a refusal.
const PACING_MARGIN: f64 = 0.98;

/// A client-side token bucket for one SP-API operation. The rate follows
/// `x-amzn-RateLimit-Limit`; the burst is the documented one.
#[derive(Debug)]
pub struct OperationBucket {
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl OperationBucket {
    pub fn new(rate: f64, burst: u32) -> Self {
        Self {
            state: Mutex::new(BucketState {
                rate: rate * PACING_MARGIN,
                burst: burst as f64,
                tokens: burst as f64,
                last: Instant::now(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BucketState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wait for a token and take it.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut s = self.lock();
                let now = Instant::now();
                s.tokens =
                    (s.tokens + now.duration_since(s.last).as_secs_f64() * s.rate).min(s.burst);
                s.last = now;
                if s.tokens >= 1.0 {
                    s.tokens -= 1.0;
                    return;
                }
                (1.0 - s.tokens) / s.rate
            };
            tokio::time::sleep(Duration::from_secs_f64(wait.max(0.001))).await;
        }
    }

    /// Adopt the rate Amazon says applies (`x-amzn-RateLimit-Limit`).
    pub fn observe(&self, headers: &http::HeaderMap) {
        let rate = headers
            .get("x-amzn-RateLimit-Limit")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|r| r.is_finite() && *r > 0.0);
        if let Some(rate) = rate {
            self.lock().rate = rate * PACING_MARGIN;
        }
    }

    pub fn rate(&self) -> f64 {
        self.lock().rate
    }
}

pub struct AmazonConnector {
    /// One searchOrders token's refill time: polls never come faster.
    min_poll: Duration,
    http: HttpClient,
    base: String,
    lwa_url: String,
    client_id: String,
    client_secret: String,
    refresh_token: String,
    marketplace_id: String,
    page_size: u32,
    policy: RetryPolicy,
    access: Mutex<Option<(String, Instant)>>,
    pub search_bucket: OperationBucket,
    get_bucket: OperationBucket,
    confirm_bucket: OperationBucket,
    listings_bucket: OperationBucket,
    /// The selling partner id (option `seller_id`), which the Listings Items
    /// API paths name; only stock pushes need it.
    seller_id: Option<String>,
}

impl std::fmt::Debug for AmazonConnector {
    // No secrets, no access token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmazonConnector")
            .field("base", &self.base)
            .field("marketplace_id", &self.marketplace_id)
            .finish()
    }
}

fn positive_number_option(
    setup: &ChannelSetup,
    name: &str,
    default: f64,
    problems: &mut Vec<String>,
) -> f64 {
    match setup.options.get(name) {
        None => default,
        Some(v) => match v.trim().parse::<f64>() {
            Ok(n) if n.is_finite() && n > 0.0 => n,
            _ => {
                problems.push(format!("option `{name}` must be a positive number"));
                default
            }
        },
    }
}

impl AmazonConnector {
    pub fn new(setup: ChannelSetup) -> Result<Self, String> {
        let mut problems = Vec::new();
        setup.require_secrets(super::KIND.required_secrets, &mut problems);
        let base = setup.http_base_url("the SP-API endpoint, http(s)", &mut problems);
        let marketplace_id = setup
            .options
            .get("marketplace_id")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| DEFAULT_MARKETPLACE.into());
        if marketplace_id.len() < 10
            || marketplace_id.len() > 15
            || !marketplace_id.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            problems.push("option `marketplace_id` must be an Amazon marketplace id".into());
        }
        let page_size = setup.whole_number_option("page_size", 100, 1..=100, &mut problems);
        let search_rate = positive_number_option(
            &setup,
            "search_orders_rate",
            SEARCH_ORDERS_PLAN.0,
            &mut problems,
        );
        let search_burst = setup.whole_number_option(
            "search_orders_burst",
            SEARCH_ORDERS_PLAN.1,
            1..=1000,
            &mut problems,
        );
        // LWA lives on its own host; a sandbox serves both on one.
        let lwa_url = match setup.options.get("lwa_url") {
            Some(u) => u.trim().trim_end_matches('/').to_string(),
            None if base.contains(".amazon.") => LWA_URL.to_string(),
            None => base.clone(),
        };
        if url::Url::parse(&lwa_url).is_err() {
            problems.push("option `lwa_url` must be an http(s) URL".into());
        }
        let seller_id = setup
            .options
            .get("seller_id")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        if seller_id
            .as_deref()
            .is_some_and(|s| s.len() > 20 || !s.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            problems.push("option `seller_id` must be an Amazon selling partner id".into());
        }
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        let policy = RetryPolicy::default();
        Ok(Self {
            // Retries happen here, so each attempt waits for a bucket token.
            http: HttpClient::new(
                format!("amazon:{}", setup.channel_id),
                setup.request_timeout,
                None,
            )
            .with_retry_policy(RetryPolicy {
                max_attempts: 1,
                ..policy
            }),
            base,
            lwa_url,
            client_id: setup.secret("client_id").to_string(),
            client_secret: setup.secret("client_secret").to_string(),
            refresh_token: setup.secret("refresh_token").to_string(),
            marketplace_id,
            page_size,
            policy,
            access: Mutex::new(None),
            min_poll: Duration::from_secs_f64((1.0 / search_rate).min(3600.0)),
            search_bucket: OperationBucket::new(search_rate, search_burst),
            get_bucket: OperationBucket::new(GET_ORDER_PLAN.0, GET_ORDER_PLAN.1),
            confirm_bucket: OperationBucket::new(CONFIRM_SHIPMENT_PLAN.0, CONFIRM_SHIPMENT_PLAN.1),
            listings_bucket: OperationBucket::new(PATCH_LISTINGS_PLAN.0, PATCH_LISTINGS_PLAN.1),
            seller_id,
        })
    }

    fn cached_token(&self) -> Option<String> {
        let guard = self.access.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .as_ref()
            .filter(|(_, expires)| *expires > Instant::now())
            .map(|(t, _)| t.clone())
    }

    fn forget_token(&self) {
        *self.access.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// An access token, refreshed through LWA a minute before it expires.
    async fn access_token(&self) -> Result<String, RemoteError> {
        if let Some(t) = self.cached_token() {
            return Ok(t);
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "refresh_token")
            .append_pair("refresh_token", &self.refresh_token)
            .append_pair("client_id", &self.client_id)
            .append_pair("client_secret", &self.client_secret)
            .finish();
        let url = format!("{}/auth/o2/token", self.lwa_url);
        let mut attempt = 0;
        let token: LwaTokenResponse = loop {
            let result = self
                .http
                .execute(
                    |c| {
                        c.post(&url)
                            .header(
                                http::header::CONTENT_TYPE,
                                "application/x-www-form-urlencoded;charset=UTF-8",
                            )
                            .body(body.clone())
                    },
                    |r| r.json::<LwaTokenResponse>(),
                )
                .await;
            match result {
                Ok(t) => break t,
                Err(e) if e.is_retryable() && attempt + 1 < self.policy.max_attempts => {
                    tokio::time::sleep(self.policy.delay(attempt, e.retry_after())).await;
                    attempt += 1;
                }
                // LWA answers 400 invalid_grant / 401 invalid_client for
                // credentials that stopped working: an auth failure for orderhub.
                Err(RemoteError::Permanent {
                    status: Some(400 | 401 | 403),
                    message,
                }) => {
                    return Err(RemoteError::Permanent {
                        status: Some(401),
                        message: format!("Login with Amazon refused the credentials: {message}"),
                    })
                }
                Err(e) => return Err(e),
            }
        };
        let lifetime = Duration::from_secs(token.expires_in.saturating_sub(60).max(1));
        *self.access.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((token.access_token.clone(), Instant::now() + lifetime));
        Ok(token.access_token)
    }

    /// One SP-API call with up to `attempts` tries, each waiting for a token
    /// of `bucket` first.
    async fn call(
        &self,
        bucket: &OperationBucket,
        attempts: u32,
        build: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    ) -> Result<RawResponse, RemoteError> {
        let mut attempt = 0;
        let mut refreshed = false;
        loop {
            let token = self.access_token().await?;
            bucket.acquire().await;
            let result = self
                .http
                .execute(
                    |c| build(c, &token).header("x-amz-access-token", &token),
                    Ok,
                )
                .await;
            match result {
                Ok(r) => {
                    bucket.observe(&r.headers);
                    return Ok(r);
                }
                // An access token Amazon no longer takes: refresh once.
                Err(RemoteError::Permanent {
                    status: Some(403), ..
                }) if !refreshed => {
                    self.forget_token();
                    refreshed = true;
                }
                Err(e) if e.is_retryable() && attempt + 1 < attempts => {
                    tokio::time::sleep(self.policy.delay(attempt, e.retry_after())).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> String {
        let mut u = format!("{}{}", self.base, path);
        if !query.is_empty() {
            u.push('?');
            u.push_str(
                &url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(query)
                    .finish(),
            );
        }
        u
    }

    pub async fn get_order(&self, order_id: &str) -> Result<GetOrderResponse, RemoteError> {
        let path = format!(
            "/orders/2026-01-01/orders/{}",
            url::form_urlencoded::byte_serialize(order_id.as_bytes()).collect::<String>()
        );
        let url = self.url(&path, &[("includedData", "FULFILLMENT,PACKAGES")]);
        let r = self
            .call(&self.get_bucket, self.policy.max_attempts, |c, _| {
                c.get(&url)
            })
            .await?;
        r.json()
    }
}

/// orderhub carrier names → Amazon `carrierCode` values; others go as
/// `Other` with the name in `carrierName`.
pub fn amazon_carrier_code(carrier: &str) -> Option<&'static str> {
    let c = carrier.trim().to_ascii_lowercase();
    Some(match c.as_str() {
        "usps" => "USPS",
        "ups" => "UPS",
        "fedex" => "FedEx",
        "dhl" | "dhl express" => "DHL",
        "dhl ecommerce" | "dhl global mail" => "DHL Global Mail",
        "royal mail" => "Royal Mail",
        "parcelforce" => "Parcelforce",
        "canada post" => "Canada Post",
        "australia post" => "Australia Post",
        "japan post" => "Japan Post",
        "deutsche post" => "Deutsche Post",
        "ontrac" => "OnTrac",
        "dpd" => "DPD",
        "gls" => "GLS",
        "hermes" | "evri" => "Hermes",
        "yodel" => "Yodel",
        "tnt" => "TNT",
        "chronopost" => "Chronopost",
        "colissimo" => "Colissimo",
        _ => return None,
    })
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[async_trait]
impl Marketplace for AmazonConnector {
    fn kind(&self) -> &'static str {
        "amazon"
    }

    // Amazon documents no order for searchOrders results.
    // searchOrders refills one request every ~180 s at Amazon's published
    // plan: a shorter configured interval would only drain the burst.
    fn min_poll_interval(&self) -> Duration {
        self.min_poll
    }

    fn pages_oldest_first(&self) -> bool {
        false
    }

    async fn fetch_orders(
        &self,
        since: DateTime<Utc>,
        page: Option<String>,
    ) -> Result<OrderPage, RemoteError> {
        let since = iso(since);
        let page_size = self.page_size.to_string();
        let mut query = vec![
            ("marketplaceIds", self.marketplace_id.as_str()),
            ("lastUpdatedAfter", since.as_str()),
            ("maxResultsPerPage", page_size.as_str()),
            ("includedData", INCLUDED_DATA),
        ];
        if let Some(token) = page.as_deref() {
            query.push(("paginationToken", token));
        }
        let url = self.url("/orders/2026-01-01/orders", &query);
        let r = self
            .call(&self.search_bucket, self.policy.max_attempts, |c, _| {
                c.get(&url)
            })
            .await?;
        let body: SearchOrdersResponse = r.json()?;
        let orders = body
            .orders
            .iter()
            .map(|raw| {
                order_from_value(raw).map_err(|e| Quarantined {
                    external_id: external_id_of(raw),
                    reason: e.to_string(),
                    raw: raw.to_string(),
                })
            })
            .collect();
        Ok(OrderPage {
            orders,
            next_page: body
                .pagination
                .and_then(|p| p.next_token)
                .filter(|t| !t.is_empty()),
        })
    }

    /// Amazon sends order notifications through SQS/EventBridge, never as
    /// signed HTTP posts: nothing arriving over HTTP can be verified.
    fn verify_webhook(
        &self,
        _headers: &http::HeaderMap,
        _body: &[u8],
    ) -> Result<VerifiedWebhook, WebhookError> {
        Err(WebhookError::UnsupportedTopic(
            "Amazon has no HTTP order webhooks".into(),
        ))
    }

    /// An `ORDER_CHANGE` notification (as relayed from SQS) names the order only.
    fn order_from_webhook(&self, _topic: &str, body: &[u8]) -> Result<WebhookOrder, Quarantined> {
        let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| Quarantined {
            external_id: None,
            reason: format!("notification is not JSON: {e}"),
            raw: String::from_utf8_lossy(body).into_owned(),
        })?;
        let id = value
            .pointer("/Payload/OrderChangeNotification/AmazonOrderId")
            .and_then(|v| v.as_str());
        Ok(match id {
            Some(id) => WebhookOrder::Changed {
                external_id: id.to_string(),
            },
            None => WebhookOrder::Ignored,
        })
    }

    /// `confirmShipment` is not idempotent by itself (a new packageReferenceId
    /// adds a package), so every attempt first reads the order's packages and
    /// stops when the tracking number is already there.
    /// `PATCH /listings/2021-08-01/items/{sellerId}/{sku}?marketplaceIds=`
    /// replacing `fulfillment_availability`: addressed by sku, one call, paced
    /// by the operation's usage plan. A 404 means no listing has that sku.
    async fn push_stock(&self, push: &StockPush) -> Result<StockPushOutcome, RemoteError> {
        let Some(seller_id) = self.seller_id.as_deref() else {
            return Err(RemoteError::permanent(
                "option `seller_id` (the selling partner id) is needed to update listings",
            ));
        };
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let path = format!(
            "/listings/2021-08-01/items/{}/{}",
            enc(seller_id),
            enc(&push.sku).replace('+', "%20")
        );
        let url = self.url(&path, &[("marketplaceIds", self.marketplace_id.as_str())]);
        let body = stock_patch(push.available);
        let result = self
            .call(&self.listings_bucket, self.policy.max_attempts, |c, _| {
                c.patch(&url).json(&body)
            })
            .await;
        let resp: ListingsItemSubmissionResponse = match result {
            Ok(r) => r.json()?,
            Err(RemoteError::Permanent {
                status: Some(404), ..
            }) => return Ok(StockPushOutcome::NotListed),
            Err(e) => return Err(e),
        };
        if resp.status == "ACCEPTED" {
            Ok(StockPushOutcome::Updated)
        } else {
            let issues: Vec<String> = resp
                .issues
                .iter()
                .map(|i| format!("{} {}", i.code, i.message))
                .collect();
            Err(RemoteError::permanent(format!(
                "Amazon refused the quantity for {}: {} {}",
                push.sku,
                resp.status,
                issues.join("; ")
            )))
        }
    }

    async fn push_tracking(&self, push: &TrackingPush) -> Result<(), RemoteError> {
        let path = format!(
            "/orders/v0/orders/{}/shipmentConfirmation",
            url::form_urlencoded::byte_serialize(push.order_external_id.as_bytes())
                .collect::<String>()
        );
        let url = self.url(&path, &[]);
        let mut attempt = 0;
        loop {
            let order = self.get_order(&push.order_external_id).await?.order;
            let packages = order.packages.unwrap_or_default();
            if packages
                .iter()
                .any(|p| p.tracking_number.as_deref() == Some(push.tracking_number.as_str()))
            {
                return Ok(());
            }
            let status = order
                .fulfillment
                .as_ref()
                .map(|f| f.fulfillment_status.as_str());
            if status == Some("CANCELLED") {
                return Err(RemoteError::permanent(format!(
                    "order {} is cancelled at Amazon",
                    push.order_external_id
                )));
            }
            let next_ref = packages
                .iter()
                .filter_map(|p| p.package_reference_id.parse::<u64>().ok())
                .max()
                .unwrap_or(0)
                + 1;
            let named: Vec<ConfirmShipmentOrderItem> = push
                .lines
                .iter()
                .filter_map(|l| {
                    l.external_id.clone().map(|id| ConfirmShipmentOrderItem {
                        order_item_id: id,
                        quantity: l.quantity,
                    })
                })
                .collect();
            let order_items = if named.is_empty() {
                order
                    .order_items
                    .iter()
                    .map(|i| ConfirmShipmentOrderItem {
                        order_item_id: i.order_item_id.clone(),
                        quantity: i.quantity_ordered,
                    })
                    .collect()
            } else {
                named
            };
            let code = amazon_carrier_code(&push.carrier);
            let body = ConfirmShipmentRequest {
                package_detail: PackageDetail {
                    package_reference_id: next_ref.to_string(),
                    carrier_code: code.unwrap_or("Other").to_string(),
                    carrier_name: Some(push.carrier.clone()),
                    shipping_method: None,
                    tracking_number: push.tracking_number.clone(),
                    ship_date: iso(push.shipped_at),
                    order_items,
                },
                marketplace_id: self.marketplace_id.clone(),
            };
            // One try: after a timeout the order is read again before any retry.
            match self
                .call(&self.confirm_bucket, 1, |c, _| c.post(&url).json(&body))
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if e.is_retryable() && attempt + 1 < self.policy.max_attempts => {
                    tokio::time::sleep(self.policy.delay(attempt, e.retry_after())).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}
