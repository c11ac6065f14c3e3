//! The control surface every sandbox shares.
//!
//! A sandbox is the remote system in miniature (its paths, auth, JSON shapes and
//! limits). Beside the vendor's API each one mounts the same control routes, so
//! tests, the demo and the benchmark drive them alike:
//!
//! - `POST /_sandbox/faults` — body [`FaultConfig`], replaces the current one;
//! - `GET /_sandbox/stats` — [`Stats`];
//! - `POST /_sandbox/reset-stats` — zeroes the counters (what the sandbox recorded
//!   stays: it is the state of the remote world, not a counter).
//!
//! - `POST /_sandbox/credentials` — `{"revoked": true}` makes every vendor call
//!   answer as the vendor does for credentials that stopped working (401/403),
//!   `{"revoked": false}` restores them.
//!
//! Marketplace sandboxes also share one contract for their own objects (see
//! [`MarketplaceSandbox`]), so the conformance suite drives every channel alike:
//!
//! - `POST /_sandbox/seed` — `{"count": N, "start": RFC 3339, "step_ms": ms}` creates
//!   N generated orders whose update times start at `start` (default: so the last
//!   is about now) `step_ms` apart; answers `{"ids": ["<external id>", ...]}`,
//!   the ids as the connector's `Order::external_id` will spell them;
//! - `POST /_sandbox/orders/{external_id}/touch` — `{"updated_at": RFC 3339?,
//!   "cancel": bool?}` updates the order (now, or at the given time) as a seller
//!   editing it would; 404 for an unknown order;
//! - `GET /_sandbox/orders/{external_id}/webhook[?topic=T]` — `{"headers": {..},
//!   "body": ".."}`: a webhook delivery for the order exactly as the vendor sends
//!   it, signed with the sandbox's secret (default topic: the vendor's "order
//!   updated");
//! - `GET /_sandbox/stats` → `recorded.tracking`: `{"<external_id>": [{"carrier",
//!   "number", "url"}, ...]}`, one entry per tracking number the channel now holds
//!   for the order (a repeated push of the same number must not add one).

// What a connector kind declares about its sandbox (its profile: the
// credentials the fuzz targets and the demo use) builds without the
// `sandbox` feature; the servers themselves need it.
mod kinds;
pub use kinds::*;

#[cfg(feature = "sandbox")]
pub mod carrier;
#[cfg(feature = "sandbox")]
pub mod catalog;
#[cfg(feature = "sandbox")]
pub mod generate;
#[cfg(feature = "sandbox")]
mod server;
#[cfg(feature = "sandbox")]
pub use catalog::{Catalog, Listing};
#[cfg(feature = "sandbox")]
pub use server::*;
