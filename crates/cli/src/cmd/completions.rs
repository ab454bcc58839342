//! `vigie completions SHELL`: clap_complete's script for bash, zsh or fish, from the same clap
//! definitions as the parser, so completions never lag the commands.

use clap::CommandFactory;

use crate::args::{Cli, CompletionsArgs};

pub fn completions(args: &CompletionsArgs) -> anyhow::Result<()> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "vigie", &mut script);
    // Written as plain io so a closed pipe surfaces as an io::Error (quietly ignored by main).
    std::io::Write::write_all(&mut std::io::stdout().lock(), &script)?;
    Ok(())
}
