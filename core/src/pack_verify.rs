//! Scan-to-verify packing, the pure part: what a scan means for a shipment's
//! expected lines, what finishing a session comes to, whether a label may be
//! bought, and whether a measured weight calls for re-rating.
//!
//! A packer scans the shipment's barcode (`SHIP-<shipment id>`, as printed on
//! the packing slip, or the bare id), then each unit's barcode. A unit's scan
//! matches a line by one of the sku's barcodes (GTIN/UPC/EAN from the channel,
//! config, the stock CSV or the API) or by the sku itself:
//!
//! - `ok`: a unit of an expected line, not more than expected;
//! - `wrong_item`: a sku of the seller that is not in this shipment;
//! - `over_scan`: one unit more than the line expects;
//! - `unknown`: no sku and no barcode of the seller.
//!
//! Every result but `ok` is a mismatch: counted for the accuracy KPI and
//! flagged; it blocks the label until a supervisor overrides with a reason.
//! Finishing with units still missing blocks the session (and counts each
//! missing unit); the packer may scan them and finish again. Finishing with
//! every unit matched and no mismatch verifies it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SESSION_OPEN: &str = "open";
pub const SESSION_VERIFIED: &str = "verified";
pub const SESSION_BLOCKED: &str = "blocked";
pub const SESSION_OVERRIDDEN: &str = "overridden";

pub const SCAN_OK: &str = "ok";
pub const SCAN_WRONG_ITEM: &str = "wrong_item";
pub const SCAN_OVER_SCAN: &str = "over_scan";
pub const SCAN_UNKNOWN: &str = "unknown";

/// The longest barcode or sku a scan may carry.
pub const MAX_SCAN_CHARS: usize = 128;

/// One line the shipment should hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedLine {
    pub sku: String,
    pub title: String,
    pub quantity: u32,
    /// The sku's barcodes known when the session started.
    #[serde(default)]
    pub barcodes: Vec<String>,
}

/// What one item scan came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanOutcome {
    Ok { sku: String },
    WrongItem { sku: String },
    OverScan { sku: String },
    Unknown,
}

impl ScanOutcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            ScanOutcome::Ok { .. } => SCAN_OK,
            ScanOutcome::WrongItem { .. } => SCAN_WRONG_ITEM,
            ScanOutcome::OverScan { .. } => SCAN_OVER_SCAN,
            ScanOutcome::Unknown => SCAN_UNKNOWN,
        }
    }

    pub fn sku(&self) -> Option<&str> {
        match self {
            ScanOutcome::Ok { sku }
            | ScanOutcome::WrongItem { sku }
            | ScanOutcome::OverScan { sku } => Some(sku),
            ScanOutcome::Unknown => None,
        }
    }

    pub fn is_mismatch(&self) -> bool {
        !matches!(self, ScanOutcome::Ok { .. })
    }
}

/// Mismatches by kind, for a session and for the KPI.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mismatches {
    pub wrong_item: u64,
    pub over_scan: u64,
    pub unknown: u64,
    pub missing_unit: u64,
}

impl Mismatches {
    /// Mismatches from scans (everything but missing units).
    pub fn scanned(&self) -> u64 {
        self.wrong_item + self.over_scan + self.unknown
    }

    pub fn total(&self) -> u64 {
        self.scanned() + self.missing_unit
    }

    pub fn add(&mut self, other: &Mismatches) {
        self.wrong_item += other.wrong_item;
        self.over_scan += other.over_scan;
        self.unknown += other.unknown;
        self.missing_unit += other.missing_unit;
    }
}

/// Trim what a scanner typed (scanners may add CR/LF or spaces); `None` when
/// empty, too long or holding control characters.
pub fn clean_scan(raw: &str) -> Option<&str> {
    let s = raw.trim();
    (!s.is_empty() && s.chars().count() <= MAX_SCAN_CHARS && !s.chars().any(char::is_control))
        .then_some(s)
}

/// The shipment id a shipment barcode names: `SHIP-<id>` (any case, as the
/// packing slip's Code 128 prints it) or the bare id.
pub fn shipment_id_of(barcode: &str) -> Option<i64> {
    let s = barcode.trim();
    let digits = match s.get(..5) {
        Some(p) if p.eq_ignore_ascii_case("SHIP-") => &s[5..],
        _ => s,
    };
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<i64>().ok().filter(|id| *id > 0)
}

/// What scanning `code` means for a session expecting `expected` with
/// `scanned` units so far. `seller_sku` names the seller's sku for a barcode
/// not on the expected lines (a wrong item), if any.
pub fn classify(
    expected: &[ExpectedLine],
    scanned: &BTreeMap<String, u32>,
    code: &str,
    seller_sku: Option<&str>,
) -> ScanOutcome {
    let line = expected
        .iter()
        .find(|l| l.barcodes.iter().any(|b| b == code))
        .or_else(|| expected.iter().find(|l| l.sku == code))
        .or_else(|| seller_sku.and_then(|s| expected.iter().find(|l| l.sku == s)));
    match line {
        Some(l) => {
            let have = scanned.get(&l.sku).copied().unwrap_or(0);
            if have >= l.quantity {
                ScanOutcome::OverScan { sku: l.sku.clone() }
            } else {
                ScanOutcome::Ok { sku: l.sku.clone() }
            }
        }
        None => match seller_sku {
            Some(s) => ScanOutcome::WrongItem { sku: s.to_string() },
            None => ScanOutcome::Unknown,
        },
    }
}

/// Units still missing per sku (only lines with some missing).
pub fn missing(
    expected: &[ExpectedLine],
    scanned: &BTreeMap<String, u32>,
) -> BTreeMap<String, u32> {
    expected
        .iter()
        .filter_map(|l| {
            let have = scanned.get(&l.sku).copied().unwrap_or(0);
            (have < l.quantity).then(|| (l.sku.clone(), l.quantity - have))
        })
        .collect()
}

/// What pressing Finish comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishOutcome {
    /// `verified` or `blocked`.
    pub status: &'static str,
    /// Units missing now (counted as mismatches).
    pub missing_units: u32,
    pub reason: Option<String>,
}

/// Finish a session: units missing or any scan mismatch → blocked; every
/// unit matched and nothing wrong → verified.
pub fn finish(
    expected: &[ExpectedLine],
    scanned: &BTreeMap<String, u32>,
    mismatches: &Mismatches,
) -> FinishOutcome {
    let missing = missing(expected, scanned);
    let missing_units: u32 = missing.values().sum();
    let mut why = Vec::new();
    if missing_units > 0 {
        let list = missing
            .iter()
            .map(|(sku, n)| format!("{n} × {sku}"))
            .collect::<Vec<_>>()
            .join(", ");
        why.push(format!("{missing_units} unit(s) missing: {list}"));
    }
    if mismatches.scanned() > 0 {
        why.push(format!(
            "{} wrong item, {} over-scan, {} unknown scan(s) need an override",
            mismatches.wrong_item, mismatches.over_scan, mismatches.unknown
        ));
    }
    FinishOutcome {
        status: if why.is_empty() {
            SESSION_VERIFIED
        } else {
            SESSION_BLOCKED
        },
        missing_units,
        reason: (!why.is_empty()).then(|| why.join("; ")),
    }
}

/// Whether a label may be bought, given the shipment's session (if any) and
/// whether its warehouse requires verification. `Err` says why not.
pub fn label_gate(session: Option<(&str, &Mismatches)>, required: bool) -> Result<(), String> {
    match session {
        Some((SESSION_VERIFIED | SESSION_OVERRIDDEN, _)) => Ok(()),
        Some((SESSION_BLOCKED, m)) => Err(format!(
            "pack verification blocked ({} mismatch(es)): resolve or override it before buying the label",
            m.total()
        )),
        Some((_, m)) if m.scanned() > 0 => Err(format!(
            "pack verification has {} mismatch(es): resolve or override it before buying the label",
            m.scanned()
        )),
        Some(_) if required => {
            Err("pack verification is not finished; this warehouse requires it".into())
        }
        None if required => Err("the shipment has not been scan-verified; this warehouse requires it".into()),
        _ => Ok(()),
    }
}

/// Whether `measured` differs from `computed` by more than `tolerance_pct`
/// percent of `computed`.
pub fn needs_rerate(computed_grams: u64, measured_grams: u64, tolerance_pct: f64) -> bool {
    if computed_grams == 0 {
        return measured_grams > 0;
    }
    let diff = (measured_grams as f64 - computed_grams as f64).abs();
    diff * 100.0 > tolerance_pct.max(0.0) * computed_grams as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines() -> Vec<ExpectedLine> {
        vec![
            ExpectedLine {
                sku: "SKU-001".into(),
                title: "Mug".into(),
                quantity: 2,
                barcodes: vec!["0012345678905".into()],
            },
            ExpectedLine {
                sku: "SKU-002".into(),
                title: "Cap".into(),
                quantity: 1,
                barcodes: vec![],
            },
        ]
    }

    #[test]
    fn shipment_barcodes_are_the_slip_value_or_the_bare_id() {
        assert_eq!(shipment_id_of("SHIP-42"), Some(42));
        assert_eq!(shipment_id_of("ship-42"), Some(42));
        assert_eq!(shipment_id_of(" 42 \r\n"), Some(42));
        assert_eq!(shipment_id_of("SHIP-"), None);
        assert_eq!(shipment_id_of("SHIP-4x2"), None);
        assert_eq!(shipment_id_of("SHIP--4"), None);
        assert_eq!(shipment_id_of("0"), None);
        assert_eq!(shipment_id_of("99999999999999999999"), None);
        assert_eq!(shipment_id_of("SKU-001"), None);
        assert_eq!(shipment_id_of("SHIPé"), None);
    }

    #[test]
    fn scans_match_by_barcode_or_sku_and_count_over_scans() {
        let l = lines();
        let mut scanned = BTreeMap::new();
        let by_code = classify(&l, &scanned, "0012345678905", Some("SKU-001"));
        assert_eq!(
            by_code,
            ScanOutcome::Ok {
                sku: "SKU-001".into()
            }
        );
        scanned.insert("SKU-001".to_string(), 1);
        assert_eq!(
            classify(&l, &scanned, "SKU-001", None),
            ScanOutcome::Ok {
                sku: "SKU-001".into()
            }
        );
        scanned.insert("SKU-001".to_string(), 2);
        let over = classify(&l, &scanned, "0012345678905", Some("SKU-001"));
        assert_eq!(
            over,
            ScanOutcome::OverScan {
                sku: "SKU-001".into()
            }
        );
        assert!(over.is_mismatch());
        let wrong = classify(&l, &scanned, "4006381333931", Some("SKU-009"));
        assert_eq!(
            wrong,
            ScanOutcome::WrongItem {
                sku: "SKU-009".into()
            }
        );
        assert_eq!(wrong.as_str(), "wrong_item");
        assert_eq!(classify(&l, &scanned, "nope", None), ScanOutcome::Unknown);
    }

    #[test]
    fn finish_verifies_only_a_complete_clean_session() {
        let l = lines();
        let mut scanned = BTreeMap::from([("SKU-001".to_string(), 2)]);
        let m = Mismatches::default();
        let blocked = finish(&l, &scanned, &m);
        assert_eq!(blocked.status, SESSION_BLOCKED);
        assert_eq!(blocked.missing_units, 1);
        assert!(blocked.reason.unwrap().contains("1 × SKU-002"));
        scanned.insert("SKU-002".into(), 1);
        let ok = finish(&l, &scanned, &m);
        assert_eq!(ok.status, SESSION_VERIFIED);
        assert_eq!(ok.missing_units, 0);
        let wrong = Mismatches {
            wrong_item: 1,
            ..Default::default()
        };
        assert_eq!(finish(&l, &scanned, &wrong).status, SESSION_BLOCKED);
    }

    #[test]
    fn the_gate_follows_the_session_and_the_warehouse_setting() {
        let clean = Mismatches::default();
        let wrong = Mismatches {
            wrong_item: 1,
            ..Default::default()
        };
        assert!(label_gate(None, false).is_ok());
        assert!(label_gate(None, true).is_err());
        assert!(label_gate(Some((SESSION_OPEN, &clean)), false).is_ok());
        assert!(label_gate(Some((SESSION_OPEN, &clean)), true).is_err());
        assert!(label_gate(Some((SESSION_OPEN, &wrong)), false).is_err());
        assert!(label_gate(Some((SESSION_BLOCKED, &clean)), false).is_err());
        assert!(label_gate(Some((SESSION_VERIFIED, &clean)), true).is_ok());
        assert!(label_gate(Some((SESSION_OVERRIDDEN, &wrong)), true).is_ok());
    }

    #[test]
    fn reweigh_beyond_the_tolerance_only() {
        assert!(!needs_rerate(1000, 1100, 10.0));
        assert!(needs_rerate(1000, 1101, 10.0));
        assert!(needs_rerate(1000, 899, 10.0));
        assert!(!needs_rerate(1000, 900, 10.0));
        assert!(needs_rerate(0, 5, 10.0));
    }

    #[test]
    fn scans_are_cleaned() {
        assert_eq!(clean_scan(" 0012345678905\r\n"), Some("0012345678905"));
        assert_eq!(clean_scan("   "), None);
        assert_eq!(clean_scan("a\u{0}b"), None);
        assert_eq!(clean_scan(&"9".repeat(129)), None);
    }
}
