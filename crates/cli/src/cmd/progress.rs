//! Training progress on the terminal: one bar per phase (a spinner when its size is unknown),
//! and one line per epoch with its metrics. Nothing is drawn when stderr is not a terminal or
//! with --quiet; epoch lines are still printed unless --quiet, so logs of CI runs show them.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use vigie_models::TrainObserver;

pub struct TerminalProgress {
    bar: ProgressBar,
    quiet: bool,
    draw: bool,
}

impl TerminalProgress {
    pub fn new(quiet: bool) -> Self {
        TerminalProgress {
            bar: ProgressBar::hidden(),
            quiet,
            draw: !quiet && std::io::stderr().is_terminal(),
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        if self.draw {
            self.bar.println(text);
        } else {
            eprintln!("{text}");
        }
    }
}

impl TrainObserver for TerminalProgress {
    fn phase(&mut self, name: &str, total: Option<u64>) {
        self.bar.finish_and_clear();
        if !self.draw {
            return;
        }
        self.bar = match total {
            Some(total) => {
                let bar = ProgressBar::new(total);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{msg:>14} [{bar:40}] {pos}/{len} [{elapsed} < {eta}]",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar
            }
            None => {
                let bar = ProgressBar::new_spinner();
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.enable_steady_tick(Duration::from_millis(120));
                bar
            }
        };
        self.bar.set_message(name.to_owned());
    }

    fn advance(&mut self, units: u64) {
        self.bar.inc(units);
    }

    fn epoch(&mut self, step: u64, metrics: &[(&str, f64)]) {
        let values: Vec<String> = metrics
            .iter()
            .map(|(key, value)| format!("{key}={value:.5}"))
            .collect();
        self.line(&format!("epoch {step}: {}", values.join(" ")));
    }

    fn note(&mut self, message: &str) {
        self.line(message);
    }
}
