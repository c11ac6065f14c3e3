//! sea-orm entities, one module per table. The schema itself lives in
//! `migrations/`; keep the two in step.
//!
//! Money is stored as decimal TEXT (exact on SQLite and Postgres alike) and
//! converted at the edge; `source_version` is the channel's `updated_at` in
//! milliseconds, compared to keep the newest update.

pub mod channel {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "channels")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub seller_id: String,
        pub kind: String,
        /// Who holds the polling lease and until when (unix ms).
        pub lease_owner: Option<String>,
        pub lease_until_ms: Option<i64>,
        pub next_poll_at_ms: i64,
        pub last_success_at: Option<DateTimeUtc>,
        pub last_error: Option<String>,
        /// `auth` when the channel refused the credentials, else `remote`.
        pub last_error_kind: Option<String>,
        pub error_count: i64,
        pub orders_synced: i64,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod sync_cursor {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sync_cursors")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub channel_id: String,
        /// Highest channel `updated_at` (unix ms) stored for this channel.
        pub watermark_ms: i64,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod order {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "orders")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub seller_id: String,
        pub channel_id: String,
        pub channel_kind: String,
        pub external_id: String,
        pub number: Option<String>,
        pub status: String,
        pub payment_status: String,
        pub fulfillment_status: String,
        /// The status the channel itself last reported.
        pub channel_status: String,
        pub placed_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub source_version: i64,
        pub currency: String,
        pub subtotal: String,
        pub shipping_total: String,
        pub tax_total: String,
        pub discount_total: String,
        pub total: String,
        pub customer_name: Option<String>,
        pub customer_email: Option<String>,
        /// JSON of the core `Customer`, `Address` values.
        pub customer: Option<String>,
        pub ship_to: Option<String>,
        pub bill_to: Option<String>,
        pub shipping_method: Option<String>,
        pub exception_reason: Option<String>,
        pub created_at: DateTimeUtc,
        pub synced_at: DateTimeUtc,
        /// When the sweep last enqueued RouteOrder for this order.
        pub route_swept_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(has_many = "super::order_line::Entity")]
        Lines,
    }

    impl Related<super::order_line::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Lines.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod order_line {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "order_lines")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub order_id: i64,
        pub line_no: i32,
        pub external_id: Option<String>,
        pub sku: Option<String>,
        pub title: String,
        pub quantity: i32,
        pub unit_price: String,
        pub tax: String,
        pub discount: String,
        pub total: String,
        pub grams: Option<i32>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::order::Entity",
            from = "Column::OrderId",
            to = "super::order::Column::Id"
        )]
        Order,
    }

    impl Related<super::order::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Order.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod quarantine {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "quarantined_payloads")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub channel_id: String,
        pub external_id: Option<String>,
        pub reason: String,
        pub raw_payload: String,
        /// sha256 of the raw payload: the same bad payload seen again is one row.
        pub payload_hash: String,
        pub source: String,
        pub received_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod webhook_inbox {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_inbox")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        /// `channel` or `carrier`.
        pub source: String,
        pub source_id: String,
        pub delivery_id: String,
        pub topic: String,
        pub body: String,
        pub received_at: DateTimeUtc,
        pub processed_at: Option<DateTimeUtc>,
        pub error: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod warehouse {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "warehouses")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub seller_id: String,
        pub name: String,
        /// Higher is preferred.
        pub priority: i32,
        pub country: Option<String>,
        /// The ship-from address (JSON of [`crate::Address`]).
        #[sea_orm(column_type = "Text", nullable)]
        pub address: Option<String>,
        /// JSON list of carrier account ids this warehouse ships with.
        pub carriers: String,
        /// Routing skips a closed warehouse.
        pub open: bool,
        /// JSON list of destination countries it ships to; `[]`: all.
        #[sea_orm(column_type = "Text")]
        pub ships_to: String,
        /// JSON list of channel ids it ships for; `[]`: all.
        #[sea_orm(column_type = "Text")]
        pub channels: String,
        /// Where it is (degrees), for the `closest` routing rule.
        pub lat: Option<f64>,
        pub lon: Option<f64>,
        /// Safety stock of a sku whose `stock.safety` is NULL.
        pub default_safety: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod stock {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "stock")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub warehouse_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub sku: String,
        pub on_hand: i64,
        pub reserved: i64,
        /// Units routing never reserves; NULL: the warehouse's `default_safety`.
        pub safety: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod reservation {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "reservations")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub order_id: i64,
        pub shipment_id: i64,
        pub warehouse_id: String,
        pub sku: String,
        pub quantity: i64,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod shipment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "shipments")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub order_id: i64,
        pub warehouse_id: String,
        /// `created` → `buying` → `label_bought`; or `exception`.
        pub status: String,
        pub created_at: DateTimeUtc,
        /// The carrier account (config id) the label is bought through.
        pub carrier_account: Option<String>,
        /// The carrier's shipment id, stored before any purchase is attempted.
        pub carrier_shipment_id: Option<String>,
        pub buy_attempts: i32,
        pub rate_id: Option<String>,
        pub carrier: Option<String>,
        pub service: Option<String>,
        /// Decimal text, exact.
        pub rate_amount: Option<String>,
        pub rate_currency: Option<String>,
        pub tracking_code: Option<String>,
        #[sea_orm(column_type = "Text", nullable)]
        pub tracking_url: Option<String>,
        #[sea_orm(column_type = "Text", nullable)]
        pub label_url: Option<String>,
        pub label_bought_at: Option<DateTimeUtc>,
        /// A [`crate::TrackingStatus`]; only moves forward.
        pub tracking_status: String,
        pub tracking_updated_at: Option<DateTimeUtc>,
        /// When the channel accepted carrier, number and URL.
        pub tracking_pushed_at: Option<DateTimeUtc>,
        /// The last tracking status the channel was told.
        pub status_pushed: Option<String>,
        /// Until when (epoch ms) one PushTracking run owns the channel pushes
        /// of this shipment, so two runs never tell the channel the same thing.
        pub push_lease_until_ms: Option<i64>,
        /// The parcel as sent to the carrier (JSON).
        #[sea_orm(column_type = "Text", nullable)]
        pub parcel: Option<String>,
        #[sea_orm(column_type = "Text", nullable)]
        pub exception_reason: Option<String>,
        pub updated_at: Option<DateTimeUtc>,
        /// The carrier's id for the bought label, used to void it.
        pub label_id: Option<String>,
        /// `pdf`, `png` or `zpl`.
        pub label_format: Option<String>,
        /// Every rate rate shopping considered, with the verdict on each
        /// (JSON list of [`crate::store::RateQuoteRecord`]); the API shows it
        /// parsed, beside the shipment.
        #[sea_orm(column_type = "Text", nullable)]
        #[serde(skip)]
        pub rate_quotes: Option<String>,
        /// What the carrier said to the void: `voided`, `submitted`, or
        /// `rejected: reason`.
        pub void_status: Option<String>,
        pub voided_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod tracking_event {
    use sea_orm::entity::prelude::*;

    /// One step of a shipment's tracking timeline, append-only.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "tracking_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub shipment_id: i64,
        pub status: String,
        pub carrier_status: String,
        #[sea_orm(column_type = "Text", nullable)]
        pub message: Option<String>,
        #[sea_orm(column_type = "Text", nullable)]
        pub location: Option<String>,
        pub occurred_at: DateTimeUtc,
        pub received_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod order_event {
    use sea_orm::entity::prelude::*;

    /// One step of an order's timeline, append-only: what happened (`kind`),
    /// who did it (`actor`: `system`, `channel`, `carrier` or
    /// `staff:<name>`) and the details (JSON, or a sentence for notes).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "order_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub order_id: i64,
        pub at: DateTimeUtc,
        pub kind: String,
        #[sea_orm(column_type = "Text")]
        pub actor: String,
        #[sea_orm(column_type = "Text")]
        pub detail: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod api_token {
    use sea_orm::entity::prelude::*;

    /// A seller's API token. Only `token_hash` (hex SHA-256 of the token)
    /// is kept; `prefix` (the first characters) lets people tell them apart.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_tokens")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub seller_id: String,
        pub name: String,
        pub token_hash: String,
        pub prefix: String,
        pub created_at: DateTimeUtc,
        pub revoked_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
