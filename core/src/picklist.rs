//! Pick lists, the pure part: the units a batch of shipments needs, summed
//! per sku and sorted by bin location the way people read bins (a natural
//! sort: `A-2` before `A-10`), skus without a bin last; each row lists the
//! shipments its units go to. Also the order shipments are packed and
//! printed in (pick-list order) and the CSV form.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// One sku of one shipment: what the shipment reserved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickUnit {
    pub shipment_id: i64,
    pub order_id: i64,
    /// The order's number as the channel shows it (else its external id).
    pub order_number: String,
    pub sku: String,
    /// The order line's title, when a line has this sku.
    pub title: Option<String>,
    pub quantity: i64,
}

/// The units of one row that go to one shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickTarget {
    pub shipment_id: i64,
    pub order_number: String,
    pub quantity: i64,
}

/// One sku to pick: where, how many in total, and for which shipments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickRow {
    /// The bin location in this warehouse (`None`: no bin recorded; such
    /// rows come last).
    pub bin: Option<String>,
    pub sku: String,
    pub title: Option<String>,
    /// Units of this sku over every shipment of the list.
    pub quantity: i64,
    /// The shipments the units go to, by shipment id.
    pub shipments: Vec<PickTarget>,
}

/// A pick list for a warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickList {
    pub warehouse_id: String,
    pub generated_at: chrono::DateTime<chrono::Utc>,
    /// The shipments covered, in pick-list order (see [`shipment_order`]).
    pub shipment_ids: Vec<i64>,
    pub rows: Vec<PickRow>,
    /// Units over all rows.
    pub total_units: i64,
}

/// Compare bin locations naturally: runs of digits by their value (`2` <
/// `10`, `007` = `7` then shorter first), other text case-insensitively;
/// equal keys fall back to the plain string order so the sort is total.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (ta, tb) = (tokens(a), tokens(b));
    for (x, y) in ta.iter().zip(tb.iter()) {
        let o = match (x, y) {
            (Tok::Num(x), Tok::Num(y)) => {
                let (xs, ys) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                xs.len()
                    .cmp(&ys.len())
                    .then_with(|| xs.cmp(ys))
                    .then_with(|| x.len().cmp(&y.len()))
            }
            (Tok::Text(x), Tok::Text(y)) => x.to_lowercase().cmp(&y.to_lowercase()),
            // A number sorts before text at the same position.
            (Tok::Num(_), Tok::Text(_)) => Ordering::Less,
            (Tok::Text(_), Tok::Num(_)) => Ordering::Greater,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    ta.len().cmp(&tb.len()).then_with(|| a.cmp(b))
}

enum Tok<'a> {
    Num(&'a str),
    Text(&'a str),
}

fn tokens(s: &str) -> Vec<Tok<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut digits: Option<bool> = None;
    for (i, c) in s.char_indices() {
        let d = c.is_ascii_digit();
        match digits {
            Some(prev) if prev != d => {
                out.push(if prev {
                    Tok::Num(&s[start..i])
                } else {
                    Tok::Text(&s[start..i])
                });
                start = i;
            }
            _ => {}
        }
        digits = Some(d);
    }
    if let Some(d) = digits {
        out.push(if d {
            Tok::Num(&s[start..])
        } else {
            Tok::Text(&s[start..])
        });
    }
    out
}

/// Order two optional bins: by bin naturally, no bin last.
fn bin_cmp(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => natural_cmp(a, b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// Sum `units` per sku and sort the rows by bin (natural order, no bin
/// last), then sku (natural order). `bins` maps sku → bin in this
/// warehouse. Units of zero or less are ignored.
pub fn build_rows(units: &[PickUnit], bins: &BTreeMap<String, String>) -> Vec<PickRow> {
    let mut by_sku: BTreeMap<&str, PickRow> = BTreeMap::new();
    for u in units.iter().filter(|u| u.quantity > 0) {
        let row = by_sku.entry(u.sku.as_str()).or_insert_with(|| PickRow {
            bin: bins.get(&u.sku).filter(|b| !b.trim().is_empty()).cloned(),
            sku: u.sku.clone(),
            title: None,
            quantity: 0,
            shipments: Vec::new(),
        });
        if row.title.is_none() {
            row.title = u.title.clone();
        }
        row.quantity += u.quantity;
        match row
            .shipments
            .iter_mut()
            .find(|t| t.shipment_id == u.shipment_id)
        {
            Some(t) => t.quantity += u.quantity,
            None => row.shipments.push(PickTarget {
                shipment_id: u.shipment_id,
                order_number: u.order_number.clone(),
                quantity: u.quantity,
            }),
        }
    }
    let mut rows: Vec<PickRow> = by_sku.into_values().collect();
    for r in &mut rows {
        r.shipments.sort_by_key(|t| t.shipment_id);
    }
    rows.sort_by(|a, b| {
        bin_cmp(a.bin.as_deref(), b.bin.as_deref()).then_with(|| natural_cmp(&a.sku, &b.sku))
    });
    rows
}

/// Pick-list order of the shipments: by the first row (in bin order) that
/// has units for them, then by id. Packing slips and labels are printed in
/// this order, so the picker walks the bins once and packs as they come.
pub fn shipment_order(rows: &[PickRow]) -> Vec<i64> {
    let mut first: BTreeMap<i64, usize> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        for t in &r.shipments {
            first.entry(t.shipment_id).or_insert(i);
        }
    }
    let mut ids: Vec<(usize, i64)> = first.into_iter().map(|(id, i)| (i, id)).collect();
    ids.sort();
    ids.into_iter().map(|(_, id)| id).collect()
}

/// A pick list from the units of a warehouse's shipments.
pub fn build(
    warehouse_id: &str,
    units: &[PickUnit],
    bins: &BTreeMap<String, String>,
    generated_at: chrono::DateTime<chrono::Utc>,
) -> PickList {
    let rows = build_rows(units, bins);
    PickList {
        warehouse_id: warehouse_id.to_string(),
        generated_at,
        shipment_ids: shipment_order(&rows),
        total_units: rows.iter().map(|r| r.quantity).sum(),
        rows,
    }
}

/// The CSV header of [`to_csv`].
pub const CSV_HEADER: &str = "bin,sku,title,quantity,shipments";

/// The pick list as CSV: one line per row, in pick order; `shipments` is
/// `id:units` per shipment joined with `;` (`12:2;14:1`). Text a spreadsheet
/// would run as a formula is prefixed with `'`.
pub fn to_csv(list: &PickList) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push_str("\r\n");
    for r in &list.rows {
        let shipments = r
            .shipments
            .iter()
            .map(|t| format!("{}:{}", t.shipment_id, t.quantity))
            .collect::<Vec<_>>()
            .join(";");
        let fields = [
            csv_field(r.bin.as_deref().unwrap_or("")),
            csv_field(&r.sku),
            csv_field(r.title.as_deref().unwrap_or("")),
            r.quantity.to_string(),
            csv_field(&shipments),
        ];
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

fn csv_field(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}")
    } else {
        v.to_string()
    };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(shipment_id: i64, sku: &str, quantity: i64) -> PickUnit {
        PickUnit {
            shipment_id,
            order_id: shipment_id * 10,
            order_number: format!("#{}", shipment_id * 10),
            sku: sku.into(),
            title: Some(format!("{sku} title")),
            quantity,
        }
    }

    #[test]
    fn bins_sort_naturally() {
        let mut bins = vec![
            "A-10", "B-1", "A-2", "a-3", "A-02", "A", "A-1-10", "A-1-9", "10", "9",
        ];
        bins.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            bins,
            vec!["9", "10", "A", "A-1-9", "A-1-10", "A-2", "A-02", "a-3", "A-10", "B-1"]
        );
        assert_eq!(natural_cmp("A-2", "A-10"), Ordering::Less);
        assert_eq!(natural_cmp("A-10", "A-2"), Ordering::Greater);
        assert_eq!(natural_cmp("x", "x"), Ordering::Equal);
    }

    #[test]
    fn rows_are_summed_per_sku_in_bin_order_without_a_bin_last() {
        let bins: BTreeMap<String, String> = [
            ("MUG", "A-10"),
            ("CAP", "A-2"),
            ("TEE", "B-1"),
            ("BAG", "   "),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let units = vec![
            unit(3, "TEE", 1),
            unit(1, "MUG", 2),
            unit(2, "MUG", 1),
            unit(2, "CAP", 3),
            unit(1, "NOBIN", 4),
            unit(3, "BAG", 1),
            unit(3, "MUG", 0),
            unit(1, "MUG", 1),
        ];
        let list = build("main", &units, &bins, chrono::Utc::now());
        let got: Vec<(Option<&str>, &str, i64)> = list
            .rows
            .iter()
            .map(|r| (r.bin.as_deref(), r.sku.as_str(), r.quantity))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some("A-2"), "CAP", 3),
                (Some("A-10"), "MUG", 4),
                (Some("B-1"), "TEE", 1),
                (None, "BAG", 1),
                (None, "NOBIN", 4),
            ]
        );
        let mug = &list.rows[1];
        assert_eq!(
            mug.shipments
                .iter()
                .map(|t| (t.shipment_id, t.quantity))
                .collect::<Vec<_>>(),
            vec![(1, 3), (2, 1)]
        );
        assert_eq!(list.total_units, 13);
        // Shipment 2 has the first bin (CAP at A-2), then 1 (MUG), then 3.
        assert_eq!(list.shipment_ids, vec![2, 1, 3]);
    }

    #[test]
    fn csv_has_a_line_per_row_and_neutralises_formulas() {
        let bins = BTreeMap::from([("=SUM".to_string(), "A-1".to_string())]);
        let mut u = unit(5, "=SUM", 2);
        u.title = Some("Mug, \"big\"".into());
        let list = build("main", &[u, unit(6, "=SUM", 1)], &bins, chrono::Utc::now());
        let csv = to_csv(&list);
        assert_eq!(
            csv,
            "bin,sku,title,quantity,shipments\r\nA-1,'=SUM,\"Mug, \"\"big\"\"\",3,5:2;6:1\r\n"
        );
    }
}
