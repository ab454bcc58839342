//! The background sender of a [`crate::RunLogger`]: one thread per run applies the journaled
//! operations to the store, so that a store that is slow or failing (the client's retries with
//! backoff take minutes at worst) never holds the training thread.
//!
//! The logger journals each operation first and hands it over at a flush; the sender applies
//! what it holds in order, merging what piled up meanwhile into one `log_batch`, and appends the
//! acknowledgements to the journal. When the store cannot be reached it goes offline, keeps what
//! it holds and tries again [`OFFLINE_RETRY_INTERVAL`] later, on its own. A refusal (4xx) is
//! kept for the logger to return at its next flush or at the run's end. At the run's end it
//! tries once more, even offline, then exits; a logger that stops waiting leaves it to end its
//! current call and exit, the journal keeping whatever was not acknowledged.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{MlflowError, Result};
use crate::journal::{Journal, JournalOp};
use crate::store::TrackingStore;
use crate::sync::{
    AckLog, ApplyCounts, StartInfo, apply_ops, ensure_run, is_unreachable, sync_all_except,
};

/// How long an offline sender holds its operations before trying the store again (the run's end
/// always tries once more).
pub(crate) const OFFLINE_RETRY_INTERVAL: Duration = Duration::from_secs(60);

/// What the logger and its sender thread share.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Signalled by the logger: operations handed over, or the run closing.
    work: Condvar,
    /// Signalled by the sender: the start settled, an acknowledgement, idle, or its exit.
    progress: Condvar,
    /// The store's run id, once the run reached the store.
    run_id: OnceLock<String>,
    /// Whether the sender's last store call succeeded.
    online: AtomicBool,
}

#[derive(Default)]
struct State {
    /// Operations handed over and not yet taken by the thread, in order.
    handed: Vec<JournalOp>,
    /// Whether the thread is applying operations (or creating the run) right now.
    busy: bool,
    /// The run's end: try once more, then exit.
    closing: bool,
    /// The logger stopped waiting: exit after the current call.
    abandoned: bool,
    /// Whether the run's creation (and the sync of older journals) was tried.
    start_settled: bool,
    /// Acknowledgements written so far: a waiting logger sees progress in it.
    acks: u64,
    /// A refusal not yet returned to the logger.
    refusal: Option<MlflowError>,
    /// Whether the store refused operations: they stay unacknowledged in the journal.
    refused: bool,
    /// Set as the thread exits: whether nothing it was handed is left unsent.
    exited: Option<bool>,
}

impl State {
    /// Whether the thread holds nothing it could send now: all sent, offline or refused.
    fn is_idle(&self) -> bool {
        self.exited.is_some() || (self.start_settled && !self.busy && self.handed.is_empty())
    }
}

/// Whether the run's end reached the store, as [`Sender::close`] saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closed {
    /// The thread exited with everything applied.
    AllSent,
    /// The thread exited with operations left (offline or refused).
    Unsent,
    /// The thread was still calling the store when the wait ran out.
    StillSending,
}

/// What the sender thread needs to start a run.
pub(crate) struct SenderSetup<S> {
    pub store: Arc<S>,
    pub journal: Arc<Mutex<Journal>>,
    pub start: StartInfo,
    pub journal_root: PathBuf,
    pub sync_pending_on_start: bool,
}

/// The logger's handle on its sender thread.
pub(crate) struct Sender {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Sender {
    /// Starts the thread; its first job is creating the run in the store.
    pub(crate) fn spawn<S>(setup: SenderSetup<S>) -> Result<Sender>
    where
        S: TrackingStore + Send + Sync + 'static,
    {
        let shared = Arc::new(Shared::default());
        shared.online.store(true, Ordering::Relaxed);
        let mut worker = Worker {
            shared: Arc::clone(&shared),
            setup,
            pending: Vec::new(),
            uncertain: false,
            last_unreachable: None,
        };
        let thread = std::thread::Builder::new()
            .name("mlflow-sender".into())
            .spawn(move || worker.run())
            .map_err(|e| {
                MlflowError::invalid("run logger", format!("cannot start its sender: {e}"))
            })?;
        Ok(Sender {
            shared,
            thread: Some(thread),
        })
    }

    /// Waits until the run's creation was tried, at most `bound`.
    pub(crate) fn wait_for_start(&self, bound: Duration) {
        let deadline = Instant::now() + bound;
        let mut state = self.lock();
        while !state.start_settled && state.exited.is_none() {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return;
            };
            state = self.wait_progress(state, left);
        }
    }

    /// Waits until the thread holds nothing it could send now (all sent, offline or refused),
    /// at most `bound`; returns whether it did.
    pub(crate) fn wait_idle(&self, bound: Duration) -> bool {
        let deadline = Instant::now() + bound;
        let mut state = self.lock();
        while !state.is_idle() {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            state = self.wait_progress(state, left);
        }
        true
    }

    /// [`Sender::wait_idle`], for as long as the store keeps acknowledging operations and at
    /// most `patience` without one.
    pub(crate) fn settle(&self, patience: Duration) -> bool {
        self.wait_patiently(self.lock(), patience, State::is_idle).1
    }

    /// Hands operations (already journaled) over to the thread.
    pub(crate) fn hand_over(&self, ops: Vec<JournalOp>) {
        if ops.is_empty() {
            return;
        }
        self.lock().handed.extend(ops);
        self.shared.work.notify_all();
    }

    /// A refusal by the store not yet returned.
    pub(crate) fn take_refusal(&self) -> Option<MlflowError> {
        self.lock().refusal.take()
    }

    pub(crate) fn run_id(&self) -> Option<&str> {
        self.shared.run_id.get().map(String::as_str)
    }

    pub(crate) fn is_online(&self) -> bool {
        self.shared.online.load(Ordering::Relaxed)
    }

    /// Hands the last operations over and waits for the thread to send them and exit, for as
    /// long as it keeps acknowledging operations and at most `patience` without one; past
    /// that the thread is left to end its call alone.
    pub(crate) fn close(&mut self, last: Vec<JournalOp>, patience: Duration) -> Closed {
        let mut state = self.lock();
        state.handed.extend(last);
        state.closing = true;
        self.shared.work.notify_all();
        let (mut state, exited) = self.wait_patiently(state, patience, |s| s.exited.is_some());
        if !exited {
            state.abandoned = true;
            return Closed::StillSending;
        }
        let all_sent = state.exited == Some(true);
        drop(state);
        if let Some(thread) = self.thread.take() {
            // It has set `exited`, its last act: joining is immediate.
            let _ = thread.join();
        }
        if all_sent {
            Closed::AllSent
        } else {
            Closed::Unsent
        }
    }

    /// Tells the thread to exit without sending anything more (it ends its current call).
    pub(crate) fn abandon(&mut self) {
        self.lock().abandoned = true;
        self.shared.work.notify_all();
    }

    /// Whether the store refused operations of this run.
    pub(crate) fn refused(&self) -> bool {
        self.lock().refused
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.shared.state)
    }

    /// Waits until `done`, for as long as acknowledgements keep coming and at most `patience`
    /// without one; returns the state and whether `done` held.
    fn wait_patiently<'a>(
        &self,
        mut state: MutexGuard<'a, State>,
        patience: Duration,
        done: impl Fn(&State) -> bool,
    ) -> (MutexGuard<'a, State>, bool) {
        let mut acks = state.acks;
        let mut deadline = Instant::now() + patience;
        loop {
            if done(&state) {
                return (state, true);
            }
            if state.acks != acks {
                acks = state.acks;
                deadline = Instant::now() + patience;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return (state, false);
            };
            state = self.wait_progress(state, left);
        }
    }

    fn wait_progress<'a>(
        &self,
        state: MutexGuard<'a, State>,
        left: Duration,
    ) -> MutexGuard<'a, State> {
        self.shared
            .progress
            .wait_timeout(state, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The thread's side.
struct Worker<S> {
    shared: Arc<Shared>,
    setup: SenderSetup<S>,
    /// Operations taken from the logger and not acknowledged, in order.
    pending: Vec<JournalOp>,
    /// Whether a store call failed since the last success: pending operations may have
    /// reached the store, so the next apply compares metric points with the history.
    uncertain: bool,
    /// When the store last failed to answer.
    last_unreachable: Option<Instant>,
}

/// What the thread is to do next.
enum Next {
    Send { closing: bool },
    Exit,
}

impl<S: TrackingStore> Worker<S> {
    fn run(&mut self) {
        // A store that refuses the run itself gets nothing more.
        if self.open_run() {
            self.send_until_closed();
        }
        let mut state = lock(&self.shared.state);
        state.busy = false;
        state.exited = Some(
            self.shared.run_id.get().is_some()
                && self.pending.is_empty()
                && state.handed.is_empty()
                && !state.refused,
        );
        self.shared.progress.notify_all();
    }

    fn send_until_closed(&mut self) {
        while let Next::Send { closing } = self.next() {
            self.send();
            if closing {
                return;
            }
        }
    }

    /// Creates the run and, once the store answered, syncs the root's older journals; returns
    /// `false` when the store refused the run.
    fn open_run(&mut self) -> bool {
        lock(&self.shared.state).busy = true;
        self.ensure_run();
        if self.shared.run_id.get().is_some() && self.setup.sync_pending_on_start {
            self.sync_other_journals();
        }
        let mut state = lock(&self.shared.state);
        state.start_settled = true;
        state.busy = false;
        self.shared.progress.notify_all();
        !state.refused
    }

    /// Waits for work: operations handed over (held while offline and resting), the run's end,
    /// or the logger gone.
    fn next(&mut self) -> Next {
        let mut state = lock(&self.shared.state);
        loop {
            if state.abandoned {
                return Next::Exit;
            }
            self.pending.append(&mut state.handed);
            let rest = self.rest_left();
            if state.closing || (!self.pending.is_empty() && rest.is_none()) {
                state.busy = true;
                return Next::Send {
                    closing: state.closing,
                };
            }
            // Idle or resting: a logger waiting for that may go on.
            state.busy = false;
            self.shared.progress.notify_all();
            state = match rest.filter(|_| !self.pending.is_empty()) {
                Some(left) => {
                    self.shared
                        .work
                        .wait_timeout(state, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .shared
                    .work
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }

    /// How long an offline sender still rests before trying the store again.
    fn rest_left(&self) -> Option<Duration> {
        if self.shared.online.load(Ordering::Relaxed) {
            return None;
        }
        let since = self.last_unreachable?.elapsed();
        OFFLINE_RETRY_INTERVAL
            .checked_sub(since)
            .filter(|left| !left.is_zero())
    }

    /// Applies the pending operations; an unreachable store switches the sender offline, a
    /// refusal is kept for the logger.
    fn send(&mut self) {
        if self.shared.run_id.get().is_none() {
            self.ensure_run();
        }
        let Some(run_id) = self.shared.run_id.get().cloned() else {
            return;
        };
        if self.pending.is_empty() {
            return;
        }
        let mut acks = SharedJournal(&self.setup.journal, &self.shared);
        let mut counts = ApplyCounts::default();
        let result = apply_ops(
            &*self.setup.store,
            &mut acks,
            &run_id,
            &mut self.pending,
            self.uncertain,
            &mut counts,
        );
        if let Err(error) = lock(&self.setup.journal).sync() {
            tracing::warn!("could not fsync the run journal: {error}");
        }
        match result {
            Ok(()) => {
                self.uncertain = false;
                self.back_online();
            }
            Err(error) => {
                self.uncertain = true;
                if is_unreachable(&error) {
                    self.go_offline(&error);
                } else {
                    // The refused operations stay in the journal (a sync reports them again)
                    // but are not retried by this run.
                    self.pending.clear();
                    self.refuse(error);
                }
            }
        }
    }

    /// Creates the run in the store (or finds it again after a failed attempt) and acknowledges
    /// the start; an unreachable store switches the sender offline, a refusal is kept.
    fn ensure_run(&mut self) {
        match ensure_run(&*self.setup.store, &self.setup.start, self.uncertain) {
            Ok((run_id, _)) => {
                let mut journal = lock(&self.setup.journal);
                if let Err(error) = journal
                    .ack(vec![0], Some(run_id.clone()))
                    .and_then(|()| journal.sync())
                {
                    tracing::warn!("could not journal the run's creation: {error}");
                }
                drop(journal);
                let _ = self.shared.run_id.set(run_id);
                self.back_online();
            }
            Err(error) if is_unreachable(&error) => {
                // The run may have been created before the answer was lost.
                self.uncertain = true;
                self.go_offline(&error);
            }
            Err(error) => self.refuse(error),
        }
    }

    fn refuse(&self, error: MlflowError) {
        let mut state = lock(&self.shared.state);
        state.refused = true;
        if state.refusal.is_none() {
            state.refusal = Some(error);
        } else {
            tracing::warn!("the tracking store refused an operation: {error}");
        }
    }

    fn back_online(&self) {
        if !self.shared.online.swap(true, Ordering::Relaxed) {
            tracing::info!(store = %self.setup.store.describe(), "tracking store reachable again");
        }
    }

    fn go_offline(&mut self, error: &MlflowError) {
        self.last_unreachable = Some(Instant::now());
        if !self.shared.online.swap(false, Ordering::Relaxed) {
            return;
        }
        let store = self.setup.store.describe();
        // Once per store and process: a sweep's trials all go offline together.
        if first_time_unreachable(&store) {
            tracing::warn!(
                store = %store,
                journal_root = %self.setup.journal_root.display(),
                "cannot reach the tracking store: runs are journaled and training goes on; \
                 `vigie mlflow sync` sends them later (tried again at most once a minute): \
                 {error}"
            );
        } else {
            tracing::debug!(store = %store, "tracking store still unreachable: {error}");
        }
    }

    fn sync_other_journals(&self) {
        let own = lock(&self.setup.journal).path().to_path_buf();
        match sync_all_except(&self.setup.journal_root, &*self.setup.store, Some(&own)) {
            Ok(report) => {
                report.warn_failures();
                if !report.synced.is_empty() {
                    tracing::info!(runs = report.synced.len(), "synced pending run journals");
                }
            }
            Err(error) => tracing::warn!("could not list the pending run journals: {error}"),
        }
    }
}

/// The journal shared with the logger, locked for each acknowledgement only (the logger
/// appends operations meanwhile), each one counted as progress.
struct SharedJournal<'a>(&'a Mutex<Journal>, &'a Shared);

impl AckLog for SharedJournal<'_> {
    fn ack_ops(&mut self, seqs: Vec<u64>) -> Result<()> {
        lock(self.0).ack(seqs, None)?;
        lock(&self.1.state).acks += 1;
        self.1.progress.notify_all();
        Ok(())
    }

    fn artifacts_dir(&self) -> PathBuf {
        lock(self.0).artifacts_dir()
    }
}

/// `true` the first time `store` is reported unreachable in this process.
fn first_time_unreachable(store: &str) -> bool {
    static REPORTED: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    lock(REPORTED.get_or_init(Default::default)).insert(store.to_owned())
}
