pub mod easypost;
pub mod sendcloud;
pub mod shippo;
pub mod standard_webhooks;
