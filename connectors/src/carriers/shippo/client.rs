//! The Shippo connector over the shared HTTP client.
//!
//! - `POST /shipments/` (`async: false`, every parcel, `metadata` = our
//!   reference) rates the shipment; no money is spent. Shippo answers 201.
//! - `POST /transactions/` (`rate`, `label_file_type`, `async: false`,
//!   `metadata`) buys the label; a transaction with `status: "ERROR"` is a
//!   permanent failure carrying Shippo's `messages`. The warehouse's format
//!   goes as `label_file_type` `PDF_4x6`, `PNG` or `ZPLII`; the answer's
//!   `label_file_type` (when given) says what `label_url` holds. Label URLs
//!   are pre-signed file links, fetched without credentials.
//! - `shipment(id)` reads `GET /shipments/{id}` and asks
//!   `GET /transactions/?rate=<rate>` for each of its rates (cheapest first,
//!   the filter Shippo documents for transactions) so a label bought by an
//!   attempt whose answer was lost is found instead of bought again.
//! - `POST /refunds/` voids a label (`QUEUED`/`PENDING` → submitted,
//!   `SUCCESS` → voided, `ERROR` → rejected).
//! - Auth as Shippo documents it: `Authorization: ShippoToken <token>`.
//! - Webhooks: Shippo does not sign them by default; authenticity is the
//!   secret token in the webhook URL (`?token=…`), compared in constant time.
//!   When Shippo has provisioned HMAC for the account (optional secret
//!   `webhook_secret`), `Shippo-Auth-Signature: t=<unix>,v1=<hex>` — HMAC-SHA256
//!   of `<t>.<raw body>` — is required and checked too.
//!
//! The connector keeps nothing between calls: the label format asked in
//! `create_shipment` travels in the carrier shipment id (`<object_id>~zpl`,
//! plain `<object_id>` for PDF), see [`mapping::carrier_shipment_id`].

use super::mapping::{
    self, label_file_type, label_from_transaction, shipment_from_wire, split_shipment_id, Purchase,
};
use super::wire::{
    error_text, CreateRefundRequest, CreateTransactionRequest, Page, Refund, Shipment, Transaction,
    WebhookEvent,
};
use crate::carrier::{
    Carrier, CarrierCapabilities, CarrierSetup, CarrierShipment, LabelFormat, LabelRequest,
    PurchasedLabel, TrackingUpdate, VoidStatus,
};
use crate::http::{HttpClient, RateLimit, RemoteError};
use crate::marketplace::{VerifiedWebhook, WebhookError};
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const DEFAULT_BASE_URL: &str = "https://api.goshippo.com";
/// The header Shippo signs webhooks with once HMAC is set up for the account.
pub const HEADER_SIGNATURE: &str = "Shippo-Auth-Signature";
/// The query parameter that carries the webhook token (Shippo's
/// "self-generated token" option).
pub const TOKEN_PARAM: &str = "token";
/// How far a signature's `t=` may be from now. Shippo documents none; this is
/// the five minutes usual for `t=,v1=` signatures.
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;
/// The label formats Shippo makes.
pub const LABEL_FORMATS: &[LabelFormat] = &[LabelFormat::Pdf, LabelFormat::Png, LabelFormat::Zpl];

/// Shippo's published limits, per minute and token: POST on each resource
/// (shipments, transactions, refunds) 500 live / 50 test; GET of one object
/// 4000 / 400; GET of a list 50 / 10.
pub const LIVE_POST_PER_MIN: u32 = 500;
pub const TEST_POST_PER_MIN: u32 = 50;
pub const LIVE_GET_PER_MIN: u32 = 4000;
pub const TEST_GET_PER_MIN: u32 = 400;
pub const LIVE_LIST_PER_MIN: u32 = 50;
pub const TEST_LIST_PER_MIN: u32 = 10;
/// The share of a published limit the client paces itself to.
const PACE_SHARE: f64 = 0.9;

/// A secret that never prints.
#[derive(Clone)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The Shippo carrier connector.
pub struct ShippoConnector {
    account_id: String,
    base: url::Url,
    token: Secret,
    webhook_token: Secret,
    /// Only when Shippo signs this account's webhooks (HMAC provisioned).
    webhook_secret: Option<Secret>,
    /// Creates and single reads, paced below the POST limit.
    http: HttpClient,
    /// List reads (`GET /transactions/?rate=`), paced below the list limit.
    list_http: HttpClient,
}

impl std::fmt::Debug for ShippoConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut base = self.base.clone();
        let _ = base.set_password(None);
        let _ = base.set_username("");
        f.debug_struct("ShippoConnector")
            .field("account_id", &self.account_id)
            .field("base_url", &base.as_str())
            .field("signed_webhooks", &self.webhook_secret.is_some())
            .finish_non_exhaustive()
    }
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn mac_for(key: &str) -> Option<Hmac<Sha256>> {
    Hmac::<Sha256>::new_from_slice(key.as_bytes()).ok()
}

/// The `Shippo-Auth-Signature` value for `body` sent at `timestamp` (unix
/// seconds): `t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`.
pub fn sign_webhook(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let Some(mut mac) = mac_for(secret) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// The id a webhook is deduplicated by. Shippo's webhook bodies carry no
/// event id, so it is the SHA-256 of the raw body: a redelivery of the same
/// body is the same event.
pub fn delivery_id(body: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(body)))
}

/// The `token` query parameter; `None` when absent, empty or given twice.
fn query_token(query: Option<&str>) -> Option<String> {
    let q = query?.trim_start_matches('?');
    let mut found = None;
    for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
        if k == TOKEN_PARAM {
            if found.is_some() {
                return None;
            }
            found = Some(v.into_owned());
        }
    }
    found.filter(|t| !t.is_empty())
}

/// Check `Shippo-Auth-Signature` on the raw body at `now` (unix seconds).
pub fn verify_signature(
    secret: &str,
    headers: &http::HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<(), WebhookError> {
    let header = headers
        .get(HEADER_SIGNATURE)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(WebhookError::MissingHeader(HEADER_SIGNATURE))?;
    if secret.is_empty() {
        return Err(WebhookError::BadSignature);
    }
    let mut timestamp: Option<&str> = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let Some((k, v)) = part.trim().split_once('=') else {
            return Err(WebhookError::BadSignature);
        };
        match k.trim() {
            "t" if timestamp.is_none() => timestamp = Some(v.trim()),
            "t" => return Err(WebhookError::BadSignature),
            "v1" => signatures.push(v.trim()),
            _ => {}
        }
    }
    let t_text = timestamp.ok_or(WebhookError::BadSignature)?;
    let t: i64 = t_text.parse().map_err(|_| WebhookError::BadSignature)?;
    if t <= 0 || (now - t).abs() > SIGNATURE_TOLERANCE_SECS {
        return Err(WebhookError::BadSignature);
    }
    for sig in signatures {
        let Ok(given) = hex::decode(sig) else {
            continue;
        };
        let mut mac = mac_for(secret).ok_or(WebhookError::BadSignature)?;
        mac.update(t_text.as_bytes());
        mac.update(b".");
        mac.update(body);
        // verify_slice compares in constant time.
        if mac.verify_slice(&given).is_ok() {
            return Ok(());
        }
    }
    Err(WebhookError::BadSignature)
}

/// Verify a Shippo webhook request: the URL token (constant time), then, when
/// `hmac_secret` is set, the signature header; then read the event name.
/// Every authentic event is accepted whatever its name (refusing one makes
/// Shippo retry it); [`Carrier::tracking_update`] ignores the others.
pub fn verify_shippo_webhook(
    webhook_token: &str,
    hmac_secret: Option<&str>,
    query: Option<&str>,
    headers: &http::HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<VerifiedWebhook, WebhookError> {
    let given = query_token(query).ok_or(WebhookError::MissingHeader(TOKEN_PARAM))?;
    if webhook_token.is_empty() || !ct_eq(given.as_bytes(), webhook_token.as_bytes()) {
        return Err(WebhookError::BadSignature);
    }
    if let Some(secret) = hmac_secret {
        verify_signature(secret, headers, body, now)?;
    }
    let event: WebhookEvent = serde_json::from_slice(body).map_err(|_| {
        WebhookError::UnsupportedTopic("authentic body is not a Shippo webhook (not JSON)".into())
    })?;
    if event.event.trim().is_empty() {
        return Err(WebhookError::UnsupportedTopic(
            "authentic body is not a Shippo webhook (no `event`)".into(),
        ));
    }
    Ok(VerifiedWebhook {
        delivery_id: delivery_id(body),
        topic: event.event,
    })
}

fn parse_option_f64(
    setup: &CarrierSetup,
    name: &str,
    default: f64,
    problems: &mut Vec<String>,
) -> f64 {
    match setup.options.get(name) {
        None => default,
        Some(v) => match v.trim().parse::<f64>() {
            Ok(n) if n.is_finite() && n > 0.0 && n <= 1000.0 => n,
            _ => {
                problems.push(format!(
                    "option `{name}` must be a number above 0, at most 1000"
                ));
                default
            }
        },
    }
}

/// Whether a token is a test token (`shippo_test_…`): its limits are lower.
pub fn is_test_token(token: &str) -> bool {
    token.trim().starts_with("shippo_test_")
}

/// The default client pace for a token: 90% of its POST limit, per second.
pub fn default_requests_per_second(token: &str) -> f64 {
    let per_min = if is_test_token(token) {
        TEST_POST_PER_MIN
    } else {
        LIVE_POST_PER_MIN
    };
    f64::from(per_min) * PACE_SHARE / 60.0
}

fn limiter(rps: f64) -> RateLimit {
    RateLimit {
        per_second: rps,
        burst: rps.floor().clamp(1.0, 1000.0) as u32,
    }
}

impl ShippoConnector {
    /// `POST /shipments`, as a return (`extra.is_return: true`) or not.
    async fn create(
        &self,
        req: &LabelRequest,
        is_return: bool,
    ) -> Result<CarrierShipment, RemoteError> {
        if req.parcels.is_empty() {
            return Err(RemoteError::permanent(
                "a shipment needs at least one parcel",
            ));
        }
        if let Some(i) = req
            .parcels
            .iter()
            .position(|p| p.weight_oz <= rust_decimal::Decimal::ZERO)
        {
            return Err(RemoteError::permanent(format!(
                "parcel {} weight must be above 0 oz",
                i + 1
            )));
        }
        let body = serde_json::to_value(if is_return {
            mapping::return_shipment_request(req)
        } else {
            mapping::shipment_request(req)
        })
        .map_err(|e| RemoteError::permanent(format!("request not encodable: {e}")))?;
        let url = self.url(&["shipments", ""])?;
        let shipment: Shipment = self.call(&self.http, Method::POST, url, Some(body)).await?;
        // A format Shippo does not make falls back to PDF (the label says so).
        let format = self.capabilities().label_format_for(req.label_format);
        let id = mapping::carrier_shipment_id(&shipment.object_id, format);
        shipment_from_wire(&id, &shipment).map_err(mapping_error)
    }

    /// Build from configuration; every problem is listed at once.
    pub fn new(setup: CarrierSetup) -> Result<Self, String> {
        let mut problems = Vec::new();
        let base_text = match setup.base_url.trim() {
            "" => DEFAULT_BASE_URL,
            b => b,
        };
        let base = match url::Url::parse(base_text) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base() => Some(u),
            _ => {
                problems.push("base_url must be an http(s) URL".to_string());
                None
            }
        };
        let token = setup.secret("api_token").trim().to_string();
        let rps = parse_option_f64(
            &setup,
            "requests_per_second",
            default_requests_per_second(&token),
            &mut problems,
        );
        for name in super::KIND.required_secrets {
            if setup.secret(name).trim().is_empty() {
                problems.push(format!("secret `{name}` is missing"));
            }
        }
        let base = match base {
            Some(b) if problems.is_empty() => b,
            _ => {
                return Err(format!(
                    "shippo carrier `{}`: {}",
                    setup.channel_id,
                    problems.join("; ")
                ))
            }
        };
        let list_per_min = if is_test_token(&token) {
            TEST_LIST_PER_MIN
        } else {
            LIVE_LIST_PER_MIN
        };
        let list_rps = (f64::from(list_per_min) * PACE_SHARE / 60.0).min(rps);
        let name = format!("shippo:{}", setup.channel_id);
        let http = HttpClient::new(name.clone(), setup.request_timeout, Some(limiter(rps)));
        let list_http = HttpClient::new(name, setup.request_timeout, Some(limiter(list_rps)));
        // Optional: Shippo signs webhooks only for accounts it provisioned.
        let webhook_secret = Some(setup.secret("webhook_secret").trim())
            .filter(|s| !s.is_empty())
            .map(|s| Secret(s.to_string()));
        Ok(Self {
            token: Secret(token),
            webhook_token: Secret(setup.secret("webhook_token").trim().to_string()),
            webhook_secret,
            account_id: setup.channel_id,
            base,
            http,
            list_http,
        })
    }

    /// Replace the shared clients (e.g. a test's faster retry policy); list
    /// reads use the same one.
    pub fn with_http_client(mut self, http: HttpClient) -> Self {
        self.list_http = http.clone();
        self.http = http;
        self
    }

    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// `base` + path segments, each escaped (ids come from outside).
    fn url(&self, segments: &[&str]) -> Result<url::Url, RemoteError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|_| RemoteError::permanent("base_url cannot take a path"))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// One API call on `client`; decodes a 2xx body as `T`.
    async fn call<T: DeserializeOwned>(
        &self,
        client: &HttpClient,
        method: Method,
        url: url::Url,
        body: Option<Value>,
    ) -> Result<T, RemoteError> {
        let body = body.map(|b| b.to_string());
        let auth = format!("ShippoToken {}", self.token.0);
        let result = client
            .execute(
                |c| {
                    let mut rb = c
                        .request(method.clone(), url.clone())
                        .header(http::header::AUTHORIZATION, auth.as_str())
                        .header(http::header::ACCEPT, "application/json");
                    if let Some(b) = &body {
                        rb = rb
                            .header(http::header::CONTENT_TYPE, "application/json")
                            .body(b.clone());
                    }
                    rb
                },
                |resp| {
                    let v: Value = resp.json()?;
                    mapping::decode::<T>(&v, "")
                        .map_err(|e| RemoteError::permanent(format!("undecodable response: {e}")))
                },
            )
            .await;
        result.map_err(|e| self.explain(e))
    }

    /// Restate a failed answer with Shippo's error text (`detail` or field
    /// errors); the token never survives into a message.
    fn explain(&self, err: RemoteError) -> RemoteError {
        let redact = |s: String| {
            if self.token.0.is_empty() {
                s
            } else {
                s.replace(&self.token.0, "<redacted>")
            }
        };
        let describe = |status: u16, message: String| {
            let text = message
                .split_once(": ")
                .and_then(|(_, snippet)| serde_json::from_str::<Value>(snippet).ok())
                .and_then(|v| error_text(&v));
            redact(match text {
                Some(t) => format!("Shippo HTTP {status}: {t}"),
                None => message,
            })
        };
        match err {
            RemoteError::Permanent {
                status: Some(status),
                message,
            } => RemoteError::Permanent {
                status: Some(status),
                message: describe(status, message),
            },
            RemoteError::Retryable {
                status: Some(status),
                retry_after,
                message,
            } => RemoteError::Retryable {
                status: Some(status),
                retry_after,
                message: describe(status, message),
            },
            RemoteError::Permanent { status, message } => RemoteError::Permanent {
                status,
                message: redact(message),
            },
            RemoteError::Retryable {
                status,
                retry_after,
                message,
            } => RemoteError::Retryable {
                status,
                retry_after,
                message: redact(message),
            },
        }
    }

    async fn get_shipment(&self, object_id: &str) -> Result<Shipment, RemoteError> {
        let url = self.url(&["shipments", object_id])?;
        self.call(&self.http, Method::GET, url, None).await
    }

    /// The transactions Shippo holds for a rate (`GET /transactions/?rate=`).
    async fn transactions_for_rate(&self, rate_id: &str) -> Result<Vec<Transaction>, RemoteError> {
        let mut url = self.url(&["transactions", ""])?;
        url.query_pairs_mut()
            .append_pair("rate", rate_id)
            .append_pair("results", "25");
        let page: Page<Transaction> = self.call(&self.list_http, Method::GET, url, None).await?;
        Ok(page.results)
    }
}

fn mapping_error(e: String) -> RemoteError {
    RemoteError::permanent(format!("Shippo answer not understood: {e}"))
}

#[async_trait]
impl Carrier for ShippoConnector {
    fn kind(&self) -> &'static str {
        super::KIND.kind
    }

    fn capabilities(&self) -> CarrierCapabilities {
        CarrierCapabilities {
            buys_labels: true,
            multi_parcel: true,
            voids: true,
            label_formats: LABEL_FORMATS,
        }
    }

    async fn create_shipment(&self, req: &LabelRequest) -> Result<CarrierShipment, RemoteError> {
        self.create(req, false).await
    }

    fn supports_returns(&self) -> bool {
        true
    }

    async fn create_return_shipment(
        &self,
        req: &LabelRequest,
    ) -> Result<CarrierShipment, RemoteError> {
        self.create(req, true).await
    }

    async fn shipment(&self, carrier_shipment_id: &str) -> Result<CarrierShipment, RemoteError> {
        let (object_id, format) =
            split_shipment_id(carrier_shipment_id).map_err(RemoteError::permanent)?;
        let wire = self.get_shipment(&object_id).await?;
        let mut shipment = shipment_from_wire(carrier_shipment_id, &wire).map_err(mapping_error)?;
        // Cheapest first: rate shopping buys the cheapest, so its label is
        // usually found with the first question. Unreadable rates are asked
        // about too (a label bought with one must not be bought again).
        let mut order: Vec<&super::wire::Rate> = wire.rates.iter().collect();
        order.sort_by_key(|r| {
            mapping::parse_money("amount", r.amount.as_deref())
                .unwrap_or(rust_decimal::Decimal::MAX)
        });
        for wire_rate in order {
            let transactions = self.transactions_for_rate(&wire_rate.object_id).await?;
            let Some(t) = transactions
                .iter()
                .find(|t| t.status.as_deref() == Some("SUCCESS"))
            else {
                continue;
            };
            let Some(rate) = shipment.rates.iter().find(|r| r.id == wire_rate.object_id) else {
                return Err(RemoteError::retryable(
                    format!(
                        "Shippo shipment {object_id}: a label was bought with rate {} whose price could not be read",
                        wire_rate.object_id
                    ),
                    None,
                ));
            };
            if let Purchase::Bought(label) =
                label_from_transaction(t, rate, format).map_err(mapping_error)?
            {
                shipment.label = Some(*label);
                break;
            }
        }
        Ok(shipment)
    }

    async fn buy(
        &self,
        carrier_shipment_id: &str,
        rate_id: &str,
    ) -> Result<PurchasedLabel, RemoteError> {
        let (object_id, format) =
            split_shipment_id(carrier_shipment_id).map_err(RemoteError::permanent)?;
        if rate_id.trim().is_empty() {
            return Err(RemoteError::permanent("rate id is empty"));
        }
        // The shipment first: its metadata (our reference) goes with the
        // purchase, and its rates give the label's carrier, service and price.
        let wire = self.get_shipment(&object_id).await?;
        let shipment = shipment_from_wire(carrier_shipment_id, &wire).map_err(mapping_error)?;
        let rate = shipment
            .rates
            .iter()
            .find(|r| r.id == rate_id)
            .cloned()
            .ok_or_else(|| {
                RemoteError::permanent(format!(
                    "rate {rate_id} is not a readable rate of Shippo shipment {object_id}"
                ))
            })?;
        let body = serde_json::to_value(CreateTransactionRequest {
            rate: rate_id.to_string(),
            label_file_type: label_file_type(format).to_string(),
            is_async: false,
            metadata: wire.metadata.clone().filter(|m| !m.trim().is_empty()),
        })
        .map_err(|e| RemoteError::permanent(format!("request not encodable: {e}")))?;
        let url = self.url(&["transactions", ""])?;
        let t: Transaction = self.call(&self.http, Method::POST, url, Some(body)).await?;
        match label_from_transaction(&t, &rate, format).map_err(mapping_error)? {
            Purchase::Bought(label) => Ok(*label),
            Purchase::Failed(why) => Err(RemoteError::permanent(format!(
                "Shippo could not buy the label: {why}"
            ))),
            Purchase::Pending(state) => Err(RemoteError::retryable(
                format!("Shippo transaction {} not finished ({state})", t.object_id),
                None,
            )),
        }
    }

    async fn void(
        &self,
        carrier_shipment_id: &str,
        label_id: &str,
    ) -> Result<VoidStatus, RemoteError> {
        let _ = carrier_shipment_id;
        if label_id.trim().is_empty() {
            return Err(RemoteError::permanent("label id (transaction) is empty"));
        }
        let body = serde_json::to_value(CreateRefundRequest {
            transaction: label_id.to_string(),
            is_async: false,
        })
        .map_err(|e| RemoteError::permanent(format!("request not encodable: {e}")))?;
        let url = self.url(&["refunds", ""])?;
        let refund: Refund = self.call(&self.http, Method::POST, url, Some(body)).await?;
        match refund.status.as_deref().map(str::trim) {
            Some("SUCCESS") => Ok(VoidStatus::Voided),
            Some("QUEUED") | Some("PENDING") => Ok(VoidStatus::Submitted),
            Some("ERROR") => Ok(VoidStatus::Rejected(format!(
                "Shippo refused refund {} for transaction {label_id}",
                refund.object_id
            ))),
            other => Err(mapping_error(format!(
                "status: unexpected refund status {other:?}"
            ))),
        }
    }

    /// Without the URL's query there is no token to check: refused.
    fn verify_webhook(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<VerifiedWebhook, WebhookError> {
        self.verify_webhook_request(None, headers, body)
    }

    fn verify_webhook_request(
        &self,
        query: Option<&str>,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<VerifiedWebhook, WebhookError> {
        verify_shippo_webhook(
            &self.webhook_token.0,
            self.webhook_secret.as_ref().map(|s| s.0.as_str()),
            query,
            headers,
            body,
            chrono::Utc::now().timestamp(),
        )
    }

    fn tracking_update(&self, body: &[u8]) -> Result<Option<TrackingUpdate>, String> {
        mapping::tracking_update_from_event(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn setup() -> CarrierSetup {
        CarrierSetup {
            channel_id: "shippo-1".into(),
            base_url: "https://api.goshippo.com".into(),
            options: BTreeMap::new(),
            secrets: BTreeMap::from([
                (
                    "api_token".to_string(),
                    "shippo_test_secrettoken123".to_string(),
                ),
                ("webhook_token".to_string(), "whtoken456".to_string()),
                ("webhook_secret".to_string(), "hmacsecret789".to_string()),
            ]),
            request_timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let c = ShippoConnector::new(setup()).unwrap();
        let text = format!("{c:?}");
        for s in ["secrettoken123", "whtoken456", "hmacsecret789"] {
            assert!(!text.contains(s), "{text}");
        }
        assert!(text.contains("shippo-1"));
    }

    #[test]
    fn config_problems_are_listed_together() {
        let mut s = setup();
        s.base_url = "ftp://x".into();
        s.secrets.clear();
        s.options
            .insert("requests_per_second".into(), "lots".into());
        let err = ShippoConnector::new(s).unwrap_err();
        assert!(err.contains("base_url"), "{err}");
        assert!(err.contains("`api_token`"), "{err}");
        assert!(err.contains("`webhook_token`"), "{err}");
        assert!(err.contains("requests_per_second"), "{err}");
    }

    #[test]
    fn urls_escape_ids_and_keep_shippos_trailing_slash() {
        let c = ShippoConnector::new(setup()).unwrap();
        let u = c.url(&["shipments", "abc/../x?y"]).unwrap();
        assert_eq!(
            u.as_str(),
            "https://api.goshippo.com/shipments/abc%2F..%2Fx%3Fy"
        );
        assert_eq!(
            c.url(&["transactions", ""]).unwrap().as_str(),
            "https://api.goshippo.com/transactions/"
        );
    }

    #[test]
    fn paces_below_the_published_limits() {
        assert!(default_requests_per_second("shippo_test_x") < 50.0 / 60.0);
        assert!(default_requests_per_second("shippo_live_x") < 500.0 / 60.0);
        assert!(default_requests_per_second("shippo_live_x") > 7.0);
    }

    /// The documented example header shape; the vector was computed
    /// independently (Python `hmac.new(b"secret", b"1688493073." + body,
    /// sha256).hexdigest()`).
    #[test]
    fn signatures_follow_the_t_v1_recipe() {
        let body = br#"{"event":"track_updated"}"#;
        assert_eq!(
            sign_webhook("secret", 1688493073, body),
            "t=1688493073,v1=24453ec62d84cdcafae860e8d4aa7a2ec3e80ca25535ee16bdd766c83d7246aa"
        );
        let mut h = http::HeaderMap::new();
        h.insert(
            HEADER_SIGNATURE,
            sign_webhook("secret", 1000, body).parse().unwrap(),
        );
        assert!(verify_signature("secret", &h, body, 1000).is_ok());
        assert!(verify_signature("secret", &h, body, 1000 + 299).is_ok());
        assert_eq!(
            verify_signature("secret", &h, body, 1000 + 301),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify_signature("other", &h, body, 1000),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify_signature("secret", &h, b"{}", 1000),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify_signature("secret", &http::HeaderMap::new(), body, 1000),
            Err(WebhookError::MissingHeader(HEADER_SIGNATURE))
        );
    }

    #[test]
    fn the_token_is_read_from_the_query_once() {
        assert_eq!(query_token(Some("token=abc")).as_deref(), Some("abc"));
        assert_eq!(
            query_token(Some("?a=1&token=a%2Bb")).as_deref(),
            Some("a+b")
        );
        assert_eq!(query_token(Some("token=a&token=a")), None);
        assert_eq!(query_token(Some("token=")), None);
        assert_eq!(query_token(Some("tok=a")), None);
        assert_eq!(query_token(None), None);
    }

    #[test]
    fn errors_are_restated_without_the_token() {
        let c = ShippoConnector::new(setup()).unwrap();
        let e = c.explain(RemoteError::Permanent {
            status: Some(400),
            message: r#"HTTP 400 Bad Request: {"parcels":["This field is required."],"address_to":{"zip":["Invalid zip shippo_test_secrettoken123"]}}"#.into(),
        });
        let text = e.to_string();
        assert!(text.contains("parcels: This field is required."), "{text}");
        assert!(text.contains("address_to.zip: Invalid zip"), "{text}");
        assert!(!text.contains("secrettoken123"), "{text}");
        let e = c.explain(RemoteError::Permanent {
            status: Some(404),
            message: r#"HTTP 404 Not Found: {"detail":"Not found."}"#.into(),
        });
        assert!(e.to_string().contains("Shippo HTTP 404: Not found."), "{e}");
    }
}
