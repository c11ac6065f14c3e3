//! Every carrier's webhook verifier (headers, URL query and body) on forged
//! deliveries: never panics, never accepts one.
#![no_main]
libfuzzer_sys::fuzz_target!(|input: orderhub_fuzz::Delivery| {
    orderhub_fuzz::carrier_webhook(&input)
});
