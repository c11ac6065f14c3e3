//! What every carrier connector declares and implements: rate a parcel, buy a
//! label exactly once (with a way to ask the carrier what it already did), and
//! read its signed tracking webhooks.

use crate::http::RemoteError;
use crate::marketplace::{ChannelSetup, VerifiedWebhook, WebhookError};
use crate::sandbox::CarrierSandbox;
use async_trait::async_trait;
use orderhub_core::Address;
pub use orderhub_core::{TrackingDetail, TrackingStatus, TrackingUpdate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Carrier account settings use the same shape as a channel's: the
/// `channel_id` field holds the carrier account id from config.
pub type CarrierSetup = ChannelSetup;

/// One box, in the units US carrier APIs use (ounces and inches).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParcelSpec {
    pub weight_oz: Decimal,
    pub length_in: Decimal,
    pub width_in: Decimal,
    pub height_in: Decimal,
}

/// The file a label comes as. Carriers that cannot make the asked format
/// fall back to PDF and say so in `PurchasedLabel::label_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LabelFormat {
    #[default]
    Pdf,
    Png,
    /// Zebra's printer language, for 4×6 thermal printers.
    Zpl,
}

impl LabelFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            LabelFormat::Pdf => "pdf",
            LabelFormat::Png => "png",
            LabelFormat::Zpl => "zpl",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "pdf" => Some(LabelFormat::Pdf),
            "png" => Some(LabelFormat::Png),
            "zpl" => Some(LabelFormat::Zpl),
            _ => None,
        }
    }

    /// The file's media type: its `Content-Type`, and the `Accept` value
    /// that asks for it where a carrier chooses the format by content
    /// negotiation (Sendcloud's parcel documents).
    pub fn media_type(self) -> &'static str {
        match self {
            LabelFormat::Pdf => "application/pdf",
            LabelFormat::Png => "image/png",
            LabelFormat::Zpl => "application/zpl",
        }
    }
}

/// What a label is bought for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelRequest {
    /// orderhub's key for the shipment (`orderhub-shipment-42`); sent as the
    /// carrier's reference so the label can be traced back.
    pub reference: String,
    pub from: Address,
    pub to: Address,
    /// One or more boxes. A carrier without multi-parcel support
    /// ([`CarrierCapabilities::multi_parcel`]) refuses more than one with a
    /// permanent error, and rate shopping skips it.
    pub parcels: Vec<ParcelSpec>,
    pub label_format: LabelFormat,
}

/// One price the carrier offers for a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rate {
    /// The carrier's id for this rate, used to buy it.
    pub id: String,
    /// The carrier as the API names it (`USPS`, `UPS`, `FedEx`).
    pub carrier: String,
    pub service: String,
    pub amount: Decimal,
    pub currency: String,
    pub delivery_days: Option<u32>,
}

/// A bought label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchasedLabel {
    pub tracking_code: String,
    pub label_url: String,
    pub carrier: String,
    pub service: String,
    pub amount: Decimal,
    pub currency: String,
    /// A page where the buyer can follow the parcel.
    pub tracking_url: Option<String>,
    /// The carrier's id for the purchase, used to void it (EasyPost: the
    /// shipment `shp_…`; Shippo: the transaction; Sendcloud: the parcel).
    pub label_id: String,
    pub label_format: LabelFormat,
}

/// What the carrier said to a void (refund) request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", content = "reason", rename_all = "snake_case")]
pub enum VoidStatus {
    /// The label is void and will not be charged.
    Voided,
    /// The carrier took the request and decides later (EasyPost `submitted`,
    /// Shippo `QUEUED`/`PENDING`); the label must not be used.
    Submitted,
    /// The carrier refused (already scanned, too old): the label stands.
    Rejected(String),
}

/// What a carrier account can do, so rate shopping and the API ask only
/// what it offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CarrierCapabilities {
    /// Rates and buys labels (false for a tracking-events-only receiver).
    pub buys_labels: bool,
    /// Several boxes in one shipment.
    pub multi_parcel: bool,
    /// Labels can be voided through the API.
    pub voids: bool,
    pub label_formats: &'static [LabelFormat],
}

impl CarrierCapabilities {
    /// The format a label is made in when the warehouse asks for `asked`:
    /// `asked` when this carrier makes it, PDF otherwise (the bought label's
    /// `label_format` then says PDF, which is what the shipment records).
    pub fn label_format_for(&self, asked: LabelFormat) -> LabelFormat {
        if self.label_formats.contains(&asked) {
            asked
        } else {
            LabelFormat::Pdf
        }
    }
}

impl Default for CarrierCapabilities {
    fn default() -> Self {
        Self {
            buys_labels: true,
            multi_parcel: false,
            voids: true,
            label_formats: &[LabelFormat::Pdf],
        }
    }
}

/// A shipment as the carrier holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarrierShipment {
    /// The carrier's id for the shipment (`shp_…`).
    pub id: String,
    pub rates: Vec<Rate>,
    /// Present once a label was bought: asking for it is how a retry learns
    /// that an earlier purchase went through.
    pub label: Option<PurchasedLabel>,
}

#[async_trait]
pub trait Carrier: Send + Sync {
    /// The connector kind as written in config (`easypost`).
    fn kind(&self) -> &'static str;

    fn capabilities(&self) -> CarrierCapabilities {
        CarrierCapabilities::default()
    }

    /// Create the carrier's shipment and get its rates (no money is spent).
    async fn create_shipment(&self, req: &LabelRequest) -> Result<CarrierShipment, RemoteError>;

    /// The shipment as the carrier holds it now, label included if bought.
    async fn shipment(&self, carrier_shipment_id: &str) -> Result<CarrierShipment, RemoteError>;

    /// Buy `rate_id` for the shipment. If the carrier says a label already
    /// exists, return that label instead (a retry after a lost answer).
    async fn buy(
        &self,
        carrier_shipment_id: &str,
        rate_id: &str,
    ) -> Result<PurchasedLabel, RemoteError>;

    /// Void a bought label through the carrier's refund call.
    /// `label_id` is [`PurchasedLabel::label_id`].
    async fn void(
        &self,
        carrier_shipment_id: &str,
        label_id: &str,
    ) -> Result<VoidStatus, RemoteError> {
        let _ = (carrier_shipment_id, label_id);
        Err(RemoteError::permanent(format!(
            "{} labels cannot be voided through orderhub",
            self.kind()
        )))
    }

    /// The file of a bought label (`label_url`, in `format`), for carriers
    /// whose label links need the account's credentials or choose the format
    /// by the request (Sendcloud: Basic auth and `Accept`). `Ok(None)` means
    /// the link is public and is fetched as it is (EasyPost's and Shippo's
    /// pre-signed file links), which is the default.
    async fn label_file(
        &self,
        label_url: &str,
        format: LabelFormat,
    ) -> Result<Option<Vec<u8>>, RemoteError> {
        let _ = (label_url, format);
        Ok(None)
    }

    /// Whether this account makes return labels
    /// ([`Carrier::create_return_shipment`]).
    fn supports_returns(&self) -> bool {
        false
    }

    /// Create the carrier's shipment for a return label and get its rates
    /// (no money is spent; [`Carrier::buy`] buys it like any label). `req`
    /// carries the outbound addresses, `from` the warehouse and `to` the
    /// customer: the label is made from the customer back to the warehouse
    /// (EasyPost: `is_return: true`, which swaps the addresses itself).
    async fn create_return_shipment(
        &self,
        req: &LabelRequest,
    ) -> Result<CarrierShipment, RemoteError> {
        let _ = req;
        Err(RemoteError::permanent(format!(
            "{} return labels are not supported by orderhub",
            self.kind()
        )))
    }

    /// Check a tracking webhook's signature on the raw body.
    fn verify_webhook(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<VerifiedWebhook, WebhookError>;

    /// Check a webhook with its URL's query string too, for carriers whose
    /// authenticity is a secret token in the URL (Shippo). By default only
    /// the headers and body count.
    fn verify_webhook_request(
        &self,
        query: Option<&str>,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<VerifiedWebhook, WebhookError> {
        let _ = query;
        self.verify_webhook(headers, body)
    }

    /// Read a verified webhook body. `Ok(None)` for events that carry no
    /// tracking (acknowledged and ignored); `Err` names what is malformed.
    fn tracking_update(&self, body: &[u8]) -> Result<Option<TrackingUpdate>, String>;
}

/// What a carrier kind declares, so config can be validated before anything runs.
pub struct CarrierKind {
    pub kind: &'static str,
    pub required_secrets: &'static [&'static str],
    /// Secrets an account may have (e.g. Shippo's HMAC key, which Shippo
    /// provisions on request); named in config like the required ones.
    pub optional_secrets: &'static [&'static str],
    pub build: fn(CarrierSetup) -> Result<Arc<dyn Carrier>, String>,
    /// Its local imitation (see [`crate::sandbox::carrier`]).
    pub sandbox: CarrierSandbox,
}

/// Every carrier orderhub knows. A new carrier is one folder and one line here.
pub fn carrier_kinds() -> &'static [CarrierKind] {
    &[
        crate::carriers::easypost::KIND,
        crate::carriers::sendcloud::KIND,
        crate::carriers::shippo::KIND,
        crate::carriers::standard_webhooks::KIND,
    ]
}

pub fn carrier_kind(kind: &str) -> Option<&'static CarrierKind> {
    carrier_kinds().iter().find(|k| k.kind == kind)
}
