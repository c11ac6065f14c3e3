//! Connectors: one folder per marketplace and per carrier, each with its wire
//! types, the mapping to the core model, its client and its sandbox.
//! The shared HTTP client (limits, retries, error classes) is `http`.

pub mod carrier;
pub mod carriers;
pub mod http;
pub mod marketplace;
pub mod marketplaces;
pub mod sandbox;

pub use carrier::*;
pub use http::{HttpClient, RemoteError};
pub use marketplace::*;
