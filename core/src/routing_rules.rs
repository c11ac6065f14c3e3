//! Which warehouse(s) ship an order: the seller's ordered rule chain, like
//! Shopify's order routing. Pure: no database, no clock; the store feeds it
//! the order and each candidate warehouse's available stock
//! (`on_hand − reserved − safety`) and reserves what the plan says.
//!
//! 1. Filters drop warehouses that are closed, do not ship to the
//!    destination country (`ships_to`, empty = everywhere) or do not handle
//!    the order's channel (`channels`, empty = all).
//! 2. If some warehouse can fill every line, one of them ships the whole
//!    order, ranked by the tie-breakers in the seller's order
//!    (`fewest_shipments`, `closest`, `priority`, `most_stock`), then by id.
//! 3. Otherwise, with `allow_split`, the order is split greedily: the best
//!    warehouse by the same chain takes what it has, then the best for what
//!    remains, and so on (`fewest_shipments` ranks a warehouse by how many of
//!    the remaining units it covers, so the greedy step needs few shipments).
//!    Without `allow_split` the best single warehouse takes what it has.
//! 4. What no chosen warehouse can ship is backordered when `backorder =
//!    "allow"`; with `"none"` a plan that leaves anything unshipped is no
//!    plan (the order goes to `exception`).
//!
//! Each step records which rule decided it, e.g. `closest: wh-east 120 km vs
//! wh-west 3,900 km`, so the order's timeline says why.
//!
//! Distances: great-circle (haversine) between the warehouse's configured
//! `lat`/`lon` and the destination's coordinates, which come from the order
//! when it has them, else from a small built-in table: US ZIP code zones (the
//! first digit) and country centroids. A warehouse or destination without
//! coordinates ranks after every known distance (`closest` is a tie when
//! none is known), so configs without coordinates route as before.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// One tie-breaker of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Prefer the warehouse covering more of the (remaining) units: fewer shipments.
    FewestShipments,
    /// Prefer the warehouse nearest the destination.
    Closest,
    /// Prefer the higher configured priority.
    Priority,
    /// Prefer the warehouse with more available units of the order's skus.
    MostStock,
}

impl Rule {
    pub const ALL: [Rule; 4] = [
        Rule::FewestShipments,
        Rule::Closest,
        Rule::Priority,
        Rule::MostStock,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::FewestShipments => "fewest_shipments",
            Rule::Closest => "closest",
            Rule::Priority => "priority",
            Rule::MostStock => "most_stock",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Rule {
    type Err = String;
    fn from_str(s: &str) -> Result<Rule, String> {
        Rule::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim())
            .ok_or_else(|| {
                format!("`{s}` is not fewest_shipments, closest, priority or most_stock")
            })
    }
}

/// What happens to units no warehouse can ship.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backorder {
    /// The order goes to `exception` (today's behavior).
    #[default]
    None,
    /// The units are backordered; the rest ships.
    Allow,
}

impl FromStr for Backorder {
    type Err = String;
    fn from_str(s: &str) -> Result<Backorder, String> {
        match s.trim() {
            "none" => Ok(Backorder::None),
            "allow" => Ok(Backorder::Allow),
            _ => Err(format!("`{s}` is not none or allow")),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RoutingConfig {
    pub rules: Vec<Rule>,
    pub allow_split: bool,
    pub backorder: Backorder,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            rules: Rule::ALL.to_vec(),
            allow_split: false,
            backorder: Backorder::None,
        }
    }
}

/// Latitude and longitude in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coords {
    pub lat: f64,
    pub lon: f64,
}

impl Coords {
    pub const fn new(lat: f64, lon: f64) -> Coords {
        Coords { lat, lon }
    }

    /// Great-circle distance in km (haversine, mean Earth radius 6,371 km).
    /// Written out rather than pulling in a geo crate for one formula; good to
    /// ~0.5 % (the Earth is not a sphere), far finer than a postcode centroid.
    pub fn km_to(self, o: Coords) -> f64 {
        const R: f64 = 6_371.0;
        let (p1, p2) = (self.lat.to_radians(), o.lat.to_radians());
        let dp = (o.lat - self.lat).to_radians();
        let dl = (o.lon - self.lon).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * R * a.sqrt().min(1.0).asin()
    }
}

/// Where the order goes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Destination {
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    pub postal_code: Option<String>,
    /// Exact coordinates, when the channel gave them; win over the table.
    pub coords: Option<Coords>,
}

impl Destination {
    /// The coordinates used for `closest`: the order's own, else the US ZIP
    /// zone, else the country's centroid, else unknown.
    pub fn resolve(&self) -> Option<Coords> {
        if self.coords.is_some() {
            return self.coords;
        }
        let country = self.country.as_deref()?.trim().to_ascii_uppercase();
        if country == "US" {
            let digit = self
                .postal_code
                .as_deref()
                .and_then(|p| p.trim().chars().next())
                .and_then(|c| c.to_digit(10));
            if let Some(d) = digit {
                return Some(US_ZIP_ZONES[d as usize]);
            }
        }
        COUNTRY_CENTROIDS
            .iter()
            .find(|(c, _)| *c == country)
            .map(|(_, at)| *at)
    }
}

/// Rough population centres of the ten US ZIP zones (first digit).
const US_ZIP_ZONES: [Coords; 10] = [
    Coords::new(42.2, -71.8),  // 0 New England, NJ, PR
    Coords::new(41.3, -75.3),  // 1 NY, PA, DE
    Coords::new(37.6, -78.4),  // 2 DC, MD, VA, WV, NC, SC
    Coords::new(32.6, -84.4),  // 3 FL, GA, AL, TN, MS
    Coords::new(40.6, -84.6),  // 4 IN, KY, MI, OH
    Coords::new(44.8, -93.6),  // 5 IA, MN, MT, ND, SD, WI
    Coords::new(39.4, -91.8),  // 6 IL, KS, MO, NE
    Coords::new(31.4, -96.2),  // 7 AR, LA, OK, TX
    Coords::new(38.0, -109.5), // 8 AZ, CO, ID, NM, NV, UT, WY
    Coords::new(37.6, -121.0), // 9 CA, OR, WA, AK, HI
];

/// Approximate population centres of the countries orders most often go to.
const COUNTRY_CENTROIDS: &[(&str, Coords)] = &[
    ("US", Coords::new(37.4, -92.2)),
    ("CA", Coords::new(45.9, -79.0)),
    ("MX", Coords::new(20.6, -100.4)),
    ("GB", Coords::new(52.5, -1.5)),
    ("IE", Coords::new(53.3, -7.6)),
    ("FR", Coords::new(47.0, 2.4)),
    ("DE", Coords::new(51.0, 10.0)),
    ("NL", Coords::new(52.2, 5.3)),
    ("BE", Coords::new(50.8, 4.5)),
    ("LU", Coords::new(49.7, 6.1)),
    ("ES", Coords::new(40.2, -3.6)),
    ("PT", Coords::new(39.6, -8.4)),
    ("IT", Coords::new(42.8, 12.3)),
    ("CH", Coords::new(46.9, 8.0)),
    ("AT", Coords::new(47.8, 14.3)),
    ("DK", Coords::new(55.9, 10.2)),
    ("SE", Coords::new(59.3, 16.5)),
    ("NO", Coords::new(60.5, 9.5)),
    ("FI", Coords::new(61.5, 24.5)),
    ("PL", Coords::new(52.0, 19.4)),
    ("CZ", Coords::new(49.8, 15.5)),
    ("SK", Coords::new(48.7, 19.5)),
    ("HU", Coords::new(47.3, 19.4)),
    ("RO", Coords::new(45.6, 25.0)),
    ("BG", Coords::new(42.7, 25.2)),
    ("GR", Coords::new(38.6, 23.2)),
    ("HR", Coords::new(45.4, 16.2)),
    ("SI", Coords::new(46.1, 14.8)),
    ("EE", Coords::new(58.9, 25.3)),
    ("LV", Coords::new(56.9, 24.4)),
    ("LT", Coords::new(55.2, 24.0)),
    ("TR", Coords::new(39.3, 32.0)),
    ("IL", Coords::new(32.0, 34.9)),
    ("AE", Coords::new(24.8, 55.0)),
    ("IN", Coords::new(22.0, 79.0)),
    ("CN", Coords::new(32.0, 112.0)),
    ("HK", Coords::new(22.3, 114.2)),
    ("JP", Coords::new(35.7, 138.0)),
    ("KR", Coords::new(36.8, 127.5)),
    ("SG", Coords::new(1.35, 103.8)),
    ("AU", Coords::new(-33.0, 147.0)),
    ("NZ", Coords::new(-39.5, 175.0)),
    ("BR", Coords::new(-19.0, -46.0)),
    ("AR", Coords::new(-34.6, -61.0)),
    ("CL", Coords::new(-33.5, -70.7)),
    ("CO", Coords::new(5.0, -74.5)),
    ("ZA", Coords::new(-27.0, 27.5)),
];

/// The order as routing sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderInput {
    pub destination: Destination,
    pub channel: String,
    /// Units per sku.
    pub lines: BTreeMap<String, i64>,
}

/// A warehouse that could ship the order.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub id: String,
    /// Higher is preferred.
    pub priority: i32,
    pub open: bool,
    /// Destination countries it ships to; empty: all.
    pub ships_to: Vec<String>,
    /// Channel ids it fulfils; empty: all.
    pub channels: Vec<String>,
    pub coords: Option<Coords>,
    /// Units available per sku (`on_hand − reserved − safety`, at least 0).
    pub available: BTreeMap<String, i64>,
}

impl Candidate {
    fn available(&self, sku: &str) -> i64 {
        self.available.get(sku).copied().unwrap_or(0).max(0)
    }
}

/// What one warehouse ships.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub warehouse_id: String,
    pub lines: BTreeMap<String, i64>,
}

/// The routing decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// One per shipment, in the order they were chosen.
    pub allocations: Vec<Allocation>,
    /// Units no chosen warehouse ships (only with `backorder = "allow"`).
    pub backordered: BTreeMap<String, i64>,
    /// The rule that decided the first (or only) choice; `None` when there
    /// was a single candidate or nothing to choose.
    pub rule: Option<Rule>,
    /// Why, in words: each step's deciding rule and values.
    pub decided_by: String,
    /// Warehouses the filters dropped, with the reason.
    pub excluded: Vec<(String, String)>,
}

impl Plan {
    pub fn is_split(&self) -> bool {
        self.allocations.len() > 1
    }
}

/// No warehouse can ship the order under the seller's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoPlan {
    pub reason: String,
}

/// A candidate's standing in one step, one key per rule.
struct Ranked<'a> {
    c: &'a Candidate,
    cover: i64,
    km: Option<f64>,
    stock: i64,
}

impl Ranked<'_> {
    /// Lower is better.
    fn cmp_by(&self, o: &Ranked, rule: Rule) -> Ordering {
        match rule {
            Rule::FewestShipments => o.cover.cmp(&self.cover),
            // Whole kilometres: two warehouses in one town are a tie.
            Rule::Closest => match (self.km, o.km) {
                (Some(a), Some(b)) => (a.round() as i64).cmp(&(b.round() as i64)),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            },
            Rule::Priority => o.c.priority.cmp(&self.c.priority),
            Rule::MostStock => o.stock.cmp(&self.stock),
        }
    }

    fn value(&self, rule: Rule) -> String {
        match rule {
            Rule::FewestShipments => format!("{} {} units", self.c.id, self.cover),
            Rule::Closest => match self.km {
                Some(km) => format!("{} {} km", self.c.id, thousands(km.round() as i64)),
                None => format!("{} distance unknown", self.c.id),
            },
            Rule::Priority => format!("{} priority {}", self.c.id, self.c.priority),
            Rule::MostStock => format!("{} {} available", self.c.id, thousands(self.stock)),
        }
    }
}

fn thousands(n: i64) -> String {
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// Decide which warehouses ship `order`.
pub fn plan(
    order: &OrderInput,
    candidates: &[Candidate],
    config: &RoutingConfig,
) -> Result<Plan, NoPlan> {
    let country = order
        .destination
        .country
        .as_deref()
        .map(|c| c.trim().to_ascii_uppercase());
    let mut excluded = Vec::new();
    let mut eligible = Vec::new();
    for c in candidates {
        let why = if !c.open {
            Some("closed".to_string())
        } else if !c.ships_to.is_empty()
            && !country
                .as_deref()
                .is_some_and(|d| c.ships_to.iter().any(|s| s.eq_ignore_ascii_case(d)))
        {
            Some(format!(
                "does not ship to {}",
                country.as_deref().unwrap_or("an unknown country")
            ))
        } else if !c.channels.is_empty() && !c.channels.iter().any(|ch| *ch == order.channel) {
            Some(format!("does not handle channel {}", order.channel))
        } else {
            None
        };
        match why {
            Some(w) => excluded.push((c.id.clone(), w)),
            None => eligible.push(c),
        }
    }
    let dest = order.destination.resolve();
    let mut remaining: BTreeMap<String, i64> = order
        .lines
        .iter()
        .filter(|(_, q)| **q > 0)
        .map(|(s, q)| (s.clone(), *q))
        .collect();
    let mut allocations: Vec<Allocation> = Vec::new();
    let mut steps: Vec<String> = Vec::new();
    let mut first_rule = None;
    let fail = |why: String, excluded: &[(String, String)]| {
        let mut reason = why;
        if !excluded.is_empty() {
            let ex: Vec<String> = excluded.iter().map(|(w, r)| format!("{w}: {r}")).collect();
            reason.push_str(&format!(" (excluded {})", ex.join("; ")));
        }
        Err(NoPlan { reason })
    };
    while !remaining.is_empty() {
        let pool: Vec<Ranked> = eligible
            .iter()
            .copied()
            .filter(|c| !allocations.iter().any(|a| a.warehouse_id == c.id))
            .map(|c| Ranked {
                c,
                cover: remaining
                    .iter()
                    .map(|(s, q)| (*q).min(c.available(s)))
                    .sum(),
                km: match (dest, c.coords) {
                    (Some(d), Some(w)) => Some(w.km_to(d)),
                    _ => None,
                },
                stock: remaining.keys().map(|s| c.available(s)).sum(),
            })
            .filter(|r| r.cover > 0)
            .collect();
        let want: i64 = remaining.values().sum();
        let full: Vec<&Ranked> = pool.iter().filter(|r| r.cover == want).collect();
        let choosing_full = !full.is_empty();
        let mut pool: Vec<&Ranked> = if choosing_full {
            full
        } else {
            let can_partial = if allocations.is_empty() {
                config.allow_split || config.backorder == Backorder::Allow
            } else {
                config.allow_split
            };
            if !can_partial || pool.is_empty() {
                break;
            }
            pool.iter().collect()
        };
        pool.sort_by(|a, b| {
            config
                .rules
                .iter()
                .map(|r| a.cmp_by(b, *r))
                .find(|o| o.is_ne())
                .unwrap_or_else(|| a.c.id.cmp(&b.c.id))
        });
        let best = pool[0];
        let why = match pool.get(1) {
            None => format!("only candidate: {}", best.c.id),
            Some(next) => match config.rules.iter().find(|r| best.cmp_by(next, **r).is_ne()) {
                Some(r) => {
                    if allocations.is_empty() {
                        first_rule = Some(*r);
                    }
                    format!("{r}: {} vs {}", best.value(*r), next.value(*r))
                }
                None => format!(
                    "tie on every rule: {} before {} by id",
                    best.c.id, next.c.id
                ),
            },
        };
        let mut lines = BTreeMap::new();
        for (sku, q) in remaining.iter_mut() {
            let take = (*q).min(best.c.available(sku));
            if take > 0 {
                lines.insert(sku.clone(), take);
                *q -= take;
            }
        }
        remaining.retain(|_, q| *q > 0);
        steps.push(if choosing_full && allocations.is_empty() {
            format!("{} ships everything; {why}", best.c.id)
        } else if choosing_full {
            format!("{} ships the rest; {why}", best.c.id)
        } else {
            format!(
                "{} ships what it has (no warehouse has every line); {why}",
                best.c.id
            )
        });
        allocations.push(Allocation {
            warehouse_id: best.c.id.clone(),
            lines,
        });
        if !config.allow_split {
            break;
        }
    }
    if !remaining.is_empty() && config.backorder == Backorder::None {
        let what = if allocations.is_empty() {
            "no warehouse can fill every line"
        } else {
            "the warehouses together cannot fill every line"
        };
        return fail(what.to_string(), &excluded);
    }
    if !remaining.is_empty() {
        let b: Vec<String> = remaining
            .iter()
            .map(|(s, q)| format!("{q} × {s}"))
            .collect();
        steps.push(format!("backordered {}", b.join(", ")));
    }
    if !excluded.is_empty() {
        let ex: Vec<String> = excluded.iter().map(|(w, r)| format!("{w}: {r}")).collect();
        steps.push(format!("excluded {}", ex.join("; ")));
    }
    Ok(Plan {
        allocations,
        backordered: remaining,
        rule: first_rule,
        decided_by: steps.join("; "),
        excluded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(id, priority, lat/lon, stock)`; open, ships and handles everything.
    fn wh(id: &str, priority: i32, at: Option<(f64, f64)>, stock: &[(&str, i64)]) -> Candidate {
        Candidate {
            id: id.into(),
            priority,
            open: true,
            ships_to: vec![],
            channels: vec![],
            coords: at.map(|(a, b)| Coords::new(a, b)),
            available: stock.iter().map(|(s, q)| (s.to_string(), *q)).collect(),
        }
    }

    fn order(country: &str, zip: &str, lines: &[(&str, i64)]) -> OrderInput {
        OrderInput {
            destination: Destination {
                country: Some(country.into()),
                postal_code: (!zip.is_empty()).then(|| zip.into()),
                coords: None,
            },
            channel: "shop".into(),
            lines: lines.iter().map(|(s, q)| (s.to_string(), *q)).collect(),
        }
    }

    fn cfg(rules: &[Rule], split: bool, backorder: Backorder) -> RoutingConfig {
        RoutingConfig {
            rules: rules.to_vec(),
            allow_split: split,
            backorder,
        }
    }

    const NJ: Option<(f64, f64)> = Some((40.7, -74.2)); // Newark
    const CA: Option<(f64, f64)> = Some((34.0, -118.2)); // Los Angeles
    const TX: Option<(f64, f64)> = Some((32.8, -96.8)); // Dallas
    const DE: Option<(f64, f64)> = Some((50.1, 8.7)); // Frankfurt

    use Backorder::{Allow, None as NoBackorder};
    use Rule::*;
    const DEFAULT: &[Rule] = &[FewestShipments, Closest, Priority, MostStock];

    struct Case {
        name: &'static str,
        order: OrderInput,
        warehouses: Vec<Candidate>,
        config: RoutingConfig,
        /// `(warehouse, [(sku, qty)])` per shipment, in order; empty: no plan.
        want: Vec<(&'static str, Vec<(&'static str, i64)>)>,
        backordered: Vec<(&'static str, i64)>,
        /// The deciding rule of the first choice.
        rule: Option<Rule>,
        /// Must appear in `decided_by` (or the no-plan reason).
        says: &'static str,
    }

    fn cases() -> Vec<Case> {
        let east = || wh("wh-east", 10, NJ, &[("A", 10), ("B", 10)]);
        let west = || wh("wh-west", 20, CA, &[("A", 10), ("B", 10)]);
        vec![
            Case {
                name: "closest wins over a higher priority",
                order: order("US", "10001", &[("A", 1)]),
                warehouses: vec![east(), west()],
                config: RoutingConfig::default(),
                want: vec![("wh-east", vec![("A", 1)])],
                backordered: vec![],
                rule: Some(Closest),
                says: "closest: wh-east",
            },
            Case {
                name: "west coast zip goes west",
                order: order("US", "94105", &[("A", 1), ("B", 2)]),
                warehouses: vec![east(), west()],
                config: RoutingConfig::default(),
                want: vec![("wh-west", vec![("A", 1), ("B", 2)])],
                backordered: vec![],
                rule: Some(Closest),
                says: "closest: wh-west",
            },
            Case {
                name: "priority first when the seller says so",
                order: order("US", "10001", &[("A", 1)]),
                warehouses: vec![east(), west()],
                config: cfg(&[Priority, Closest], false, NoBackorder),
                want: vec![("wh-west", vec![("A", 1)])],
                backordered: vec![],
                rule: Some(Priority),
                says: "priority: wh-west priority 20 vs wh-east priority 10",
            },
            Case {
                name: "without coordinates the default chain is priority order (as before)",
                order: order("US", "10001", &[("A", 1)]),
                warehouses: vec![
                    wh("small", 5, None, &[("A", 5)]),
                    wh("big", 20, None, &[("A", 5)]),
                ],
                config: RoutingConfig::default(),
                want: vec![("big", vec![("A", 1)])],
                backordered: vec![],
                rule: Some(Priority),
                says: "priority: big priority 20",
            },
            Case {
                name: "a warehouse that cannot fill every line is passed over",
                order: order("US", "10001", &[("A", 2), ("B", 1)]),
                warehouses: vec![
                    wh("big", 20, NJ, &[("A", 5)]),
                    wh("small", 5, CA, &[("A", 5), ("B", 5)]),
                ],
                config: RoutingConfig::default(),
                want: vec![("small", vec![("A", 2), ("B", 1)])],
                backordered: vec![],
                rule: None,
                says: "only candidate: small",
            },
            Case {
                name: "same town, same priority: most stock breaks the tie",
                order: order("US", "10001", &[("A", 1)]),
                warehouses: vec![wh("a", 10, NJ, &[("A", 3)]), wh("b", 10, NJ, &[("A", 30)])],
                config: RoutingConfig::default(),
                want: vec![("b", vec![("A", 1)])],
                backordered: vec![],
                rule: Some(MostStock),
                says: "most_stock: b 30 available vs a 3 available",
            },
            Case {
                name: "a tie on every rule goes by id",
                order: order("US", "10001", &[("A", 1)]),
                warehouses: vec![wh("b", 10, NJ, &[("A", 3)]), wh("a", 10, NJ, &[("A", 3)])],
                config: RoutingConfig::default(),
                want: vec![("a", vec![("A", 1)])],
                backordered: vec![],
                rule: None,
                says: "tie on every rule: a before b by id",
            },
            Case {
                name: "a known distance ranks before an unknown one",
                order: order("US", "10001", &[("A", 1)]),
                warehouses: vec![
                    wh("far", 10, CA, &[("A", 3)]),
                    wh("nowhere", 50, None, &[("A", 3)]),
                ],
                config: RoutingConfig::default(),
                want: vec![("far", vec![("A", 1)])],
                backordered: vec![],
                rule: Some(Closest),
                says: "nowhere distance unknown",
            },
            Case {
                name: "Germany ships from Frankfurt, by country centroid",
                order: order("DE", "", &[("A", 1)]),
                warehouses: vec![east(), wh("wh-eu", 1, DE, &[("A", 1)])],
                config: RoutingConfig::default(),
                want: vec![("wh-eu", vec![("A", 1)])],
                backordered: vec![],
                rule: Some(Closest),
                says: "closest: wh-eu",
            },
            Case {
                name: "ships_to filter",
                order: order("DE", "", &[("A", 1)]),
                warehouses: vec![
                    Candidate {
                        ships_to: vec!["US".into(), "CA".into()],
                        ..wh("us-only", 1, DE, &[("A", 5)])
                    },
                    east(),
                ],
                config: RoutingConfig::default(),
                want: vec![("wh-east", vec![("A", 1)])],
                backordered: vec![],
                rule: None,
                says: "us-only: does not ship to DE",
            },
            Case {
                name: "closed and wrong-channel warehouses are filtered",
                order: order("US", "10001", &[("A", 1)]),
                warehouses: vec![
                    Candidate {
                        open: false,
                        ..wh("closed", 99, NJ, &[("A", 5)])
                    },
                    Candidate {
                        channels: vec!["ebay".into()],
                        ..wh("ebay-only", 98, NJ, &[("A", 5)])
                    },
                    Candidate {
                        channels: vec!["ebay".into(), "shop".into()],
                        ..wh("both", 1, CA, &[("A", 5)])
                    },
                ],
                config: RoutingConfig::default(),
                want: vec![("both", vec![("A", 1)])],
                backordered: vec![],
                rule: None,
                says: "closed: closed; ebay-only: does not handle channel shop",
            },
            Case {
                name: "no split allowed: no single warehouse means no plan",
                order: order("US", "10001", &[("A", 2), ("B", 2)]),
                warehouses: vec![
                    wh("a-only", 1, NJ, &[("A", 5)]),
                    wh("b-only", 1, CA, &[("B", 5)]),
                ],
                config: RoutingConfig::default(),
                want: vec![],
                backordered: vec![],
                rule: None,
                says: "no warehouse can fill every line",
            },
            Case {
                name: "split over two warehouses",
                order: order("US", "10001", &[("A", 2), ("B", 2)]),
                warehouses: vec![
                    wh("a-only", 1, NJ, &[("A", 5)]),
                    wh("b-only", 1, CA, &[("B", 5)]),
                ],
                config: cfg(DEFAULT, true, NoBackorder),
                want: vec![("a-only", vec![("A", 2)]), ("b-only", vec![("B", 2)])],
                backordered: vec![],
                rule: Some(Closest),
                says: "b-only ships the rest",
            },
            Case {
                name: "split: fewest shipments takes the widest warehouse first, even if far",
                order: order("US", "10001", &[("A", 1), ("B", 1), ("C", 1)]),
                warehouses: vec![
                    wh("near-a", 50, NJ, &[("A", 9)]),
                    wh("far-ab", 1, CA, &[("A", 9), ("B", 9)]),
                    wh("mid-c", 1, TX, &[("C", 9)]),
                ],
                config: cfg(DEFAULT, true, NoBackorder),
                want: vec![
                    ("far-ab", vec![("A", 1), ("B", 1)]),
                    ("mid-c", vec![("C", 1)]),
                ],
                backordered: vec![],
                rule: Some(FewestShipments),
                says: "fewest_shipments: far-ab 2 units vs",
            },
            Case {
                name: "split with closest first: nearest warehouse takes what it has",
                order: order("US", "10001", &[("A", 1), ("B", 1), ("C", 1)]),
                warehouses: vec![
                    wh("near-a", 50, NJ, &[("A", 9)]),
                    wh("far-ab", 1, CA, &[("A", 9), ("B", 9)]),
                    wh("mid-c", 1, TX, &[("C", 9)]),
                ],
                config: cfg(&[Closest, FewestShipments], true, NoBackorder),
                want: vec![
                    ("near-a", vec![("A", 1)]),
                    ("mid-c", vec![("C", 1)]),
                    ("far-ab", vec![("B", 1)]),
                ],
                backordered: vec![],
                rule: Some(Closest),
                says: "closest: near-a",
            },
            Case {
                name: "one line split across warehouses by units",
                order: order("US", "10001", &[("A", 7)]),
                warehouses: vec![wh("x", 1, NJ, &[("A", 4)]), wh("y", 1, CA, &[("A", 4)])],
                config: cfg(DEFAULT, true, NoBackorder),
                want: vec![("x", vec![("A", 4)]), ("y", vec![("A", 3)])],
                backordered: vec![],
                rule: Some(Closest),
                says: "closest: x",
            },
            Case {
                name: "split cannot cover everything, no backorder: no plan",
                order: order("US", "10001", &[("A", 9)]),
                warehouses: vec![wh("x", 1, NJ, &[("A", 4)]), wh("y", 1, CA, &[("A", 4)])],
                config: cfg(DEFAULT, true, NoBackorder),
                want: vec![],
                backordered: vec![],
                rule: None,
                says: "together cannot fill",
            },
            Case {
                name: "split plus backorder",
                order: order("US", "10001", &[("A", 9), ("Z", 1)]),
                warehouses: vec![wh("x", 1, NJ, &[("A", 4)]), wh("y", 1, CA, &[("A", 4)])],
                config: cfg(DEFAULT, true, Allow),
                want: vec![("x", vec![("A", 4)]), ("y", vec![("A", 4)])],
                backordered: vec![("A", 1), ("Z", 1)],
                rule: Some(Closest),
                says: "backordered 1 × A, 1 × Z",
            },
            Case {
                name: "no split, backorder: the best single warehouse ships what it has",
                order: order("US", "10001", &[("A", 2), ("B", 2)]),
                warehouses: vec![
                    wh("a-only", 1, NJ, &[("A", 5)]),
                    wh("ab-short", 1, CA, &[("A", 5), ("B", 1)]),
                ],
                config: cfg(DEFAULT, false, Allow),
                want: vec![("ab-short", vec![("A", 2), ("B", 1)])],
                backordered: vec![("B", 1)],
                rule: Some(FewestShipments),
                says: "fewest_shipments: ab-short 3 units vs a-only 2 units",
            },
            Case {
                name: "nothing anywhere, backorder: all backordered, no shipment",
                order: order("US", "10001", &[("A", 2)]),
                warehouses: vec![wh("x", 1, NJ, &[("B", 5)])],
                config: cfg(DEFAULT, true, Allow),
                want: vec![],
                backordered: vec![("A", 2)],
                rule: None,
                says: "backordered 2 × A",
            },
            Case {
                name: "zero and negative availability count as none",
                order: order("US", "10001", &[("A", 1)]),
                warehouses: vec![
                    wh("neg", 99, NJ, &[("A", -3)]),
                    wh("ok", 1, CA, &[("A", 1)]),
                ],
                config: RoutingConfig::default(),
                want: vec![("ok", vec![("A", 1)])],
                backordered: vec![],
                rule: None,
                says: "only candidate: ok",
            },
            Case {
                name: "a full warehouse beats a split even when farther",
                order: order("US", "10001", &[("A", 1), ("B", 1)]),
                warehouses: vec![
                    wh("near-a", 1, NJ, &[("A", 5)]),
                    wh("near-b", 1, NJ, &[("B", 5)]),
                    wh("far-ab", 1, CA, &[("A", 5), ("B", 5)]),
                ],
                config: cfg(&[Closest], true, NoBackorder),
                want: vec![("far-ab", vec![("A", 1), ("B", 1)])],
                backordered: vec![],
                rule: None,
                says: "far-ab ships everything",
            },
        ]
    }

    #[test]
    fn routing_table() {
        let mut failures = Vec::new();
        for case in cases() {
            let got = plan(&case.order, &case.warehouses, &case.config);
            let want: Vec<Allocation> = case
                .want
                .iter()
                .map(|(w, l)| Allocation {
                    warehouse_id: w.to_string(),
                    lines: l.iter().map(|(s, q)| (s.to_string(), *q)).collect(),
                })
                .collect();
            let backordered: BTreeMap<String, i64> = case
                .backordered
                .iter()
                .map(|(s, q)| (s.to_string(), *q))
                .collect();
            let ok = match &got {
                Ok(p) => {
                    (!want.is_empty() || !backordered.is_empty())
                        && p.allocations == want
                        && p.backordered == backordered
                        && p.rule == case.rule
                        && p.decided_by.contains(case.says)
                }
                Err(e) => want.is_empty() && backordered.is_empty() && e.reason.contains(case.says),
            };
            if !ok {
                failures.push(format!("{}: got {got:#?}", case.name));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    }

    #[test]
    fn decided_by_reads_like_the_example() {
        let p = plan(
            &order("US", "07102", &[("A", 1)]),
            &[
                wh("wh-west", 9, CA, &[("A", 1)]),
                wh("wh-east", 1, Some((40.0, -74.5)), &[("A", 1)]),
            ],
            &RoutingConfig::default(),
        )
        .unwrap();
        assert_eq!(p.rule, Some(Rule::Closest));
        assert!(
            p.decided_by.starts_with(
                "wh-east ships everything; closest: wh-east 333 km vs wh-west 4,109 km"
            ),
            "{}",
            p.decided_by
        );
    }

    #[test]
    fn haversine_known_distances() {
        let ny = Coords::new(40.7128, -74.0060);
        let la = Coords::new(34.0522, -118.2437);
        let london = Coords::new(51.5074, -0.1278);
        let paris = Coords::new(48.8566, 2.3522);
        assert!((ny.km_to(la) - 3936.0).abs() < 10.0, "{}", ny.km_to(la));
        assert!(
            (london.km_to(paris) - 344.0).abs() < 5.0,
            "{}",
            london.km_to(paris)
        );
        assert_eq!(ny.km_to(ny), 0.0);
        // Antipodes do not NaN.
        assert!((Coords::new(0.0, 0.0).km_to(Coords::new(0.0, 180.0)) - 20015.0).abs() < 5.0);
    }

    #[test]
    fn destinations_resolve_from_coordinates_zip_zone_or_country() {
        let d = |c: &str, z: &str| Destination {
            country: Some(c.into()),
            postal_code: Some(z.into()),
            coords: None,
        };
        assert_eq!(d("US", "94105").resolve(), Some(US_ZIP_ZONES[9]));
        assert_eq!(d("us", " 02110").resolve(), Some(US_ZIP_ZONES[0]));
        assert!(d("US", "ABC").resolve().is_some()); // country centroid
        assert!(d("FR", "75001").resolve().is_some());
        assert_eq!(d("XX", "1").resolve(), None);
        let exact = Destination {
            coords: Some(Coords::new(1.0, 2.0)),
            ..d("US", "94105")
        };
        assert_eq!(exact.resolve(), Some(Coords::new(1.0, 2.0)));
        assert_eq!(Destination::default().resolve(), None);
    }

    #[test]
    fn rules_and_policies_parse() {
        assert_eq!("closest".parse::<Rule>(), Ok(Rule::Closest));
        assert!("nearest".parse::<Rule>().is_err());
        assert_eq!("allow".parse::<Backorder>(), Ok(Backorder::Allow));
        assert!("maybe".parse::<Backorder>().is_err());
        assert_eq!(thousands(3_900), "3,900");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }

    /// Routing decisions per second for orders of 5 lines over 10 warehouses
    /// (pure plan computation, no database):
    /// `cargo test --release -p orderhub-core routing_rules::tests::bench -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn bench_routing_decisions_per_second() {
        let skus: Vec<String> = (0..50).map(|i| format!("SKU-{i:03}")).collect();
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut rnd = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let warehouses: Vec<Candidate> = (0..10)
            .map(|w| Candidate {
                id: format!("wh-{w:02}"),
                priority: (w % 3) as i32,
                open: true,
                ships_to: vec![],
                channels: vec![],
                coords: Some(Coords::new(
                    25.0 + rnd(2300) as f64 / 100.0,
                    -122.0 + rnd(5000) as f64 / 100.0,
                )),
                available: skus
                    .iter()
                    .filter_map(|s| (rnd(10) < 7).then(|| (s.clone(), rnd(20) as i64)))
                    .collect(),
            })
            .collect();
        let zips = [
            "10001", "94105", "60601", "73301", "33101", "98101", "02110",
        ];
        let orders: Vec<OrderInput> = (0..1000)
            .map(|_| OrderInput {
                destination: Destination {
                    country: Some("US".into()),
                    postal_code: Some(zips[rnd(zips.len() as u64) as usize].into()),
                    coords: None,
                },
                channel: "shop".into(),
                lines: (0..5)
                    .map(|_| (skus[rnd(50) as usize].clone(), 1 + rnd(3) as i64))
                    .collect(),
            })
            .collect();
        for (name, config) in [
            ("default chain, no split", RoutingConfig::default()),
            (
                "default chain, split + backorder",
                RoutingConfig {
                    allow_split: true,
                    backorder: Backorder::Allow,
                    ..RoutingConfig::default()
                },
            ),
        ] {
            let n = 200_000;
            let mut planned = 0usize;
            let mut split = 0usize;
            let t = std::time::Instant::now();
            for i in 0..n {
                if let Ok(p) = plan(&orders[i % orders.len()], &warehouses, &config) {
                    planned += 1;
                    split += p.is_split() as usize;
                }
            }
            let secs = t.elapsed().as_secs_f64();
            println!(
                "routing decisions/s ({name}; 5 lines, 10 warehouses): {:.0} ({n} in {secs:.2} s; {planned} planned, {split} split)",
                n as f64 / secs
            );
        }
    }
}
