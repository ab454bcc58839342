//! The `vigie` command. `main` only maps the outcome of [`vigie_cli::run`] to an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    vigie_cli::main_with_exit_code()
}
