//! Which carrier rate a shipment is bought with, and the dates that decide it.
//!
//! Rate shopping is where sellers lose money quietly (always buying the fast
//! service) or lose customers (buying the cheap one that arrives after the
//! date the shop promised). So the choice follows a policy the seller picks,
//! and every quote gets a verdict in plain words: when a seller asks "why did
//! it buy the UPS label?", the answer is stored next to the label.
//!
//! Dates count **business days**, Monday to Friday, because that is what
//! carriers quote transit times in and what warehouses ship on. Public
//! holidays are not known here; a holiday week makes estimates optimistic by
//! a day. Dates that would run past the last date chrono can represent stay at
//! that date instead of failing: such inputs are nonsense, and the caller
//! still gets an answer (a promise nobody can be late for).

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, Utc, Weekday};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A carrier's price for one service, as a connector quoted it. Core cannot
/// see the connectors crate, so this is the subset the choice needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    /// The carrier account (from the configuration) the rate is bought through.
    pub account: String,
    /// The connector's id for buying this rate.
    pub rate_id: String,
    pub carrier: String,
    pub service: String,
    pub amount: Decimal,
    /// ISO 4217 code; compared without regard to case or surrounding spaces.
    pub currency: String,
    /// Transit time in business days after the ship date, when the carrier
    /// gives one.
    pub delivery_days: Option<u32>,
}

/// How a seller wants rates chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RatePolicy {
    /// The lowest price, whatever the speed.
    Cheapest,
    /// The earliest arrival, whatever the price.
    Fastest,
    /// The lowest price that still keeps the date promised to the buyer; if
    /// nothing does, the least late.
    CheapestOnTime,
}

impl RatePolicy {
    pub const ALL: [RatePolicy; 3] = [Self::Cheapest, Self::Fastest, Self::CheapestOnTime];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cheapest => "cheapest",
            Self::Fastest => "fastest",
            Self::CheapestOnTime => "cheapest_on_time",
        }
    }
}

impl fmt::Display for RatePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A policy name that is none of [`RatePolicy::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown rate policy \"{0}\"; expected cheapest, fastest or cheapest_on_time")]
pub struct ParseRatePolicyError(pub String);

impl FromStr for RatePolicy {
    type Err = ParseRatePolicyError;

    /// Accepts the serde names, in any case and with `-` for `_`, since
    /// people type these into config files and environment variables.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == wanted)
            .ok_or_else(|| ParseRatePolicyError(s.to_string()))
    }
}

/// What was decided about one quote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Position of the quote in the input.
    pub index: usize,
    pub chosen: bool,
    /// Ship date plus the quote's business days, when it has any.
    pub estimated_delivery: Option<NaiveDate>,
    /// Why it was chosen or not, for the seller to read.
    pub reason: String,
}

/// The choice and a verdict for every quote, in input order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateDecision {
    /// Index of the chosen quote; `None` when there was nothing to choose.
    pub chosen: Option<usize>,
    pub verdicts: Vec<Verdict>,
}

impl RateDecision {
    pub fn chosen_quote<'a>(&self, quotes: &'a [Quote]) -> Option<&'a Quote> {
        self.chosen.and_then(|i| quotes.get(i))
    }
}

/// Monday to Friday.
pub fn is_business_day(date: NaiveDate) -> bool {
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The first business day after `date`.
fn next_business_day(date: NaiveDate) -> NaiveDate {
    let mut d = date;
    loop {
        match d.succ_opt() {
            Some(next) => d = next,
            None => return d,
        }
        if is_business_day(d) {
            return d;
        }
    }
}

/// `date` plus `n` business days: each step lands on the next weekday, so
/// Friday + 1 is Monday and Saturday + 1 is Monday too. With `n` = 0 the date
/// is returned as is, weekend or not.
pub fn add_business_days(date: NaiveDate, n: u32) -> NaiveDate {
    if n == 0 {
        return date;
    }
    // Counting from a weekend gives the same result as counting from the
    // Friday before it (the next business day is Monday either way), and from
    // a weekday whole weeks are exactly 7 calendar days: so no loop over `n`.
    let back = match date.weekday() {
        Weekday::Sat => 1,
        Weekday::Sun => 2,
        _ => 0,
    };
    let Some(friday_or_date) = date.checked_sub_days(Days::new(back)) else {
        return next_business_day(date);
    };
    let weeks = Days::new(u64::from(n / 5) * 7);
    let Some(mut d) = friday_or_date.checked_add_days(weeks) else {
        return NaiveDate::MAX;
    };
    for _ in 0..n % 5 {
        d = next_business_day(d);
    }
    d
}

/// Business days in `(from, to]`: how late `to` is for a promise of `from`.
fn business_days_between(from: NaiveDate, to: NaiveDate) -> u64 {
    if to <= from {
        return 0;
    }
    let days = u64::try_from((to - from).num_days()).unwrap_or(0);
    let mut count = days / 7 * 5;
    let Some(mut d) = from.checked_add_days(Days::new(days / 7 * 7)) else {
        return count;
    };
    while d < to {
        d = match d.succ_opt() {
            Some(next) => next,
            None => break,
        };
        if is_business_day(d) {
            count += 1;
        }
    }
    count
}

/// The day an order seen at `now` leaves the warehouse.
///
/// The warehouse works an order on the day it arrives if it arrives on a
/// business day before `cutoff` (UTC); at or after the cut-off, or on a
/// weekend, its first working day is the next business day. `handling_days`
/// business days after that first working day it ships: with 0 it ships the
/// same day, so a weekend order with no handling time ships on Monday.
pub fn ship_date(now: DateTime<Utc>, handling_days: u32, cutoff: NaiveTime) -> NaiveDate {
    let today = now.date_naive();
    let first = if is_business_day(today) && now.time() < cutoff {
        today
    } else {
        next_business_day(today)
    };
    add_business_days(first, handling_days)
}

/// The delivery date a shop promises for an order placed at `placed_at`:
/// its ship date plus `transit_days` business days.
pub fn promised_date(
    placed_at: DateTime<Utc>,
    handling_days: u32,
    cutoff: NaiveTime,
    transit_days: u32,
) -> NaiveDate {
    add_business_days(ship_date(placed_at, handling_days, cutoff), transit_days)
}

/// When a parcel shipped on `ship_date` arrives with a service quoted at
/// `delivery_days` (carriers quote business days).
pub fn estimate(ship_date: NaiveDate, delivery_days: u32) -> NaiveDate {
    add_business_days(ship_date, delivery_days)
}

/// A currency code as compared: `" usd"` and `"USD"` are the same money.
fn currency_of(q: &Quote) -> String {
    q.currency.trim().to_ascii_uppercase()
}

/// The currency most quotes are in; on a tie, the one that comes first.
/// Prices in different currencies cannot be compared without an exchange
/// rate core does not have, and converting with a stale one would pick a
/// "cheapest" rate that is not. The majority wins so that one odd quote (a
/// carrier account billed in EUR) cannot push out all the others.
fn reference_currency(quotes: &[Quote]) -> Option<String> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for q in quotes {
        let c = currency_of(q);
        match counts.iter_mut().find(|(k, _)| *k == c) {
            Some((_, n)) => *n += 1,
            None => counts.push((c, 1)),
        }
    }
    // max_by_key keeps the last of equal maxima; reversing makes it the first.
    counts
        .into_iter()
        .rev()
        .max_by_key(|(_, n)| *n)
        .map(|(c, _)| c)
}

fn money(q: &Quote) -> String {
    let mut amount = q.amount;
    if amount.scale() < 2 {
        amount.rescale(2);
    }
    match currency_of(q) {
        c if c.is_empty() => amount.to_string(),
        c => format!("{c} {amount}"),
    }
}

fn plural(n: u64, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// Everything the verdicts are written from.
struct Ctx<'a> {
    quotes: &'a [Quote],
    estimates: Vec<Option<NaiveDate>>,
}

impl Ctx<'_> {
    /// Price first; same price, the sooner arrival; then input order.
    fn cheapest(&self, among: &[usize]) -> Option<usize> {
        among.iter().copied().min_by(|&a, &b| {
            let (qa, qb) = (&self.quotes[a], &self.quotes[b]);
            qa.amount
                .cmp(&qb.amount)
                .then(self.speed(a).cmp(&self.speed(b)))
                .then(a.cmp(&b))
        })
    }

    /// Arrival first (no estimate last); same arrival, the lower price; then
    /// input order.
    fn fastest(&self, among: &[usize]) -> Option<usize> {
        among.iter().copied().min_by(|&a, &b| {
            self.speed(a)
                .cmp(&self.speed(b))
                .then(self.quotes[a].amount.cmp(&self.quotes[b].amount))
                .then(a.cmp(&b))
        })
    }

    /// Sort key for arrival: a quote without an estimate counts as slowest,
    /// since nothing can be promised with it.
    fn speed(&self, i: usize) -> (bool, Option<NaiveDate>) {
        let e = self.estimates[i];
        (e.is_none(), e)
    }

    fn days(&self, i: usize) -> String {
        match self.quotes[i].delivery_days {
            Some(n) => plural(u64::from(n), "business day"),
            None => String::from("no estimate"),
        }
    }

    fn arrives(&self, i: usize) -> String {
        match self.estimates[i] {
            Some(e) => format!("arrives {e} ({})", self.days(i)),
            None => String::from("no delivery estimate"),
        }
    }

    /// Why `i` lost to `c` on price (the cheapest policies).
    fn dearer(&self, i: usize, c: usize) -> String {
        let (q, cq) = (&self.quotes[i], &self.quotes[c]);
        if q.amount != cq.amount {
            return format!("{}, more than the chosen {}", money(q), money(cq));
        }
        match (q.delivery_days, cq.delivery_days) {
            (Some(a), Some(b)) if a > b => format!(
                "same price as the chosen ({}), but slower ({a} vs {b} business days)",
                money(q)
            ),
            (None, Some(_)) => format!(
                "same price as the chosen ({}), but no delivery estimate",
                money(q)
            ),
            _ => String::from("same price and speed as the chosen, which is listed first"),
        }
    }

    /// Why `i` lost to `c`, under the fastest policy.
    fn slower(&self, i: usize, c: usize) -> String {
        if self.speed(i) != self.speed(c) {
            return self.later(i, c);
        }
        let like = match self.estimates[i] {
            Some(e) => format!("arrives {e} like the chosen"),
            None => String::from("no delivery estimate, like the chosen"),
        };
        format!("{like}, {}", self.price_tie(i, c))
    }

    /// `i` arrives later than `c` (or has no estimate where `c` has one).
    fn later(&self, i: usize, c: usize) -> String {
        match (self.quotes[i].delivery_days, self.quotes[c].delivery_days) {
            (Some(a), Some(b)) => format!("slower than the chosen ({a} vs {b} business days)"),
            (Some(a), None) => format!("slower than the chosen ({a} business days)"),
            (None, _) => match self.estimates[c] {
                Some(ce) => format!("no delivery estimate; the chosen arrives {ce}"),
                None => String::from("no delivery estimate"),
            },
        }
    }

    /// `i` arrives with `c` and lost on price or input order.
    fn price_tie(&self, i: usize, c: usize) -> String {
        let (q, cq) = (&self.quotes[i], &self.quotes[c]);
        if q.amount != cq.amount {
            format!("but {} is more than the chosen {}", money(q), money(cq))
        } else {
            String::from("at the same price; the chosen is listed first")
        }
    }
}

/// Chooses one of `quotes` by `policy` for a parcel leaving on `ship_date`,
/// with `promised` the delivery date the buyer was given (if any).
///
/// Only quotes in the reference currency (the one most quotes are in; on a
/// tie the first quote's) are compared; the others are rejected with
/// "in EUR; rates are compared in USD". A negative amount is rejected as not
/// a real price. `cheapest_on_time` without a promised date behaves like
/// `cheapest` and says so. No quotes, or none left after those rejections,
/// gives `chosen: None`.
pub fn choose(
    quotes: &[Quote],
    policy: RatePolicy,
    ship_date: NaiveDate,
    promised: Option<NaiveDate>,
) -> RateDecision {
    let ctx = Ctx {
        quotes,
        estimates: quotes
            .iter()
            .map(|q| q.delivery_days.map(|n| estimate(ship_date, n)))
            .collect(),
    };
    let mut reasons: Vec<Option<String>> = vec![None; quotes.len()];
    let reference = reference_currency(quotes).unwrap_or_default();
    let shown = |c: &str| {
        if c.is_empty() {
            String::from("no currency")
        } else {
            c.to_string()
        }
    };
    for (i, q) in quotes.iter().enumerate() {
        let c = currency_of(q);
        if c != reference {
            reasons[i] = Some(format!(
                "in {}; rates are compared in {}",
                shown(&c),
                shown(&reference)
            ));
        } else if q.amount < Decimal::ZERO {
            reasons[i] = Some(format!(
                "{} is below zero, not a price a carrier charges",
                money(q)
            ));
        }
    }
    let eligible: Vec<usize> = (0..quotes.len())
        .filter(|&i| reasons[i].is_none())
        .collect();

    let chosen = match (policy, promised) {
        (RatePolicy::Cheapest, _) => ctx.cheapest(&eligible).map(|c| {
            for &i in &eligible {
                reasons[i] = Some(ctx.dearer(i, c));
            }
            (
                c,
                format!("cheapest rate ({}), {}", money(&quotes[c]), ctx.arrives(c)),
            )
        }),
        (RatePolicy::CheapestOnTime, None) => ctx.cheapest(&eligible).map(|c| {
            for &i in &eligible {
                reasons[i] = Some(ctx.dearer(i, c));
            }
            let why = format!(
                "cheapest rate ({}), {}; no promised date was known, so arrival was not compared",
                money(&quotes[c]),
                ctx.arrives(c)
            );
            (c, why)
        }),
        (RatePolicy::Fastest, _) => ctx.fastest(&eligible).map(|c| {
            for &i in &eligible {
                reasons[i] = Some(ctx.slower(i, c));
            }
            let why = match ctx.estimates[c] {
                Some(_) => format!("fastest: {}, for {}", ctx.arrives(c), money(&quotes[c])),
                None => format!(
                    "no rate has a delivery estimate, so this is the cheapest ({})",
                    money(&quotes[c])
                ),
            };
            (c, why)
        }),
        (RatePolicy::CheapestOnTime, Some(promised)) => {
            let mut on_time = Vec::new();
            for &i in &eligible {
                match ctx.estimates[i] {
                    Some(e) if e <= promised => on_time.push(i),
                    Some(e) => {
                        reasons[i] = Some(format!("arrives {e}, after the promised {promised}"))
                    }
                    None => {
                        reasons[i] =
                            Some(String::from("no delivery estimate: cannot promise on time"))
                    }
                }
            }
            if let Some(c) = ctx.cheapest(&on_time) {
                for &i in &on_time {
                    reasons[i] = Some(ctx.dearer(i, c));
                }
                let why = format!(
                    "cheapest that arrives by {promised}: {}, {}",
                    money(&quotes[c]),
                    ctx.arrives(c)
                );
                Some((c, why))
            } else {
                // Nothing keeps the promise: ship the least late, and say by
                // how much so the seller can warn the buyer.
                ctx.fastest(&eligible).map(|c| {
                    for &i in &eligible {
                        if ctx.estimates[i].is_none() {
                            continue;
                        }
                        let late = format!("{}, after the promised {promised}", ctx.arrives(i));
                        reasons[i] = Some(if ctx.speed(i) == ctx.speed(c) {
                            format!("{late}, like the chosen, {}", ctx.price_tie(i, c))
                        } else {
                            format!("{late}; {}", ctx.later(i, c))
                        });
                    }
                    let why = match ctx.estimates[c] {
                        Some(e) => format!(
                            "no rate arrives by the promised {promised}; this one arrives earliest, {e}, {} late ({})",
                            plural(business_days_between(promised, e), "business day"),
                            money(&quotes[c])
                        ),
                        None => format!(
                            "no rate has a delivery estimate, so none can be promised on time; chose the cheapest ({})",
                            money(&quotes[c])
                        ),
                    };
                    (c, why)
                })
            }
        }
    };

    if let Some((c, why)) = &chosen {
        reasons[*c] = Some(why.clone());
    }
    let chosen = chosen.map(|(c, _)| c);
    RateDecision {
        chosen,
        verdicts: reasons
            .into_iter()
            .enumerate()
            .map(|(index, reason)| Verdict {
                index,
                chosen: chosen == Some(index),
                estimated_delivery: ctx.estimates[index],
                reason: reason.unwrap_or_default(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().expect("date literal")
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("RFC 3339 literal")
    }

    fn two_pm() -> NaiveTime {
        NaiveTime::from_hms_opt(14, 0, 0).expect("valid time")
    }

    fn q(carrier: &str, amount: &str, currency: &str, days: Option<u32>) -> Quote {
        Quote {
            account: "easypost".into(),
            rate_id: format!("rate_{carrier}_{amount}"),
            carrier: carrier.into(),
            service: "Ground".into(),
            amount: amount.parse().expect("decimal literal"),
            currency: currency.into(),
            delivery_days: days,
        }
    }

    // November 2026: Fri 27, Sat 28, Sun 29, Mon 30; December: Tue 1, Wed 2,
    // Thu 3, Fri 4, Mon 7.

    #[test]
    fn rate_choice_ship_dates() {
        // (placed at, handling days, expected ship date, why)
        let cases = [
            (
                "2026-11-25T10:00:00Z",
                0,
                "2026-11-25",
                "Wed before cut-off ships today",
            ),
            (
                "2026-11-25T13:59:59Z",
                0,
                "2026-11-25",
                "one second before cut-off",
            ),
            (
                "2026-11-25T14:00:00Z",
                0,
                "2026-11-26",
                "at cut-off counts as after",
            ),
            (
                "2026-11-25T15:00:00Z",
                0,
                "2026-11-26",
                "after cut-off: from Thu",
            ),
            ("2026-11-25T10:00:00Z", 1, "2026-11-26", "one handling day"),
            (
                "2026-11-27T10:00:00Z",
                1,
                "2026-11-30",
                "Fri + 1 skips the weekend",
            ),
            (
                "2026-11-27T15:00:00Z",
                0,
                "2026-11-30",
                "Fri after cut-off: Mon",
            ),
            (
                "2026-11-27T15:00:00Z",
                1,
                "2026-12-01",
                "Fri after cut-off: Mon + 1",
            ),
            (
                "2026-11-28T09:00:00Z",
                0,
                "2026-11-30",
                "Sat morning ships Mon",
            ),
            ("2026-11-28T09:00:00Z", 1, "2026-12-01", "Sat: Mon + 1"),
            (
                "2026-11-29T23:59:00Z",
                2,
                "2026-12-02",
                "Sun night: Mon + 2",
            ),
            (
                "2026-11-26T10:00:00Z",
                5,
                "2026-12-03",
                "a full week of handling",
            ),
            ("2026-11-30T10:00:00Z", 10, "2026-12-14", "two weeks"),
        ];
        for (placed, handling, expected, why) in cases {
            assert_eq!(
                ship_date(at(placed), handling, two_pm()),
                date(expected),
                "{why}"
            );
        }
        // The cut-off is in UTC: 23:00 in New York on Wednesday is Thursday
        // 04:00 UTC, before the cut-off, so it ships Thursday.
        let ny: DateTime<Utc> = "2026-11-25T23:00:00-05:00"
            .parse::<DateTime<chrono::FixedOffset>>()
            .expect("literal")
            .with_timezone(&Utc);
        assert_eq!(ship_date(ny, 0, two_pm()), date("2026-11-26"));

        // Placed Fri after cut-off, 1 handling day (ships Tue), 2 in transit.
        assert_eq!(
            promised_date(at("2026-11-27T15:00:00Z"), 1, two_pm(), 2),
            date("2026-12-03")
        );
        assert_eq!(estimate(date("2026-12-03"), 2), date("2026-12-07"));
    }

    #[test]
    fn rate_choice_business_days_match_counting_one_by_one() {
        let start = date("2026-01-01");
        for offset in 0..21u64 {
            let from = start + Days::new(offset);
            let mut slow = from;
            for n in 0..40u32 {
                assert_eq!(add_business_days(from, n), slow, "{from} + {n}");
                assert!(is_business_day(slow) || n == 0);
                assert_eq!(
                    business_days_between(from, slow),
                    u64::from(n),
                    "{from} to {slow}"
                );
                slow = next_business_day(slow);
            }
        }
        // Absurd inputs stay at the end of the calendar instead of panicking.
        assert_eq!(add_business_days(NaiveDate::MAX, 3), NaiveDate::MAX);
        let far = add_business_days(date("2026-11-30"), u32::MAX);
        assert!(far > date("3000-01-01"));
        let _ = ship_date(DateTime::<Utc>::MAX_UTC, u32::MAX, two_pm());
        let _ = promised_date(DateTime::<Utc>::MIN_UTC, u32::MAX, two_pm(), u32::MAX);
        let d = choose(
            &[
                q("UPS", "1", "USD", Some(u32::MAX)),
                q("USPS", "1", "USD", Some(3)),
            ],
            RatePolicy::CheapestOnTime,
            NaiveDate::MAX,
            Some(NaiveDate::MIN),
        );
        assert!(d.chosen.is_some());
    }

    /// One row: what a careful person would pick, and why, given the rates.
    struct Case {
        name: &'static str,
        placed_at: &'static str,
        handling_days: u32,
        /// The shop's promise: business days of transit after shipping.
        promised_transit: Option<u32>,
        policy: RatePolicy,
        quotes: Vec<Quote>,
        chosen: Option<usize>,
        /// (quote index, words its reason must contain)
        reasons: Vec<(usize, &'static str)>,
    }

    fn cases() -> Vec<Case> {
        // Placed Fri 27 Nov before the cut-off with 1 handling day: ships
        // Mon 30 Nov; 2 days of transit promise Wed 2 Dec.
        let fri = "2026-11-27T10:00:00Z";
        vec![
            Case {
                name: "cheapest: lowest price, whatever the speed",
                placed_at: fri,
                handling_days: 1,
                promised_transit: Some(2),
                policy: RatePolicy::Cheapest,
                quotes: vec![
                    q("UPS", "9.10", "USD", Some(3)),
                    q("USPS", "7.4", "USD", Some(5)),
                    q("FedEx", "21.00", "USD", Some(1)),
                ],
                chosen: Some(1),
                reasons: vec![
                    (1, "cheapest rate (USD 7.40), arrives 2026-12-07 (5 business days)"),
                    (0, "USD 9.10, more than the chosen USD 7.40"),
                    (2, "USD 21.00, more than the chosen USD 7.40"),
                ],
            },
            Case {
                name: "cheapest: same price, the faster wins; no estimate counts as slowest",
                placed_at: fri,
                handling_days: 1,
                promised_transit: None,
                policy: RatePolicy::Cheapest,
                quotes: vec![
                    q("USPS", "7.40", "USD", None),
                    q("UPS", "7.40", "USD", Some(5)),
                    q("FedEx", "7.40", "USD", Some(3)),
                ],
                chosen: Some(2),
                reasons: vec![
                    (0, "same price as the chosen (USD 7.40), but no delivery estimate"),
                    (1, "same price as the chosen (USD 7.40), but slower (5 vs 3 business days)"),
                ],
            },
            Case {
                name: "cheapest: same price and speed, the first listed wins",
                placed_at: fri,
                handling_days: 1,
                promised_transit: None,
                policy: RatePolicy::Cheapest,
                quotes: vec![q("UPS", "7.40", "USD", Some(3)), q("USPS", "7.40", "USD", Some(3))],
                chosen: Some(0),
                reasons: vec![(1, "same price and speed as the chosen, which is listed first")],
            },
            Case {
                name: "fastest: earliest arrival, whatever the price",
                placed_at: fri,
                handling_days: 1,
                promised_transit: Some(2),
                policy: RatePolicy::Fastest,
                quotes: vec![
                    q("USPS", "7.40", "USD", Some(5)),
                    q("FedEx", "21.00", "USD", Some(1)),
                    q("UPS", "15.00", "USD", Some(2)),
                    q("DHL", "5.00", "USD", None),
                ],
                chosen: Some(1),
                reasons: vec![
                    (1, "fastest: arrives 2026-12-01 (1 business day), for USD 21.00"),
                    (2, "slower than the chosen (2 vs 1 business days)"),
                    (3, "no delivery estimate; the chosen arrives 2026-12-01"),
                ],
            },
            Case {
                name: "fastest: same arrival, the cheaper wins",
                placed_at: fri,
                handling_days: 1,
                promised_transit: None,
                policy: RatePolicy::Fastest,
                quotes: vec![q("FedEx", "21.00", "USD", Some(1)), q("UPS", "18.00", "USD", Some(1))],
                chosen: Some(1),
                reasons: vec![(
                    0,
                    "arrives 2026-12-01 like the chosen, but USD 21.00 is more than the chosen USD 18.00",
                )],
            },
            Case {
                name: "fastest: no estimates at all, so the cheapest",
                placed_at: fri,
                handling_days: 1,
                promised_transit: None,
                policy: RatePolicy::Fastest,
                quotes: vec![q("A", "9.00", "USD", None), q("B", "8.00", "USD", None)],
                chosen: Some(1),
                reasons: vec![
                    (1, "no rate has a delivery estimate, so this is the cheapest (USD 8.00)"),
                    (0, "no delivery estimate, like the chosen, but USD 9.00 is more"),
                ],
            },
            Case {
                name: "cheapest on time: the cheap slow one and the unknown one would break the promise",
                placed_at: fri,
                handling_days: 1,
                promised_transit: Some(2),
                policy: RatePolicy::CheapestOnTime,
                quotes: vec![
                    q("USPS", "7.40", "USD", Some(5)),
                    q("UPS", "9.10", "USD", Some(2)),
                    q("FedEx", "21.00", "USD", Some(1)),
                    q("DHL", "6.00", "USD", None),
                ],
                chosen: Some(1),
                reasons: vec![
                    (1, "cheapest that arrives by 2026-12-02: USD 9.10, arrives 2026-12-02"),
                    (0, "arrives 2026-12-07, after the promised 2026-12-02"),
                    (2, "USD 21.00, more than the chosen USD 9.10"),
                    (3, "no delivery estimate: cannot promise on time"),
                ],
            },
            Case {
                name: "cheapest on time: same price on time, the faster wins",
                placed_at: fri,
                handling_days: 1,
                promised_transit: Some(3),
                policy: RatePolicy::CheapestOnTime,
                quotes: vec![q("UPS", "9.10", "USD", Some(3)), q("USPS", "9.10", "USD", Some(2))],
                chosen: Some(1),
                reasons: vec![(0, "but slower (3 vs 2 business days)")],
            },
            Case {
                name: "cheapest on time: nothing on time, so the least late, cheaper on a tie",
                placed_at: fri,
                handling_days: 1,
                promised_transit: Some(1),
                policy: RatePolicy::CheapestOnTime,
                quotes: vec![
                    q("USPS", "7.40", "USD", Some(5)),
                    q("FedEx", "12.00", "USD", Some(3)),
                    q("UPS", "9.10", "USD", Some(3)),
                    q("DHL", "5.00", "USD", None),
                ],
                chosen: Some(2),
                reasons: vec![
                    (
                        2,
                        "no rate arrives by the promised 2026-12-01; this one arrives earliest, 2026-12-03, 2 business days late",
                    ),
                    (0, "arrives 2026-12-07 (5 business days), after the promised 2026-12-01; slower than the chosen (5 vs 3"),
                    (1, "USD 12.00 is more than the chosen USD 9.10"),
                    (3, "no delivery estimate: cannot promise on time"),
                ],
            },
            Case {
                name: "cheapest on time: no estimates and a promise, so the cheapest",
                placed_at: fri,
                handling_days: 1,
                promised_transit: Some(2),
                policy: RatePolicy::CheapestOnTime,
                quotes: vec![q("A", "9.00", "USD", None), q("B", "8.00", "USD", None)],
                chosen: Some(1),
                reasons: vec![
                    (1, "no rate has a delivery estimate, so none can be promised on time; chose the cheapest (USD 8.00)"),
                    (0, "no delivery estimate: cannot promise on time"),
                ],
            },
            Case {
                name: "cheapest on time without a promised date behaves like cheapest",
                placed_at: fri,
                handling_days: 1,
                promised_transit: None,
                policy: RatePolicy::CheapestOnTime,
                quotes: vec![q("UPS", "9.10", "USD", Some(1)), q("USPS", "7.40", "USD", Some(9))],
                chosen: Some(1),
                reasons: vec![(1, "no promised date was known")],
            },
            Case {
                // Sat: ships Mon + 1 = Tue 1 Dec; promise Thu 3 Dec.
                name: "weekend order: the 2-day rate is on time, the cheaper 3-day one is not",
                placed_at: "2026-11-28T12:00:00Z",
                handling_days: 1,
                promised_transit: Some(2),
                policy: RatePolicy::CheapestOnTime,
                quotes: vec![q("USPS", "6.00", "USD", Some(3)), q("UPS", "8.00", "USD", Some(2))],
                chosen: Some(1),
                reasons: vec![
                    (1, "cheapest that arrives by 2026-12-03"),
                    (0, "arrives 2026-12-04, after the promised 2026-12-03"),
                ],
            },
            Case {
                // Fri after cut-off, no handling: ships Mon; promise Tue.
                name: "after the cut-off on Friday: ships Monday, 1-day rate on time",
                placed_at: "2026-11-27T16:00:00Z",
                handling_days: 0,
                promised_transit: Some(1),
                policy: RatePolicy::CheapestOnTime,
                quotes: vec![q("USPS", "6.00", "USD", Some(2)), q("UPS", "8.00", "USD", Some(1))],
                chosen: Some(1),
                reasons: vec![
                    (1, "cheapest that arrives by 2026-12-01"),
                    (0, "arrives 2026-12-02, after the promised 2026-12-01"),
                ],
            },
            Case {
                name: "mixed currency: the EUR rate is not compared, however cheap",
                placed_at: fri,
                handling_days: 1,
                promised_transit: None,
                policy: RatePolicy::Cheapest,
                quotes: vec![
                    q("UPS", "9.10", "USD", Some(2)),
                    q("DHL", "3.00", "EUR", Some(1)),
                    q("USPS", "8.00", " usd", Some(3)),
                ],
                chosen: Some(2),
                reasons: vec![
                    (1, "in EUR; rates are compared in USD"),
                    (0, "USD 9.10, more than the chosen USD 8.00"),
                ],
            },
            Case {
                name: "mixed currency: the majority's currency wins over the first quote's",
                placed_at: fri,
                handling_days: 1,
                promised_transit: None,
                policy: RatePolicy::Fastest,
                quotes: vec![
                    q("DHL", "3.00", "EUR", Some(1)),
                    q("UPS", "9.10", "USD", Some(2)),
                    q("USPS", "8.00", "USD", Some(3)),
                ],
                chosen: Some(1),
                reasons: vec![(0, "in EUR; rates are compared in USD")],
            },
            Case {
                name: "mixed currency, one each: the first quote's currency",
                placed_at: fri,
                handling_days: 1,
                promised_transit: None,
                policy: RatePolicy::Cheapest,
                quotes: vec![q("DHL", "5.00", "EUR", Some(1)), q("UPS", "4.00", "USD", Some(2))],
                chosen: Some(0),
                reasons: vec![(1, "in USD; rates are compared in EUR")],
            },
            Case {
                name: "a negative amount is not a price",
                placed_at: fri,
                handling_days: 1,
                promised_transit: None,
                policy: RatePolicy::Cheapest,
                quotes: vec![q("BUG", "-1.00", "USD", Some(1)), q("UPS", "4.00", "USD", Some(2))],
                chosen: Some(1),
                reasons: vec![(0, "USD -1.00 is below zero")],
            },
            Case {
                name: "no quotes: nothing chosen",
                placed_at: fri,
                handling_days: 1,
                promised_transit: Some(2),
                policy: RatePolicy::CheapestOnTime,
                quotes: vec![],
                chosen: None,
                reasons: vec![],
            },
        ]
    }

    #[test]
    fn rate_choice_table() {
        for case in cases() {
            let placed = at(case.placed_at);
            let ship = ship_date(placed, case.handling_days, two_pm());
            let promised = case
                .promised_transit
                .map(|t| promised_date(placed, case.handling_days, two_pm(), t));
            let decision = choose(&case.quotes, case.policy, ship, promised);
            let name = case.name;
            assert_eq!(decision.chosen, case.chosen, "{name}: {decision:#?}");
            assert_eq!(decision.verdicts.len(), case.quotes.len(), "{name}");
            for (i, v) in decision.verdicts.iter().enumerate() {
                assert_eq!(v.index, i, "{name}");
                assert_eq!(v.chosen, case.chosen == Some(i), "{name}");
                assert!(!v.reason.is_empty(), "{name}: quote {i} has no reason");
                let expected = case.quotes[i].delivery_days.map(|n| estimate(ship, n));
                assert_eq!(v.estimated_delivery, expected, "{name}");
            }
            for (i, words) in &case.reasons {
                let reason = &decision.verdicts[*i].reason;
                assert!(
                    reason.contains(words),
                    "{name}: quote {i}: {reason:?} lacks {words:?}"
                );
            }
            assert_eq!(
                decision.chosen_quote(&case.quotes).map(|q| &q.rate_id),
                case.chosen.map(|c| &case.quotes[c].rate_id),
                "{name}"
            );
        }
    }

    #[test]
    fn rate_choice_policy_names() {
        for p in RatePolicy::ALL {
            let json = serde_json::to_string(&p).expect("serializes");
            assert_eq!(json, format!("\"{}\"", p.as_str()));
            assert_eq!(
                serde_json::from_str::<RatePolicy>(&json).expect("parses"),
                p
            );
            assert_eq!(p.to_string().parse::<RatePolicy>(), Ok(p));
        }
        assert_eq!(
            "Cheapest-On-Time ".parse::<RatePolicy>(),
            Ok(RatePolicy::CheapestOnTime)
        );
        let err = "quickest".parse::<RatePolicy>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown rate policy \"quickest\"; expected cheapest, fastest or cheapest_on_time"
        );
        assert!(serde_json::from_str::<RatePolicy>("\"cheapestOnTime\"").is_err());
    }
}
