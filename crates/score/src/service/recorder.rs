//! The monitoring recorder: a thread of its own that sleeps until the open window closes, takes
//! it out of the model's [`LiveWindows`](super::windows::LiveWindows) and logs it to the
//! model's run ([`ServiceRun`]), so that no request ever waits on MLflow. A reload that swaps
//! the model ends the old model's run (its partial window logged) and starts the new one's; a
//! stop logs the partial window and ends the run.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use vigie_mlflow::now_millis;

use super::window_run::ServiceRun;
use super::windows::{MonitoringConfig, Watched};

/// The longest a shutdown waits for the last window to be logged: everything is journaled
/// before it is sent, so a tracking server too slow for this loses nothing (`vigie mlflow
/// sync` sends it later).
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(15);

enum Command {
    /// The model was swapped: end the current run, start one for this model (`None`: the
    /// new model cannot be monitored).
    Watch(Option<Watched>),
    Stop,
}

/// The handle on the recorder thread.
pub(super) struct Recorder {
    commands: Sender<Command>,
    done: Receiver<()>,
    thread: JoinHandle<()>,
}

impl Recorder {
    /// Starts the thread, recording `first`'s windows.
    pub fn start(config: MonitoringConfig, first: Watched) -> std::io::Result<Recorder> {
        let (commands, received) = mpsc::channel();
        let (finished, done) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("vigie-monitor".to_owned())
            .spawn(move || {
                record(&config, first, &received);
                let _ = finished.send(());
            })?;
        Ok(Recorder {
            commands,
            done,
            thread,
        })
    }

    /// Ends the current run and records `next` from now on.
    pub fn watch(&self, next: Option<Watched>) {
        if self.commands.send(Command::Watch(next)).is_err() {
            tracing::warn!("the monitoring recorder has stopped: the new model is not monitored");
        }
    }

    /// Logs the partial window, ends the run and waits for it, at most [`SHUTDOWN_WAIT`].
    pub fn stop(self) {
        let _ = self.commands.send(Command::Stop);
        match self.done.recv_timeout(SHUTDOWN_WAIT) {
            Ok(()) => {
                if self.thread.join().is_err() {
                    tracing::error!("the monitoring recorder panicked");
                }
            }
            Err(RecvTimeoutError::Timeout) => tracing::warn!(
                "the tracking store is slow: the last monitoring window stays in the journal \
                 for `vigie mlflow sync`"
            ),
            Err(RecvTimeoutError::Disconnected) => {
                tracing::error!("the monitoring recorder stopped before its run ended");
            }
        }
    }
}

/// The recorder's loop: one run at a time, windows logged as they close.
fn record(config: &MonitoringConfig, first: Watched, commands: &Receiver<Command>) {
    let mut run = Some(ServiceRun::start(config, first));
    loop {
        let received = match &run {
            Some(current) => commands.recv_timeout(current.until_next_close(now_millis())),
            None => commands.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match received {
            Err(RecvTimeoutError::Timeout) => {
                if let Some(current) = run.as_mut() {
                    current.log_closed(now_millis());
                }
            }
            Ok(Command::Watch(next)) => {
                if let Some(current) = run.take() {
                    current.finish(now_millis());
                }
                run = next.map(|watched| ServiceRun::start(config, watched));
            }
            // A dropped service (never served) stops the recorder too.
            Ok(Command::Stop) | Err(RecvTimeoutError::Disconnected) => {
                if let Some(current) = run.take() {
                    current.finish(now_millis());
                }
                return;
            }
        }
    }
}
