//! Every carrier's tracking-event reader on raw bytes (the first byte picks
//! the carrier): never panics.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| orderhub_fuzz::tracking_event(data));
