//! RouteOrder's store side (invariant 3): concurrent routing never reserves
//! more stock than is on hand; highest priority warehouse that can fill the
//! whole order wins; routing twice changes nothing.

mod common;

use common::*;
use orderhub_core::store::{RouteOutcome, Store, NO_STOCK};
use orderhub_core::*;
use rust_decimal::Decimal;
use std::str::FromStr;

fn order(id: u32, lines: &[(&str, u32)]) -> Order {
    let t = chrono::DateTime::from_timestamp(1_700_000_000 + id as i64, 0).unwrap();
    Order {
        channel: "shopify".into(),
        external_id: id.to_string(),
        number: Some(format!("#{id}")),
        status: OrderStatus::Awaiting,
        payment_status: PaymentStatus::Paid,
        fulfillment_status: FulfillmentStatus::Unfulfilled,
        placed_at: t,
        updated_at: t,
        currency: Currency::from_str("USD").unwrap(),
        subtotal: Decimal::ONE,
        shipping_total: Decimal::ZERO,
        tax_total: Decimal::ZERO,
        discount_total: Decimal::ZERO,
        total: Decimal::ONE,
        customer: None,
        ship_to: None,
        bill_to: None,
        shipping_method: None,
        lines: lines
            .iter()
            .map(|(sku, q)| OrderLine {
                external_id: None,
                sku: Some(sku.to_string()),
                title: sku.to_string(),
                quantity: *q,
                unit_price: Decimal::ONE,
                tax: Decimal::ZERO,
                discount: Decimal::ZERO,
                total: Decimal::ONE,
                grams: None,
            })
            .collect(),
    }
}

async fn store(db: Db) -> (Store, String) {
    let url = fresh_db(db).await;
    let s = Store::connect(&url, 8).await.unwrap();
    orderhub::migrate::run(&s).await.unwrap();
    (s, url)
}

async fn concurrent_routing(db: Db) {
    let (s, url) = store(db).await;
    s.upsert_warehouse("wh-a", "acme", "A", 10, Some("US"), &[])
        .await
        .unwrap();
    s.set_stock("wh-a", "SKU-1", 10).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(
            s.upsert_order("acme", "shop", &order(i, &[("SKU-1", 1)]))
                .await
                .unwrap()
                .id(),
        );
    }
    // 8 routers, each its own pool (as separate processes), every order routed
    // by two of them.
    let mut tasks = Vec::new();
    for r in 0..8 {
        let st = Store::connect(&url, 2).await.unwrap();
        let mine: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| (*id as usize + r) % 4 < 2)
            .collect();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for id in mine {
                out.push(st.route_order(id).await.expect("routing never errors"));
            }
            out
        }));
    }
    let mut routed = 0;
    for t in tasks {
        routed += t
            .await
            .unwrap()
            .iter()
            .filter(|o| matches!(o, RouteOutcome::Routed { .. }))
            .count();
    }
    assert_eq!(routed, 10, "exactly the stock on hand is routed");
    let stock = s.stock("wh-a", "SKU-1").await.unwrap().unwrap();
    assert_eq!((stock.on_hand, stock.reserved), (10, 10));
    let mut reserved = 0;
    let mut exceptions = 0;
    for id in &ids {
        reserved += s
            .reservations(*id)
            .await
            .unwrap()
            .iter()
            .map(|r| r.quantity)
            .sum::<i64>();
        let o = s.get_order(*id).await.unwrap().unwrap();
        if o.order.status == OrderStatus::Exception {
            assert_eq!(o.exception_reason.as_deref(), Some(NO_STOCK));
            exceptions += 1;
        }
    }
    assert_eq!(reserved, 10);
    assert_eq!(exceptions, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_routing_never_over_reserves_sqlite() {
    concurrent_routing(Db::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_routing_never_over_reserves_postgres() {
    concurrent_routing(Db::Postgres).await
}

#[tokio::test]
async fn the_best_warehouse_that_fills_every_line_wins_and_routing_twice_is_harmless() {
    let (s, _) = store(Db::Sqlite).await;
    s.upsert_warehouse("big", "acme", "Big", 20, Some("US"), &[])
        .await
        .unwrap();
    s.upsert_warehouse("small", "acme", "Small", 5, Some("US"), &[])
        .await
        .unwrap();
    s.upsert_warehouse("other-seller", "zeta", "Z", 99, Some("US"), &[])
        .await
        .unwrap();
    s.set_stock("other-seller", "A", 100).await.unwrap();
    s.set_stock("other-seller", "B", 100).await.unwrap();
    s.set_stock("big", "A", 5).await.unwrap(); // no B: cannot fill the order
    s.set_stock("small", "A", 5).await.unwrap();
    s.set_stock("small", "B", 5).await.unwrap();
    let id = s
        .upsert_order("acme", "shop", &order(1, &[("A", 2), ("B", 1), ("A", 1)]))
        .await
        .unwrap()
        .id();
    let first = s.route_order(id).await.unwrap();
    assert!(
        matches!(&first, RouteOutcome::Routed { warehouse_id, .. } if warehouse_id == "small"),
        "{first:?}"
    );
    // "big" had A but not B: its partial reservation was rolled back.
    assert_eq!(s.stock("big", "A").await.unwrap().unwrap().reserved, 0);
    assert_eq!(s.stock("small", "A").await.unwrap().unwrap().reserved, 3);
    assert_eq!(
        s.stock("other-seller", "A")
            .await
            .unwrap()
            .unwrap()
            .reserved,
        0
    );
    assert_eq!(s.route_order(id).await.unwrap(), RouteOutcome::NotAwaiting);
    assert_eq!(s.stock("small", "A").await.unwrap().unwrap().reserved, 3);
    assert_eq!(s.reservations(id).await.unwrap().len(), 2);
    assert_eq!(
        s.get_order(id).await.unwrap().unwrap().order.status,
        OrderStatus::Processing
    );
}
