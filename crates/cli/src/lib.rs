/*!
The `vigie` command line: it wires Vigie's libraries together and is the only
place that talks to the user (terminal output, `--json`, progress bars) and to
the network (dataset downloads).

Each subcommand lives in its own module under `cmd/`; [`args`] holds the clap
definitions, whose doc comments are the `--help` text.
*/

pub mod args;
pub mod cmd;
pub mod output;

use std::process::ExitCode;

use clap::Parser;

/// Exit status of a failed command (clap uses 2 for usage errors).
pub const EXIT_FAILURE: u8 = 1;

/// A command that printed its report and ends with a status of its own (a window that
/// drifted, a run that did not reproduce, an interrupted sweep): returned as an error so that
/// every command leaves through [`main_with_exit_code`], with its output flushed, and printed
/// by nothing (the command has said why).
#[derive(Debug)]
pub struct ExitStatus {
    pub code: u8,
    pub reason: &'static str,
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (exit status {})", self.reason, self.code)
    }
}

impl std::error::Error for ExitStatus {}

/// Parse the arguments, run the command, print any error once with its causes.
pub fn main_with_exit_code() -> ExitCode {
    let cli = args::Cli::parse();
    output::init_color(cli.global.color);
    output::init_logging(cli.global.verbose, cli.global.quiet);
    match cmd::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if let Some(status) = err.downcast_ref::<ExitStatus>() {
                return ExitCode::from(status.code);
            }
            // A closed pipe (`vigie ... | head`) is not a failure.
            let broken_pipe = err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            });
            if broken_pipe {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", error_report(&err));
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// The error and its causes on one line, `outer: inner: ...`, leaving out a cause whose text
/// is already there: many errors print their source in their own message (`{path}: cannot
/// read: {source}`), and anyhow's `{:#}` would then print the OS error twice.
pub fn error_report(err: &anyhow::Error) -> String {
    let mut report = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if report.contains(&text) {
            continue;
        }
        if !report.is_empty() {
            report.push_str(": ");
        }
        report.push_str(&text);
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_already_in_its_parents_message_is_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file (os error 2)");
        let err = anyhow::Error::new(vigie_runner::RunError::io(
            "x.toml",
            "cannot read the run config",
            io,
        ))
        .context("training x.toml");
        assert_eq!(
            error_report(&err),
            "training x.toml: x.toml: cannot read the run config: No such file (os error 2)"
        );
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_report(&plain), "outer: inner");
    }
}
