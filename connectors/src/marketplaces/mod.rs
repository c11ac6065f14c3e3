pub mod amazon;
pub mod ebay;
pub mod ecwid;
pub mod etsy;
pub mod shopify;
pub mod tiktok;
pub mod woocommerce;
