//! One module per subcommand; [`run`] dispatches.

pub mod adapt;
pub mod attack;
mod attack_beside;
pub mod bench;
pub mod bench_mlflow;
pub mod completions;
pub mod config;
pub mod data;
pub mod eval;
pub mod experiments;
pub mod feedback;
pub mod fetch;
pub mod mlflow;
pub mod monitor;
pub mod progress;
pub mod runs;
pub mod score;
pub mod sweep;
pub mod train;

use std::path::Path;

use anyhow::Context;
use vigie_data::Catalog;

use crate::args::{
    BenchCommand, Cli, Command, ConfigCommand, DataCommand, ExperimentsCommand, FeedbackCommand,
    GlobalArgs, MlflowCommand, RunsCommand,
};

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let global = &cli.global;
    match cli.command {
        Command::Data(DataCommand::List) => data::list(global),
        Command::Data(DataCommand::Show { dataset }) => data::show(global, &dataset),
        Command::Data(DataCommand::Fetch(args)) => fetch::fetch(global, &args),
        Command::Data(DataCommand::Verify { dataset }) => data::verify(global, &dataset),
        Command::Data(DataCommand::Stats(args)) => data::stats(global, &args),
        Command::Data(DataCommand::Prepare(args)) => data::prepare(global, &args),
        Command::Bench(BenchCommand::Tfidf(args)) => bench::tfidf(global, &args),
        Command::Bench(BenchCommand::Score(args)) => bench::score(global, &args),
        Command::Bench(BenchCommand::Mlflow(args)) => bench_mlflow::mlflow(global, &args),
        Command::Bench(BenchCommand::Monitor(args)) => monitor::bench::bench(global, &args),
        Command::Mlflow(MlflowCommand::Sync(args)) => mlflow::sync(global, &args),
        Command::Train(args) => train::train(global, &args),
        Command::Adapt(args) => adapt::adapt(global, &args),
        Command::Eval(args) => eval::eval(global, &args),
        Command::Attack(args) => attack::attack(global, &args),
        Command::Sweep(args) => sweep::sweep(global, &args),
        Command::Config(ConfigCommand::Template(args)) => config::template(global, &args),
        Command::Init(args) => config::init(global, &args),
        Command::Runs(RunsCommand::List(args)) => runs::list::list(global, &args),
        Command::Runs(RunsCommand::Show(args)) => runs::show::show(global, &args),
        Command::Runs(RunsCommand::Delete(args)) => runs::delete::delete(global, &args),
        Command::Runs(RunsCommand::Compare(args)) => runs::compare::compare(global, &args),
        Command::Experiments(ExperimentsCommand::List(args)) => experiments::list(global, &args),
        Command::Reproduce(args) => runs::reproduce::reproduce(global, &args),
        Command::Feedback(FeedbackCommand::Add(args)) => feedback::add(global, &args),
        Command::Feedback(FeedbackCommand::Show(args)) => feedback::show(global, &args),
        Command::Completions(args) => completions::completions(&args),
        Command::Score(args) => score::score(global, &args),
        Command::Serve(args) => score::serve(global, &args),
        Command::Monitor(args) => monitor::monitor(global, &args),
    }
}

/// The dataset definitions: built-in ones, overridden by `--datasets-dir` or `./datasets`.
pub fn catalog(global: &GlobalArgs) -> anyhow::Result<Catalog> {
    let dir = match &global.datasets_dir {
        Some(dir) => Some(dir.as_path()),
        None => Some(Path::new("datasets")).filter(|d| d.is_dir()),
    };
    match dir {
        Some(dir) => Catalog::with_dir(dir)
            .with_context(|| format!("reading dataset definitions in {}", dir.display())),
        None => Ok(Catalog::builtin()?),
    }
}
