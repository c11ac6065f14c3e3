//! The Sendcloud connector: Shipping API v2 over the shared HTTP client.
//!
//! - `POST /api/v2/parcels` (`{"parcel": {..., "request_label": false}}`)
//!   creates the parcel without a label; `GET /api/v2/shipping_methods`
//!   (`to_country`, postal codes) rates it: one rate per method whose weight
//!   bracket fits, id = the method id. The carrier shipment id is the parcel id.
//!   `external_reference` = our reference, which Sendcloud keeps unique: a
//!   create retried after a lost answer is refused, and the parcel that exists
//!   is read back with `GET /api/v2/parcels?external_reference=…`.
//! - `PUT /api/v2/parcels` (`{"parcel": {"id", "request_label": true,
//!   "shipment": {"id": method}}}`) announces it and makes the label. An
//!   announced parcel cannot be changed, so a second request is refused; the
//!   connector then reads the parcel (`GET /api/v2/parcels/{id}`) and returns
//!   the label it already has — a retry after a lost answer records the label
//!   instead of buying again.
//! - Labels: PDF is the parcel's `label.label_printer` link. PNG and ZPL are
//!   its parcel-documents link, `GET /api/v2/parcels/{id}/documents/label`
//!   with `dpi` (300 for PNG, 203 for ZPL), the format chosen by the
//!   download's `Accept` (`image/png`, `application/zpl`); Sendcloud makes
//!   one label per parcel and converts it on download, so the format asked
//!   in `create_shipment` travels in the carrier shipment id
//!   (`<parcel id>~zpl`; plain `<parcel id>` for PDF). Every label link
//!   needs the account's Basic auth: `label_file` downloads it.
//! - `POST /api/v2/parcels/{id}/cancel` voids: 200 `cancelled` → voided,
//!   202 (queued) → submitted, 400 → rejected with Sendcloud's message.
//! - Auth: HTTP Basic, public key as user, secret key as password.
//! - Webhooks: `Sendcloud-Signature` = hex HMAC-SHA256 of the raw body keyed
//!   with the integration's secret key (or its webhook signature key),
//!   compared in constant time. Sendcloud sends no delivery id: the id is the
//!   SHA-256 of the body, so a redelivery of the same body is a duplicate.

use super::mapping::{self, label_from_parcel, rates_from_methods, status_id};
use super::wire::{
    CancelAnswer, ErrorBody, Parcel, ParcelEnvelope, ParcelList, ShippingMethod,
    ShippingMethodEnvelope, ShippingMethodList, UpdateEnvelope,
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
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const DEFAULT_BASE_URL: &str = "https://panel.sendcloud.sc";
/// The header Sendcloud signs webhooks with.
pub const HEADER_SIGNATURE: &str = "Sendcloud-Signature";
/// Sendcloud's published limit for unsafe methods (POST, PUT, PATCH, DELETE):
/// 100 requests per minute, bursts of up to 15 per second.
pub const UNSAFE_PER_MINUTE: f64 = 100.0;
pub const UNSAFE_BURST: u32 = 15;
/// Sendcloud's published limit for GET: 1000 requests per minute.
pub const SAFE_PER_MINUTE: f64 = 1000.0;
/// Client-side pace for unsafe calls (option `requests_per_second`).
pub const DEFAULT_REQUESTS_PER_SECOND: f64 = UNSAFE_PER_MINUTE / 60.0;
/// Client-side pace for GETs (option `read_requests_per_second`).
pub const DEFAULT_READ_REQUESTS_PER_SECOND: f64 = SAFE_PER_MINUTE / 60.0;
/// Sendcloud's prices carry no currency in v2; the account's (option
/// `currency`) is used, EUR by default.
pub const DEFAULT_CURRENCY: &str = "EUR";
/// The label formats Sendcloud serves: PDF (every carrier), ZPL (native or
/// converted) and PNG (converted from the PDF), per sendcloud.dev "Print
/// your labels".
pub const LABEL_FORMATS: &[LabelFormat] = &[LabelFormat::Pdf, LabelFormat::Png, LabelFormat::Zpl];
/// The heaviest parcel accepted before conversion (ounces).
const MAX_WEIGHT_OZ: i64 = 1_000_000;

/// A secret that never prints.
#[derive(Clone)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The Sendcloud carrier connector.
pub struct SendcloudConnector {
    account_id: String,
    base: url::Url,
    public_key: Secret,
    secret_key: Secret,
    /// The key webhooks are signed with: the webhook signature key when set,
    /// else the secret key.
    webhook_key: Secret,
    currency: String,
    sender_address: Option<i64>,
    /// GETs, paced at the safe-method limit.
    read: HttpClient,
    /// POST/PUT, paced at the unsafe-method limit.
    write: HttpClient,
}

impl std::fmt::Debug for SendcloudConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut base = self.base.clone();
        let _ = base.set_password(None);
        let _ = base.set_username("");
        f.debug_struct("SendcloudConnector")
            .field("account_id", &self.account_id)
            .field("base_url", &base.as_str())
            .field("currency", &self.currency)
            .finish_non_exhaustive()
    }
}

/// The `Sendcloud-Signature` value for `body` signed with `key`.
pub fn sign_webhook(key: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.as_bytes()) else {
        return String::new();
    };
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The delivery id of a webhook body: hex SHA-256 (Sendcloud sends none).
pub fn delivery_id(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Check `Sendcloud-Signature` on the raw body (fail closed), then read the
/// action. Every signed body with an action is accepted here; actions that
/// carry no tracking are ignored by [`Carrier::tracking_update`].
pub fn verify_sendcloud_webhook(
    key: &str,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<VerifiedWebhook, WebhookError> {
    let header = headers
        .get(HEADER_SIGNATURE)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(WebhookError::MissingHeader(HEADER_SIGNATURE))?;
    if key.is_empty() {
        return Err(WebhookError::BadSignature);
    }
    let given = hex::decode(header).map_err(|_| WebhookError::BadSignature)?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).map_err(|_| WebhookError::BadSignature)?;
    mac.update(body);
    mac.verify_slice(&given)
        .map_err(|_| WebhookError::BadSignature)?;
    let v: Value = serde_json::from_slice(body).map_err(|_| {
        WebhookError::UnsupportedTopic("signed body is not a Sendcloud webhook (not JSON)".into())
    })?;
    let action = v
        .get("action")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            WebhookError::UnsupportedTopic(
                "signed body is not a Sendcloud webhook (no `action`)".into(),
            )
        })?;
    Ok(VerifiedWebhook {
        delivery_id: delivery_id(body),
        topic: action.to_string(),
    })
}

/// Sendcloud's error message from a classified error's text (`HTTP <status>:
/// <body>`), when the body is Sendcloud's `{"error": {...}}`.
pub fn api_message(err: &RemoteError) -> Option<String> {
    let text = match err {
        RemoteError::Permanent { message, .. } | RemoteError::Retryable { message, .. } => message,
    };
    let snippet = text.split_once(": ").map(|(_, s)| s)?;
    serde_json::from_str::<ErrorBody>(snippet)
        .ok()
        .and_then(|b| b.error.message)
        .or_else(|| {
            // A body cut at 300 bytes: take what follows `"message": "`.
            let at = snippet.find("\"message\"")?;
            let rest = snippet[at + 9..]
                .trim_start()
                .strip_prefix(':')?
                .trim_start();
            let rest = rest.strip_prefix('"')?;
            Some(rest.split('"').next().unwrap_or(rest).to_string())
        })
}

fn status_of(err: &RemoteError) -> Option<u16> {
    match err {
        RemoteError::Permanent { status, .. } | RemoteError::Retryable { status, .. } => *status,
    }
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

fn parse_id(what: &str, id: &str) -> Result<i64, RemoteError> {
    id.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| RemoteError::permanent(format!("{what} `{id}` is not a Sendcloud id")))
}

fn mapping_error(e: String) -> RemoteError {
    RemoteError::permanent(format!("Sendcloud answer not understood: {e}"))
}

impl SendcloudConnector {
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
        let rps = parse_option_f64(
            &setup,
            "requests_per_second",
            DEFAULT_REQUESTS_PER_SECOND,
            &mut problems,
        );
        let read_rps = parse_option_f64(
            &setup,
            "read_requests_per_second",
            DEFAULT_READ_REQUESTS_PER_SECOND,
            &mut problems,
        );
        let currency = match setup.options.get("currency").map(|c| c.trim()) {
            None => DEFAULT_CURRENCY.to_string(),
            Some(c) if c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic()) => {
                c.to_ascii_uppercase()
            }
            Some(_) => {
                problems.push("option `currency` must be an ISO 4217 code".into());
                DEFAULT_CURRENCY.to_string()
            }
        };
        let sender_address = match setup.options.get("sender_address") {
            None => None,
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    problems.push(
                        "option `sender_address` must be a Sendcloud sender address id".into(),
                    );
                    None
                }
            },
        };
        for name in super::KIND.required_secrets {
            if setup.secret(name).trim().is_empty() {
                problems.push(format!("secret `{name}` is missing"));
            }
        }
        let base = match base {
            Some(b) if problems.is_empty() => b,
            _ => {
                return Err(format!(
                    "sendcloud carrier `{}`: {}",
                    setup.channel_id,
                    problems.join("; ")
                ))
            }
        };
        let write = HttpClient::new(
            format!("sendcloud:{}", setup.channel_id),
            setup.request_timeout,
            Some(RateLimit {
                per_second: rps,
                burst: UNSAFE_BURST,
            }),
        );
        let read = HttpClient::new(
            format!("sendcloud:{}", setup.channel_id),
            setup.request_timeout,
            Some(RateLimit {
                per_second: read_rps,
                burst: read_rps.ceil().clamp(1.0, 1000.0) as u32,
            }),
        );
        let secret_key = setup.secret("secret_key").trim().to_string();
        let webhook_key = match setup.secret("webhook_signature_key").trim() {
            "" => secret_key.clone(),
            k => k.to_string(),
        };
        Ok(Self {
            public_key: Secret(setup.secret("public_key").trim().to_string()),
            secret_key: Secret(secret_key),
            webhook_key: Secret(webhook_key),
            currency,
            sender_address,
            account_id: setup.channel_id,
            base,
            read,
            write,
        })
    }

    /// Replace both shared clients (e.g. a test's faster retry policy).
    pub fn with_http_client(mut self, http: HttpClient) -> Self {
        self.read = http.clone();
        self.write = http;
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

    /// Restate a failure without the keys (Sendcloud does not echo them; they
    /// are masked should it ever).
    fn redact(&self, err: RemoteError) -> RemoteError {
        let scrub = |s: String| {
            let mut s = s;
            for k in [&self.public_key.0, &self.secret_key.0, &self.webhook_key.0] {
                if !k.is_empty() {
                    s = s.replace(k.as_str(), "<redacted>");
                }
            }
            s
        };
        match err {
            RemoteError::Permanent { status, message } => RemoteError::Permanent {
                status,
                message: scrub(message),
            },
            RemoteError::Retryable {
                status,
                retry_after,
                message,
            } => RemoteError::Retryable {
                status,
                retry_after,
                message: scrub(message),
            },
        }
    }

    /// One API call; a 2xx answer as (status, JSON body; `null` when empty).
    async fn call(
        &self,
        method: Method,
        url: url::Url,
        body: Option<Value>,
    ) -> Result<(u16, Value), RemoteError> {
        let client = if method == Method::GET {
            &self.read
        } else {
            &self.write
        };
        let body = body.map(|b| b.to_string());
        let (user, pass) = (self.public_key.0.as_str(), self.secret_key.0.as_str());
        client
            .execute(
                |c| {
                    let mut rb = c
                        .request(method.clone(), url.clone())
                        .basic_auth(user, Some(pass))
                        .header(http::header::ACCEPT, "application/json");
                    if let Some(b) = &body {
                        rb = rb
                            .header(http::header::CONTENT_TYPE, "application/json")
                            .body(b.clone());
                    }
                    rb
                },
                |resp| {
                    let status = resp.status.as_u16();
                    if resp.body.iter().all(u8::is_ascii_whitespace) {
                        return Ok((status, Value::Null));
                    }
                    let v: Value = resp.json()?;
                    Ok((status, v))
                },
            )
            .await
            .map_err(|e| self.redact(e))
    }

    async fn call_as<T: DeserializeOwned>(
        &self,
        method: Method,
        url: url::Url,
        body: Option<Value>,
    ) -> Result<T, RemoteError> {
        let (_, v) = self.call(method, url, body).await?;
        mapping::decode::<T>(&v, "").map_err(mapping_error)
    }

    async fn get_parcel(&self, id: i64) -> Result<Parcel, RemoteError> {
        let url = self.url(&["api", "v2", "parcels", &id.to_string()])?;
        Ok(self
            .call_as::<ParcelEnvelope>(Method::GET, url, None)
            .await?
            .parcel)
    }

    /// The parcel created earlier with this external reference, if any.
    async fn parcel_by_reference(&self, reference: &str) -> Result<Option<Parcel>, RemoteError> {
        let mut url = self.url(&["api", "v2", "parcels"])?;
        url.query_pairs_mut()
            .append_pair("external_reference", reference);
        let list: ParcelList = self.call_as(Method::GET, url, None).await?;
        Ok(list.parcels.into_iter().next())
    }

    /// The shipping methods to a country (postal codes help zonal carriers).
    async fn methods_to(
        &self,
        to_country: &str,
        from_postal: Option<&str>,
        to_postal: Option<&str>,
    ) -> Result<Vec<ShippingMethod>, RemoteError> {
        let mut url = self.url(&["api", "v2", "shipping_methods"])?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("to_country", to_country);
            if let Some(p) = from_postal.filter(|p| !p.trim().is_empty()) {
                q.append_pair("from_postal_code", p.trim());
            }
            if let Some(p) = to_postal.filter(|p| !p.trim().is_empty()) {
                q.append_pair("to_postal_code", p.trim());
            }
            if let Some(id) = self.sender_address {
                q.append_pair("sender_address", &id.to_string());
            }
        }
        let list: ShippingMethodList = self.call_as(Method::GET, url, None).await?;
        Ok(list.shipping_methods)
    }

    /// The price of a method to a country (`GET /api/v2/shipping_methods/{id}`).
    async fn method_price(&self, method_id: i64, to_country: &str) -> Result<Decimal, RemoteError> {
        let mut url = self.url(&["api", "v2", "shipping_methods", &method_id.to_string()])?;
        url.query_pairs_mut().append_pair("to_country", to_country);
        let m: ShippingMethodEnvelope = self.call_as(Method::GET, url, None).await?;
        mapping::rate_from_method(
            "shipping_method",
            &m.shipping_method,
            to_country,
            &self.currency,
        )
        .map(|r| r.amount)
        .map_err(mapping_error)
    }

    fn parcel_country(p: &Parcel) -> Option<String> {
        p.country
            .as_ref()
            .and_then(|c| c.iso_2.clone())
            .map(|c| c.trim().to_ascii_uppercase())
            .filter(|c| !c.is_empty())
    }

    /// The parcel as orderhub sees it: rates from `methods` (for its weight
    /// and country) and the label it holds, priced from `methods` or, when its
    /// method is not among them, from the method itself.
    async fn shipment_of(
        &self,
        parcel: &Parcel,
        methods: &[ShippingMethod],
        format: LabelFormat,
    ) -> Result<CarrierShipment, RemoteError> {
        if parcel.id.trim().is_empty() {
            return Err(mapping_error("parcel.id: missing".into()));
        }
        let country = Self::parcel_country(parcel).unwrap_or_default();
        let weight = mapping::parse_decimal("parcel.weight", parcel.weight.as_deref())
            .map_err(mapping_error)?;
        let rates = rates_from_methods(methods, &country, weight, &self.currency);
        let label = self.label_of(parcel, methods, format).await?;
        Ok(CarrierShipment {
            id: mapping::carrier_shipment_id(&parcel.id, format),
            rates,
            label,
        })
    }

    /// The label a parcel holds, priced.
    async fn label_of(
        &self,
        parcel: &Parcel,
        methods: &[ShippingMethod],
        format: LabelFormat,
    ) -> Result<Option<PurchasedLabel>, RemoteError> {
        if label_from_parcel(parcel, Some((Decimal::ZERO, String::new())), format)
            .map_err(mapping_error)?
            .is_none()
        {
            return Ok(None);
        }
        let country = Self::parcel_country(parcel).unwrap_or_default();
        let method_id = parcel.shipment.as_ref().and_then(|s| s.id).ok_or_else(|| {
            mapping_error("parcel.shipment.id: missing on an announced parcel".into())
        })?;
        let known = methods
            .iter()
            .find(|m| m.id.trim() == method_id.to_string())
            .and_then(|m| {
                mapping::rate_from_method("shipping_method", m, &country, &self.currency).ok()
            })
            .map(|r| r.amount);
        let amount = match known {
            Some(a) => a,
            None => self.method_price(method_id, &country).await?,
        };
        label_from_parcel(parcel, Some((amount, self.currency.clone())), format)
            .map_err(mapping_error)
    }
}

#[async_trait]
impl Carrier for SendcloudConnector {
    fn kind(&self) -> &'static str {
        super::KIND.kind
    }

    fn capabilities(&self) -> CarrierCapabilities {
        CarrierCapabilities {
            buys_labels: true,
            // v2 makes one label per `PUT`; a multicollo label (`quantity` > 1)
            // needs the create-and-announce call, which skips rating.
            multi_parcel: false,
            voids: true,
            label_formats: LABEL_FORMATS,
        }
    }

    async fn create_shipment(&self, req: &LabelRequest) -> Result<CarrierShipment, RemoteError> {
        let [parcel] = req.parcels.as_slice() else {
            return Err(RemoteError::permanent(format!(
                "Sendcloud parcels are rated one at a time; this shipment has {} boxes",
                req.parcels.len()
            )));
        };
        if parcel.weight_oz <= Decimal::ZERO || parcel.weight_oz > Decimal::from(MAX_WEIGHT_OZ) {
            return Err(RemoteError::permanent(
                "parcel weight must be above 0 oz and at most 1,000,000 oz",
            ));
        }
        let to_country = req
            .to
            .country
            .as_deref()
            .map(|c| c.trim().to_ascii_uppercase())
            .filter(|c| c.len() == 2)
            .ok_or_else(|| RemoteError::permanent("the recipient's country (ISO-2) is required"))?;
        let body = serde_json::to_value(mapping::create_request(req, parcel, self.sender_address))
            .map_err(|e| RemoteError::permanent(format!("request not encodable: {e}")))?;
        let url = self.url(&["api", "v2", "parcels"])?;
        let created = match self
            .call_as::<ParcelEnvelope>(Method::POST, url, Some(body))
            .await
        {
            Ok(env) => env.parcel,
            // Refused for its external reference: an earlier attempt (whose
            // answer was lost) created it. Read that parcel back.
            Err(e)
                if status_of(&e) == Some(400)
                    && api_message(&e).is_some_and(|m| m.contains("external_reference"))
                    && !req.reference.trim().is_empty() =>
            {
                match self.parcel_by_reference(req.reference.trim()).await? {
                    Some(p) => {
                        tracing::info!(account = %self.account_id, parcel = %p.id, "Sendcloud parcel exists for this reference; reusing it");
                        p
                    }
                    None => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        let methods = self
            .methods_to(
                &to_country,
                req.from.postal_code.as_deref(),
                req.to.postal_code.as_deref(),
            )
            .await?;
        // A format Sendcloud does not make falls back to PDF (the label says so).
        let format = self.capabilities().label_format_for(req.label_format);
        self.shipment_of(&created, &methods, format).await
    }

    async fn shipment(&self, carrier_shipment_id: &str) -> Result<CarrierShipment, RemoteError> {
        let (parcel_id, format) =
            mapping::split_shipment_id(carrier_shipment_id).map_err(RemoteError::permanent)?;
        let id = parse_id("parcel id", parcel_id)?;
        let parcel = self.get_parcel(id).await?;
        let country = Self::parcel_country(&parcel)
            .ok_or_else(|| mapping_error("parcel.country.iso_2: missing".into()))?;
        let methods = self
            .methods_to(&country, None, parcel.postal_code.as_deref())
            .await?;
        self.shipment_of(&parcel, &methods, format).await
    }

    async fn buy(
        &self,
        carrier_shipment_id: &str,
        rate_id: &str,
    ) -> Result<PurchasedLabel, RemoteError> {
        let (parcel_id, format) =
            mapping::split_shipment_id(carrier_shipment_id).map_err(RemoteError::permanent)?;
        let parcel_id = parse_id("parcel id", parcel_id)?;
        let method_id = parse_id("shipping method id", rate_id)?;
        let body = serde_json::to_value(mapping::label_request(parcel_id, method_id))
            .map_err(|e| RemoteError::permanent(format!("request not encodable: {e}")))?;
        let url = self.url(&["api", "v2", "parcels"])?;
        let parcel = match self
            .call_as::<UpdateEnvelope>(Method::PUT, url, Some(body))
            .await
        {
            Ok(env) => env
                .into_first()
                .ok_or_else(|| mapping_error("parcel: empty list".into()))?,
            // Refused: most likely announced already (an earlier attempt whose
            // answer was lost). Read the parcel: if it holds a label, that is
            // the one bought.
            Err(e) if status_of(&e) == Some(400) => {
                let p = self.get_parcel(parcel_id).await?;
                let announced = label_from_parcel(&p, Some((Decimal::ZERO, String::new())), format)
                    .ok()
                    .flatten()
                    .is_some();
                if !announced {
                    return Err(e);
                }
                tracing::info!(account = %self.account_id, parcel = parcel_id, "Sendcloud parcel already announced; reading its label back");
                if let Some(bought) = p
                    .shipment
                    .as_ref()
                    .and_then(|s| s.id)
                    .filter(|m| *m != method_id)
                {
                    tracing::warn!(
                        parcel = parcel_id,
                        asked = method_id,
                        bought,
                        "the existing label was bought with another method"
                    );
                }
                p
            }
            Err(e) => return Err(e),
        };
        match self.label_of(&parcel, &[], format).await? {
            Some(label) => Ok(label),
            None => Err(RemoteError::permanent(format!(
                "Sendcloud did not announce parcel {parcel_id}: status {} {}",
                status_id(&parcel).map_or("?".into(), |s| s.to_string()),
                parcel
                    .status
                    .as_ref()
                    .and_then(|s| s.message.clone())
                    .unwrap_or_default()
            ))),
        }
    }

    async fn void(
        &self,
        carrier_shipment_id: &str,
        label_id: &str,
    ) -> Result<VoidStatus, RemoteError> {
        let id = match label_id.trim() {
            "" => parse_id(
                "parcel id",
                mapping::split_shipment_id(carrier_shipment_id)
                    .map_err(RemoteError::permanent)?
                    .0,
            )?,
            l => parse_id("label id", l)?,
        };
        let url = self.url(&["api", "v2", "parcels", &id.to_string(), "cancel"])?;
        match self.call(Method::POST, url, None).await {
            Ok((202, _)) => Ok(VoidStatus::Submitted),
            Ok((_, v)) => {
                let answer: CancelAnswer = mapping::decode(&v, "").map_err(mapping_error)?;
                match answer.status.as_str() {
                    "cancelled" | "deleted" => Ok(VoidStatus::Voided),
                    "queued" => Ok(VoidStatus::Submitted),
                    _ => Ok(VoidStatus::Rejected(if answer.message.is_empty() {
                        answer.status
                    } else {
                        answer.message
                    })),
                }
            }
            // Refused: already cancelled, delivered, or past 42 days.
            Err(e) if status_of(&e) == Some(400) => {
                Ok(VoidStatus::Rejected(api_message(&e).unwrap_or_else(|| {
                    "Sendcloud refused the cancellation".into()
                })))
            }
            // Deleted: the announcement had failed, nothing is charged.
            Err(e) if status_of(&e) == Some(410) => Ok(VoidStatus::Voided),
            Err(e) => Err(e),
        }
    }

    /// Sendcloud's label links (label printer, A4 sheets, parcel
    /// documents) answer only with the account's Basic auth, and the
    /// parcel-documents link serves the format the `Accept` header names.
    /// The keys go only to the configured API's own origin: another host's
    /// link is left to a plain download.
    async fn label_file(
        &self,
        label_url: &str,
        format: LabelFormat,
    ) -> Result<Option<Vec<u8>>, RemoteError> {
        let url = url::Url::parse(label_url.trim())
            .map_err(|e| RemoteError::permanent(format!("label URL `{label_url}`: {e}")))?;
        if url.origin() != self.base.origin() {
            return Ok(None);
        }
        let (user, pass) = (self.public_key.0.as_str(), self.secret_key.0.as_str());
        let accept = format.media_type();
        self.read
            .execute(
                |c| {
                    c.get(url.clone())
                        .basic_auth(user, Some(pass))
                        .header(http::header::ACCEPT, accept)
                },
                |resp| {
                    let ct = resp
                        .headers
                        .get(http::header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    // A label bought as native ZPL stays ZPL whatever is
                    // asked (Sendcloud's note): a mismatch is not the file
                    // the warehouse can print.
                    let other = [LabelFormat::Pdf, LabelFormat::Png, LabelFormat::Zpl]
                        .into_iter()
                        .any(|f| f != format && ct.starts_with(f.media_type()));
                    if other {
                        return Err(RemoteError::permanent(format!(
                            "Sendcloud served the label as `{ct}`, not `{accept}`"
                        )));
                    }
                    Ok(Some(resp.body.to_vec()))
                },
            )
            .await
            .map_err(|e| self.redact(e))
    }

    fn verify_webhook(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<VerifiedWebhook, WebhookError> {
        verify_sendcloud_webhook(&self.webhook_key.0, headers, body)
    }

    fn tracking_update(&self, body: &[u8]) -> Result<Option<TrackingUpdate>, String> {
        mapping::tracking_update_from_webhook(body)
    }
}
