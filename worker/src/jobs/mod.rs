//! apalis jobs. Arguments are ids only; each job reads current state, does
//! one step and writes with guarded updates, so running it twice is harmless.

mod poll_channel;
mod route_order;

pub use poll_channel::{poll_channel, poll_once, PollChannel, PollReport};
pub use route_order::{route_order, RouteOrder};
