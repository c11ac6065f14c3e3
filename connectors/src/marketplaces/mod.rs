pub mod ebay;
pub mod ecwid;
pub mod shopify;
pub mod woocommerce;
