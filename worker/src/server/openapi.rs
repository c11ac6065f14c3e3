//! The OpenAPI 3 document of the HTTP server, generated from the handlers'
//! `#[utoipa::path]` attributes and served at `GET /api/openapi.json`.
//!
//! The document is public (no bearer token), as is customary: it describes
//! the API and holds no data; every `/api` operation in it still requires the
//! token. A route is added to the document by putting `#[utoipa::path]` on its
//! handler and naming the handler in [`ApiDoc`]'s `paths(...)`; `tests/api.rs`
//! fails when a route of the server is missing here.
//!
//! utoipa stays out of `orderhub-core`: core types (`StoredOrder`,
//! `ChannelStatus`, `OrderStatus`) are described by the small schema types
//! below, which mirror what the handlers serialize.

use super::api;
use crate::jobs_api;
use axum::Json;
use orderhub_core::store::OrderSort;
use orderhub_core::OrderStatus;
use std::borrow::Cow;
use std::sync::LazyLock;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

/// The server's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "orderhub",
        description = "Channel webhooks and the ops API of the orderhub worker. \
            Every `/api` operation except this document needs `Authorization: Bearer <token>`, \
            either the ops token (read from the environment variable `server.api_token_env` names; \
            sees every seller) or a seller's token (`orderhub tokens create --seller S`; sees that \
            seller's data only, and another seller's ids answer 404)."
    ),
    paths(
        healthz,
        super::metrics::metrics,
        channel_webhook,
        carrier_webhook,
        document,
        api::channels,
        api::list_orders,
        api::export_orders_csv,
        api::show_order,
        api::order_timeline,
        api::add_order_note,
        api::change_order_status,
        api::list_jobs,
        api::show_job,
        api::retry_job,
        api::cancel_job,
        super::kpis::kpis,
        super::shipments::buy_labels,
        super::shipments::labels_pdf,
        super::shipments::void_label,
        super::shipments::record_label,
        super::webhooks_out::list_subscribers,
        super::webhooks_out::resume_subscriber,
        super::webhooks_out::list_deliveries,
        super::emails::list_emails,
        super::stock::list_stock,
        super::stock::set_stock,
        super::stock::record_count,
        super::stock::list_counts,
        super::stock::list_alerts,
        super::pack::start_session,
        super::pack::show_session,
        super::pack::scan,
        super::pack::finish,
        super::pack::override_session,
        super::pack::list_barcodes,
        super::pack::set_barcodes,
        super::floor::picklist_json,
        super::floor::picklist_csv,
        super::floor::picklist_pdf,
        super::floor::print_pdf,
        super::floor::labels_zpl,
        super::floor::packing_slip_pdf,
        super::returns::create_return,
        super::returns::list_returns,
        super::returns::show_return,
        super::returns::buy_return_label,
        super::returns::receive_return,
        super::returns::record_refund,
        dashboard_root,
        dashboard_stylesheet,
        dashboard_login_form,
        dashboard_login,
        dashboard_logout,
        dashboard_orders,
        dashboard_order,
        dashboard_channels,
        dashboard_jobs,
        dashboard_retry_job,
        dashboard_stock,
        dashboard_kpis,
        super::dashboard_pack::dashboard_pack,
        super::dashboard_pack::dashboard_pack_scan,
        super::dashboard_pack::dashboard_pack_finish,
        super::dashboard_pack::dashboard_pack_override,
        super::tracking_page::tracking_page,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "ops", description = "Ops API: sync health, stored orders, queued jobs (bearer token)"),
        (name = "webhooks", description = "Deliveries from sales channels and carriers, verified by signature"),
        (name = "meta", description = "Health and this document (public)"),
        (name = "public", description = "Public pages for customers: the tracking page of a shipment (`/t/{token}`), keyed by its unguessable token"),
        (name = "dashboard", description = "The web dashboard: server-rendered HTML pages. Signed in with a token \
            (the `orderhub_token` cookie set by `POST /login`, or the bearer header); without one a page \
            redirects to `/login`. POSTs from another site are refused (403)."),
    )
)]
pub struct ApiDoc;

/// The security scheme the `/api` operations name (`security(("bearer" = []))`).
pub const BEARER: &str = "bearer";

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The ops token (the value of the environment variable that \
                         `server.api_token_env` names, `ORDERHUB_API_TOKEN` by default), or a \
                         seller's token from `orderhub tokens create`, which sees that seller only.",
                    ))
                    .build(),
            ),
        );
    }
}

static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);

/// This OpenAPI document. Public (no bearer token), as is customary: it
/// describes the API and holds no data.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    responses(
        (status = 200, description = "The OpenAPI 3 document of this server", body = serde_json::Value),
    )
)]
pub async fn document() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(&DOCUMENT)
}

// Routes whose handlers live outside `api.rs` are described by these
// signature-only functions (never called; the router serves the real ones).

/// Liveness: answers `ok` while the process serves HTTP.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "meta",
    responses((status = 200, description = "The server is up", body = String, content_type = "text/plain", example = "ok"))
)]
#[allow(dead_code)]
fn healthz() {}

/// A channel's webhook delivery. The signature is checked on the raw body
/// (Shopify: `X-Shopify-Hmac-Sha256`), the delivery stored in the inbox keyed
/// by its delivery id (Shopify: `X-Shopify-Webhook-Id`) before the answer;
/// the order it carries is applied (newest wins) or quarantined after it.
#[utoipa::path(
    post,
    path = "/webhooks/channels/{channel_id}",
    tag = "webhooks",
    params(
        ("channel_id" = String, Path, description = "The channel's configured id"),
        ("X-Shopify-Hmac-Sha256" = Option<String>, Header, description = "Shopify: base64 HMAC-SHA256 of the raw body with the webhook secret"),
        ("X-Shopify-Topic" = Option<String>, Header, description = "Shopify: `orders/create`, `orders/updated` or `orders/cancelled`"),
        ("X-Shopify-Webhook-Id" = Option<String>, Header, description = "Shopify: the delivery id, used to deduplicate"),
    ),
    request_body(content = serde_json::Value, content_type = "application/json", description = "The channel's payload, verified byte for byte"),
    responses(
        (status = 200, description = "Stored (`stored`; applied or quarantined after the answer), or a duplicate delivery (`duplicate`)", body = WebhookAck),
        (status = 400, description = "The body is not UTF-8, or holds a NUL byte", body = ErrorBody),
        (status = 401, description = "Missing or bad signature", body = ErrorBody),
        (status = 404, description = "No channel with this id", body = ErrorBody),
        (status = 413, description = "The body is larger than the server accepts"),
        (status = 503, description = "The store is unavailable; the channel should redeliver", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn channel_webhook() {}

/// A carrier's tracking event. The signature is checked on the raw body
/// (EasyPost: `X-Hmac-Signature`) and the event stored in the inbox,
/// deduplicated by the carrier's event id, before the answer; applying it to
/// the shipment happens afterwards in a job.
#[utoipa::path(
    post,
    path = "/webhooks/carriers/{carrier_id}",
    tag = "webhooks",
    params(
        ("carrier_id" = String, Path, description = "The carrier's configured id"),
        ("X-Hmac-Signature" = Option<String>, Header, description = "EasyPost: HMAC-SHA256 of the raw body with the webhook secret"),
    ),
    request_body(content = serde_json::Value, content_type = "application/json", description = "The carrier's event, verified byte for byte"),
    responses(
        (status = 200, description = "Stored (`accepted`), or a replay (`duplicate`)", body = WebhookAck),
        (status = 400, description = "The body is not UTF-8, or holds a NUL byte", body = ErrorBody),
        (status = 401, description = "Missing or bad signature", body = ErrorBody),
        (status = 404, description = "No carrier with this id", body = ErrorBody),
        (status = 413, description = "The body is larger than the server accepts"),
        (status = 503, description = "The store is unavailable; the carrier should redeliver", body = ErrorBody),
    )
)]
#[allow(dead_code)]
fn carrier_webhook() {}

/// An error answer.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    /// A short message, never internals.
    pub error: String,
}

/// A webhook acknowledgement.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct WebhookAck {
    /// Channels: `stored` (applied after the answer) or `duplicate`.
    /// Carriers: `accepted` or `duplicate`.
    #[schema(example = "stored")]
    pub status: String,
}

/// `GET /api/channels`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ChannelList {
    pub channels: Vec<ChannelStatus>,
}

/// A channel and the health of its sync (orderhub-core's `ChannelStatus`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ChannelStatus {
    pub id: String,
    pub seller_id: String,
    /// The connector kind, e.g. `shopify`.
    pub kind: String,
    /// The sync cursor: orders changed up to this time are stored.
    #[schema(required = true, format = DateTime)]
    pub watermark: Option<String>,
    #[schema(required = true, format = DateTime)]
    pub last_success_at: Option<String>,
    /// When the scheduler next polls the channel (interval, backoff and the
    /// channel's quota taken into account).
    #[schema(format = DateTime)]
    pub next_poll_at: String,
    /// Seconds since the last successful sync.
    #[schema(required = true)]
    pub lag_seconds: Option<i64>,
    #[schema(required = true)]
    pub last_error: Option<String>,
    /// `ok`, `never_synced`, `failing` (the last poll failed; retried with
    /// backoff) or `auth_failed` (the channel refused the credentials).
    #[schema(example = "ok")]
    pub state: String,
    /// Consecutive failed syncs.
    pub error_count: i64,
    pub orders_synced: i64,
    /// The worker instance holding the channel's lease, if any.
    #[schema(required = true)]
    pub lease_owner: Option<String>,
}

/// `GET /api/orders`: a page of orders in the requested order.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct OrderList {
    /// The page.
    pub items: Vec<OrderSummary>,
    /// The same page, under its older name.
    pub orders: Vec<OrderSummary>,
    /// Pass as `cursor` (with the same sort and filters) for the next page;
    /// null on the last page. Opaque: a URL-safe string.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
    /// With `sort=id`: pass as `after` for the next page (older paging); null
    /// on the last page and for the other sorts.
    #[schema(required = true)]
    pub next_after: Option<i64>,
}

/// An order in a list (`GET /api/orders/{id}` gives the whole order).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct OrderSummary {
    pub id: i64,
    pub channel_id: String,
    /// The order's id on the channel.
    pub external_id: String,
    /// The order number shown to the buyer, e.g. `#1001`.
    #[schema(required = true)]
    pub number: Option<String>,
    pub status: OrderStatusName,
    pub payment_status: String,
    /// Exact decimal, as a string.
    #[schema(example = "129.90")]
    pub total: String,
    /// ISO 4217 code.
    pub currency: String,
    #[schema(format = DateTime)]
    pub placed_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    #[schema(required = true)]
    pub customer_name: Option<String>,
}

/// An order status of orderhub's flow (orderhub-core's `OrderStatus`).
pub struct OrderStatusName;

impl PartialSchema for OrderStatusName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(OrderStatus::ALL.map(OrderStatus::as_str)))
            .into()
    }
}

impl ToSchema for OrderStatusName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("OrderStatus")
    }
}

/// A payment status of the order model (orderhub-core's `PaymentStatus`).
pub struct PaymentStatusName;

impl PartialSchema for PaymentStatusName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some([
                "pending",
                "authorized",
                "paid",
                "partially_paid",
                "partially_refunded",
                "refunded",
                "voided",
                "unknown",
            ]))
            .into()
    }
}

impl ToSchema for PaymentStatusName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("PaymentStatus")
    }
}

/// A fulfillment status of the order model (orderhub-core's `FulfillmentStatus`).
pub struct FulfillmentStatusName;

impl PartialSchema for FulfillmentStatusName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some([
                "unfulfilled",
                "partially_fulfilled",
                "fulfilled",
                "restocked",
                "unknown",
            ]))
            .into()
    }
}

impl ToSchema for FulfillmentStatusName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("FulfillmentStatus")
    }
}

/// The order of an order list (orderhub-core's `OrderSort`).
pub struct OrderSortName;

impl PartialSchema for OrderSortName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(OrderSort::ALL.map(OrderSort::as_str)))
            .default(Some(serde_json::json!("id")))
            .into()
    }
}

impl ToSchema for OrderSortName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("OrderSort")
    }
}

/// An order as stored (orderhub-core's `StoredOrder`): lines, money as exact
/// decimal strings, UTC times. Described as an open object because its shape
/// follows the core model as it grows.
pub struct StoredOrder;

impl PartialSchema for StoredOrder {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "An order as stored, with its lines: the order model's fields plus `id`, \
                 `seller_id`, `channel_id`, `exception_reason` and `synced_at`; and \
                 `shipments`: each with its warehouse, status (created, buying, \
                 label_bought, exception), carrier, service, rate, label URL, tracking \
                 code, URL and status, what was pushed to the channel, `tracking_page_url` \
                 (the public tracking page, once a label is bought) and `events`, the \
                 tracking timeline; and `timeline`: the order's events, oldest first, \
                 each as `GET /api/orders/{id}/timeline` describes (`TimelineEvent`).",
            ))
            .into()
    }
}

impl ToSchema for StoredOrder {}

/// `GET /api/orders/{id}/timeline`: the order's events, oldest first.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Timeline {
    pub timeline: Vec<TimelineEvent>,
}

/// One step of an order's timeline (append-only).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TimelineEvent {
    pub id: i64,
    /// When it happened (UTC, RFC 3339).
    #[schema(format = DateTime)]
    pub at: String,
    /// What happened: `synced`, `updated`, `status_changed`, `routed`,
    /// `rate_chosen`, `label_bought`, `tracking_pushed`, `tracking_event`,
    /// `exception`, `voided` or `note`.
    #[schema(example = "label_bought")]
    pub kind: String,
    /// Who did it: `system`, `channel`, `carrier` or `staff:<name>`.
    #[schema(example = "system")]
    pub actor: String,
    /// For a `note`, its text (a string). Otherwise an object, by kind:
    /// `synced` {channel_id, external_id, number, status, channel_updated_at};
    /// `updated` {channel_status, payment_status, fulfillment_status, total,
    /// channel_updated_at}; `status_changed` {from, to, reason};
    /// `routed` {warehouse_id, shipment_id}; `rate_chosen` {shipment_id,
    /// carrier_account, carrier, service, amount, currency}; `label_bought`
    /// {shipment_id, carrier, service, tracking_code, amount, currency} (a
    /// label recorded by hand: carrier_account and `manual: true` instead of
    /// the rate); `tracking_pushed` {shipment_id}; `tracking_event`
    /// {shipment_id, tracking_code, from, status}; `exception` {shipment_id,
    /// reason}; `voided` {shipment_id, tracking_code, carrier_said}.
    pub detail: serde_json::Value,
}

/// A job status as apalis writes it.
pub struct JobStatusName;

impl PartialSchema for JobStatusName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(jobs_api::STATUSES))
            .into()
    }
}

impl ToSchema for JobStatusName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("JobStatus")
    }
}

/// `GET /api/jobs`: newest first.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct JobList {
    pub jobs: Vec<Job>,
}

/// A queued job (a row of apalis's jobs table).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Job {
    pub id: String,
    /// The job type, e.g. the `PollChannel` queue.
    pub queue: String,
    pub status: JobStatusName,
    pub attempts: i64,
    pub max_attempts: i64,
    /// Unix seconds.
    pub run_at: i64,
    /// Unix seconds.
    #[schema(required = true)]
    pub done_at: Option<i64>,
    /// The worker holding the job.
    #[schema(required = true)]
    pub lock_by: Option<String>,
    /// The last result apalis recorded (the error of a failed attempt).
    #[schema(required = true)]
    pub last_result: Option<String>,
    /// The job's arguments, e.g. `{"channel_id": "shop"}`; null when they
    /// are not JSON.
    #[schema(value_type = Option<Object>, required = true)]
    pub args: serde_json::Value,
}

/// The answer to a manual status change that applied.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct StatusChange {
    pub id: i64,
    pub from: OrderStatusName,
    pub to: OrderStatusName,
}

/// The answer to a retry or a cancel that applied.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct JobAction {
    pub id: String,
    /// `retried` or `cancelled`.
    pub status: String,
}

/// `GET /api/kpis`: the range and filters, the KPIs of every matching order,
/// and the same per channel and per warehouse (sorted by id).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct KpiReport {
    /// Orders placed at or after this time.
    #[schema(format = DateTime)]
    pub from: String,
    /// Orders placed strictly before this time.
    #[schema(format = DateTime)]
    pub to: String,
    /// The channel filter, if any.
    #[schema(required = true)]
    pub channel: Option<String>,
    /// The warehouse filter, if any.
    #[schema(required = true)]
    pub warehouse: Option<String>,
    pub orders: KpiOrderCounts,
    /// Placed → first label bought, per order with a label.
    pub placed_to_label: KpiDurations,
    /// Placed → delivered (the first `delivered` tracking event of its last
    /// shipment), per delivered order.
    pub placed_to_delivered: KpiDurations,
    /// Of delivered orders, those delivered (UTC date) on or before the
    /// promised date.
    pub on_time_rate: KpiShare,
    /// Of routed orders, those never in `exception` (order or shipment).
    /// Returns for a wrong item are not modelled yet.
    pub accuracy: KpiShare,
    /// Of routed orders, those with exactly one shipment (shipped complete
    /// from the first warehouse; routing never splits today).
    pub fill_rate: KpiShare,
    /// Currency (ISO 4217) → the exact sum of bought labels' rates, as a
    /// decimal string (voided labels included).
    #[schema(example = json!({"USD": "42.10"}))]
    pub labels_cost: std::collections::BTreeMap<String, String>,
    pub by_channel: Vec<KpiGroup>,
    /// Orders with a shipment from the warehouse; label, delivery, cost and
    /// shipment exceptions count that warehouse's shipments only.
    pub by_warehouse: Vec<KpiGroup>,
    /// Scan-to-verify packing over these orders' pack sessions.
    pub pack_verification: KpiPacking,
    /// Returns of these orders (with a warehouse filter, those going back
    /// to it).
    pub returns: KpiReturns,
}

/// Scan-to-verify packing KPIs.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct KpiPacking {
    /// Of finished sessions (verified, blocked or overridden), those verified
    /// at the first Finish with no mismatch at all.
    pub accuracy: KpiShare,
    pub sessions: u64,
    pub open: u64,
    pub verified: u64,
    pub blocked: u64,
    pub overridden: u64,
    /// Every mismatch, by kind.
    pub mismatches: super::pack::PackMismatches,
}

/// Return KPIs.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct KpiReturns {
    /// Returns of these orders.
    pub returns: u64,
    /// Of the delivered orders, those with at least one return.
    pub return_rate: KpiShare,
    /// Return status → count; every status is listed, zeros included.
    pub by_status: std::collections::BTreeMap<String, u64>,
    /// Reason code → units returned; every code is listed, zeros included.
    pub units_by_reason: std::collections::BTreeMap<String, i64>,
    pub units_returned: i64,
    /// Units put back on hand at receipt.
    pub units_restocked: i64,
    /// Units received damaged.
    pub units_damaged: i64,
    /// Currency → exact decimal sum of refunds recorded `refunded`.
    #[schema(example = json!({"USD": "19.99"}))]
    pub refunded: std::collections::BTreeMap<String, String>,
    /// Currency → exact decimal sum of refunds recorded `pending`.
    #[schema(example = json!({"USD": "5.00"}))]
    pub refunds_pending: std::collections::BTreeMap<String, String>,
}

/// The KPIs of one channel or one warehouse.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct KpiGroup {
    /// The channel id or the warehouse id.
    pub id: String,
    pub orders: KpiOrderCounts,
    pub placed_to_label: KpiDurations,
    pub placed_to_delivered: KpiDurations,
    pub on_time_rate: KpiShare,
    pub accuracy: KpiShare,
    pub fill_rate: KpiShare,
    #[schema(example = json!({"USD": "42.10"}))]
    pub labels_cost: std::collections::BTreeMap<String, String>,
}

/// Orders placed in the range.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct KpiOrderCounts {
    pub total: u64,
    /// Order status → count; every status is listed, zeros included.
    pub by_status: std::collections::BTreeMap<String, u64>,
}

/// Durations in whole seconds; median and p90 are nearest-rank percentiles
/// (always an observed duration), null when `count` is 0.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct KpiDurations {
    pub count: u64,
    #[schema(required = true)]
    pub median_secs: Option<i64>,
    #[schema(required = true)]
    pub p90_secs: Option<i64>,
}

/// `matching` of `count`; `rate` = matching / count, null when `count` is 0.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct KpiShare {
    #[schema(required = true)]
    pub rate: Option<f64>,
    pub matching: u64,
    pub count: u64,
}

// The dashboard's pages (worker/src/server/dashboard.rs), described here so
// the document covers every route the server answers.

/// To the order list.
#[utoipa::path(get, path = "/", tag = "dashboard",
    responses((status = 303, description = "Redirect to `/orders`")))]
#[allow(dead_code)]
fn dashboard_root() {}

/// The dashboard's stylesheet (compiled in; no CDN).
#[utoipa::path(get, path = "/assets/dashboard.css", tag = "dashboard",
    responses((status = 200, description = "The stylesheet", body = String, content_type = "text/css")))]
#[allow(dead_code)]
fn dashboard_stylesheet() {}

/// The sign-in form.
#[utoipa::path(get, path = "/login", tag = "dashboard",
    responses((status = 200, description = "The form", body = String, content_type = "text/html")))]
#[allow(dead_code)]
fn dashboard_login_form() {}

/// A sign-in form's body: `token=<ops or seller token>`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct LoginForm {
    pub token: String,
}

/// Sign in with a token; sets the `orderhub_token` cookie (HttpOnly,
/// SameSite=Strict).
#[utoipa::path(post, path = "/login", tag = "dashboard",
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: redirect to `/orders`"),
        (status = 400, description = "The form has no token", body = String, content_type = "text/html"),
        (status = 401, description = "Unknown or revoked token: the form again", body = String, content_type = "text/html"),
        (status = 403, description = "A request from another site", body = String, content_type = "text/html"),
        (status = 503, description = "The store is unavailable", body = String, content_type = "text/html"),
    ))]
#[allow(dead_code)]
fn dashboard_login() {}

/// Sign out (the cookie is cleared).
#[utoipa::path(post, path = "/logout", tag = "dashboard",
    responses(
        (status = 303, description = "Redirect to `/login`"),
        (status = 403, description = "A request from another site", body = String, content_type = "text/html"),
    ))]
#[allow(dead_code)]
fn dashboard_logout() {}

/// The order list with the filters of `GET /api/orders` as a form.
#[utoipa::path(get, path = "/orders", tag = "dashboard",
    params(
        ("channel" = Option<String>, Query, description = "As in `GET /api/orders`"),
        ("status" = Option<String>, Query, description = "As in `GET /api/orders`"),
        ("payment_status" = Option<String>, Query, description = "As in `GET /api/orders`"),
        ("fulfillment_status" = Option<String>, Query, description = "As in `GET /api/orders`"),
        ("placed_from" = Option<String>, Query, description = "As in `GET /api/orders`"),
        ("placed_to" = Option<String>, Query, description = "As in `GET /api/orders`"),
        ("warehouse" = Option<String>, Query, description = "As in `GET /api/orders`"),
        ("q" = Option<String>, Query, description = "As in `GET /api/orders`"),
        ("sort" = Option<String>, Query, description = "As in `GET /api/orders`"),
        ("cursor" = Option<String>, Query, description = "As in `GET /api/orders`"),
    ),
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: redirect to `/login`"),
        (status = 400, description = "A bad filter, named on the page", body = String, content_type = "text/html"),
        (status = 503, description = "The store is unavailable", body = String, content_type = "text/html"),
    ))]
#[allow(dead_code)]
fn dashboard_orders() {}

/// One order: lines, routing decision, shipments, tracking, timeline.
#[utoipa::path(get, path = "/orders/{id}", tag = "dashboard",
    params(("id" = i64, Path, description = "The order's orderhub id")),
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: redirect to `/login`"),
        (status = 404, description = "No such order (or another seller's)", body = String, content_type = "text/html"),
        (status = 503, description = "The store is unavailable", body = String, content_type = "text/html"),
    ))]
#[allow(dead_code)]
fn dashboard_order() {}

/// Channels with their sync state and lag.
#[utoipa::path(get, path = "/channels", tag = "dashboard",
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: redirect to `/login`"),
        (status = 503, description = "The store is unavailable", body = String, content_type = "text/html"),
    ))]
#[allow(dead_code)]
fn dashboard_channels() {}

/// Jobs, failed ones first to see, each with a Retry button.
#[utoipa::path(get, path = "/jobs", tag = "dashboard",
    params(
        ("status" = Option<String>, Query, description = "Only jobs in this status"),
        ("queue" = Option<String>, Query, description = "Only jobs of this queue"),
        ("retried" = Option<String>, Query, description = "A job just retried (shown as a notice)"),
        ("refused" = Option<String>, Query, description = "A job that could not be retried, and why"),
    ),
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: redirect to `/login`"),
        (status = 400, description = "A bad filter, named on the page", body = String, content_type = "text/html"),
        (status = 503, description = "The store is unavailable", body = String, content_type = "text/html"),
    ))]
#[allow(dead_code)]
fn dashboard_jobs() {}

/// Retry a failed job (the Retry button).
#[utoipa::path(post, path = "/jobs/{id}/retry", tag = "dashboard",
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 303, description = "Back to the jobs page, with the outcome"),
        (status = 403, description = "A request from another site", body = String, content_type = "text/html"),
        (status = 404, description = "No such job (or another seller's)", body = String, content_type = "text/html"),
        (status = 503, description = "The store is unavailable", body = String, content_type = "text/html"),
    ))]
#[allow(dead_code)]
fn dashboard_retry_job() {}

/// Stock at or below the low-stock threshold, per warehouse and sku.
#[utoipa::path(get, path = "/stock", tag = "dashboard",
    params(("threshold" = Option<i64>, Query, description = "Default `inventory.low_stock_threshold`")),
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: redirect to `/login`"),
        (status = 503, description = "The store is unavailable", body = String, content_type = "text/html"),
    ))]
#[allow(dead_code)]
fn dashboard_stock() {}

/// KPI tiles and charts (inline SVG).
#[utoipa::path(get, path = "/kpis", tag = "dashboard",
    params(
        ("from" = Option<String>, Query, description = "As in `GET /api/kpis`"),
        ("to" = Option<String>, Query, description = "As in `GET /api/kpis`"),
        ("channel" = Option<String>, Query, description = "As in `GET /api/kpis`"),
        ("warehouse" = Option<String>, Query, description = "As in `GET /api/kpis`"),
    ),
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: redirect to `/login`"),
        (status = 400, description = "A bad range, named on the page", body = String, content_type = "text/html"),
        (status = 503, description = "The store is unavailable", body = String, content_type = "text/html"),
    ))]
#[allow(dead_code)]
fn dashboard_kpis() {}
