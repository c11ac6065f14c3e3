//! Loading configuration: `config/default.toml`, then `--config FILE`, then
//! `ORDERHUB__SECTION__KEY` environment variables. Validation lists every
//! problem at once and resolves secrets from the environment.

use orderhub_connectors::{carrier_kind, carrier_kinds, marketplace_kind, marketplace_kinds};
use orderhub_core::config::{KindCatalog, ResolvedSecrets, Settings};
use std::path::Path;

/// The defaults, compiled in so the binary works from any directory.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

struct Catalog;

impl KindCatalog for Catalog {
    fn required_secrets(&self, kind: &str) -> Option<&'static [&'static str]> {
        marketplace_kind(kind).map(|k| k.required_secrets)
    }
    fn known_kinds(&self) -> Vec<&'static str> {
        marketplace_kinds().iter().map(|k| k.kind).collect()
    }
    fn carrier_required_secrets(&self, kind: &str) -> Option<&'static [&'static str]> {
        carrier_kind(kind).map(|k| k.required_secrets)
    }
    fn known_carrier_kinds(&self) -> Vec<&'static str> {
        carrier_kinds().iter().map(|k| k.kind).collect()
    }
    fn carrier_optional_secrets(&self, kind: &str) -> &'static [&'static str] {
        carrier_kind(kind).map_or(&[], |k| k.optional_secrets)
    }
}

/// Settings plus the secrets they name, ready to use.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub settings: Settings,
    pub secrets: ResolvedSecrets,
}

/// Read and validate. `Err` carries every problem found, one per line.
pub fn load(file: Option<&Path>) -> Result<Loaded, Vec<String>> {
    load_layers(file, None)
}

/// Like [`load`], with a TOML text layered over the file (the demo and tests
/// describe their setup this way).
pub fn load_layers(file: Option<&Path>, extra_toml: Option<&str>) -> Result<Loaded, Vec<String>> {
    let mut b = config::Config::builder().add_source(config::File::from_str(
        DEFAULT_TOML,
        config::FileFormat::Toml,
    ));
    if let Some(f) = file {
        if !f.exists() {
            return Err(vec![format!("config file {} does not exist", f.display())]);
        }
        b = b.add_source(config::File::from(f).format(config::FileFormat::Toml));
    }
    if let Some(t) = extra_toml {
        b = b.add_source(config::File::from_str(t, config::FileFormat::Toml));
    }
    b = b.add_source(
        config::Environment::with_prefix("ORDERHUB")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true),
    );
    let settings: Settings = b
        .build()
        .and_then(|c| c.try_deserialize())
        .map_err(|e| vec![format!("configuration: {e}")])?;
    let secrets = settings.validate(&Catalog, &|var| std::env::var(var).ok())?;
    Ok(Loaded { settings, secrets })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_defaults_are_valid() {
        let loaded = load(None).expect("config/default.toml validates");
        assert!(loaded.settings.channels.is_empty());
    }
}
