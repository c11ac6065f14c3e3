//! orderhub's domain: the order model and its state machine, and the store
//! (sea-orm entities and the queries the worker needs). No HTTP here.

pub mod config;
pub mod order;
pub mod pack_verify;
pub mod packing;
pub mod picklist;
pub mod rate_choice;
pub mod routing_rules;
#[cfg(feature = "store")]
pub mod store;
pub mod tracking;

pub use order::*;
pub use tracking::{TrackingDetail, TrackingStatus, TrackingUpdate};
