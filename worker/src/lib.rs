//! The `orderhub` binary's library: CLI, jobs, server and wiring from config.
//! Integration tests in `tests/` drive it in-process and as a process.

pub mod app;
pub mod bench;
pub mod bench_list;
pub mod budget;
pub mod cli;
pub mod demo;
pub mod email;
pub mod ingest_batch;
pub mod jobs;
pub mod jobs_api;
pub mod label_pdf;
pub mod labels;
pub mod migrate;
pub mod outbound;
pub mod packing_slip;
pub mod queue;
pub mod scheduler;
pub mod server;
pub mod settings;

use std::sync::Arc;

/// Run the worker (scheduler + job workers) and the HTTP server until the
/// process is stopped.
pub async fn run(app: Arc<app::App>, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    tokio::spawn(scheduler::run(app.clone()));
    let workers = tokio::spawn(queue::JobQueue::run_workers(app.clone()));
    let server = tokio::spawn(server::serve(app, listener));
    tokio::select! {
        r = workers => r??,
        r = server => r??,
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted, stopping"),
    }
    Ok(())
}
