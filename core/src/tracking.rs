//! Shipments' tracking status, as carriers report it, and the rule that it only
//! moves forward (a late or replayed event never pulls a shipment back).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The tracking statuses orderhub knows. The names follow EasyPost's, which
/// most carrier APIs map onto; a status a carrier sends that is not one of
/// these stays `Unknown` (never guessed as "in transit").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackingStatus {
    Unknown,
    PreTransit,
    InTransit,
    OutForDelivery,
    AvailableForPickup,
    Delivered,
    ReturnToSender,
    Failure,
    Cancelled,
    Error,
}

impl TrackingStatus {
    pub const ALL: [TrackingStatus; 10] = [
        Self::Unknown,
        Self::PreTransit,
        Self::InTransit,
        Self::OutForDelivery,
        Self::AvailableForPickup,
        Self::Delivered,
        Self::ReturnToSender,
        Self::Failure,
        Self::Cancelled,
        Self::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::PreTransit => "pre_transit",
            Self::InTransit => "in_transit",
            Self::OutForDelivery => "out_for_delivery",
            Self::AvailableForPickup => "available_for_pickup",
            Self::Delivered => "delivered",
            Self::ReturnToSender => "return_to_sender",
            Self::Failure => "failure",
            Self::Cancelled => "cancelled",
            Self::Error => "error",
        }
    }

    /// How far along a parcel is. Status only moves to a higher rank; the end
    /// states (delivered, returned, failed, cancelled) share the top rank so
    /// none of them overrides another.
    pub fn rank(self) -> u8 {
        match self {
            Self::Unknown | Self::Error => 0,
            Self::PreTransit => 1,
            Self::InTransit => 2,
            Self::OutForDelivery => 3,
            Self::AvailableForPickup => 4,
            Self::Delivered | Self::ReturnToSender | Self::Failure | Self::Cancelled => 5,
        }
    }

    /// Whether a shipment at `self` may move to `to`.
    pub fn can_advance_to(self, to: TrackingStatus) -> bool {
        to.rank() > self.rank()
    }

    /// An end state: nothing the carrier says later changes it.
    pub fn is_final(self) -> bool {
        self.rank() == 5
    }

    /// Parse a carrier's status word; anything unrecognised is `Unknown`.
    pub fn from_carrier(s: &str) -> TrackingStatus {
        s.parse().unwrap_or(TrackingStatus::Unknown)
    }
}

impl fmt::Display for TrackingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TrackingStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown tracking status `{s}`"))
    }
}

/// One scan or step the carrier reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackingDetail {
    pub status: TrackingStatus,
    /// The carrier's own status word, kept as sent (unknown words included).
    pub carrier_status: String,
    pub message: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub location: Option<String>,
}

/// What a carrier's tracking webhook says about one parcel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackingUpdate {
    pub tracking_code: String,
    /// The carrier's shipment id, when the event names it.
    pub carrier_shipment_id: Option<String>,
    pub status: TrackingStatus,
    pub carrier_status: String,
    pub details: Vec<TrackingDetail>,
    pub public_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_only_moves_forward() {
        use TrackingStatus::*;
        assert!(PreTransit.can_advance_to(InTransit));
        assert!(InTransit.can_advance_to(Delivered));
        assert!(!Delivered.can_advance_to(InTransit));
        assert!(!OutForDelivery.can_advance_to(InTransit));
        assert!(!InTransit.can_advance_to(InTransit));
        assert!(!Delivered.can_advance_to(ReturnToSender));
        assert!(!InTransit.can_advance_to(Unknown));
    }

    #[test]
    fn unknown_words_stay_unknown() {
        assert_eq!(
            TrackingStatus::from_carrier("in_transit"),
            TrackingStatus::InTransit
        );
        assert_eq!(
            TrackingStatus::from_carrier("teleported"),
            TrackingStatus::Unknown
        );
        for s in TrackingStatus::ALL {
            assert_eq!(s.as_str().parse::<TrackingStatus>().unwrap(), s);
        }
    }
}
