pub mod easypost;
