//! The command line: `orderhub run|migrate|orders|jobs|channels|normalize|sandbox|demo|bench`.

use crate::settings;
use clap::{Parser, Subcommand, ValueEnum};
use orderhub_core::store::{OrderFilter, Store};
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
    /// Buy labels in a batch, void one.
    #[command(subcommand)]
    Labels(LabelsCommand),
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
    /// Measure the sync rate against the bare queue's no-op rate, in one run.
    Bench {
        #[arg(long, default_value_t = 2000)]
        orders: u32,
        #[arg(long)]
        database: Option<String>,
    },
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
    /// List orders.
    List {
        #[arg(long)]
        channel: Option<String>,
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Show one order with its lines.
    Show { id: i64 },
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
    let quiet = matches!(cli.command, Command::Demo { .. } | Command::Bench { .. });
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
        Command::Normalize { channel, file } => normalize(&channel, &file),
        Command::Sandbox {
            kind,
            listen,
            orders,
        } => crate::demo::run_sandbox(&kind, &listen, orders).await,
        Command::Demo { orders, database } => crate::demo::run(orders, database).await,
        Command::Bench { orders, database } => crate::bench::run(orders, database).await,
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
        LabelsCommand::Void { shipment_id } => {
            if let Err(refusal) = app.store.begin_void(shipment_id).await? {
                eprintln!("error: shipment {shipment_id}: {refusal}");
                return Ok(ExitCode::from(1));
            }
            match crate::jobs::void_once(app, shipment_id).await {
                Ok(status) => {
                    println!("shipment {shipment_id}: {status:?}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(crate::jobs::StepError::Permanent(reason)) => {
                    app.store.void_refused(shipment_id, &reason).await?;
                    eprintln!("error: the carrier refused: {reason}");
                    Ok(ExitCode::from(1))
                }
                Err(e) => {
                    // Left `voiding`: a running worker's sweep asks again.
                    eprintln!(
                        "error: the carrier could not be asked now ({e}); the worker retries"
                    );
                    Ok(ExitCode::from(1))
                }
            }
        }
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
            channel,
            status,
            limit,
        } => {
            let status = match status.map(|s| s.parse()) {
                Some(Err(e)) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(2));
                }
                Some(Ok(s)) => Some(s),
                None => None,
            };
            let rows = store
                .list_orders(&OrderFilter {
                    channel_id: channel,
                    status,
                    limit,
                    ..Default::default()
                })
                .await?;
            println!(
                "{:>6}  {:<14} {:<12} {:<10} {:<11} {:>10} {:<4}",
                "id", "channel", "external", "number", "status", "total", "cur"
            );
            for o in rows {
                println!(
                    "{:>6}  {:<14} {:<12} {:<10} {:<11} {:>10} {:<4}",
                    o.id,
                    o.channel_id,
                    o.external_id,
                    o.number.unwrap_or_default(),
                    o.status,
                    o.total,
                    o.currency
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        OrdersCommand::Show { id } => match store.get_order(id).await? {
            Some(o) => {
                let mut v = serde_json::to_value(&o)?;
                v["shipments"] = serde_json::to_value(store.order_shipments(id).await?)?;
                println!("{}", serde_json::to_string_pretty(&v)?);
                Ok(ExitCode::SUCCESS)
            }
            None => {
                eprintln!("error: no order with id {id}");
                Ok(ExitCode::from(1))
            }
        },
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
