//! Rate shopping: ask every carrier account the warehouse allows for rates,
//! in parallel and within a time budget, then choose one rate by the seller's
//! policy (`orderhub_core::rate_choice`). An account that errors or is slower
//! than the budget is skipped, not fatal; what was skipped and why is kept
//! with the verdicts on every rate, for the order's page.

use crate::app::App;
use futures::future::join_all;
use orderhub_connectors::{CarrierShipment, LabelRequest, Rate};
use orderhub_core::config::CarrierChoice;
use orderhub_core::rate_choice::{self, Quote, RatePolicy};
use orderhub_core::store::RateQuoteRecord;
use std::time::Duration;

/// One account's answer: its carrier shipment (rates, no money spent).
pub struct AccountRates {
    pub choice: CarrierChoice,
    pub shipment: CarrierShipment,
    pub elapsed_ms: u64,
}

/// What rate shopping found and chose.
pub struct ShopOutcome {
    /// The chosen account, its carrier shipment and the rate.
    pub chosen: Option<(String, String, Rate)>,
    /// Every rate and skipped account, with the verdict.
    pub records: Vec<RateQuoteRecord>,
}

/// The answers of the accounts asked, and the ones skipped.
pub struct Asked {
    pub answers: Vec<AccountRates>,
    pub skipped: Vec<RateQuoteRecord>,
    /// Skipped for a reason that may pass (timeout, 429, 5xx): when nothing
    /// could be chosen, the job retries instead of giving up.
    pub transient_skips: usize,
}

/// Ask every allowed account for rates at once; each answer must come within
/// `budget`. Accounts that cannot rate this request (tracking-only, or a
/// multi-parcel shipment for a single-parcel carrier) are skipped up front.
pub async fn ask_accounts(
    app: &App,
    choices: &[CarrierChoice],
    request: &LabelRequest,
    budget: Duration,
) -> Asked {
    let mut transient_skips = 0;
    let mut skipped = Vec::new();
    let mut asks = Vec::new();
    for choice in choices {
        let Some(account) = app.carriers.get(&choice.account) else {
            skipped.push(skip(&choice.account, "not a configured carrier account"));
            continue;
        };
        let caps = account.connector.capabilities();
        if !caps.buys_labels {
            skipped.push(skip(
                &choice.account,
                "receives tracking only; buys no labels",
            ));
            continue;
        }
        if request.parcels.len() > 1 && !caps.multi_parcel {
            skipped.push(skip(
                &choice.account,
                &format!(
                    "takes one parcel per shipment; this one needs {}",
                    request.parcels.len()
                ),
            ));
            continue;
        }
        let connector = account.connector.clone();
        let gate = account.gate.clone();
        let choice = choice.clone();
        asks.push(async move {
            let started = std::time::Instant::now();
            let answer = tokio::time::timeout(budget, async {
                let _permit = gate.acquire().await;
                connector.create_shipment(request).await
            })
            .await;
            (choice, answer, started.elapsed().as_millis() as u64)
        });
    }
    let mut answered = Vec::new();
    for (choice, answer, elapsed_ms) in join_all(asks).await {
        match answer {
            Ok(Ok(shipment)) => answered.push(AccountRates {
                choice,
                shipment,
                elapsed_ms,
            }),
            Ok(Err(e)) => {
                if e.is_retryable() {
                    transient_skips += 1;
                }
                tracing::info!(account = %choice.account, error = %e, "carrier account skipped in rate shopping");
                skipped.push(RateQuoteRecord {
                    answered_ms: Some(elapsed_ms),
                    ..skip(&choice.account, &format!("skipped: {e}"))
                });
            }
            Err(_) => {
                transient_skips += 1;
                tracing::info!(account = %choice.account, budget_ms = budget.as_millis() as u64, "carrier account too slow; skipped");
                skipped.push(RateQuoteRecord {
                    answered_ms: Some(elapsed_ms),
                    ..skip(
                        &choice.account,
                        &format!("skipped: no answer within {} ms", budget.as_millis()),
                    )
                });
            }
        }
    }
    Asked {
        answers: answered,
        skipped,
        transient_skips,
    }
}

/// Choose among the answers by `policy`. Rates of carriers an account is
/// limited away from (`easypost:USPS`) are listed as rejected for that reason.
pub fn choose(
    answers: &[AccountRates],
    mut records: Vec<RateQuoteRecord>,
    policy: RatePolicy,
    ship_date: chrono::NaiveDate,
    promised: Option<chrono::NaiveDate>,
) -> ShopOutcome {
    // (account, carrier shipment id, rate) for every allowed rate, in order.
    let mut offered: Vec<(&AccountRates, &Rate)> = Vec::new();
    for a in answers {
        for r in &a.shipment.rates {
            if a.choice.allows(&r.carrier) {
                offered.push((a, r));
            } else {
                records.push(RateQuoteRecord {
                    reason: format!(
                        "{} is not among the carriers this warehouse allows on `{}`",
                        r.carrier, a.choice.account
                    ),
                    ..record(a, r)
                });
            }
        }
    }
    let quotes: Vec<Quote> = offered
        .iter()
        .map(|(a, r)| Quote {
            account: a.choice.account.clone(),
            rate_id: r.id.clone(),
            carrier: r.carrier.clone(),
            service: r.service.clone(),
            amount: r.amount,
            currency: r.currency.clone(),
            delivery_days: r.delivery_days,
        })
        .collect();
    let decision = rate_choice::choose(&quotes, policy, ship_date, promised);
    let mut priced: Vec<RateQuoteRecord> = Vec::with_capacity(quotes.len());
    for v in &decision.verdicts {
        let Some((a, r)) = offered.get(v.index) else {
            continue;
        };
        priced.push(RateQuoteRecord {
            estimated_delivery: v.estimated_delivery,
            chosen: v.chosen,
            reason: v.reason.clone(),
            ..record(a, r)
        });
    }
    // The chosen first, then the rest as the policy ranked them, then the
    // skipped and disallowed.
    priced.sort_by_key(|r| !r.chosen);
    priced.extend(records);
    let chosen = decision.chosen.and_then(|i| offered.get(i)).map(|(a, r)| {
        (
            a.choice.account.clone(),
            a.shipment.id.clone(),
            (*r).clone(),
        )
    });
    ShopOutcome {
        chosen,
        records: priced,
    }
}

fn record(a: &AccountRates, r: &Rate) -> RateQuoteRecord {
    RateQuoteRecord {
        answered_ms: Some(a.elapsed_ms),
        account: a.choice.account.clone(),
        carrier: Some(r.carrier.clone()),
        service: Some(r.service.clone()),
        amount: Some(r.amount),
        currency: Some(r.currency.clone()),
        delivery_days: r.delivery_days,
        estimated_delivery: None,
        chosen: false,
        reason: String::new(),
    }
}

fn skip(account: &str, reason: &str) -> RateQuoteRecord {
    RateQuoteRecord {
        account: account.to_string(),
        carrier: None,
        service: None,
        amount: None,
        currency: None,
        delivery_days: None,
        estimated_delivery: None,
        chosen: false,
        reason: reason.to_string(),
        answered_ms: None,
    }
}
