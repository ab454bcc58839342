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

/// Parse the arguments, run the command, print any error once with its causes.
pub fn main_with_exit_code() -> ExitCode {
    let cli = args::Cli::parse();
    output::init_color(cli.global.color);
    output::init_logging(cli.global.verbose, cli.global.quiet);
    match cmd::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // A closed pipe (`vigie ... | head`) is not a failure.
            let broken_pipe = err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            });
            if broken_pipe {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {err:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
