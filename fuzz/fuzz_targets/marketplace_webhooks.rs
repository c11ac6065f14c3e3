//! Every marketplace's webhook verifier on forged deliveries (any headers
//! among the ones the verifiers read, any body): never panics, never accepts
//! one (WooCommerce's unsigned creation ping aside, which carries nothing);
//! whatever a verifier accepts is then mapped like a real delivery.
#![no_main]
libfuzzer_sys::fuzz_target!(|input: orderhub_fuzz::Delivery| {
    orderhub_fuzz::marketplace_webhook(&input)
});
