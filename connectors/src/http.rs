//! The one HTTP client every connector calls through.
//!
//! It owns three things so no connector re-invents them:
//! - a client-side rate limit (governor) sized from the API's published limits,
//!   so we wait instead of collecting 429s;
//! - error classification, once: timeouts, connection errors, 429 and 5xx are
//!   retryable; other 4xx and undecodable payloads are permanent;
//! - retries with exponential backoff and full jitter that honor `Retry-After`.

use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http::{HeaderMap, StatusCode};
use rand::Rng;
use serde::de::DeserializeOwned;
use std::num::NonZeroU32;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

pub use shared::{with_shared_budget, SharedBudget};

pub use metrics::{metrics, ClientLabels, OutcomeLabels, RemoteMetrics};

/// A remote failure, classified.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RemoteError {
    /// Worth trying again later: timeouts, connection errors, 429, 5xx, throttling.
    #[error("retryable remote error (status {status:?}): {message}")]
    Retryable {
        status: Option<u16>,
        retry_after: Option<Duration>,
        message: String,
    },
    /// Trying again will not help: other 4xx, a payload we cannot decode.
    #[error("permanent remote error (status {status:?}): {message}")]
    Permanent {
        status: Option<u16>,
        message: String,
    },
}

impl RemoteError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, RemoteError::Retryable { .. })
    }
    /// The remote refused the credentials (401/403): retrying will not help
    /// until someone fixes them.
    pub fn is_auth_failure(&self) -> bool {
        matches!(
            self,
            RemoteError::Permanent {
                status: Some(401 | 403),
                ..
            }
        )
    }
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RemoteError::Retryable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
    pub fn permanent(message: impl Into<String>) -> Self {
        RemoteError::Permanent {
            status: None,
            message: message.into(),
        }
    }
    pub fn retryable(message: impl Into<String>, retry_after: Option<Duration>) -> Self {
        RemoteError::Retryable {
            status: None,
            retry_after,
            message: message.into(),
        }
    }
}

/// Classify a non-success HTTP status. Never includes the body's secrets: only
/// the first bytes of the vendor's error text.
pub fn classify_status(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> RemoteError {
    let snippet: String = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
    let code = Some(status.as_u16());
    if status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
    {
        RemoteError::Retryable {
            status: code,
            retry_after: retry_after(headers),
            message: format!("HTTP {status}: {snippet}"),
        }
    } else {
        RemoteError::Permanent {
            status: code,
            message: format!("HTTP {status}: {snippet}"),
        }
    }
}

/// `Retry-After` in seconds (fractions allowed, as Shopify sends `2.0`).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    let secs: f64 = v.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

fn classify_transport(err: reqwest::Error) -> RemoteError {
    // `without_url`: URLs can carry shop names or keys; they stay out of errors.
    let err = err.without_url();
    if err.is_decode() || err.is_builder() {
        RemoteError::permanent(format!("request failed: {err}"))
    } else {
        RemoteError::retryable(format!("transport: {err}"), None)
    }
}

/// Retry schedule: exponential with full jitter, capped.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base: Duration::from_millis(100),
            max: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Delay before attempt `attempt + 1` (0-based), at least `floor` (Retry-After).
    pub fn delay(&self, attempt: u32, floor: Option<Duration>) -> Duration {
        let exp = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.min(16)))
            .min(self.max);
        let jittered = Duration::from_secs_f64(rand::rng().random_range(0.0..=exp.as_secs_f64()));
        match floor {
            Some(f) => f.max(jittered),
            None => jittered,
        }
    }
}

/// A published request-rate limit: `per_second` steady, `burst` at once.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

/// A successful response: status, headers and the raw body.
#[derive(Debug)]
pub struct RawResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl RawResponse {
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, RemoteError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| RemoteError::permanent(format!("undecodable response: {e}")))
    }
}

#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
    /// The published limit the limiter was sized from, and the budget shared
    /// with other processes when the client was built under
    /// [`with_shared_budget`] (PostgreSQL: several `orderhub run` processes).
    rate: Option<RateLimit>,
    shared: Option<Arc<dyn SharedBudget>>,
    policy: RetryPolicy,
    /// Names the remote in logs (`shopify:shop-1`).
    name: Arc<str>,
    /// This client's counters in the process-wide [`metrics()`].
    counters: Arc<metrics::ClientCounters>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("name", &self.name)
            .finish()
    }
}

impl HttpClient {
    pub fn new(name: impl Into<String>, timeout: Duration, rate: Option<RateLimit>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("orderhub/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a reqwest client with static settings always builds");
        let limiter = rate.map(|r| {
            let burst = NonZeroU32::new(r.burst.max(1)).unwrap_or(NonZeroU32::MIN);
            let period = Duration::from_secs_f64(1.0 / r.per_second.max(0.001));
            let quota = Quota::with_period(period)
                .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
                .allow_burst(burst);
            Arc::new(RateLimiter::direct(quota))
        });
        let name: Arc<str> = Arc::from(name.into());
        Self {
            client,
            limiter,
            rate,
            shared: rate.and_then(|_| shared::current()),
            policy: RetryPolicy::default(),
            counters: Arc::new(metrics::ClientCounters::for_client(&name)),
            name,
        }
    }

    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    pub fn reqwest(&self) -> &reqwest::Client {
        &self.client
    }

    /// Send a request built by `build` (called again for each attempt) and hand a
    /// 2xx response to `check`, which may still turn it into an error (GraphQL
    /// reports throttling in a 200 body). Retryable errors are retried here.
    pub async fn execute<T>(
        &self,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        check: impl Fn(RawResponse) -> Result<T, RemoteError>,
    ) -> Result<T, RemoteError> {
        let mut attempt = 0;
        loop {
            self.wait_for_budget().await;
            let mut answered = None;
            let result = match build(&self.client).send().await {
                Err(e) => Err(classify_transport(e)),
                Ok(resp) => {
                    let status = resp.status();
                    answered = Some(status);
                    let headers = resp.headers().clone();
                    match resp.bytes().await {
                        Err(e) => Err(classify_transport(e)),
                        Ok(body) if status.is_success() => check(RawResponse {
                            status,
                            headers,
                            body,
                        }),
                        Ok(body) => Err(classify_status(status, &headers, &body)),
                    }
                }
            };
            self.counters.count(answered, &result);
            match result {
                Err(err) if err.is_retryable() && attempt + 1 < self.policy.max_attempts => {
                    self.counters.retries.inc();
                    let delay = self.policy.delay(attempt, err.retry_after());
                    tracing::debug!(remote = %self.name, attempt, delay_ms = delay.as_millis() as u64, error = %err, "retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

impl HttpClient {
    /// Wait until the published limit allows one more request: from the
    /// budget shared by every process when there is one, else from this
    /// process's governor. Should the shared budget fail (its database is
    /// unreachable), the local limiter still paces this process.
    async fn wait_for_budget(&self) {
        if let (Some(shared), Some(rate)) = (&self.shared, self.rate) {
            match shared.take(&self.name, rate).await {
                Ok(wait) => {
                    if !wait.is_zero() {
                        tracing::trace!(remote = %self.name, wait_ms = wait.as_millis() as u64, "waiting for the shared budget");
                        tokio::time::sleep(wait).await;
                    }
                    return;
                }
                Err(e) => {
                    tracing::warn!(remote = %self.name, error = %e, "shared request budget unavailable; pacing locally");
                }
            }
        }
        if let Some(l) = &self.limiter {
            l.until_ready().await;
        }
    }

    /// Whether this client's requests are paced by a budget shared beyond
    /// this process.
    pub fn has_shared_budget(&self) -> bool {
        self.shared.is_some()
    }
}

/// A request budget shared by several processes (the worker implements it on
/// PostgreSQL, `worker/src/budget.rs`). Connectors do not see it: a client
/// built with a published [`RateLimit`] while [`with_shared_budget`] is in
/// effect takes each request's token from it instead of from its own governor.
mod shared {
    use super::RateLimit;
    use std::cell::RefCell;
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::time::Duration;

    pub trait SharedBudget: Send + Sync + 'static {
        /// Take one request's token from the bucket `(rate.burst, rate.per_second)`
        /// named `client` and answer how long to wait before sending it (the
        /// token is taken even when the wait is not zero: it is this request's
        /// slot). An error: pace locally instead.
        fn take<'a>(
            &'a self,
            client: &'a str,
            rate: RateLimit,
        ) -> Pin<Box<dyn Future<Output = Result<Duration, String>> + Send + 'a>>;
    }

    thread_local! {
        static BUILDING: RefCell<Option<Arc<dyn SharedBudget>>> = const { RefCell::new(None) };
    }

    /// Run `build` (a connector's constructor, which is synchronous) so that
    /// every rate-limited [`super::HttpClient`] it creates shares `budget`.
    /// Scoped to this call and this thread, so two apps in one process (tests)
    /// never share each other's budgets.
    pub fn with_shared_budget<T>(
        budget: Option<Arc<dyn SharedBudget>>,
        build: impl FnOnce() -> T,
    ) -> T {
        struct Restore(Option<Arc<dyn SharedBudget>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let prev = self.0.take();
                BUILDING.with(|b| *b.borrow_mut() = prev);
            }
        }
        let prev = BUILDING.with(|b| b.replace(budget));
        let _restore = Restore(prev);
        build()
    }

    pub(super) fn current() -> Option<Arc<dyn SharedBudget>> {
        BUILDING.with(|b| b.borrow().clone())
    }
}

/// Counting remote calls for `/metrics`: process-wide prometheus-client
/// families, and per client the handles into them, so counting one attempt
/// is an atomic add (no lock, nothing held across an await).
mod metrics {
    use super::*;
    use prometheus_client::encoding::EncodeLabelSet;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::family::Family;

    /// A client's labels: `client` is its whole name (`shopify:shop`, the
    /// connector kind and the configured channel or carrier id), `connector`
    /// the part before `:`. Never a URL, a shop domain or a credential.
    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    pub struct ClientLabels {
        pub connector: String,
        pub client: String,
    }

    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    pub struct OutcomeLabels {
        pub connector: String,
        pub client: String,
        /// `ok`, `retryable` or `permanent` (the class of [`RemoteError`]).
        pub outcome: &'static str,
    }

    /// The remote-call counters of this process, shared by every [`HttpClient`].
    /// Register the families in a `prometheus_client` registry to expose them
    /// (counters get the `_total` suffix there).
    #[derive(Debug, Default)]
    pub struct RemoteMetrics {
        /// HTTP attempts (each retry is one more), by outcome.
        pub requests: Family<OutcomeLabels, Counter>,
        /// Refusals for rate: HTTP 429, or a 2xx the connector's check turned
        /// into a throttle (Shopify's `THROTTLED` with its wait, a body code
        /// classified as status 429).
        pub throttled: Family<ClientLabels, Counter>,
        /// Attempts made again after a retryable failure.
        pub retries: Family<ClientLabels, Counter>,
    }

    static METRICS: LazyLock<RemoteMetrics> = LazyLock::new(RemoteMetrics::default);

    /// The process-wide remote-call counters.
    pub fn metrics() -> &'static RemoteMetrics {
        &METRICS
    }

    /// One client's counters (handles into [`metrics()`]).
    #[derive(Debug)]
    pub(super) struct ClientCounters {
        ok: Counter,
        retryable: Counter,
        permanent: Counter,
        throttled: Counter,
        pub(super) retries: Counter,
    }

    impl ClientCounters {
        pub(super) fn for_client(name: &str) -> Self {
            let m = metrics();
            let client = ClientLabels {
                connector: name.split(':').next().unwrap_or(name).to_string(),
                client: name.to_string(),
            };
            let outcome = |outcome| {
                m.requests
                    .get_or_create(&OutcomeLabels {
                        connector: client.connector.clone(),
                        client: client.client.clone(),
                        outcome,
                    })
                    .clone()
            };
            Self {
                ok: outcome("ok"),
                retryable: outcome("retryable"),
                permanent: outcome("permanent"),
                throttled: m.throttled.get_or_create(&client).clone(),
                retries: m.retries.get_or_create(&client).clone(),
            }
        }

        /// Count one attempt: `answered` is the HTTP status if a response came.
        pub(super) fn count<T>(
            &self,
            answered: Option<StatusCode>,
            result: &Result<T, RemoteError>,
        ) {
            match result {
                Ok(_) => {
                    self.ok.inc();
                }
                Err(RemoteError::Permanent { .. }) => {
                    self.permanent.inc();
                }
                Err(RemoteError::Retryable {
                    status,
                    retry_after,
                    ..
                }) => {
                    self.retryable.inc();
                    let in_body = answered.is_some_and(|s| s.is_success());
                    if answered == Some(StatusCode::TOO_MANY_REQUESTS)
                        || (in_body && (*status == Some(429) || retry_after.is_some()))
                    {
                        self.throttled.inc();
                    }
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_once() {
        let h = HeaderMap::new();
        assert!(classify_status(StatusCode::TOO_MANY_REQUESTS, &h, b"").is_retryable());
        assert!(classify_status(StatusCode::BAD_GATEWAY, &h, b"").is_retryable());
        assert!(!classify_status(StatusCode::UNPROCESSABLE_ENTITY, &h, b"").is_retryable());
        assert!(!classify_status(StatusCode::UNAUTHORIZED, &h, b"").is_retryable());
    }

    #[tokio::test]
    async fn attempts_throttles_and_retries_are_counted_per_client() {
        use std::sync::atomic::{AtomicU32, Ordering};
        // Answers 429, then a 200 whose body says "throttled", then a 200.
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let app = axum::Router::new().route(
            "/",
            axum::routing::get(move || {
                let n = c.fetch_add(1, Ordering::SeqCst);
                async move {
                    match n {
                        0 => (
                            StatusCode::TOO_MANY_REQUESTS,
                            [("retry-after", "0")],
                            "slow down",
                        ),
                        1 => (StatusCode::OK, [("retry-after", "0")], "throttled"),
                        _ => (StatusCode::OK, [("retry-after", "0")], "fine"),
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = HttpClient::new("unittest:metrics", Duration::from_secs(2), None)
            .with_retry_policy(RetryPolicy {
                max_attempts: 5,
                base: Duration::from_millis(1),
                max: Duration::from_millis(5),
            });
        let body = client
            .execute(
                |c| c.get(&url),
                |raw| match &raw.body[..] {
                    b"throttled" => Err(RemoteError::retryable("throttled", Some(Duration::ZERO))),
                    b => Ok(b.to_vec()),
                },
            )
            .await
            .unwrap();
        assert_eq!(body, b"fine");
        let m = metrics();
        let client = metrics::ClientLabels {
            connector: "unittest".into(),
            client: "unittest:metrics".into(),
        };
        let outcome = |outcome| {
            m.requests
                .get(&metrics::OutcomeLabels {
                    connector: "unittest".into(),
                    client: "unittest:metrics".into(),
                    outcome,
                })
                .map(|c| c.get())
        };
        assert_eq!(outcome("ok"), Some(1));
        assert_eq!(outcome("retryable"), Some(2));
        assert_eq!(outcome("permanent"), Some(0));
        assert_eq!(m.throttled.get(&client).map(|c| c.get()), Some(2));
        assert_eq!(m.retries.get(&client).map(|c| c.get()), Some(2));
    }

    /// A budget that counts the tokens taken and asks each request to wait.
    struct Counting(std::sync::atomic::AtomicU32, Duration);
    impl SharedBudget for Counting {
        fn take<'a>(
            &'a self,
            client: &'a str,
            rate: RateLimit,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<Duration, String>> + Send + 'a>,
        > {
            assert_eq!(client, "unittest:shared");
            assert_eq!(rate.burst, 1);
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let wait = self.1;
            Box::pin(async move { Ok(wait) })
        }
    }

    #[tokio::test]
    async fn clients_built_under_a_shared_budget_take_every_attempts_token_from_it() {
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let budget = Arc::new(Counting(Default::default(), Duration::from_millis(150)));
        let rate = RateLimit {
            per_second: 1000.0,
            burst: 1,
        };
        let shared = with_shared_budget(Some(budget.clone() as Arc<dyn SharedBudget>), || {
            HttpClient::new("unittest:shared", Duration::from_secs(2), Some(rate))
        });
        // Built outside the scope, or without a published limit: not shared.
        let local = HttpClient::new("unittest:local", Duration::from_secs(2), Some(rate));
        let unlimited = with_shared_budget(Some(budget.clone() as Arc<dyn SharedBudget>), || {
            HttpClient::new("unittest:none", Duration::from_secs(2), None)
        });
        assert!(shared.has_shared_budget());
        assert!(!local.has_shared_budget() && !unlimited.has_shared_budget());
        let started = std::time::Instant::now();
        for _ in 0..3 {
            shared.execute(|c| c.get(&url), |_| Ok(())).await.unwrap();
        }
        // Each request waited the slot the budget gave it, not the local
        // governor's 1 ms.
        assert!(started.elapsed() >= Duration::from_millis(450));
        local.execute(|c| c.get(&url), |_| Ok(())).await.unwrap();
        unlimited
            .execute(|c| c.get(&url), |_| Ok(()))
            .await
            .unwrap();
        assert_eq!(budget.0.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[test]
    fn retry_after_is_a_floor_for_the_backoff() {
        let mut h = HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, "2.0".parse().unwrap());
        let err = classify_status(StatusCode::TOO_MANY_REQUESTS, &h, b"");
        assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
        let p = RetryPolicy::default();
        assert!(p.delay(0, err.retry_after()) >= Duration::from_secs(2));
        for attempt in 0..20 {
            assert!(p.delay(attempt, None) <= p.max);
        }
    }
}
