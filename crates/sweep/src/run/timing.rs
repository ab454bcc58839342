//! Where a sweep's tracking time went: waited on by the sweep, or spent beside the training.

use std::time::{Duration, Instant};

/// The share of the wall time spent waiting on tracking calls, in percent.
pub fn overhead_pct(waited_seconds: f64, wall_seconds: f64) -> f64 {
    100.0 * waited_seconds / wall_seconds.max(1e-9)
}

/// Where trials' tracking time went.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct TrialTracking {
    /// In tracking calls on the workers' threads (live runs, waits for a busy publisher).
    pub(super) on_workers: f64,
    /// In the publisher thread.
    pub(super) background: f64,
    /// Waiting for the publisher after the last trial trained.
    pub(super) drain: f64,
}

impl TrialTracking {
    /// The sweep's wall time spent on tracking: the sweep's own thread's waits (`parent`), the
    /// final wait for the publisher, and the workers' calls divided by their number (what the
    /// calls added to the wall time, CPU contention aside).
    pub(super) fn waited_seconds(&self, parent: Duration, parallel: usize) -> f64 {
        parent.as_secs_f64() + self.drain + self.on_workers / parallel as f64
    }
}

/// The time the sweep's own thread waited on tracking calls (the parent's, the store's reads).
#[derive(Debug, Default)]
pub(super) struct TrackingClock {
    waited: Duration,
}

impl TrackingClock {
    /// Makes `call`, a tracking call the sweep waits on, and counts its time.
    pub(super) fn time<T>(&mut self, call: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let result = call();
        self.waited += started.elapsed();
        result
    }

    pub(super) fn total(&self) -> Duration {
        self.waited
    }

    /// Once the trials' data is ready (at `data_ready`, this thread at `main_ready`), the calls
    /// so far count only for what they outlasted the loading ([`waited_before_trials`]).
    pub(super) fn overlap_with_loading(&mut self, main_ready: Instant, data_ready: Instant) {
        let calls = self.waited;
        self.waited = waited_before_trials(main_ready, data_ready, calls);
        tracing::debug!(
            calls = calls.as_secs_f64(),
            waited = self.waited.as_secs_f64(),
            "tracking before the trials (the data loaded meanwhile)"
        );
    }
}

/// How long the trials waited on the tracking calls made before them (`calls` in all, on
/// the main thread, which was ready at `main_ready`), given that the data they also needed
/// was ready at `data_ready`: the calls delayed the start only by what outlasted the loading.
pub(super) fn waited_before_trials(
    main_ready: Instant,
    data_ready: Instant,
    calls: Duration,
) -> Duration {
    let start = main_ready.max(data_ready);
    let start_without_calls = main_ready
        .checked_sub(calls)
        .map_or(data_ready, |ready| ready.max(data_ready));
    start.saturating_duration_since(start_without_calls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_made_while_the_data_loads_are_waited_on_only_for_what_outlasts_the_loading() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let ms = Duration::from_millis;
        // Data ready at 500 ms, main ready at 300 ms after 200 ms of calls: nothing waited.
        assert_eq!(waited_before_trials(at(300), at(500), ms(200)), ms(0));
        // Main ready at 700 ms after 400 ms of calls, data at 500 ms: 200 ms waited.
        assert_eq!(waited_before_trials(at(700), at(500), ms(400)), ms(200));
        // Data ready first (at 100 ms): every call was waited on.
        assert_eq!(waited_before_trials(at(700), at(100), ms(400)), ms(400));
        // Calls longer than the time since t0 cannot make the wait exceed them.
        assert_eq!(waited_before_trials(at(700), at(0), ms(700)), ms(700));
    }
}
