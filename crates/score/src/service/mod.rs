//! The HTTP scoring service (`vigie serve`): a SOC's SIEM, or any tool built for
//! `mlflow models serve`, sends requests and gets scores and verdicts back.
//!
//! Routes (JSON everywhere; every error is `{"error": "<message>"}` with its status):
//!
//! - `POST /invocations`: MLflow's scoring protocol (`dataframe_split`, `dataframe_records`,
//!   `instances`, `inputs`, or CSV with a header row), answered `{"predictions": [score, ...]}`;
//! - `POST /score`: `{"requests": [...], "explain": true, "top": 5}`, answered with a verdict per
//!   request (score, threshold, malicious, attack family, the features that drove the score);
//! - `GET /health` (never behind the bearer token), `GET /version`, `GET /metrics` (Prometheus).
//!
//! A [`Service`] holds the model behind a lock as an `Arc`: a request clones the `Arc` and
//! scores on it, so a reload (SIGHUP, every [`ServiceConfig::reload_interval`], or
//! [`Service::reload`]) swaps the model without touching requests in flight, and a reload that
//! fails leaves the old model serving. Scoring runs on tokio's blocking pool, one call per
//! core at a time, so the runtime keeps answering `/health` and `/metrics` during large
//! batches.
//!
//! With [`ServiceConfig::monitoring`], the service records its own monitoring windows: each
//! scored request is counted by arrival time ([`windows`]), and a recorder thread
//! ([`recorder`]) logs each window to one MLflow run per model served as it closes, the partial
//! one at shutdown, off the request path.
//!
//! [`serve`] runs on a caller's runtime until a shutdown future resolves (the CLI passes
//! [`shutdown_signal`]); [`spawn_blocking_server`] starts its own runtime on a thread and
//! returns the bound address and a handle, for tests and synchronous callers.

mod api;
pub mod metrics;
pub mod payload;
mod recorder;
mod window_run;
pub mod windows;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, SecondsFormat, Utc};
use thiserror::Error;
use tokio::net::TcpListener;

use crate::engine::{Engine, Verdict};
use crate::error::ScoreError;
use crate::monitor::MonitorError;
use metrics::{Metrics, ReloadResult};
use recorder::Recorder;
use windows::{LiveWindows, Watched};
pub use windows::{MonitoringConfig, StoreOpener};

/// Defaults of [`ServiceConfig`].
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 << 20;
pub const DEFAULT_MAX_BATCH: usize = 1000;
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 64 << 10;
pub const DEFAULT_TOP_FEATURES: usize = 5;
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The most features a `/score` call may ask for per verdict.
pub const MAX_TOP_FEATURES: usize = 100;

/// How the service listens, what it accepts and how it reloads.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Where [`spawn_blocking_server`] binds (port 0: any free port).
    pub bind: SocketAddr,
    /// Larger bodies get 413.
    pub max_body_bytes: usize,
    /// Most texts in one call; more get 413.
    pub max_batch: usize,
    /// Most bytes in one text; a longer one gets 413 naming its index.
    pub max_request_bytes: usize,
    /// When set, every route but `/health` needs `Authorization: Bearer <token>`.
    pub bearer_token: Option<String>,
    /// Calls the loader this often; a new identity (a registry alias moved) swaps the model.
    pub reload_interval: Option<Duration>,
    /// Features per verdict in `/score` when the call does not say.
    pub top_features: usize,
    /// A call not received and answered within this gets 408, so a client that sends its
    /// body slowly (or never) cannot hold its connection forever.
    pub request_timeout: Duration,
    /// When set, the service records its own monitoring windows to MLflow.
    pub monitoring: Option<MonitoringConfig>,
}

impl Default for ServiceConfig {
    fn default() -> ServiceConfig {
        ServiceConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_batch: DEFAULT_MAX_BATCH,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            bearer_token: None,
            reload_interval: None,
            top_features: DEFAULT_TOP_FEATURES,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            monitoring: None,
        }
    }
}

/// Loads (or reloads) the model: the CLI passes a closure that resolves its `--model`
/// reference, with the resolved identity (e.g. `models:/vigie-fwaf/3`) as the engine's
/// [`Engine::origin`]; a reload only swaps the model when that identity changed.
pub type Loader = Arc<dyn Fn() -> crate::Result<Engine> + Send + Sync>;

/// Why the service could not start or stopped.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The first load of the model failed.
    #[error("cannot load the model: {0}")]
    Load(#[from] ScoreError),

    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },

    /// The runtime, its thread or the server's socket failed.
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },

    /// A [`ServiceConfig`] value that cannot work.
    #[error("{0}")]
    Config(String),

    /// The model cannot be monitored (no validation scores kept, or a monitoring option that
    /// makes no sense).
    #[error("cannot monitor the model: {0}")]
    Monitor(#[from] MonitorError),

    /// The server thread panicked (a bug).
    #[error("the server thread panicked")]
    Panicked,
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The loader gave the model already serving: kept.
    Unchanged { identity: String },
    /// A new model is serving.
    Swapped { previous: String, current: String },
}

/// The model serving now, shared by the requests that started with it.
struct LoadedModel {
    engine: Engine,
    loaded_at_ms: u64,
    /// This model's monitoring windows, when the service records them.
    windows: Option<Arc<LiveWindows>>,
}

impl LoadedModel {
    fn new(engine: Engine, windows: Option<Arc<LiveWindows>>) -> LoadedModel {
        LoadedModel {
            engine,
            loaded_at_ms: now_ms(),
            windows,
        }
    }

    /// Scores of raw requests, counted in the monitoring windows at `arrival_ms`.
    fn score(&self, raw: &[&str], arrival_ms: i64) -> Vec<f64> {
        let Some(windows) = &self.windows else {
            return self.engine.score(raw);
        };
        let scored = self.engine.score_with_alerts(raw);
        windows.observe(arrival_ms, scored.iter().copied());
        scored.into_iter().map(|(score, _)| score).collect()
    }

    /// Verdicts of raw requests, counted in the monitoring windows at `arrival_ms`.
    fn verdicts(&self, raw: &[&str], top: usize, arrival_ms: i64) -> Vec<Verdict> {
        let verdicts = self.engine.verdicts(raw, top);
        if let Some(windows) = &self.windows {
            let scored = verdicts
                .iter()
                .map(|v| (v.score, v.malicious.then_some(v.family)));
            windows.observe(arrival_ms, scored);
        }
        verdicts
    }
}

struct Shared {
    config: ServiceConfig,
    loader: Loader,
    model: RwLock<Arc<LoadedModel>>,
    /// One reload at a time (SIGHUP and the interval may meet).
    reloading: Mutex<()>,
    /// One permit per core: how many scoring calls run at once.
    scoring_slots: Arc<tokio::sync::Semaphore>,
    metrics: Metrics,
    /// Logs the monitoring windows; taken at shutdown.
    recorder: Mutex<Option<Recorder>>,
}

/// The scoring service: its configuration, the model serving and the metrics. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    shared: Arc<Shared>,
}

impl Service {
    /// Checks `config` and loads the first model (blocking: the loader may download).
    pub fn load(config: ServiceConfig, loader: Loader) -> Result<Service, ServiceError> {
        if config.reload_interval.is_some_and(|every| every.is_zero()) {
            return Err(ServiceError::Config(
                "the reload interval must be longer than zero".to_owned(),
            ));
        }
        if config.request_timeout.is_zero() {
            return Err(ServiceError::Config(
                "the request timeout must be longer than zero".to_owned(),
            ));
        }
        if config.max_batch == 0 || config.max_body_bytes == 0 || config.max_request_bytes == 0 {
            return Err(ServiceError::Config(
                "the body, batch and request limits must be above zero".to_owned(),
            ));
        }
        let engine = loader()?;
        tracing::info!(model = engine.origin(), "model loaded");
        let (windows, recorder) = match &config.monitoring {
            Some(monitoring) => {
                let (windows, recorder) = start_recording(monitoring, &engine)?;
                (Some(windows), Some(recorder))
            }
            None => (None, None),
        };
        Ok(Service {
            shared: Arc::new(Shared {
                model: RwLock::new(Arc::new(LoadedModel::new(engine, windows))),
                config,
                loader,
                recorder: Mutex::new(recorder),
                reloading: Mutex::new(()),
                scoring_slots: Arc::new(tokio::sync::Semaphore::new(
                    std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
                )),
                metrics: Metrics::default(),
            }),
        })
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.shared.config
    }

    /// The identity of the model serving now.
    pub fn identity(&self) -> String {
        self.model().engine.origin().to_owned()
    }

    /// The routes, with the bearer-token check, metrics and error mapping: what [`serve`] runs.
    pub fn router(&self) -> axum::Router {
        api::router(self.clone())
    }

    fn model(&self) -> Arc<LoadedModel> {
        // The lock only guards an `Arc` swap: a poisoned one still holds a whole model.
        Arc::clone(
            &self
                .shared
                .model
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// Calls the loader and swaps the model when its identity changed (blocking). Requests in
    /// flight finish on the model they started with. A failure is logged and counted, and the
    /// old model keeps serving.
    pub fn reload(&self) -> crate::Result<ReloadOutcome> {
        let _one_at_a_time = self
            .shared
            .reloading
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let previous = self.identity();
        let engine = match (self.shared.loader)() {
            Ok(engine) => engine,
            Err(e) => {
                tracing::warn!(
                    model = %previous,
                    error = %e,
                    "reload failed; the current model keeps serving"
                );
                self.shared.metrics.record_reload(ReloadResult::Failed);
                return Err(e);
            }
        };
        if engine.origin() == previous {
            tracing::debug!(model = %previous, "reload: same model");
            self.shared.metrics.record_reload(ReloadResult::Unchanged);
            return Ok(ReloadOutcome::Unchanged { identity: previous });
        }
        let current = engine.origin().to_owned();
        let watched = self.watch(&engine);
        let windows = watched.as_ref().map(|w| Arc::clone(&w.windows));
        let loaded = Arc::new(LoadedModel::new(engine, windows));
        *self
            .shared
            .model
            .write()
            .unwrap_or_else(PoisonError::into_inner) = loaded;
        if let Some(recorder) = self.recorder().as_ref() {
            recorder.watch(watched);
        }
        tracing::info!(previous = %previous, model = %current, "reload: new model serving");
        self.shared.metrics.record_reload(ReloadResult::Swapped);
        Ok(ReloadOutcome::Swapped { previous, current })
    }

    fn recorder(&self) -> std::sync::MutexGuard<'_, Option<Recorder>> {
        self.shared
            .recorder
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Monitoring windows for a model swapped in; `None` (with a warning) when it cannot be
    /// monitored: it serves all the same.
    fn watch(&self, engine: &Engine) -> Option<Watched> {
        let monitoring = self.shared.config.monitoring.as_ref()?;
        match Watched::new(monitoring, engine, vigie_mlflow::now_millis()) {
            Ok(watched) => Some(watched),
            Err(error) => {
                tracing::warn!(model = engine.origin(), %error, "the new model is served unmonitored");
                None
            }
        }
    }

    /// Logs the partial monitoring window and ends the run (blocking, bounded by
    /// [`recorder::SHUTDOWN_WAIT`]); nothing without monitoring or when done already.
    pub fn finish_monitoring(&self) {
        let recorder = self.recorder().take();
        if let Some(recorder) = recorder {
            recorder.stop();
        }
    }

    /// [`Service::reload`] on the blocking pool, for the runtime's own triggers.
    async fn reload_in_background(&self) {
        let service = self.clone();
        // The outcome is logged by `reload`; a panicking loader is a bug worth a line too.
        if let Err(e) = tokio::task::spawn_blocking(move || service.reload()).await {
            tracing::error!(error = %e, "reload task failed");
            self.shared.metrics.record_reload(ReloadResult::Failed);
        }
    }

    /// Serves on `listener` until `shutdown` resolves, then lets requests in flight finish.
    /// Meanwhile the model is reloaded on SIGHUP (unix) and every reload interval.
    pub async fn serve<F>(self, listener: TcpListener, shutdown: F) -> Result<(), ServiceError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut background = Vec::new();
        if let Some(every) = self.shared.config.reload_interval {
            background.push(tokio::spawn(reload_every(self.clone(), every)));
        }
        #[cfg(unix)]
        background.push(tokio::spawn(reload_on_hangup(self.clone())));
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, model = %self.identity(), "scoring service listening");
        }
        let result = axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await;
        for task in background {
            task.abort();
        }
        let finishing = self.clone();
        if tokio::task::spawn_blocking(move || finishing.finish_monitoring())
            .await
            .is_err()
        {
            tracing::error!("the monitoring run could not be ended");
        }
        result.map_err(|source| ServiceError::Io {
            what: "serving",
            source,
        })
    }
}

/// The first model's monitoring windows and the recorder thread that logs them.
fn start_recording(
    monitoring: &MonitoringConfig,
    engine: &Engine,
) -> Result<(Arc<LiveWindows>, Recorder), ServiceError> {
    let watched = Watched::new(monitoring, engine, vigie_mlflow::now_millis())?;
    let windows = Arc::clone(&watched.windows);
    let recorder =
        Recorder::start(monitoring.clone(), watched).map_err(|source| ServiceError::Io {
            what: "cannot start the monitoring thread",
            source,
        })?;
    Ok((windows, recorder))
}

async fn reload_every(service: Service, every: Duration) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    // A slow registry must not make reloads pile up.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        service.reload_in_background().await;
    }
}

#[cfg(unix)]
async fn reload_on_hangup(service: Service) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP: reloads only by interval");
            return;
        }
    };
    while hangups.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading the model");
        service.reload_in_background().await;
    }
}

/// Loads the model (on the blocking pool) and serves on `listener` until `shutdown` resolves:
/// [`Service::load`] then [`Service::serve`].
pub async fn serve<F>(
    listener: TcpListener,
    config: ServiceConfig,
    loader: Loader,
    shutdown: F,
) -> Result<(), ServiceError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let service = tokio::task::spawn_blocking(move || Service::load(config, loader))
        .await
        .map_err(|_| ServiceError::Panicked)??;
    service.serve(listener, shutdown).await
}

/// Resolves on Ctrl-C, or SIGTERM on unix (Slurm, Kubernetes): the CLI's shutdown future.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signals) => {
                signals.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing the requests in flight");
}

/// Loads the model, binds `config.bind` and serves until Ctrl-C or SIGTERM, on a runtime of
/// its own: the whole of `vigie serve` for a synchronous caller.
pub fn run_until_signal(config: ServiceConfig, loader: Loader) -> Result<(), ServiceError> {
    let service = Service::load(config, loader)?;
    let (listener, _) = bind(service.config().bind)?;
    let runtime = runtime()?;
    runtime.block_on(async move {
        let listener = TcpListener::from_std(listener).map_err(|source| ServiceError::Io {
            what: "cannot register the socket with the runtime",
            source,
        })?;
        service.serve(listener, shutdown_signal()).await
    })
}

/// A service running on a thread of its own; dropping it shuts the service down.
pub struct RunningServer {
    addr: SocketAddr,
    service: Service,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), ServiceError>>>,
}

/// Loads the model, binds `config.bind` (port 0: any free port) and serves on a new runtime
/// on its own thread until the returned handle is shut down or dropped.
pub fn spawn_blocking_server(
    config: ServiceConfig,
    loader: Loader,
) -> Result<RunningServer, ServiceError> {
    let service = Service::load(config, loader)?;
    let (listener, addr) = bind(service.config().bind)?;
    let runtime = runtime()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = service.clone();
    let thread = std::thread::Builder::new()
        .name("vigie-serve".to_owned())
        .spawn(move || {
            runtime.block_on(async move {
                let listener =
                    TcpListener::from_std(listener).map_err(|source| ServiceError::Io {
                        what: "cannot register the socket with the runtime",
                        source,
                    })?;
                // A dropped sender (the handle dropped) stops the server too.
                let shutdown = async move {
                    let _ = stopped.await;
                };
                serving.serve(listener, shutdown).await
            })
        })
        .map_err(|source| ServiceError::Io {
            what: "cannot start the server thread",
            source,
        })?;
    Ok(RunningServer {
        addr,
        service,
        stop: Some(stop),
        thread: Some(thread),
    })
}

impl RunningServer {
    /// The address bound (the real port when `bind` asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, to prefix routes with.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn service(&self) -> &Service {
        &self.service
    }

    /// [`Service::reload`], on the caller's thread.
    pub fn reload(&self) -> crate::Result<ReloadOutcome> {
        self.service.reload()
    }

    /// Stops accepting connections, waits for the requests in flight, and joins the thread.
    pub fn shutdown(mut self) -> Result<(), ServiceError> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<(), ServiceError> {
        if let Some(stop) = self.stop.take() {
            // The server may have stopped on its own already (an error): nothing to tell.
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(thread) => thread.join().map_err(|_| ServiceError::Panicked)?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Err(e) = self.stop_and_join() {
            tracing::warn!(error = %e, "the scoring service stopped with an error");
        }
    }
}

fn bind(addr: SocketAddr) -> Result<(std::net::TcpListener, SocketAddr), ServiceError> {
    let bind_error = |source| ServiceError::Bind { addr, source };
    let listener = std::net::TcpListener::bind(addr).map_err(bind_error)?;
    listener.set_nonblocking(true).map_err(bind_error)?;
    let bound = listener.local_addr().map_err(bind_error)?;
    Ok((listener, bound))
}

fn runtime() -> Result<tokio::runtime::Runtime, ServiceError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("vigie-serve-worker")
        .build()
        .map_err(|source| ServiceError::Io {
            what: "cannot start the async runtime",
            source,
        })
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Milliseconds since the Unix epoch as RFC 3339 in UTC: `2026-11-28T03:47:44.123Z` (times
/// past chrono's range, beyond the year 262,000, are clamped to it).
fn rfc3339_utc(millis: u64) -> String {
    i64::try_from(millis)
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_utc(951_782_400_007), "2000-02-29T00:00:00.007Z");
        assert_eq!(rfc3339_utc(1_795_837_664_123), "2026-11-28T03:47:44.123Z");
        // 2100 is no leap year.
        assert_eq!(rfc3339_utc(4_107_542_399_999), "2100-02-28T23:59:59.999Z");
        assert_eq!(rfc3339_utc(4_107_542_400_000), "2100-03-01T00:00:00.000Z");
    }

    #[test]
    fn the_default_config_matches_the_documented_defaults() {
        let config = ServiceConfig::default();
        assert_eq!(config.bind.to_string(), DEFAULT_BIND);
        assert_eq!(config.max_body_bytes, 4 * 1024 * 1024);
        assert_eq!(config.max_batch, 1000);
        assert_eq!(config.max_request_bytes, 64 * 1024);
        assert_eq!(config.top_features, 5);
        assert!(config.bearer_token.is_none() && config.reload_interval.is_none());
    }
}
