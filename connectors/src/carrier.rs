//! What every carrier connector declares and implements: rate a parcel, buy a
//! label exactly once (with a way to ask the carrier what it already did), and
//! read its signed tracking webhooks.

use crate::http::RemoteError;
use crate::marketplace::{ChannelSetup, VerifiedWebhook, WebhookError};
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

/// What a label is bought for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelRequest {
    /// orderhub's key for the shipment (`orderhub-shipment-42`); sent as the
    /// carrier's reference so the label can be traced back.
    pub reference: String,
    pub from: Address,
    pub to: Address,
    pub parcel: ParcelSpec,
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

    /// Check a tracking webhook's signature on the raw body.
    fn verify_webhook(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<VerifiedWebhook, WebhookError>;

    /// Read a verified webhook body. `Ok(None)` for events that carry no
    /// tracking (acknowledged and ignored); `Err` names what is malformed.
    fn tracking_update(&self, body: &[u8]) -> Result<Option<TrackingUpdate>, String>;
}

/// What a carrier kind declares, so config can be validated before anything runs.
pub struct CarrierKind {
    pub kind: &'static str,
    pub required_secrets: &'static [&'static str],
    pub build: fn(CarrierSetup) -> Result<Arc<dyn Carrier>, String>,
}

/// Every carrier orderhub knows. A new carrier is one folder and one line here.
pub fn carrier_kinds() -> &'static [CarrierKind] {
    &[crate::carriers::easypost::KIND]
}

pub fn carrier_kind(kind: &str) -> Option<&'static CarrierKind> {
    carrier_kinds().iter().find(|k| k.kind == kind)
}
