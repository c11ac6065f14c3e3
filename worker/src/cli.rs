//! The command line: `orderhub run|migrate|orders|jobs|channels|tokens|normalize|sandbox|demo|bench|bench-list`.

use crate::settings;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand, ValueEnum};
use orderhub_core::store::{NoteRefusal, OrderCursor, OrderFilter, OrderSort, Store};
use sea_orm::DbErr;
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "orderhub",
    version,
    about = "Multichannel order hub: sync, route, ship, track"
)]
pub struct Cli {
    /// Configuration file layered over config/default.toml.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the worker and the HTTP server.
    Run,
    /// Create or upgrade the database schema.
    Migrate,
    /// Look at stored orders.
    #[command(subcommand)]
    Orders(OrdersCommand),
    /// Look at and steer queued jobs.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Every channel's sync health: state (ok, failing, auth_failed), lag, last error.
    Channels,
    /// Sellers' API tokens: create (printed once, stored only as a hash),
    /// list, revoke.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Stock levels: import a CSV (or a stock count), list, low-stock alerts.
    #[command(subcommand)]
    Stock(StockCommand),
    /// Returns (RMA): create for lines of a delivered order, list, show, buy
    /// the return label, receive (restock or damaged), record the refund.
    #[command(subcommand)]
    Returns(ReturnsCommand),
    /// Fulfillment KPIs of the orders placed in a range, in total, per
    /// channel and per warehouse (what `GET /api/kpis` answers), as a table.
    Kpis {
        /// Orders placed at or after this time (RFC 3339). Default: 30 days before --to.
        #[arg(long)]
        from: Option<String>,
        /// Orders placed strictly before this time (RFC 3339). Default: now.
        #[arg(long)]
        to: Option<String>,
        /// Only this channel's orders.
        #[arg(long)]
        channel: Option<String>,
        /// Only orders with a shipment from this warehouse.
        #[arg(long)]
        warehouse: Option<String>,
        /// Print the JSON `GET /api/kpis` answers instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Buy labels in a batch, void one.
    #[command(subcommand)]
    Labels(LabelsCommand),
    /// A warehouse's pick list: the shipments ready there, summed per sku in
    /// bin order (what `GET /api/warehouses/{id}/picklist` answers).
    Picklist {
        #[arg(long)]
        warehouse: String,
        /// `csv` (default), `pdf` or `json`.
        #[arg(long, default_value = "csv")]
        format: String,
        /// Write here instead of standard output (a PDF needs it).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Only these shipments (comma-separated ids).
        #[arg(long)]
        shipments: Option<String>,
    },
    /// Print what orderhub makes of one raw order payload, as JSON.
    Normalize {
        /// Channel kind the payload comes from (shopify, woocommerce, ecwid, ebay).
        #[arg(long)]
        channel: String,
        /// The payload file (`-` for standard input).
        file: PathBuf,
    },
    /// Run a channel's sandbox on its own.
    Sandbox {
        /// Which sandbox (a marketplace kind such as shopify, woocommerce, ecwid, ebay; or easypost).
        kind: String,
        #[arg(long, default_value = "127.0.0.1:8701")]
        listen: String,
        /// Orders to seed at start.
        #[arg(long, default_value_t = 50)]
        orders: u32,
    },
    /// Sandboxes plus the worker on a temporary SQLite file, end to end.
    Demo {
        #[arg(long, default_value_t = 200)]
        orders: u32,
        /// Use this database instead of a temporary SQLite file (e.g. a Postgres URL).
        #[arg(long)]
        database: Option<String>,
    },
    /// orderhub's figures against their baselines in one run (bare apalis
    /// queue, end to end poll → tracking pushed in worker processes, idle
    /// latency, normalize vs serde_json, webhook ingest vs bare axum with wrk,
    /// RSS), as one table with the targets.
    Bench {
        #[arg(long, default_value_t = 2000)]
        orders: u32,
        /// A PostgreSQL URL (or ORDERHUB_BENCH_PG): the PostgreSQL rows run
        /// in fresh databases created next to it.
        #[arg(long)]
        database: Option<String>,
        /// Worker processes of the PostgreSQL scale-out row.
        #[arg(long, default_value_t = 4)]
        processes: usize,
        /// Idle-latency samples of each kind.
        #[arg(long, default_value_t = 50)]
        samples: usize,
        /// Done jobs in the queue table for the second queue measurement.
        #[arg(long, default_value_t = 100_000)]
        queue_fill: u64,
        /// Seconds wrk loads each ingest URL.
        #[arg(long, default_value_t = 5)]
        wrk_secs: u64,
        /// Skip the wrk (webhook ingest) rows.
        #[arg(long)]
        no_wrk: bool,
    },
    /// Measure the order list's response time (p50, p99) at N orders with
    /// wrk from a second process, against a bare handler of the same server.
    BenchList {
        #[arg(long, default_value_t = 100_000)]
        orders: u32,
        /// Use this database instead of a temporary SQLite file (e.g. a Postgres URL).
        #[arg(long)]
        database: Option<String>,
        /// How long wrk loads each URL.
        #[arg(long, default_value = "10s")]
        duration: String,
        /// wrk's open connections.
        #[arg(long, default_value_t = 8)]
        connections: u32,
        /// Drop the order-list indexes (migration 000009) first: the list before them.
        #[arg(long)]
        without_indexes: bool,
    },
}

#[derive(Subcommand)]
enum ReturnsCommand {
    /// Request a return of lines of a delivered order; prints the RMA.
    Create {
        #[arg(long)]
        order: i64,
        /// `SKU:QTY:REASON`, REASON one of damaged, wrong_item,
        /// not_as_described, no_longer_needed, other. Repeat per sku.
        #[arg(long = "line", required = true)]
        lines: Vec<String>,
        /// Free text about the whole return.
        #[arg(long)]
        reason: Option<String>,
        #[arg(long, default_value = "cli")]
        author: String,
        /// Buy the return label right away.
        #[arg(long)]
        label: bool,
    },
    /// Returns, newest first.
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        order: Option<i64>,
        #[arg(long, default_value_t = 100)]
        limit: u64,
        /// Print the JSON `GET /api/returns` answers.
        #[arg(long)]
        json: bool,
    },
    /// One return as JSON.
    Show { id: i64 },
    /// Buy the return label now (exactly once; asking again buys nothing).
    Label { id: i64 },
    /// Record the warehouse's receipt: `SKU:QTY:restock|damaged` per line.
    Receive {
        id: i64,
        #[arg(long = "line", required = true)]
        lines: Vec<String>,
        #[arg(long, default_value = "cli")]
        author: String,
    },
    /// Record the refund status (none, pending, refunded, declined).
    Refund {
        id: i64,
        #[arg(long)]
        status: String,
        /// Exact decimal in the order's currency (`19.99`).
        #[arg(long)]
        amount: Option<String>,
        #[arg(long, default_value = "cli")]
        author: String,
    },
}

#[derive(Subcommand)]
enum StockCommand {
    /// Set quantities on hand from a CSV with the header `warehouse,sku,on_hand`
    /// (then optionally `bin` and/or `barcode`: the sku's GTIN/UPC/EAN).
    /// Every bad row is reported with its line number, and then nothing is applied.
    Import {
        file: PathBuf,
        /// The file is a stock count (audit): the difference from what was on
        /// hand is recorded per sku.
        #[arg(long)]
        count: bool,
        /// Who counted (with --count).
        #[arg(long, default_value = "import")]
        counted_by: String,
    },
    /// Stock levels: on hand, reserved, safety, available, threshold.
    List {
        #[arg(long)]
        warehouse: Option<String>,
        /// Only skus at or below their low-stock threshold.
        #[arg(long)]
        low: bool,
    },
    /// Low-stock alerts (open ones; --all for cleared ones too).
    Alerts {
        #[arg(long)]
        all: bool,
    },
}

#[derive(Subcommand)]
enum TokensCommand {
    /// Create a token for one seller; it sees that seller's data only.
    Create {
        /// The seller (as in the channels' and warehouses' `seller`).
        #[arg(long)]
        seller: String,
        /// What the token is for (e.g. `dashboard`, `erp-sync`).
        #[arg(long, default_value = "api")]
        name: String,
    },
    /// List tokens (never the tokens themselves: their first characters).
    List {
        #[arg(long)]
        seller: Option<String>,
    },
    /// Revoke a token by its id; requests with it get 401 from then on.
    Revoke { id: i64 },
}

#[derive(Subcommand)]
enum LabelsCommand {
    /// Buy labels for many shipments at once; prints one line per shipment
    /// and writes the PDF labels merged into one file.
    Buy {
        /// Every shipment waiting for a label.
        #[arg(long)]
        all_ready: bool,
        /// Only this warehouse's shipments (with --all-ready).
        #[arg(long)]
        warehouse: Option<String>,
        /// These shipments (comma-separated ids).
        #[arg(long, value_delimiter = ',')]
        ids: Vec<i64>,
        #[arg(long, default_value_t = 1000)]
        limit: u64,
        /// Where to write the merged PDF of the labels bought.
        #[arg(long, default_value = "labels.pdf")]
        out: PathBuf,
    },
    /// Void a shipment's label (not yet picked up) through the carrier.
    Void { shipment_id: i64 },
}

#[derive(Subcommand)]
enum JobsCommand {
    /// List jobs, newest first.
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        queue: Option<String>,
        #[arg(long)]
        channel: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Show one job with its attempts and last result.
    Show { id: String },
    /// Make a failed or cancelled job due now, with fresh attempts.
    Retry { id: String },
    /// Cancel a pending or failed job.
    Cancel { id: String },
}

#[derive(Subcommand)]
enum OrdersCommand {
    /// List orders, one page (`--cursor` continues where a page ended).
    List {
        #[command(flatten)]
        filters: OrderQuery,
        /// Continue after this page (the `next page:` cursor printed before).
        #[arg(long)]
        cursor: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Write every order the filters match as CSV (the same CSV as `GET /api/orders.csv`).
    Export {
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        filters: OrderQuery,
    },
    /// Show one order with its lines, shipments and timeline (JSON, as
    /// `GET /api/orders/{id}` answers).
    Show { id: i64 },
    /// Leave an internal note on an order (it joins the order's timeline).
    Note {
        id: i64,
        /// Who writes the note (shown as `staff:<author>`).
        #[arg(long)]
        author: String,
        /// The note, 1 to 2000 characters.
        text: String,
    },
}

/// The filters and sort of an order list as text, the way the CLI flags and
/// the API's query parameters (`GET /api/orders`, `/api/orders.csv`) spell
/// them; [`OrderQuery::to_filter`] checks them once for both.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct OrderQuery {
    /// Only this channel's orders (the channel id).
    #[arg(long)]
    pub channel: Option<String>,
    /// Only orders in this status (new, routed, ...).
    #[arg(long)]
    pub status: Option<String>,
    /// Only this payment status (pending, authorized, paid, partially_paid, partially_refunded, refunded, voided, unknown).
    #[arg(long)]
    pub payment_status: Option<String>,
    /// Only this fulfillment status (unfulfilled, partially_fulfilled, fulfilled, restocked, unknown).
    #[arg(long)]
    pub fulfillment_status: Option<String>,
    /// Placed at or after this RFC 3339 time.
    #[arg(long)]
    pub placed_from: Option<String>,
    /// Placed before this RFC 3339 time.
    #[arg(long)]
    pub placed_to: Option<String>,
    /// Only orders with a shipment from this warehouse.
    #[arg(long)]
    pub warehouse: Option<String>,
    /// Text in the order number, external id, customer name or email, or a line's sku (case-insensitive).
    #[arg(long)]
    pub q: Option<String>,
    /// id (default), placed_at, -placed_at, total or -total.
    #[arg(long)]
    pub sort: Option<String>,
}

impl OrderQuery {
    /// The store filter, or a message naming the first bad parameter.
    pub fn to_filter(&self) -> Result<OrderFilter, String> {
        fn text(name: &str, v: &Option<String>) -> Result<Option<String>, String> {
            match v {
                Some(v) if v.contains('\0') => Err(format!("{name} must not contain NUL")),
                _ => Ok(v.clone()),
            }
        }
        fn parsed<T: std::str::FromStr<Err = String>>(
            name: &str,
            v: &Option<String>,
        ) -> Result<Option<T>, String> {
            v.as_deref()
                .map(|v| v.parse::<T>().map_err(|e| format!("{name}: {e}")))
                .transpose()
        }
        fn time(name: &str, v: &Option<String>) -> Result<Option<DateTime<Utc>>, String> {
            let Some(v) = v else { return Ok(None) };
            let parse = |v: &str| chrono::DateTime::parse_from_rfc3339(v.trim());
            // An unescaped `+` of an offset arrives in a query string as a space.
            parse(v)
                .or_else(|e| parse(&v.replace(' ', "+")).map_err(|_| e))
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|_| {
                    format!("{name} must be an RFC 3339 time such as 2025-01-31T00:00:00Z")
                })
        }
        Ok(OrderFilter {
            channel_id: text("channel", &self.channel)?,
            status: parsed("status", &self.status)?,
            payment_status: parsed("payment_status", &self.payment_status)?,
            fulfillment_status: parsed("fulfillment_status", &self.fulfillment_status)?,
            placed_from: time("placed_from", &self.placed_from)?,
            placed_to: time("placed_to", &self.placed_to)?,
            warehouse: text("warehouse", &self.warehouse)?,
            q: text("q", &self.q)?,
            sort: parsed::<OrderSort>("sort", &self.sort)?.unwrap_or_default(),
            ..Default::default()
        })
    }
}

/// The CSV of an order list, shared by `orderhub orders export` and
/// `GET /api/orders.csv`: a header row, then one row per order, the whole
/// filtered list read in keyset pages of [`OrderCsv::PAGE`] (one query for
/// the orders and one for their lines per page).
pub struct OrderCsv {
    filter: OrderFilter,
    header_written: bool,
    done: bool,
}

impl OrderCsv {
    pub const PAGE: u64 = 500;
    pub const COLUMNS: [&'static str; 15] = [
        "id",
        "channel",
        "external_id",
        "number",
        "status",
        "payment_status",
        "fulfillment_status",
        "placed_at",
        "currency",
        "total",
        "customer_name",
        "customer_email",
        "ship_to_country",
        "lines",
        "skus",
    ];

    pub fn new(mut filter: OrderFilter) -> OrderCsv {
        filter.limit = Self::PAGE;
        OrderCsv {
            filter,
            header_written: false,
            done: false,
        }
    }

    /// The next piece of CSV text (the first one holds the header, even for
    /// an empty list); `None` once the list is done.
    pub async fn next_chunk(&mut self, store: &Store) -> Result<Option<Vec<u8>>, DbErr> {
        if self.done {
            return Ok(None);
        }
        let page = store.order_page(&self.filter).await?;
        let ids: Vec<i64> = page.rows.iter().map(|o| o.id).collect();
        let skus = store.order_line_skus(&ids).await?;
        let mut w = csv::Writer::from_writer(Vec::with_capacity(page.rows.len() * 160 + 200));
        if !self.header_written {
            w.write_record(Self::COLUMNS).map_err(csv_err)?;
            self.header_written = true;
        }
        write_order_rows(&mut w, &page.rows, &skus).map_err(csv_err)?;
        match page.next_cursor {
            Some(c) => self.filter.cursor = Some(c),
            None => self.done = true,
        }
        w.into_inner()
            .map(Some)
            .map_err(|e| DbErr::Custom(format!("csv: {e}")))
    }
}

fn csv_err(e: csv::Error) -> DbErr {
    DbErr::Custom(format!("csv: {e}"))
}

/// One CSV row per order, in [`OrderCsv::COLUMNS`] order. Free text that a
/// spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) is
/// prefixed with `'`.
pub fn write_order_rows<W: std::io::Write>(
    w: &mut csv::Writer<W>,
    rows: &[orderhub_core::store::order::Model],
    skus: &HashMap<i64, Vec<Option<String>>>,
) -> csv::Result<()> {
    fn cell(v: &str) -> Cow<'_, str> {
        if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            Cow::Owned(format!("'{v}"))
        } else {
            Cow::Borrowed(v)
        }
    }
    for o in rows {
        let lines = skus.get(&o.id).map(Vec::as_slice).unwrap_or_default();
        let sku_list: Vec<&str> = lines.iter().filter_map(|s| s.as_deref()).collect();
        let country = o
            .ship_to
            .as_deref()
            .and_then(|j| serde_json::from_str::<orderhub_core::Address>(j).ok())
            .and_then(|a| a.country)
            .unwrap_or_default();
        let id = o.id.to_string();
        let placed_at = o
            .placed_at
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        let line_count = lines.len().to_string();
        let skus_joined = sku_list.join(";");
        w.write_record([
            id.as_str(),
            &cell(&o.channel_id),
            &cell(&o.external_id),
            &cell(o.number.as_deref().unwrap_or_default()),
            &o.status,
            &o.payment_status,
            &o.fulfillment_status,
            &placed_at,
            &o.currency,
            &o.total,
            &cell(o.customer_name.as_deref().unwrap_or_default()),
            &cell(o.customer_email.as_deref().unwrap_or_default()),
            &cell(&country),
            &line_count,
            &cell(&skus_joined),
        ])?;
    }
    Ok(())
}

/// Logs go to stderr, filtered by `ORDERHUB_LOG` (default `info`; the demo
/// and the bench default to `warn` so their progress and figures stay readable).
fn init_tracing(format: LogFormat, quiet: bool) {
    let default = if quiet {
        "warn,sqlx=warn,sea_orm=warn,apalis=warn"
    } else {
        "info,sqlx=warn,sea_orm=warn,apalis=warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ORDERHUB_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let quiet = matches!(
        cli.command,
        Command::Demo { .. } | Command::Bench { .. } | Command::BenchList { .. }
    );
    init_tracing(cli.log_format, quiet);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Load and validate config, or print every problem and stop.
fn load_settings(file: Option<&std::path::Path>) -> Result<settings::Loaded, ExitCode> {
    settings::load(file).map_err(|problems| {
        eprintln!("configuration has {} problem(s):", problems.len());
        for p in problems {
            eprintln!("  - {p}");
        }
        ExitCode::from(2)
    })
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run => {
            let loaded = match load_settings(cli.config.as_deref()) {
                Ok(l) => l,
                Err(code) => return Ok(code),
            };
            let listen = loaded.settings.server.listen.clone();
            let app = crate::app::App::start(loaded).await?;
            let listener = tokio::net::TcpListener::bind(&listen).await?;
            tracing::info!(listen = %listener.local_addr()?, channels = app.channels.len(), "orderhub running");
            crate::run(app, listener).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            let loaded = match load_settings(cli.config.as_deref()) {
                Ok(l) => l,
                Err(code) => return Ok(code),
            };
            let app = crate::app::App::start(loaded).await?;
            println!("database is up to date ({:?})", app.store.backend());
            Ok(ExitCode::SUCCESS)
        }
        Command::Orders(cmd) => {
            let loaded = match load_settings(cli.config.as_deref()) {
                Ok(l) => l,
                Err(code) => return Ok(code),
            };
            let s = &loaded.settings.database;
            let store = Store::connect(&s.url, s.max_connections).await?;
            crate::migrate::run(&store).await?;
            orders(&store, cmd).await
        }
        Command::Channels => {
            let loaded = match load_settings(cli.config.as_deref()) {
                Ok(l) => l,
                Err(code) => return Ok(code),
            };
            let s = &loaded.settings.database;
            let store = Store::connect(&s.url, s.max_connections).await?;
            crate::migrate::run(&store).await?;
            channels(&store).await
        }
        Command::Tokens(cmd) => {
            let loaded = match load_settings(cli.config.as_deref()) {
                Ok(l) => l,
                Err(code) => return Ok(code),
            };
            let s = &loaded.settings.database;
            let store = Store::connect(&s.url, s.max_connections).await?;
            crate::migrate::run(&store).await?;
            tokens(&store, cmd).await
        }
        Command::Stock(cmd) => {
            let loaded = match load_settings(cli.config.as_deref()) {
                Ok(l) => l,
                Err(code) => return Ok(code),
            };
            let app = crate::app::App::start(loaded).await?;
            stock(&app, cmd).await
        }
        Command::Returns(cmd) => {
            let loaded = match load_settings(cli.config.as_deref()) {
                Ok(l) => l,
                Err(code) => return Ok(code),
            };
            let app = crate::app::App::start(loaded).await?;
            returns(&app, cmd).await
        }
        Command::Jobs(cmd) => {
            let loaded = match load_settings(cli.config.as_deref()) {
                Ok(l) => l,
                Err(code) => return Ok(code),
            };
            let app = crate::app::App::start(loaded).await?;
            jobs(&app.store, cmd).await
        }
        Command::Labels(cmd) => {
            let loaded = match load_settings(cli.config.as_deref()) {
                Ok(l) => l,
                Err(code) => return Ok(code),
            };
            let app = crate::app::App::start(loaded).await?;
            labels(&app, cmd).await
        }
        Command::Picklist {
            warehouse,
            format,
            out,
            shipments,
        } => {
            let loaded = match load_settings(cli.config.as_deref()) {
                Ok(l) => l,
                Err(code) => return Ok(code),
            };
            let app = crate::app::App::start(loaded).await?;
            crate::server::floor::picklist_cli(&app, &warehouse, &format, out, shipments).await
        }
        Command::Kpis {
            from,
            to,
            channel,
            warehouse,
            json,
        } => {
            let query = match orderhub_core::store::KpiQuery::parse(
                from.as_deref(),
                to.as_deref(),
                channel.as_deref(),
                warehouse.as_deref(),
                Utc::now(),
            ) {
                Ok(q) => q,
                Err(e) => {
                    eprintln!("{e}");
                    return Ok(ExitCode::from(2));
                }
            };
            let loaded = match load_settings(cli.config.as_deref()) {
                Ok(l) => l,
                Err(code) => return Ok(code),
            };
            let s = &loaded.settings.database;
            let store = Store::connect(&s.url, s.max_connections).await?;
            crate::migrate::run(&store).await?;
            let kpis = store.kpis(&query, &loaded.settings.shipping).await?;
            kpis_table(&kpis, json)
        }
        Command::Normalize { channel, file } => normalize(&channel, &file),
        Command::Sandbox {
            kind,
            listen,
            orders,
        } => crate::demo::run_sandbox(&kind, &listen, orders).await,
        Command::Demo { orders, database } => crate::demo::run(orders, database).await,
        Command::Bench {
            orders,
            database,
            processes,
            samples,
            queue_fill,
            wrk_secs,
            no_wrk,
        } => {
            crate::bench::run(crate::bench::Options {
                orders,
                database,
                processes,
                samples,
                queue_fill,
                wrk_secs,
                no_wrk,
            })
            .await
        }
        Command::BenchList {
            orders,
            database,
            duration,
            connections,
            without_indexes,
        } => {
            crate::bench_list::run(crate::bench_list::Options {
                orders,
                database,
                duration,
                connections,
                without_indexes,
            })
            .await
        }
    }
}

async fn channels(store: &Store) -> anyhow::Result<ExitCode> {
    let list = store.channel_statuses(None).await?;
    println!(
        "{:<16} {:<12} {:<12} {:>8} {:>8}  last error",
        "channel", "kind", "state", "lag s", "orders"
    );
    let mut failing = false;
    for c in list {
        failing |= c.state != "ok" && c.state != "never_synced";
        println!(
            "{:<16} {:<12} {:<12} {:>8} {:>8}  {}",
            c.id,
            c.kind,
            c.state,
            c.lag_seconds.map_or("-".into(), |l| l.to_string()),
            c.orders_synced,
            c.last_error.as_deref().unwrap_or("")
        );
    }
    // A script can alert on the exit code.
    Ok(if failing {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// A new API token: `oh_` and 32 random bytes in hex.
pub fn new_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("oh_{}", hex::encode(bytes))
}

async fn tokens(store: &Store, cmd: TokensCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TokensCommand::Create { seller, name } => {
            let bad =
                |v: &str| v.trim().is_empty() || v.len() > 100 || v.chars().any(char::is_control);
            if bad(&seller) || bad(&name) {
                eprintln!("seller and name must be 1 to 100 characters without control characters");
                return Ok(ExitCode::from(2));
            }
            let token = new_token();
            let id = store.create_token(&seller, &name, &token).await?;
            eprintln!("token {id} for seller `{seller}` ({name}); shown once, keep it safe:");
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
        TokensCommand::List { seller } => {
            println!(
                "{:>5}  {:<16} {:<16} {:<14} {:<26} revoked",
                "id", "seller", "name", "prefix", "created"
            );
            for t in store.tokens(seller.as_deref()).await? {
                println!(
                    "{:>5}  {:<16} {:<16} {:<14} {:<26} {}",
                    t.id,
                    t.seller_id,
                    t.name,
                    t.prefix,
                    t.created_at.to_rfc3339(),
                    t.revoked_at
                        .map(|r| r.to_rfc3339())
                        .unwrap_or_else(|| "-".into())
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        TokensCommand::Revoke { id } => {
            if store.revoke_token(id).await? {
                println!("token {id} revoked");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("no live token {id}");
                Ok(ExitCode::FAILURE)
            }
        }
    }
}

/// `orderhub returns …`: exit 0 when done, 1 when the store refused (the
/// message says why), 2 for a malformed argument.
async fn returns(app: &crate::app::App, cmd: ReturnsCommand) -> anyhow::Result<ExitCode> {
    use orderhub_core::store::returns::{parse_line_spec, ReturnRefusal};
    use orderhub_core::store::{NewReturn, NewReturnLine, ReceiptLine, ReturnFilter, ReturnView};
    let refused = |r: ReturnRefusal| {
        match r {
            ReturnRefusal::NotFound => eprintln!("no such order or return"),
            ReturnRefusal::Invalid(m) | ReturnRefusal::Conflict(m) => eprintln!("{m}"),
        }
        Ok(ExitCode::from(1))
    };
    let print_one = |v: &ReturnView| {
        println!(
            "{}\t{}\torder {}\t{}\t{}",
            v.id,
            v.rma,
            v.order_id,
            v.status,
            v.lines
                .iter()
                .map(|l| format!("{}×{} ({})", l.sku, l.quantity, l.reason_code))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let specs = |lines: &[String]| -> Result<Vec<(String, i64, String)>, ExitCode> {
        lines
            .iter()
            .map(|l| parse_line_spec(l))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                eprintln!("{e}");
                ExitCode::from(2)
            })
    };
    match cmd {
        ReturnsCommand::Create {
            order,
            lines,
            reason,
            author,
            label,
        } => {
            let lines = match specs(&lines) {
                Ok(l) => l,
                Err(code) => return Ok(code),
            };
            let req = NewReturn {
                lines: lines
                    .into_iter()
                    .map(|(sku, quantity, reason_code)| NewReturnLine {
                        sku,
                        quantity,
                        reason_code,
                        reason_text: None,
                    })
                    .collect(),
                reason,
                created_by: author,
            };
            let v = match app.store.create_return(order, None, &req).await? {
                Ok(v) => v,
                Err(r) => return refused(r),
            };
            print_one(&v);
            if label {
                if let Err(e) = crate::jobs::buy_return_label_once(app, v.id).await {
                    if let crate::jobs::StepError::Permanent(reason) = &e {
                        app.store.return_exception(v.id, reason).await?;
                    }
                    eprintln!("return label not bought: {e}");
                    return Ok(ExitCode::from(1));
                }
                if let Some(v) = app.store.get_return(v.id).await? {
                    print_one(&v);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ReturnsCommand::List {
            status,
            order,
            limit,
            json,
        } => {
            let list = app
                .store
                .list_returns(&ReturnFilter {
                    seller: None,
                    status,
                    order_id: order,
                    limit,
                })
                .await?;
            if json {
                println!("{}", serde_json::json!({ "returns": list }));
            } else {
                println!("id\trma\torder\tstatus\tlines");
                for v in &list {
                    print_one(v);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ReturnsCommand::Show { id } => match app.store.get_return(id).await? {
            Some(v) => {
                println!("{}", serde_json::to_string_pretty(&v)?);
                Ok(ExitCode::SUCCESS)
            }
            None => refused(ReturnRefusal::NotFound),
        },
        ReturnsCommand::Label { id } => {
            if let Err(r) = app.store.prepare_return_label(id).await? {
                return refused(r);
            }
            if let Err(e) = crate::jobs::buy_return_label_once(app, id).await {
                if let crate::jobs::StepError::Permanent(reason) = &e {
                    app.store.return_exception(id, reason).await?;
                }
                eprintln!("return label not bought: {e}");
                return Ok(ExitCode::from(1));
            }
            if let Some(v) = app.store.get_return(id).await? {
                print_one(&v);
                if let Some(l) = &v.label {
                    println!(
                        "label {}\ttracking {}",
                        l.label_url.as_deref().unwrap_or("-"),
                        l.tracking_code.as_deref().unwrap_or("-")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ReturnsCommand::Receive { id, lines, author } => {
            let lines = match specs(&lines) {
                Ok(l) => l,
                Err(code) => return Ok(code),
            };
            let receipt: Vec<ReceiptLine> = lines
                .into_iter()
                .map(|(sku, quantity, condition)| ReceiptLine {
                    sku,
                    quantity,
                    condition,
                })
                .collect();
            match app
                .store
                .receive_return(id, None, &receipt, &author, &app.settings.inventory)
                .await?
            {
                Ok(v) => {
                    print_one(&v);
                    Ok(ExitCode::SUCCESS)
                }
                Err(r) => refused(r),
            }
        }
        ReturnsCommand::Refund {
            id,
            status,
            amount,
            author,
        } => match app
            .store
            .record_refund(id, None, &status, amount.as_deref(), &author)
            .await?
        {
            Ok(v) => {
                println!(
                    "{}\t{}\trefund {} {} {}",
                    v.id,
                    v.rma,
                    v.refund.status,
                    v.refund.amount.as_deref().unwrap_or("-"),
                    v.refund.currency.as_deref().unwrap_or("")
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(r) => refused(r),
        },
    }
}

async fn stock(app: &crate::app::App, cmd: StockCommand) -> anyhow::Result<ExitCode> {
    use orderhub_core::store::StockFilter;
    let inventory = &app.settings.inventory;
    match cmd {
        StockCommand::Import {
            file,
            count,
            counted_by,
        } => {
            if let Err(e) = crate::server::stock::check_text("counted_by", &counted_by) {
                eprintln!("{e}");
                return Ok(ExitCode::from(2));
            }
            let data = match std::fs::read(&file) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("{}: {e}", file.display());
                    return Ok(ExitCode::from(2));
                }
            };
            let known: std::collections::BTreeSet<String> = app
                .store
                .stock_warehouses(None)
                .await?
                .into_iter()
                .map(|w| w.id)
                .collect();
            let (lines, bins, barcodes) =
                match crate::server::stock::parse_stock_csv_full(&data, &known) {
                    Ok(l) => l,
                    Err(problems) => {
                        eprintln!(
                            "{}: {} bad row(s); nothing applied:",
                            file.display(),
                            problems.len()
                        );
                        for p in problems {
                            eprintln!("  {p}");
                        }
                        return Ok(ExitCode::FAILURE);
                    }
                };
            // A barcode already belonging to another of the seller's skus
            // is a bad row too: checked before anything is applied.
            let mut coded = Vec::new();
            let mut taken = Vec::new();
            for b in &barcodes {
                let Some(w) = app.store.warehouse(&b.warehouse_id).await? else {
                    continue;
                };
                if let Some(other) = app.store.sku_of_barcode(&w.seller_id, &b.barcode).await? {
                    if other != b.sku {
                        taken.push(format!(
                            "barcode `{}` of `{}` already belongs to sku `{other}`",
                            b.barcode, b.sku
                        ));
                        continue;
                    }
                }
                coded.push((w.seller_id, b));
            }
            if !taken.is_empty() {
                eprintln!(
                    "{}: {} bad row(s); nothing applied:",
                    file.display(),
                    taken.len()
                );
                for p in taken {
                    eprintln!("  {p}");
                }
                return Ok(ExitCode::FAILURE);
            }
            let by = count.then_some(counted_by.as_str());
            let counts = app.store.apply_stock_lines(&lines, by, inventory).await?;
            app.store.set_bins(&bins).await?;
            for (seller, b) in &coded {
                if let Ok(Err(t)) = orderhub_core::store::Store::add_sku_barcode(
                    app.store.db(),
                    seller,
                    &b.sku,
                    &b.barcode,
                    "csv",
                )
                .await
                {
                    eprintln!("  {t}");
                }
            }
            if count {
                println!(
                    "{:<12} {:<20} {:>9} {:>9} {:>10}",
                    "warehouse", "sku", "expected", "counted", "difference"
                );
                for c in &counts {
                    println!(
                        "{:<12} {:<20} {:>9} {:>9} {:>+10}",
                        c.warehouse_id, c.sku, c.expected, c.counted, c.difference
                    );
                }
                println!("stock count of {} sku(s) recorded", counts.len());
            } else {
                println!("{} stock level(s) set", lines.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        StockCommand::List { warehouse, low } => {
            let rows = app
                .store
                .stock_rows(
                    &StockFilter {
                        warehouse,
                        low,
                        ..Default::default()
                    },
                    inventory,
                )
                .await?;
            println!(
                "{:<12} {:<20} {:>9} {:>9} {:>7} {:>10} {:>10}",
                "warehouse", "sku", "on_hand", "reserved", "safety", "available", "threshold"
            );
            for r in rows {
                println!(
                    "{:<12} {:<20} {:>9} {:>9} {:>7} {:>10} {:>10}{}",
                    r.warehouse_id,
                    r.sku,
                    r.on_hand,
                    r.reserved,
                    r.safety,
                    r.available,
                    r.threshold,
                    if r.low { "  LOW" } else { "" }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        StockCommand::Alerts { all } => {
            let alerts = app
                .store
                .stock_alerts(None, None, (!all).then_some(true), 1000)
                .await?;
            println!(
                "{:>5}  {:<12} {:<20} {:>10} {:>10} {:<26} cleared",
                "id", "warehouse", "sku", "available", "threshold", "raised"
            );
            for a in alerts {
                println!(
                    "{:>5}  {:<12} {:<20} {:>10} {:>10} {:<26} {}",
                    a.id,
                    a.warehouse_id,
                    a.sku,
                    a.available,
                    a.threshold,
                    a.raised_at.to_rfc3339(),
                    a.cleared_at
                        .map(|t| t.to_rfc3339())
                        .unwrap_or_else(|| "-".into())
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn jobs(store: &Store, cmd: JobsCommand) -> anyhow::Result<ExitCode> {
    use crate::jobs_api;
    match cmd {
        JobsCommand::List {
            status,
            queue,
            channel,
            limit,
        } => {
            let rows = jobs_api::list(
                store,
                &jobs_api::JobFilter {
                    queue,
                    status,
                    channel,
                    seller: None,
                    limit,
                },
            )
            .await?;
            println!(
                "{:<28} {:<24} {:<8} {:>8}  args",
                "id", "queue", "status", "attempts"
            );
            for j in rows {
                println!(
                    "{:<28} {:<24} {:<8} {:>4}/{:<3}  {}",
                    j.id, j.queue, j.status, j.attempts, j.max_attempts, j.args
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        JobsCommand::Show { id } => match jobs_api::get(store, &id).await? {
            Some(j) => {
                println!("{}", serde_json::to_string_pretty(&j)?);
                Ok(ExitCode::SUCCESS)
            }
            None => {
                eprintln!("error: no job with id {id}");
                Ok(ExitCode::from(1))
            }
        },
        JobsCommand::Retry { id } | JobsCommand::Cancel { id }
            if jobs_api::get(store, &id).await?.is_none() =>
        {
            eprintln!("error: no job with id {id}");
            Ok(ExitCode::from(1))
        }
        JobsCommand::Retry { id } => report(jobs_api::retry(store, &id).await?, &id, "retried"),
        JobsCommand::Cancel { id } => report(jobs_api::cancel(store, &id).await?, &id, "cancelled"),
    }
}

async fn labels(app: &crate::app::App, cmd: LabelsCommand) -> anyhow::Result<ExitCode> {
    use crate::labels;
    match cmd {
        LabelsCommand::Buy {
            all_ready,
            warehouse,
            ids,
            limit,
            out,
        } => {
            if !all_ready && ids.is_empty() {
                eprintln!("error: give --all-ready or --ids");
                return Ok(ExitCode::from(2));
            }
            let req = labels::BatchRequest {
                shipment_ids: ids,
                all_ready,
                warehouse,
                limit: Some(limit),
            };
            let ids = labels::resolve(app, &req).await?;
            let report = labels::buy_batch(app, &ids).await;
            println!(
                "{:>8}  {:<10} {:<12} {:<8} {:<24} error",
                "shipment", "outcome", "account", "carrier", "tracking"
            );
            for i in &report.items {
                println!(
                    "{:>8}  {:<10} {:<12} {:<8} {:<24} {}",
                    i.shipment_id,
                    i.outcome,
                    i.carrier_account.as_deref().unwrap_or("-"),
                    i.carrier.as_deref().unwrap_or("-"),
                    i.tracking_code.as_deref().unwrap_or("-"),
                    i.error.as_deref().unwrap_or("")
                );
            }
            let secs = report.elapsed_ms as f64 / 1000.0;
            println!(
                "{} bought, {} failed (run again to retry), {} exceptions, {} skipped in {secs:.1} s ({:.1} labels/s)",
                report.bought,
                report.failed,
                report.exceptions,
                report.skipped,
                report.bought as f64 / secs.max(0.001)
            );
            let (pdf, left_out) = labels::merged_labels(app, &report.printable()).await?;
            if let Some(pdf) = pdf {
                std::fs::write(&out, pdf)?;
                println!("labels merged into {}", out.display());
            }
            for (id, why) in left_out {
                println!("not in the PDF: shipment {id}: {why}");
            }
            Ok(if report.failed + report.exceptions > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        LabelsCommand::Void { shipment_id } => match labels::void_now(app, shipment_id).await? {
            Err(refusal) => {
                eprintln!("error: shipment {shipment_id}: {refusal}");
                Ok(ExitCode::from(1))
            }
            Ok(labels::VoidNow::Answered(orderhub_connectors::VoidStatus::Rejected(reason))) => {
                eprintln!("error: the carrier refused: {reason}");
                Ok(ExitCode::from(1))
            }
            Ok(labels::VoidNow::Answered(status)) => {
                println!("shipment {shipment_id}: {status:?}");
                Ok(ExitCode::SUCCESS)
            }
            Ok(labels::VoidNow::Pending(e)) => {
                // Left `voiding`: a running worker's sweep asks again.
                eprintln!("error: the carrier could not be asked now ({e}); the worker retries");
                Ok(ExitCode::from(1))
            }
        },
    }
}

fn report(applied: bool, id: &str, what: &str) -> anyhow::Result<ExitCode> {
    if applied {
        println!("job {id} {what}");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("error: job {id} is not in a state that can be {what}");
        Ok(ExitCode::from(1))
    }
}

async fn orders(store: &Store, cmd: OrdersCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        OrdersCommand::List {
            filters,
            cursor,
            limit,
        } => {
            let mut filter = match filters.to_filter() {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            if let Some(c) = cursor {
                match OrderCursor::decode(&c, filter.sort) {
                    Ok(c) => filter.cursor = Some(c),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return Ok(ExitCode::from(2));
                    }
                }
            }
            filter.limit = limit;
            let page = store.order_page(&filter).await?;
            println!(
                "{:>6}  {:<14} {:<12} {:<10} {:<11} {:<10} {:<20} {:>10} {:<4}",
                "id",
                "channel",
                "external",
                "number",
                "status",
                "payment",
                "placed",
                "total",
                "cur"
            );
            for o in page.rows {
                println!(
                    "{:>6}  {:<14} {:<12} {:<10} {:<11} {:<10} {:<20} {:>10} {:<4}",
                    o.id,
                    o.channel_id,
                    o.external_id,
                    o.number.unwrap_or_default(),
                    o.status,
                    o.payment_status,
                    o.placed_at.format("%Y-%m-%dT%H:%M:%SZ"),
                    o.total,
                    o.currency
                );
            }
            if let Some(next) = page.next_cursor {
                eprintln!("next page: --cursor {}", next.encode());
            }
            Ok(ExitCode::SUCCESS)
        }
        OrdersCommand::Export { out, filters } => {
            let filter = match filters.to_filter() {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            let mut sink: Box<dyn std::io::Write> = match &out {
                Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let mut export = OrderCsv::new(filter);
            while let Some(chunk) = export.next_chunk(store).await? {
                sink.write_all(&chunk)?;
            }
            sink.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        OrdersCommand::Show { id } => match store.get_order(id).await? {
            Some(o) => {
                let mut v = serde_json::to_value(&o)?;
                v["shipments"] = serde_json::to_value(store.order_shipments(id).await?)?;
                v["timeline"] = serde_json::to_value(store.order_timeline(id).await?)?;
                println!("{}", serde_json::to_string_pretty(&v)?);
                Ok(ExitCode::SUCCESS)
            }
            None => {
                eprintln!("error: no order with id {id}");
                Ok(ExitCode::from(1))
            }
        },
        OrdersCommand::Note { id, author, text } => {
            match store.add_note(id, &author, &text).await? {
                Ok(entry) => {
                    println!(
                        "note {} added to order {id} by {} at {}",
                        entry.id,
                        entry.actor,
                        entry.at.to_rfc3339()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(NoteRefusal::Invalid(e)) => {
                    eprintln!("error: {e}");
                    Ok(ExitCode::from(2))
                }
                Err(NoteRefusal::NotFound) => {
                    eprintln!("error: no order with id {id}");
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

fn normalize(kind: &str, file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let Some(k) = orderhub_connectors::marketplace_kind(kind) else {
        let known: Vec<_> = orderhub_connectors::marketplace_kinds()
            .iter()
            .map(|k| k.kind)
            .collect();
        eprintln!(
            "error: unknown channel kind `{kind}` (known: {})",
            known.join(", ")
        );
        return Ok(ExitCode::from(2));
    };
    let raw = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(file)
    };
    let raw = match raw {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", file.display());
            return Ok(ExitCode::from(1));
        }
    };
    match (k.normalize)(&raw) {
        Ok(order) => {
            println!("{}", serde_json::to_string_pretty(&order)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: cannot normalize this {kind} order: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// `orderhub kpis`: one row for all matching orders, then one per channel and
/// one per warehouse.
fn kpis_table(k: &orderhub_core::store::Kpis, json: bool) -> anyhow::Result<ExitCode> {
    use orderhub_core::store::{DurationStats, Share};
    if json {
        println!("{}", serde_json::to_string_pretty(k)?);
        return Ok(ExitCode::SUCCESS);
    }
    fn secs(s: Option<i64>) -> String {
        match s {
            None => "-".into(),
            Some(s) if s < 0 => format!("{s}s"),
            Some(s) if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
            Some(s) if s < 86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
            Some(s) => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
        }
    }
    fn durations(d: &DurationStats) -> String {
        format!("{}/{} ({})", secs(d.median_secs), secs(d.p90_secs), d.count)
    }
    fn share(s: &Share) -> String {
        match s.rate {
            Some(r) => format!("{:.1}% ({}/{})", r * 100.0, s.matching, s.count),
            None => "- (0)".into(),
        }
    }
    fn cost(c: &std::collections::BTreeMap<String, String>) -> String {
        if c.is_empty() {
            return "-".into();
        }
        c.iter()
            .map(|(cur, amount)| format!("{amount} {cur}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
    println!(
        "orders placed from {} to {} (channel: {}, warehouse: {})",
        k.from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        k.to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        k.channel.as_deref().unwrap_or("all"),
        k.warehouse.as_deref().unwrap_or("all"),
    );
    let by_status: Vec<String> = k
        .orders
        .by_status
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    println!("by status: {}", by_status.join(", "));
    println!(
        "{:<24} {:>7}  {:<22} {:<22} {:<18} {:<18} {:<18}  labels cost",
        "group",
        "orders",
        "to label p50/p90 (n)",
        "to deliv. p50/p90 (n)",
        "on time",
        "accuracy",
        "fill rate"
    );
    let mut rows = vec![(
        "all".to_string(),
        k.orders.total,
        durations(&k.placed_to_label),
        durations(&k.placed_to_delivered),
        share(&k.on_time_rate),
        share(&k.accuracy),
        share(&k.fill_rate),
        cost(&k.labels_cost),
    )];
    for (kind, groups) in [("channel", &k.by_channel), ("warehouse", &k.by_warehouse)] {
        for g in groups {
            rows.push((
                format!("{kind} {}", g.id),
                g.orders.total,
                durations(&g.placed_to_label),
                durations(&g.placed_to_delivered),
                share(&g.on_time_rate),
                share(&g.accuracy),
                share(&g.fill_rate),
                cost(&g.labels_cost),
            ));
        }
    }
    for (name, orders, label, delivered, on_time, accuracy, fill, cost) in rows {
        println!(
            "{name:<24} {orders:>7}  {label:<22} {delivered:<22} {on_time:<18} {accuracy:<18} {fill:<18}  {cost}"
        );
    }
    Ok(ExitCode::SUCCESS)
}
