//! The shopify normalizer on raw bytes: never panics; an order it accepts
//! is one of that channel's orders.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| orderhub_fuzz::normalize("shopify", data));
