//! The sandboxes' shared server: faults, stats, credentials and the
//! control routes (see the module docs of [`crate::sandbox`]).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Fault rates (each 0.0–1.0, all default 0) and where they apply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultConfig {
    /// Answer 429 with `Retry-After`.
    pub rate_429: f64,
    /// Answer 500, 502 or 503 with a body.
    pub rate_5xx: f64,
    /// Sleep longer than any client timeout (see `timeout_ms`), then answer normally.
    pub rate_timeout: f64,
    /// Do the work (a mutation is applied), then hang as long as `rate_timeout` does.
    pub rate_timeout_after_success: f64,
    /// Return one malformed item in a page (that response only; stored data stays good).
    pub rate_malformed: f64,
    /// Answer after `slow_ms`.
    pub rate_slow: f64,
    pub slow_ms: u64,
    /// Substrings of the request path the faults apply to; empty = every vendor path.
    pub paths: Vec<String>,
    /// Seed for a reproducible fault sequence.
    pub seed: Option<u64>,
    /// `Retry-After` seconds sent with injected 429s (default 2.0, as Shopify sends).
    pub retry_after_secs: Option<f64>,
    /// How long a timeout fault hangs (default 30 000 ms).
    pub timeout_ms: Option<u64>,
}

impl FaultConfig {
    pub fn retry_after(&self) -> f64 {
        self.retry_after_secs
            .filter(|s| s.is_finite() && *s >= 0.0)
            .unwrap_or(2.0)
    }
    pub fn hang(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.unwrap_or(30_000))
    }
    fn is_valid(&self) -> Result<(), String> {
        let rates = [
            ("rate_429", self.rate_429),
            ("rate_5xx", self.rate_5xx),
            ("rate_timeout", self.rate_timeout),
            (
                "rate_timeout_after_success",
                self.rate_timeout_after_success,
            ),
            ("rate_malformed", self.rate_malformed),
            ("rate_slow", self.rate_slow),
        ];
        let mut problems = Vec::new();
        for (name, r) in rates {
            if !(r.is_finite() && (0.0..=1.0).contains(&r)) {
                problems.push(format!("{name} must be between 0 and 1"));
            }
        }
        if rates.iter().map(|(_, r)| r.max(0.0)).sum::<f64>() > 1.0 + 1e-9 {
            problems.push("the rates add up to more than 1".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// One injected fault, decided per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    TooManyRequests {
        retry_after: Duration,
    },
    ServerError(u16),
    /// Hang for the duration, then answer (the client has given up by then).
    Timeout(Duration),
    /// Do the work, then hang for the duration.
    TimeoutAfterSuccess(Duration),
    Malformed,
    Slow(Duration),
}

impl Fault {
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::TooManyRequests { .. } => "429",
            Fault::ServerError(_) => "5xx",
            Fault::Timeout(_) => "timeout",
            Fault::TimeoutAfterSuccess(_) => "timeout_after_success",
            Fault::Malformed => "malformed",
            Fault::Slow(_) => "slow",
        }
    }

    /// The response for faults that answer before any work is done (429, 5xx);
    /// `None` for the others, which the sandbox handles around its work.
    pub fn early_response(&self) -> Option<Response> {
        match *self {
            Fault::TooManyRequests { retry_after } => {
                let body = serde_json::json!({ "errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service." });
                Some(
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        [
                            (
                                header::RETRY_AFTER,
                                format!("{:.1}", retry_after.as_secs_f64()),
                            ),
                            (
                                header::CONTENT_TYPE,
                                "application/json; charset=utf-8".into(),
                            ),
                        ],
                        body.to_string(),
                    )
                        .into_response(),
                )
            }
            Fault::ServerError(code) => {
                let status =
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let body = serde_json::json!({ "errors": format!("{} (injected by the sandbox)", status.canonical_reason().unwrap_or("Server error")) });
                Some(
                    (
                        status,
                        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                        body.to_string(),
                    )
                        .into_response(),
                )
            }
            _ => None,
        }
    }
}

/// What a sandbox counted and recorded, as `GET /_sandbox/stats` returns it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    /// Vendor requests by path (control routes are not counted).
    pub requests_by_path: BTreeMap<String, u64>,
    /// Rate-limit refusals produced by the sandbox's own limit (429 or THROTTLED),
    /// not counting injected faults.
    pub throttled: u64,
    /// Injected faults by kind (`429`, `5xx`, `timeout`, `timeout_after_success`,
    /// `malformed`, `slow`).
    pub faults_injected: BTreeMap<String, u64>,
    /// What the remote world now holds, filled by each sandbox (fulfillments and
    /// tracking per order, labels per shipment, ...).
    pub recorded: serde_json::Value,
}

impl Stats {
    pub fn total_requests(&self) -> u64 {
        self.requests_by_path.values().sum()
    }
    pub fn faults_total(&self) -> u64 {
        self.faults_injected.values().sum()
    }
}

struct Inner {
    faults: FaultConfig,
    credentials_revoked: bool,
    rng: StdRng,
    stats: Stats,
}

/// Shared by a sandbox's handlers: the fault configuration, its RNG and the stats.
pub struct SandboxCore {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for SandboxCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxCore").finish_non_exhaustive()
    }
}

fn rng_for(seed: Option<u64>) -> StdRng {
    match seed {
        Some(s) => StdRng::seed_from_u64(s),
        None => StdRng::from_os_rng(),
    }
}

impl SandboxCore {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Inner {
                faults: FaultConfig::default(),
                credentials_revoked: false,
                rng: rng_for(None),
                stats: Stats {
                    recorded: serde_json::json!({}),
                    ..Stats::default()
                },
            }),
        })
    }

    // A poisoned lock only means a handler panicked mid-update of counters; the
    // data is still usable, so carry on rather than take the sandbox down.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_faults(&self, faults: FaultConfig) -> Result<(), String> {
        faults.is_valid()?;
        let mut g = self.lock();
        g.rng = rng_for(faults.seed);
        g.faults = faults;
        Ok(())
    }

    pub fn faults(&self) -> FaultConfig {
        self.lock().faults.clone()
    }

    /// Whether the credentials were revoked through `POST /_sandbox/credentials`:
    /// the sandbox then answers every vendor call as the vendor does for
    /// credentials that stopped working.
    pub fn credentials_revoked(&self) -> bool {
        self.lock().credentials_revoked
    }

    pub fn set_credentials_revoked(&self, revoked: bool) {
        self.lock().credentials_revoked = revoked;
    }

    /// Count one vendor request.
    pub fn count_request(&self, path: &str) {
        *self
            .lock()
            .stats
            .requests_by_path
            .entry(path.to_string())
            .or_default() += 1;
    }

    /// Count one refusal by the sandbox's own rate limit.
    pub fn count_throttled(&self) {
        self.lock().stats.throttled += 1;
    }

    /// Roll the dice for one request to `path`; counts the fault it injects.
    pub fn decide_fault(&self, path: &str) -> Option<Fault> {
        let mut g = self.lock();
        let f = g.faults.clone();
        if !f.paths.is_empty() && !f.paths.iter().any(|p| path.contains(p.as_str())) {
            return None;
        }
        let total = f.rate_429
            + f.rate_5xx
            + f.rate_timeout
            + f.rate_timeout_after_success
            + f.rate_malformed
            + f.rate_slow;
        if total <= 0.0 {
            return None;
        }
        let roll: f64 = g.rng.random::<f64>();
        let mut edge = 0.0;
        let mut pick = None;
        for (rate, which) in [
            (f.rate_429, 0),
            (f.rate_5xx, 1),
            (f.rate_timeout, 2),
            (f.rate_timeout_after_success, 3),
            (f.rate_malformed, 4),
            (f.rate_slow, 5),
        ] {
            edge += rate.max(0.0);
            if roll < edge {
                pick = Some(which);
                break;
            }
        }
        let fault = match pick? {
            0 => Fault::TooManyRequests {
                retry_after: Duration::from_secs_f64(f.retry_after().min(3600.0)),
            },
            1 => Fault::ServerError([500, 502, 503][g.rng.random_range(0..3)]),
            2 => Fault::Timeout(f.hang()),
            3 => Fault::TimeoutAfterSuccess(f.hang()),
            4 => Fault::Malformed,
            _ => Fault::Slow(Duration::from_millis(f.slow_ms)),
        };
        *g.stats
            .faults_injected
            .entry(fault.kind().to_string())
            .or_default() += 1;
        Some(fault)
    }

    /// A random number from the fault RNG (reproducible under a seed), e.g. to
    /// pick which item of a page to spoil.
    pub fn random_index(&self, len: usize) -> usize {
        if len == 0 {
            return 0;
        }
        self.lock().rng.random_range(0..len)
    }

    /// Change what the sandbox reports as recorded (fulfillments, labels, ...).
    pub fn record<R>(&self, f: impl FnOnce(&mut serde_json::Value) -> R) -> R {
        let mut g = self.lock();
        if !g.stats.recorded.is_object() {
            g.stats.recorded = serde_json::json!({});
        }
        f(&mut g.stats.recorded)
    }

    pub fn stats(&self) -> Stats {
        self.lock().stats.clone()
    }

    /// Zero the counters; what was recorded stays.
    pub fn reset_stats(&self) {
        let mut g = self.lock();
        let recorded = std::mem::take(&mut g.stats.recorded);
        g.stats = Stats {
            recorded,
            ..Stats::default()
        };
    }

    /// `POST /_sandbox/faults`, `GET /_sandbox/stats`, `POST /_sandbox/reset-stats`.
    pub fn control_routes(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/_sandbox/faults", post(set_faults).get(get_faults))
            .route("/_sandbox/stats", get(get_stats))
            .route("/_sandbox/reset-stats", post(reset_stats))
            .route("/_sandbox/credentials", post(set_credentials))
            .with_state(self.clone())
    }
}

/// A JSON response with the given status.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

/// A 400 with `{"error": message}`, for control-route bodies that do not parse.
pub fn bad_request(message: impl Into<String>) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        &serde_json::json!({ "error": message.into() }),
    )
}

/// Parse an optional JSON body (empty = default) without trusting its content type.
#[allow(clippy::result_large_err)]
pub fn parse_body<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, Response> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| bad_request(format!("invalid JSON body: {e}")))
}

async fn set_faults(State(core): State<Arc<SandboxCore>>, body: Bytes) -> Response {
    let faults: FaultConfig = match parse_body(&body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    match core.set_faults(faults.clone()) {
        Ok(()) => json_response(StatusCode::OK, &serde_json::json!(faults)),
        Err(e) => bad_request(e),
    }
}

async fn get_faults(State(core): State<Arc<SandboxCore>>) -> Response {
    json_response(StatusCode::OK, &serde_json::json!(core.faults()))
}

async fn get_stats(State(core): State<Arc<SandboxCore>>) -> Response {
    json_response(StatusCode::OK, &serde_json::json!(core.stats()))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CredentialsRequest {
    revoked: bool,
}

async fn set_credentials(State(core): State<Arc<SandboxCore>>, body: Bytes) -> Response {
    let req: CredentialsRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    core.set_credentials_revoked(req.revoked);
    json_response(
        StatusCode::OK,
        &serde_json::json!({ "revoked": req.revoked }),
    )
}

async fn reset_stats(State(core): State<Arc<SandboxCore>>) -> Response {
    core.reset_stats();
    json_response(StatusCode::OK, &serde_json::json!(core.stats()))
}

/// Bind `addr` (e.g. `127.0.0.1:0`) and serve `router` on a background task.
/// Returns the bound address and the task; abort the task to stop the server.
pub async fn serve(
    router: Router,
    addr: &str,
) -> std::io::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let handle = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::warn!(error = %e, "sandbox server stopped");
        }
    });
    Ok((local, handle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_rates_no_faults() {
        let core = SandboxCore::new();
        for _ in 0..100 {
            assert!(core
                .decide_fault("/admin/api/2025-10/graphql.json")
                .is_none());
        }
        assert_eq!(core.stats().faults_total(), 0);
    }

    #[test]
    fn seeded_faults_are_reproducible_and_counted() {
        let run = || {
            let core = SandboxCore::new();
            core.set_faults(FaultConfig {
                rate_429: 0.2,
                rate_5xx: 0.2,
                rate_malformed: 0.1,
                seed: Some(7),
                ..FaultConfig::default()
            })
            .unwrap();
            let seq: Vec<_> = (0..200)
                .map(|_| core.decide_fault("/x").map(|f| f.kind()))
                .collect();
            (seq, core.stats())
        };
        let (a, stats) = run();
        let (b, _) = run();
        assert_eq!(a, b);
        let injected = a.iter().filter(|f| f.is_some()).count() as u64;
        assert_eq!(stats.faults_total(), injected);
        assert!(injected > 60 && injected < 140, "{injected}");
    }

    #[test]
    fn paths_limit_where_faults_land() {
        let core = SandboxCore::new();
        core.set_faults(FaultConfig {
            rate_5xx: 1.0,
            paths: vec!["graphql".into()],
            ..FaultConfig::default()
        })
        .unwrap();
        assert!(core.decide_fault("/other").is_none());
        assert!(matches!(
            core.decide_fault("/admin/api/2025-10/graphql.json"),
            Some(Fault::ServerError(500 | 502 | 503))
        ));
    }

    #[test]
    fn bad_rates_are_refused() {
        let core = SandboxCore::new();
        assert!(core
            .set_faults(FaultConfig {
                rate_429: 1.5,
                ..FaultConfig::default()
            })
            .is_err());
        assert!(core
            .set_faults(FaultConfig {
                rate_429: 0.6,
                rate_5xx: 0.6,
                ..FaultConfig::default()
            })
            .is_err());
    }

    #[test]
    fn reset_keeps_what_was_recorded() {
        let core = SandboxCore::new();
        core.count_request("/a");
        core.count_throttled();
        core.record(|r| r["fulfillments"] = serde_json::json!({"1001": 1}));
        core.reset_stats();
        let s = core.stats();
        assert_eq!(s.total_requests(), 0);
        assert_eq!(s.throttled, 0);
        assert_eq!(s.recorded["fulfillments"]["1001"], 1);
    }
}
