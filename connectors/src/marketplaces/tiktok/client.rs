//! The TikTok Shop connector: signed Partner API 202309 calls through the shared
//! [`HttpClient`], paging `orders/search` oldest update first, shipping packages
//! idempotently and verifying webhooks.

use super::mapping::order_from_value;
use super::wire::{
    Envelope, OrderDetailData, SearchOrdersData, SelfShipment, ShipPackageRequest,
    ShippingProvider, ShippingProvidersData, TtsOrder, Webhook,
};
use super::wire::{
    SearchProductsData, SearchProductsRequest, SkuInventory, UpdateInventoryRequest,
    UpdateInventorySku,
};
use crate::http::{HttpClient, RateLimit, RawResponse, RemoteError};
use crate::marketplace::{
    ChannelSetup, Marketplace, OrderPage, StockPush, StockPushOutcome, TrackingPush,
    VerifiedWebhook, WebhookError, WebhookOrder,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use orderhub_core::Quarantined;
use serde::de::DeserializeOwned;
use sha2::Sha256;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

type HmacSha256 = Hmac<Sha256>;

/// Webhook signature header: hex HMAC-SHA256(app_secret, app_key + body).
pub const HEADER_SIGNATURE: &str = "Authorization";
pub const HEADER_ACCESS_TOKEN: &str = "x-tts-access-token";
/// Assumed published limit: 50 requests/s per shop per API. The client stays
/// well under it across all APIs together.
pub const CLIENT_RATE: RateLimit = RateLimit {
    per_second: 20.0,
    burst: 5,
};
/// TikTok error codes for credentials that do not work (invalid / expired token,
/// bad signature, stale timestamp): answered as 401.
pub const AUTH_CODES: [i64; 5] = [105001, 105002, 105005, 106001, 106002];
/// TikTok's "too many requests" code.
pub const RATE_LIMIT_CODE: i64 = 36009004;

/// TikTok's request signature: hex HMAC-SHA256 keyed by the app secret over
/// `secret + path + sorted(key+value, except sign/access_token) + body + secret`.
pub fn sign_request(
    app_secret: &str,
    path: &str,
    query: &BTreeMap<String, String>,
    body: &str,
) -> String {
    let mut input = String::with_capacity(app_secret.len() * 2 + path.len() + body.len() + 64);
    input.push_str(app_secret);
    input.push_str(path);
    for (k, v) in query {
        if k != "sign" && k != "access_token" {
            input.push_str(k);
            input.push_str(v);
        }
    }
    input.push_str(body);
    input.push_str(app_secret);
    hmac_hex(app_secret, input.as_bytes())
}

fn hmac_hex(key: &str, data: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(data);
    hex::encode(mac.finalize().into_bytes())
}

/// The `Authorization` value TikTok sends with a webhook.
pub fn sign_webhook(app_key: &str, app_secret: &str, body: &[u8]) -> String {
    let mut mac =
        HmacSha256::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(app_key.as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// TikTok's provider name for an orderhub carrier name (matched case-insensitively).
pub fn provider_name(carrier: &str) -> &str {
    match carrier.trim().to_ascii_lowercase().as_str() {
        "usps" => "USPS",
        "ups" => "UPS",
        "fedex" => "FedEx",
        "dhl" | "dhl express" | "dhl ecommerce" => "DHL eCommerce",
        "royal mail" => "Royal Mail",
        _ => carrier.trim(),
    }
}

pub struct TiktokConnector {
    http: HttpClient,
    base: String,
    app_key: String,
    app_secret: String,
    access_token: String,
    shop_cipher: String,
    page_size: u32,
    /// Shipping providers per delivery option, read once.
    providers: Mutex<HashMap<String, Vec<ShippingProvider>>>,
    /// seller_sku → where its inventory lives, found once.
    stock_targets: Mutex<HashMap<String, StockTarget>>,
}

/// A seller sku's product, TikTok sku id and the warehouse holding its stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockTarget {
    pub product_id: String,
    pub sku_id: String,
    pub warehouse_id: String,
}

pub const SEARCH_PRODUCTS_PATH: &str = "/product/202309/products/search";

/// The product sku carrying `seller_sku` in a products search result.
pub fn stock_target_in(data: &SearchProductsData, seller_sku: &str) -> Option<StockTarget> {
    data.products.iter().find_map(|p| {
        p.skus
            .iter()
            .find(|s| s.seller_sku.as_deref() == Some(seller_sku))
            .and_then(|s| {
                Some(StockTarget {
                    product_id: p.id.clone(),
                    sku_id: s.id.clone(),
                    warehouse_id: s.inventory.first()?.warehouse_id.clone(),
                })
            })
    })
}

/// The inventory update that sets the target's quantity.
pub fn inventory_update(target: &StockTarget, quantity: i64) -> UpdateInventoryRequest {
    UpdateInventoryRequest {
        skus: vec![UpdateInventorySku {
            id: target.sku_id.clone(),
            inventory: vec![SkuInventory {
                warehouse_id: target.warehouse_id.clone(),
                quantity: quantity.max(0),
            }],
        }],
    }
}

impl std::fmt::Debug for TiktokConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TiktokConnector")
            .field("base", &self.base)
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

fn classify_code(code: i64, message: &str) -> RemoteError {
    let message = format!(
        "TikTok code {code}: {}",
        message.chars().take(200).collect::<String>()
    );
    if AUTH_CODES.contains(&code) {
        RemoteError::Permanent {
            status: Some(401),
            message,
        }
    } else if code == RATE_LIMIT_CODE {
        RemoteError::Retryable {
            status: Some(429),
            retry_after: None,
            message,
        }
    } else {
        RemoteError::permanent(message)
    }
}

fn envelope<T: DeserializeOwned>(raw: RawResponse) -> Result<T, RemoteError> {
    let env: Envelope<T> = raw.json()?;
    if env.code != 0 {
        return Err(classify_code(env.code, &env.message));
    }
    env.data
        .ok_or_else(|| RemoteError::permanent("response without `data`"))
}

impl TiktokConnector {
    pub fn new(setup: ChannelSetup) -> Result<Self, String> {
        let mut problems = Vec::new();
        setup.require_secrets(super::KIND.required_secrets, &mut problems);
        let base = setup.http_base_url("an http(s) URL", &mut problems);
        let shop_cipher = setup
            .options
            .get("shop_cipher")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        if shop_cipher.is_empty() {
            problems.push("option `shop_cipher` is missing".into());
        }
        let page_size = setup.whole_number_option("page_size", 100, 1..=100, &mut problems);
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        Ok(Self {
            http: HttpClient::new(
                format!("tiktok:{}", setup.channel_id),
                setup.request_timeout,
                Some(CLIENT_RATE),
            ),
            base,
            app_key: setup.secret("app_key").to_string(),
            app_secret: setup.secret("app_secret").to_string(),
            access_token: setup.secret("access_token").to_string(),
            shop_cipher,
            page_size,
            providers: Mutex::new(HashMap::new()),
            stock_targets: Mutex::new(HashMap::new()),
        })
    }

    pub fn with_http(mut self, http: HttpClient) -> Self {
        self.http = http;
        self
    }

    /// One signed call; `timestamp` and `sign` are fresh on every attempt.
    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        extra: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<T, RemoteError> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.http
            .execute(
                |c| {
                    let mut query = BTreeMap::new();
                    query.insert("app_key".to_string(), self.app_key.clone());
                    query.insert("shop_cipher".to_string(), self.shop_cipher.clone());
                    query.insert("timestamp".to_string(), Utc::now().timestamp().to_string());
                    for (k, v) in extra {
                        query.insert(k.to_string(), v.clone());
                    }
                    let sign = sign_request(&self.app_secret, path, &query, &body);
                    query.insert("sign".to_string(), sign);
                    let mut url = format!("{}{path}?", self.base);
                    url.push_str(
                        &url::form_urlencoded::Serializer::new(String::new())
                            .extend_pairs(&query)
                            .finish(),
                    );
                    let req = c
                        .request(method.clone(), url)
                        .header(HEADER_ACCESS_TOKEN, &self.access_token)
                        .header(reqwest::header::CONTENT_TYPE, "application/json");
                    if body.is_empty() {
                        req
                    } else {
                        req.body(body.clone())
                    }
                },
                envelope::<T>,
            )
            .await
    }

    async fn order_detail(&self, id: &str) -> Result<TtsOrder, RemoteError> {
        let data: OrderDetailData = self
            .call(
                reqwest::Method::GET,
                "/order/202309/orders",
                &[("ids", id.to_string())],
                None,
            )
            .await?;
        data.orders
            .into_iter()
            .find(|o| o.id == id)
            .ok_or_else(|| RemoteError::Permanent {
                status: Some(404),
                message: format!("order {id} not found"),
            })
    }

    async fn provider_id(
        &self,
        delivery_option: &str,
        carrier: &str,
    ) -> Result<String, RemoteError> {
        let cached = self
            .providers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(delivery_option)
            .cloned();
        let list = match cached {
            Some(l) => l,
            None => {
                let path = format!(
                    "/logistics/202309/delivery_options/{delivery_option}/shipping_providers"
                );
                let data: ShippingProvidersData =
                    self.call(reqwest::Method::GET, &path, &[], None).await?;
                self.providers
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(delivery_option.to_string(), data.shipping_providers.clone());
                data.shipping_providers
            }
        };
        let wanted = provider_name(carrier);
        list.iter()
            .find(|p| p.name.eq_ignore_ascii_case(wanted))
            .or_else(|| {
                list.iter()
                    .find(|p| p.name.eq_ignore_ascii_case(carrier.trim()))
            })
            .map(|p| p.id.clone())
            .ok_or_else(|| {
                RemoteError::permanent(format!(
                    "TikTok offers no shipping provider for carrier `{carrier}`"
                ))
            })
    }
}

impl TiktokConnector {
    fn targets(&self) -> std::sync::MutexGuard<'_, HashMap<String, StockTarget>> {
        self.stock_targets.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn find_stock_target(&self, sku: &str) -> Result<Option<StockTarget>, RemoteError> {
        let body = serde_json::to_value(SearchProductsRequest {
            seller_skus: vec![sku.to_string()],
        })
        .map_err(|e| RemoteError::permanent(format!("encoding the search: {e}")))?;
        let data: SearchProductsData = self
            .call(
                reqwest::Method::POST,
                SEARCH_PRODUCTS_PATH,
                &[("page_size", "20".to_string())],
                Some(&body),
            )
            .await?;
        Ok(stock_target_in(&data, sku))
    }
}

fn holds_tracking(o: &TtsOrder, number: &str) -> bool {
    o.tracking_number.as_deref() == Some(number)
        || o.line_items
            .iter()
            .any(|l| l.tracking_number.as_deref() == Some(number))
}

#[async_trait]
impl Marketplace for TiktokConnector {
    fn kind(&self) -> &'static str {
        "tiktok"
    }

    async fn fetch_orders(
        &self,
        since: DateTime<Utc>,
        page: Option<String>,
    ) -> Result<OrderPage, RemoteError> {
        let mut extra = vec![
            ("page_size", self.page_size.to_string()),
            ("sort_field", "update_time".to_string()),
            ("sort_order", "ASC".to_string()),
        ];
        if let Some(token) = page.filter(|t| !t.is_empty()) {
            extra.push(("page_token", token));
        }
        let body = serde_json::json!({ "update_time_ge": since.timestamp() });
        let data: SearchOrdersData = self
            .call(
                reqwest::Method::POST,
                "/order/202309/orders/search",
                &extra,
                Some(&body),
            )
            .await?;
        let orders = data
            .orders
            .into_iter()
            .map(|raw| {
                order_from_value(&raw).map_err(|e| Quarantined {
                    external_id: raw.get("id").and_then(|v| v.as_str()).map(str::to_string),
                    reason: e.to_string(),
                    raw: raw.to_string(),
                })
            })
            .collect();
        Ok(OrderPage {
            orders,
            next_page: data.next_page_token.filter(|t| !t.is_empty()),
        })
    }

    fn verify_webhook(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<VerifiedWebhook, WebhookError> {
        let given = headers
            .get(HEADER_SIGNATURE)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or(WebhookError::MissingHeader(HEADER_SIGNATURE))?;
        let given = hex::decode(given).map_err(|_| WebhookError::BadSignature)?;
        let mut mac = HmacSha256::new_from_slice(self.app_secret.as_bytes())
            .map_err(|_| WebhookError::BadSignature)?;
        mac.update(self.app_key.as_bytes());
        mac.update(body);
        // verify_slice compares in constant time.
        mac.verify_slice(&given)
            .map_err(|_| WebhookError::BadSignature)?;
        let hook: Webhook = serde_json::from_slice(body).map_err(|_| WebhookError::BadSignature)?;
        let delivery_id = hook
            .tts_notification_id
            .clone()
            .unwrap_or_else(|| hmac_hex("delivery", body));
        Ok(VerifiedWebhook {
            delivery_id,
            topic: hook.kind.to_string(),
        })
    }

    fn order_from_webhook(&self, _topic: &str, body: &[u8]) -> Result<WebhookOrder, Quarantined> {
        let quarantine = |reason: String| Quarantined {
            external_id: None,
            reason,
            raw: String::from_utf8_lossy(body).into_owned(),
        };
        let hook: Webhook = serde_json::from_slice(body).map_err(|e| quarantine(e.to_string()))?;
        // Type 1: order status change; carries `data.order_id` only.
        if hook.kind != 1 {
            return Ok(WebhookOrder::Ignored);
        }
        match hook.data.get("order_id").and_then(|v| v.as_str()) {
            Some(id) if !id.is_empty() => Ok(WebhookOrder::Changed {
                external_id: id.to_string(),
            }),
            _ => Err(quarantine("order webhook without data.order_id".into())),
        }
    }

    /// Products search by `seller_skus` once (cached), then one signed
    /// `POST /product/202309/products/{id}/inventory/update` per push.
    async fn push_stock(&self, push: &StockPush) -> Result<StockPushOutcome, RemoteError> {
        for _ in 0..2 {
            let cached = self.targets().get(&push.sku).cloned();
            let target = match cached {
                Some(t) => t,
                None => match self.find_stock_target(&push.sku).await? {
                    Some(t) => {
                        self.targets().insert(push.sku.clone(), t.clone());
                        t
                    }
                    None => return Ok(StockPushOutcome::NotListed),
                },
            };
            let body = serde_json::to_value(inventory_update(&target, push.available))
                .map_err(|e| RemoteError::permanent(format!("encoding the inventory: {e}")))?;
            let path = format!(
                "/product/202309/products/{}/inventory/update",
                target.product_id
            );
            match self
                .call::<serde_json::Value>(reqwest::Method::POST, &path, &[], Some(&body))
                .await
            {
                Ok(_) => return Ok(StockPushOutcome::Updated),
                // The product or sku is gone since it was cached: search again.
                Err(RemoteError::Permanent {
                    status: Some(404), ..
                }) => {
                    self.targets().remove(&push.sku);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(StockPushOutcome::NotListed)
    }

    async fn push_tracking(&self, push: &TrackingPush) -> Result<(), RemoteError> {
        // Shipping a package twice is refused by TikTok, and a retry after a
        // lost answer must not ship again: read the order first.
        let order = self.order_detail(&push.order_external_id).await?;
        if holds_tracking(&order, &push.tracking_number) {
            return Ok(());
        }
        let option = order
            .delivery_option_id
            .clone()
            .ok_or_else(|| RemoteError::permanent("order has no delivery_option_id"))?;
        let provider = self.provider_id(&option, &push.carrier).await?;
        // The packages holding the pushed lines (unit ids are `+`-joined).
        let unit_ids: Vec<&str> = push
            .lines
            .iter()
            .filter_map(|l| l.external_id.as_deref())
            .flat_map(|id| id.split('+'))
            .collect();
        let mut packages: Vec<String> = order
            .line_items
            .iter()
            .filter(|l| unit_ids.contains(&l.id.as_str()))
            .filter_map(|l| l.package_id.clone())
            .collect();
        if packages.is_empty() {
            packages = order.packages.iter().map(|p| p.id.clone()).collect();
        }
        packages.sort();
        packages.dedup();
        if packages.is_empty() {
            return Err(RemoteError::permanent("order has no package to ship"));
        }
        let body = serde_json::to_value(ShipPackageRequest {
            handover_method: "DROP_OFF".into(),
            self_shipment: SelfShipment {
                tracking_number: push.tracking_number.clone(),
                shipping_provider_id: provider,
            },
        })
        .map_err(|e| RemoteError::permanent(e.to_string()))?;
        for package in packages {
            let path = format!("/fulfillment/202309/packages/{package}/ship");
            let shipped: Result<serde_json::Value, RemoteError> = self
                .call(reqwest::Method::POST, &path, &[], Some(&body))
                .await;
            if let Err(err) = shipped {
                // A retried ship after a lost success is refused as already
                // shipped: the order then holds our number, which is success.
                if err.is_auth_failure() {
                    return Err(err);
                }
                let now = self.order_detail(&push.order_external_id).await?;
                let done = now
                    .line_items
                    .iter()
                    .filter(|l| l.package_id.as_deref() == Some(package.as_str()))
                    .any(|l| l.tracking_number.as_deref() == Some(push.tracking_number.as_str()));
                if !done {
                    return Err(err);
                }
            }
        }
        Ok(())
    }
}
