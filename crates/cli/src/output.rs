//! Terminal output: logging, JSON for scripts, progress on stderr only when it is a terminal.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// Whether stdout and stderr may carry colours, decided once from `--color` and `NO_COLOR`.
static COLOR: OnceLock<Colors> = OnceLock::new();

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Colors {
    stdout: bool,
    stderr: bool,
}

/// Decides colours for the whole process: `--color always` and `never` are obeyed as they
/// are; `auto` colours a stream that is a terminal unless `NO_COLOR` is set to something.
pub fn init_color(choice: crate::args::ColorOpt) {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let _ = COLOR.set(colors(
        choice,
        no_color,
        std::io::stdout().is_terminal(),
        std::io::stderr().is_terminal(),
    ));
}

fn colors(
    choice: crate::args::ColorOpt,
    no_color: bool,
    stdout_terminal: bool,
    stderr_terminal: bool,
) -> Colors {
    use crate::args::ColorOpt;
    match choice {
        ColorOpt::Always => Colors {
            stdout: true,
            stderr: true,
        },
        ColorOpt::Never => Colors {
            stdout: false,
            stderr: false,
        },
        ColorOpt::Auto => Colors {
            stdout: stdout_terminal && !no_color,
            stderr: stderr_terminal && !no_color,
        },
    }
}

/// Whether what goes to stdout may be coloured (`false` before [`init_color`]).
pub fn color_stdout() -> bool {
    COLOR.get().is_some_and(|c| c.stdout)
}

/// Whether what goes to stderr may be coloured (`false` before [`init_color`]).
pub fn color_stderr() -> bool {
    COLOR.get().is_some_and(|c| c.stderr)
}

/// The ANSI colours Vigie uses.
#[derive(Debug, Clone, Copy)]
pub enum Paint {
    Red,
    Green,
    Yellow,
    Dim,
}

/// `text` in a colour when `on`, else as it is.
pub fn paint(text: &str, colour: Paint, on: bool) -> String {
    if !on {
        return text.to_owned();
    }
    let code = match colour {
        Paint::Red => "1;31",
        Paint::Green => "32",
        Paint::Yellow => "33",
        Paint::Dim => "2",
    };
    format!("\u{1b}[{code}m{text}\u{1b}[0m")
}

/// Log to stderr; `RUST_LOG` overrides the level chosen by -v / -q.
pub fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color_stderr())
        .try_init();
}

/// `27190` as `27,190`: counts a reader compares at a glance.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Write one JSON document to stdout.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let mut text = serde_json::to_vec_pretty(value)?;
    text.push(b'\n');
    // Written as plain io so a closed pipe surfaces as an io::Error (quietly ignored by main).
    std::io::stdout().lock().write_all(&text)?;
    Ok(())
}

/// A spinner with a message on stderr, hidden when stderr is not a terminal or in quiet mode.
pub fn spinner(quiet: bool, message: impl Into<String>) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(message.into());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A byte-count bar for downloads (a spinner when the size is unknown).
pub fn download_bar(quiet: bool, total: Option<u64>, name: &str) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    let template = "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}";
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(name.to_owned());
    bar
}

/// Human summaries go to stderr so that stdout stays clean for results.
#[macro_export]
macro_rules! say {
    ($quiet:expr, $($arg:tt)*) => {
        if !$quiet {
            eprintln!($($arg)*);
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::ColorOpt;

    #[test]
    fn no_color_and_the_color_option_decide_colours() {
        let both = |c: Colors| (c.stdout, c.stderr);
        assert_eq!(
            both(colors(ColorOpt::Auto, false, true, false)),
            (true, false)
        );
        assert_eq!(
            both(colors(ColorOpt::Auto, true, true, true)),
            (false, false)
        );
        assert_eq!(
            both(colors(ColorOpt::Always, true, false, false)),
            (true, true)
        );
        assert_eq!(
            both(colors(ColorOpt::Never, false, true, true)),
            (false, false)
        );
        assert_eq!(paint("x", Paint::Red, false), "x");
        assert_eq!(paint("x", Paint::Green, true), "\u{1b}[32mx\u{1b}[0m");
    }

    #[test]
    fn thousands_are_grouped_by_three() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(27_190), "27,190");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
