//! Indexes for the order list (`GET /api/orders`, `orderhub orders list`,
//! the CSV export): every filter + sort the list pages by keyset gets an
//! index whose order is the list's order (`…, id` breaks ties), so a page
//! reads about `limit` rows instead of scanning and sorting the table.
//! Chosen from EXPLAIN on both backends; measured with
//! `orderhub bench-list` (README, Benchmarks).
//!
//! `placed_at` is indexed descending because the list's `-placed_at` order is
//! `placed_at DESC, id ASC`: a forward scan gives exactly that (an ascending
//! `placed_at` list reads the same index backwards and sorts ties by id).
//! `seller_id` leads where a seller's token scopes the list. `(seller_id,
//! status, id)` replaces `ix_orders_seller_status (seller_id, status)`: it
//! serves every query the old one did.
//!
//! Not indexable as written, left alone: the `q` search
//! (`LOWER(col) LIKE '%text%'`, a substring, on five columns and the lines'
//! skus) and the `total` sorts (ordered by `CAST(total AS NUMERIC)` of
//! decimal text).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Orders {
    Table,
    Id,
    SellerId,
    ChannelId,
    Status,
    PlacedAt,
}

/// The indexes this migration creates, by name.
pub const ORDER_LIST_INDEXES: [&str; 7] = [
    "ix_orders_status_id",
    "ix_orders_seller_id",
    "ix_orders_seller_status_id",
    "ix_orders_channel_id",
    "ix_orders_channel_placed_id",
    "ix_orders_placed_id",
    "ix_orders_seller_placed_id",
];

fn indexes() -> Vec<IndexCreateStatement> {
    let desc = |c: Orders| (c, IndexOrder::Desc);
    let idx = |name: &str| {
        Index::create()
            .name(name)
            .table(Orders::Table)
            .if_not_exists()
            .to_owned()
    };
    vec![
        // ?status=S (sort id)
        idx("ix_orders_status_id")
            .col(Orders::Status)
            .col(Orders::Id)
            .to_owned(),
        // a seller's list (sort id, the default)
        idx("ix_orders_seller_id")
            .col(Orders::SellerId)
            .col(Orders::Id)
            .to_owned(),
        // a seller's ?status=S; also what ix_orders_seller_status served
        idx("ix_orders_seller_status_id")
            .col(Orders::SellerId)
            .col(Orders::Status)
            .col(Orders::Id)
            .to_owned(),
        // ?channel=C (sort id)
        idx("ix_orders_channel_id")
            .col(Orders::ChannelId)
            .col(Orders::Id)
            .to_owned(),
        // ?channel=C&sort=-placed_at (and placed_at, placed_from/to)
        idx("ix_orders_channel_placed_id")
            .col(Orders::ChannelId)
            .col(desc(Orders::PlacedAt))
            .col(Orders::Id)
            .to_owned(),
        // ?sort=-placed_at over every order (ops token)
        idx("ix_orders_placed_id")
            .col(desc(Orders::PlacedAt))
            .col(Orders::Id)
            .to_owned(),
        // a seller's ?sort=-placed_at
        idx("ix_orders_seller_placed_id")
            .col(Orders::SellerId)
            .col(desc(Orders::PlacedAt))
            .col(Orders::Id)
            .to_owned(),
    ]
}

/// Create the order-list indexes (and drop the one they supersede).
pub async fn create_order_list_indexes(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    for i in indexes() {
        m.create_index(i).await?;
    }
    m.drop_index(
        Index::drop()
            .name("ix_orders_seller_status")
            .table(Orders::Table)
            .if_exists()
            .to_owned(),
    )
    .await
}

/// Back to the schema before this migration: the order-list indexes gone,
/// `ix_orders_seller_status` back. (`orderhub bench-list --without-indexes`
/// measures the list this way.)
pub async fn drop_order_list_indexes(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    m.create_index(
        Index::create()
            .name("ix_orders_seller_status")
            .table(Orders::Table)
            .col(Orders::SellerId)
            .col(Orders::Status)
            .if_not_exists()
            .to_owned(),
    )
    .await?;
    for name in ORDER_LIST_INDEXES {
        m.drop_index(
            Index::drop()
                .name(name)
                .table(Orders::Table)
                .if_exists()
                .to_owned(),
        )
        .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        create_order_list_indexes(m).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_order_list_indexes(m).await
    }
}
