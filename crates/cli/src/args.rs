//! Command-line arguments (clap). Raw, validated values only: the commands in
//! `cmd/` turn them into library configurations.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use vigie_runner::overrides::Override;

/// Vigie: train, compare and serve models that detect malicious HTTP requests.
#[derive(Debug, Parser)]
#[command(
    name = "vigie",
    version,
    about,
    after_help = "Examples:\n  \
    vigie data list\n  \
    vigie --data-dir ../shared/datasets data stats fwaf --out out/stats/fwaf\n  \
    vigie data stats csic2010 --json\n  \
    vigie data fetch fwaf\n  \
    vigie data prepare fwaf --out out/fwaf-split"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Folder holding the dataset files (`fwaf/badqueries.txt`, ...).
    #[arg(long, global = true, env = "VIGIE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Folder of dataset definitions (`*.toml`) overriding the built-in ones
    /// [default: ./datasets when it exists].
    #[arg(long, global = true, env = "VIGIE_DATASETS_DIR")]
    pub datasets_dir: Option<PathBuf>,
    /// Print results as JSON on stdout (one document per command) for scripts.
    #[arg(long, global = true)]
    pub json: bool,
    /// Only print results and errors: no progress, no summaries on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Colours on the terminal: auto (when the output is a terminal and NO_COLOR is unset),
    /// always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorOpt::Auto)]
    pub color: ColorOpt,
}

/// `--color`: when the output may carry ANSI colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorOpt {
    /// On a terminal, unless NO_COLOR is set (to anything but an empty string).
    Auto,
    /// Always, even into a pipe or a file.
    Always,
    /// Never.
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Datasets: list, fetch, verify, describe and split them.
    #[command(subcommand)]
    Data(DataCommand),
    /// Benchmarks that compare Vigie with the scikit-learn reference in the same run.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// MLflow tracking: send the runs that could not reach the server.
    #[command(subcommand)]
    Mlflow(MlflowCommand),
    /// Train one model from a run config and log it as one MLflow run.
    ///
    /// The config (TOML, see configs/) names the dataset and split, the model and its
    /// hyperparameters, the threshold rule and the seed. The run goes to the MLflow server of
    /// MLFLOW_TRACKING_URI, or to the local store ./mlruns when it is unset; every operation is
    /// journaled first, so a run survives an unreachable server (`vigie mlflow sync` sends it
    /// later). The model, resolved config, metrics and charts are also written under --out.
    #[command(
        after_help = "Examples:\n  vigie train configs/fwaf-linear-svm.toml\n  vigie train configs/fwaf-linear-svm.toml --set model.c=2 --set data.split.seed=7\n  MLFLOW_TRACKING_URI=http://127.0.0.1:5000 vigie train configs/csic2010-cnn.toml --out out/runs/cnn"
    )]
    Train(TrainArgs),
    /// Score a dataset with a saved model, or train on each dataset and evaluate on every other
    /// (--matrix).
    #[command(
        after_help = "Examples:\n  vigie eval --model out/runs/fwaf-linear-svm/model --dataset csic2010\n  vigie eval --matrix --config configs/fwaf-linear-svm.toml --out out/matrix"
    )]
    Eval(EvalArgs),
    /// Search for rewrites of attack payloads that a model no longer flags: an evasion search.
    ///
    /// Each payload the model flags is rewritten round after round by meaning-preserving
    /// operators (SQL keyword case, separators, comments, integer and operator spellings, logical
    /// invariants, double percent-encoding, padding with ordinary words; tag and attribute
    /// spelling for XSS), keeping the lowest-scoring variants, until it scores under the
    /// threshold or the rounds run out. Prints the evasion rate per round and per attack family
    /// and the operators that helped most; writes the evading payloads (evasions.jsonl) and a
    /// chart under --out, and logs the search as an MLflow run unless --no-track.
    #[command(
        after_help = "Examples:\n  vigie attack --model out/runs/field/model --dataset fwaf\n  vigie attack --model models:/vigie-field@champion --input payloads.txt --rounds 50 --out out/attack\n  vigie attack --model $RUN_ID --dataset fwaf --family sqli --limit 100 --beam 4 --json"
    )]
    Attack(AttackArgs),
    /// Run a hyperparameter sweep: every trial of a sweep file as a child run of one parent run.
    ///
    /// The sweep file (TOML, see experiments/) names a base run config, a search space (grid or
    /// random, one or more model families), the metric to optimise, how many trials run at
    /// once, an optional pruning rule and the registered model for the champion. Running it
    /// again resumes it: trials already FINISHED in the tracking store are skipped, FAILED,
    /// KILLED and stale RUNNING ones run again. --shard I/N runs one of N deterministic slices,
    /// so that many machines can share one sweep against one MLflow server. Ctrl-C stops
    /// cleanly (running trials end KILLED; a second Ctrl-C exits at once). Ends with the
    /// leaderboard of every finished trial, also logged on the parent run.
    #[command(
        after_help = "Examples:\n  vigie sweep experiments/quickstart.toml\n  vigie sweep experiments/fwaf-linear-grid.toml --set data.split.seed=7 --dry-run\n  MLFLOW_TRACKING_URI=http://127.0.0.1:5000 vigie sweep experiments/fwaf-linear-grid.toml --shard 1/4\n  vigie sweep experiments/fwaf-neural-random.toml --dry-run"
    )]
    Sweep(SweepArgs),
    /// Run configs and sweep files: commented templates with every key and its default.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Start a project: write configs/my-run.toml (a run config) and experiments/my-sweep.toml (a
    /// sweep over it), commented, every key with its default.
    #[command(
        after_help = "Examples:\n  vigie init\n  vigie init --kind mlp --dir my-project\n  vigie train my-project/configs/my-run.toml --set model.training.epochs=1"
    )]
    Init(InitArgs),
    /// Runs in the tracking store: list, show, delete, compare.
    ///
    /// Every subcommand reads the store of --tracking-uri, else MLFLOW_TRACKING_URI, else the
    /// local store ./mlruns; RUN is a run id or the start of one (the short ids `runs list`
    /// prints).
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Experiments in the tracking store.
    #[command(subcommand)]
    Experiments(ExperimentsCommand),
    /// Print a shell completion script for bash, zsh or fish on stdout.
    #[command(
        after_help = "Examples:\n  vigie completions bash > ~/.local/share/bash-completion/completions/vigie\n  vigie completions zsh > ~/.zfunc/_vigie\n  vigie completions fish > ~/.config/fish/completions/vigie.fish"
    )]
    Completions(CompletionsArgs),
    /// Train a logged run again from its resolved config and compare every metric with the
    /// original's (identical on the CPU backend). Exits with status 3 when they differ.
    #[command(
        after_help = "Example:\n  vigie reproduce 0123456789abcdef0123456789abcdef\n  MLFLOW_TRACKING_URI=http://127.0.0.1:5000 vigie reproduce $RUN_ID --json"
    )]
    Reproduce(ReproduceArgs),
    /// Analysts' verdicts on alerts, kept as feedback datasets that runs train on
    /// (`[data.feedback]`) and that guard a sweep's champion.
    #[command(subcommand)]
    Feedback(FeedbackCommand),
    /// Adapt a trained model to a site: its own traffic (mostly benign, unlabelled) joins the
    /// training data as benign, and the threshold is raised to a target alert rate on it.
    ///
    /// The parent's run config (beside the model folder, or the run's `config.toml` artifact,
    /// or --config) is trained again with a `[data.site]` table: a new MLflow run, tagged with
    /// its parent, whose config reproduces it. Part of the traffic (--holdout) is kept out and
    /// measured on, for the parent and the adapted model side by side.
    #[command(
        after_help = "Examples:\n  vigie adapt --model out/runs/field/model --traffic site-requests.txt --alert-rate 0.0001\n  vigie adapt --model models:/vigie-field@champion --site-dataset echows-urldetect --holdout 0.5 --seed 7\n  vigie adapt --model out/runs/field --traffic site.txt --threshold-only --holdout 0"
    )]
    Adapt(AdaptArgs),
    /// Score requests with a trained model: one or more on the command line, or a file (or
    /// standard input, or a growing log with --follow), with the verdict, the score and the
    /// features that drove it.
    ///
    /// --model is a saved model folder (or a run folder holding `model/`), a run id, or a
    /// registry URI (`models:/NAME@ALIAS`, `models:/NAME/VERSION`) on the MLflow server of
    /// MLFLOW_TRACKING_URI; downloads are cached under --cache-dir and verified (sha256 of every
    /// file) before use. Requests are decoded like the model's training data (percent-decoding
    /// for the shipped datasets) unless --no-decode.
    #[command(
        after_help = "Examples:\n  vigie score --model out/sweeps/quickstart/trials/<trial>/model \"/index.php?id=1' or 1=1--\"\n  MLFLOW_TRACKING_URI=http://127.0.0.1:5000 vigie score --model models:/vigie-field@champion --input access.log --input-format clf --output verdicts.csv\n  vigie score --model models:/vigie-field@champion --input access.log --output verdicts.jsonl --monitor 1h\n  tail -f access.log | vigie score --model $RUN_ID --input - --input-format clf --format jsonl"
    )]
    Score(ScoreArgs),
    /// Serve a model over HTTP for the SIEM: MLflow's `POST /invocations` (so tools built for
    /// `mlflow models serve` work unchanged), `POST /score` (verdicts with explanations),
    /// `GET /health`, `/version` and `/metrics` (Prometheus).
    ///
    /// Binds 127.0.0.1 unless told otherwise. The model is reloaded on SIGHUP and every
    /// --reload-interval seconds when its reference now names another model (a registry alias
    /// moved), without dropping requests; a failed reload keeps the old model serving.
    #[command(
        after_help = "Examples:\n  vigie serve --model out/sweeps/quickstart/trials/<trial>/model\n  MLFLOW_TRACKING_URI=http://127.0.0.1:5000 vigie serve --model models:/vigie-field@champion --reload-interval 60 --token-file /run/secrets/vigie\n  curl -s 127.0.0.1:8080/invocations -H 'Content-Type: application/json' -d '{\"inputs\": [\"/a?id=1 or 1=1\"]}'"
    )]
    Serve(ServeArgs),
    /// Monitor a model on access logs: requests scored and counted in fixed time windows from
    /// their own timestamps, one MLflow run per input file whose metrics are per window, and a
    /// drift flag.
    ///
    /// Each window gets its requests, alerts and alert rate, score quantiles, alerts by attack
    /// family, the PSI of its scores against the benign validation scores kept with the model,
    /// and the share of lines the parser could not read; metric points are stepped by the
    /// window's index since the epoch and stamped with its start, so the MLflow UI charts a
    /// model's life like a training curve. A window drifts when its PSI is over --psi-bound or
    /// its alert rate over --alert-factor × the expected rate (the model's validation
    /// false-positive rate, at least 0.001, or --expected-alert-rate). Exits with status 3 when
    /// any window drifted (1 on errors). A dead tracking server does not stop it: the run is
    /// journaled for `vigie mlflow sync`. See docs/monitoring.md.
    #[command(
        after_help = "Examples:\n  vigie monitor --model out/runs/field/model --input access.log --window 1d\n  MLFLOW_TRACKING_URI=http://127.0.0.1:5000 vigie monitor --model models:/vigie-field@champion --input /var/log/nginx/access.log.1.gz /var/log/nginx/access.log --window 1h --json\n  vigie monitor --model $RUN_ID --input events.jsonl --input-format jsonl --column url --time-field ts --psi-bound 0.25"
    )]
    Monitor(MonitorArgs),
}

/// The model a scoring command loads, and how it decides: shared by `score`, `serve` and
/// `monitor`.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// The model: a folder, a run id, or models:/NAME@ALIAS, models:/NAME/VERSION.
    #[arg(long)]
    pub model: String,
    /// Flag requests scoring at or above this instead of the model's stored threshold.
    #[arg(long, conflicts_with = "target_fpr")]
    pub threshold: Option<f64>,
    /// Choose the threshold again for this false-positive rate on the validation scores kept
    /// with the model (as training's `threshold.rule = "target_fpr"` does), e.g. 0.001.
    #[arg(long)]
    pub target_fpr: Option<f64>,
    /// Score the requests as given, without the training data's decoding.
    #[arg(long)]
    pub no_decode: bool,
    /// Where models downloaded from a server are cached.
    #[arg(long, env = "VIGIE_MODEL_CACHE", default_value = ".vigie/models")]
    pub cache_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct MonitorArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Logs to monitor (plain or gzip), each its own source and MLflow run.
    #[arg(long, short, required = true, num_args = 1..)]
    pub input: Vec<PathBuf>,
    /// How the inputs are laid out: clf (Common or Combined Log Format), csv, jsonl, splunk
    /// [default: from the file name (.log: clf, .csv, .jsonl), else clf].
    #[arg(long, value_parser = ["csv", "jsonl", "splunk", "clf"])]
    pub input_format: Option<String>,
    /// The column (csv), field (jsonl, dotted path) or Splunk result field holding the request
    /// [default: text for csv and jsonl, _raw for splunk].
    #[arg(long)]
    pub column: Option<String>,
    /// The field holding each request's time (csv, jsonl, splunk) [default: the first of _time,
    /// time, timestamp]; an access log's own date otherwise.
    #[arg(long)]
    pub time_field: Option<String>,
    /// Window length: a number and a unit, s, m, h or d (30m, 1h, 1d).
    #[arg(long, default_value = "1h")]
    pub window: String,
    /// Requests scored together.
    #[arg(long, default_value_t = 1024)]
    pub batch_size: usize,
    /// Folder for each source's monitor.json and chart [default: out/monitor/<model kind>-<time>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Tracking store for the runs, and where a run id or models:/ URI is found.
    #[arg(long)]
    pub tracking_uri: Option<String>,
    #[command(flatten)]
    pub monitoring: MonitorOptions,
}

/// How windows are judged and logged, for `vigie monitor` and `vigie score --monitor`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Monitoring")]
pub struct MonitorOptions {
    /// A window drifts when the PSI of its scores against validation is over this.
    #[arg(long, default_value_t = vigie_score::monitor::drift::DEFAULT_PSI_BOUND)]
    pub psi_bound: f64,
    /// A window drifts when its alert rate is over this many times the expected rate.
    #[arg(long, default_value_t = vigie_score::monitor::drift::DEFAULT_ALERT_FACTOR)]
    pub alert_factor: f64,
    /// The alert rate expected on ordinary traffic [default: the model's false-positive rate on
    /// its validation split at the threshold, at least 0.001].
    #[arg(long)]
    pub expected_alert_rate: Option<f64>,
    /// Windows with fewer requests are reported but never drift.
    #[arg(long, default_value_t = vigie_score::monitor::drift::DEFAULT_MIN_REQUESTS)]
    pub min_requests: u64,
    /// Do not log the monitoring as MLflow runs.
    #[arg(long)]
    pub no_track: bool,
    /// MLflow experiment of the monitoring runs.
    #[arg(long, default_value = "vigie-monitor")]
    pub experiment: String,
    /// Folder of the run journals.
    #[arg(long, env = "VIGIE_JOURNAL_DIR", default_value = ".vigie/journal")]
    pub journal_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: std::net::SocketAddr,
    /// Largest request body, in bytes (larger: 413).
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Most requests in one call (more: 413).
    #[arg(long, default_value_t = 1000)]
    pub max_batch: usize,
    /// Longest single request text, in bytes (longer: 413).
    #[arg(long, default_value_t = 64 * 1024)]
    pub max_request_bytes: usize,
    /// File holding a bearer token every route but /health requires.
    #[arg(long, env = "VIGIE_SERVE_TOKEN_FILE")]
    pub token_file: Option<std::path::PathBuf>,
    /// Seconds between two checks that the model reference still names the same model.
    #[arg(long)]
    pub reload_interval: Option<u64>,
    /// Seconds a call may take to arrive and be answered (slower: 408).
    #[arg(long, default_value_t = 30)]
    pub request_timeout: u64,
    /// Features per verdict in /score.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Tracking store for run ids and models:/ URIs (as for `vigie train`), and for the
    /// monitoring runs.
    #[arg(long)]
    pub tracking_uri: Option<String>,
    /// Record the service's own monitoring windows of this length (30m, 1h, 1d): one MLflow
    /// run per model served, one point per window and metric, as `vigie monitor` logs.
    #[arg(long)]
    pub monitor_window: Option<String>,
    /// MLflow experiment of the monitoring runs.
    #[arg(long, default_value = "vigie-monitor", requires = "monitor_window")]
    pub monitor_experiment: String,
    /// A window drifts when the PSI of its scores against validation is over this.
    #[arg(long, default_value_t = vigie_score::monitor::drift::DEFAULT_PSI_BOUND, requires = "monitor_window")]
    pub psi_bound: f64,
    /// A window drifts when its alert rate is over this many times the expected rate.
    #[arg(long, default_value_t = vigie_score::monitor::drift::DEFAULT_ALERT_FACTOR, requires = "monitor_window")]
    pub alert_factor: f64,
    /// The alert rate expected on ordinary traffic [default: the model's false-positive rate on
    /// its validation split at the threshold, at least 0.001].
    #[arg(long, requires = "monitor_window")]
    pub expected_alert_rate: Option<f64>,
    /// Windows with fewer requests are logged but never drift.
    #[arg(long, default_value_t = vigie_score::monitor::drift::DEFAULT_MIN_REQUESTS, requires = "monitor_window")]
    pub min_requests: u64,
    /// Folder of the monitoring runs' journals.
    #[arg(long, env = "VIGIE_JOURNAL_DIR", default_value = ".vigie/journal")]
    pub journal_dir: std::path::PathBuf,
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Requests to score (when no --input is given).
    #[arg(required_unless_present = "input", conflicts_with = "input")]
    pub requests: Vec<String>,
    /// A file of requests to score (`-`: standard input); plain or gzip.
    #[arg(long, short)]
    pub input: Option<std::path::PathBuf>,
    /// How --input is laid out: lines, csv, jsonl, splunk (Splunk JSON export), clf (Common or
    /// Combined Log Format access log) [default: from the extension: .csv, .jsonl or .ndjson,
    /// .log (clf), .txt (lines), with .gz looked through; standard input must say].
    #[arg(long, value_parser = ["lines", "csv", "jsonl", "splunk", "clf"])]
    pub input_format: Option<String>,
    /// Input fields copied into every output row, comma-separated: CSV columns, JSON Lines
    /// fields or Splunk result fields (dotted paths), e.g. `id,event_id,_time`. Access logs
    /// keep their time, method, status, user agent and referer on their own.
    #[arg(long, value_delimiter = ',', requires = "input")]
    pub keep: Vec<String>,
    /// The field (CSV column, JSON dotted path, Splunk result field) holding each request's
    /// time: RFC 3339, an access-log date, or epoch seconds or milliseconds
    /// [default: the first of _time, time, timestamp present; an access log's own time].
    #[arg(long, requires = "input")]
    pub time_field: Option<String>,
    /// The column (csv), field (jsonl, dotted path) or Splunk result field holding the request
    /// [default: text for csv and jsonl, _raw (an access-log line) for splunk].
    #[arg(long)]
    pub column: Option<String>,
    /// Where to write the verdicts [default: standard output].
    #[arg(long, short)]
    pub output: Option<std::path::PathBuf>,
    /// Output format for --input: csv, jsonl, or hec (Splunk HTTP Event Collector events, one
    /// JSON object per line) [default: csv; jsonl with --json and no --output].
    #[arg(long, value_parser = ["csv", "jsonl", "hec"])]
    pub format: Option<String>,
    /// Features shown per request (0: none, faster on large files).
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Keep reading --input as it grows (like `tail -f`), until Ctrl-C.
    #[arg(long, requires = "input")]
    pub follow: bool,
    /// Requests scored together (memory stays bounded by this).
    #[arg(long, default_value_t = 1024)]
    pub batch_size: usize,
    /// Tracking store for run ids and models:/ URIs (as for `vigie train`), and the monitoring
    /// run's.
    #[arg(long)]
    pub tracking_uri: Option<String>,
    /// Also monitor --input in windows of this length (30m, 1h, 1d), as `vigie monitor` does
    /// in the same pass: one MLflow run, drift as a tag and exit status 3.
    #[arg(
        long,
        value_name = "WINDOW",
        requires = "input",
        conflicts_with = "follow"
    )]
    pub monitor: Option<String>,
    /// Folder for the monitoring's monitor.json and chart [default: out/monitor/<model
    /// kind>-<time>].
    #[arg(long, requires = "monitor")]
    pub monitor_out: Option<PathBuf>,
    #[command(flatten)]
    pub monitoring: MonitorOptions,
}

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The sweep file (TOML).
    pub sweep: PathBuf,
    /// Run only the I-th of N deterministic slices of the trials (1-based), e.g. `2/4`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Trials run at once [default: the sweep file's max_parallel, else the core count].
    #[arg(long)]
    pub max_parallel: Option<usize>,
    /// Folder for the sweep's files [default: out/sweeps/<sweep name>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Tracking store (as for `vigie train`).
    #[arg(long)]
    pub tracking_uri: Option<String>,
    /// Folder of the run journals.
    #[arg(long, env = "VIGIE_JOURNAL_DIR", default_value = ".vigie/journal")]
    pub journal_dir: PathBuf,
    /// Print the trials (and the shard's slice) without running anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Set a key of the base run config, and so of every trial (`data.split.seed=7`,
    /// `model.training.epochs=3`), as `vigie train --set` does; the search space is applied on
    /// top. Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<Override>,
    /// Seconds between two refreshes of the parent run's heartbeat (how other processes tell
    /// this one is alive).
    #[arg(long, default_value_t = 30, hide = true)]
    pub heartbeat_seconds: u64,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print (or write) a commented run config for a model kind, or a sweep file: every key
    /// with its default and its meaning (docs/configuration.md).
    #[command(
        after_help = "Examples:\n  vigie config template linear_svm\n  vigie config template mlp --output my-mlp.toml\n  vigie config template sweep --output my-sweep.toml --force"
    )]
    Template(TemplateArgs),
}

/// What `vigie config template` writes: a model kind's run config, or a sweep file.
pub const TEMPLATE_KINDS: [&str; 9] = [
    "logistic_regression",
    "linear_svm",
    "isolation_forest",
    "mlp",
    "cnn",
    "lstm",
    "bilstm",
    "libinjection",
    "sweep",
];

#[derive(Debug, Args)]
pub struct TemplateArgs {
    /// A model kind (a run config) or `sweep` (a sweep file over configs/my-run.toml).
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(TEMPLATE_KINDS))]
    pub kind: String,
    /// Write it to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Overwrite --output when it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The model kind of the run config.
    #[arg(long, default_value = "linear_svm", value_parser = clap::builder::PossibleValuesParser::new(&TEMPLATE_KINDS[..8]))]
    pub kind: String,
    /// The folder to write configs/ and experiments/ in.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// Overwrite the files when they exist.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Subcommand)]
pub enum ExperimentsCommand {
    /// The experiments of the tracking store: id, name, creation time.
    #[command(
        after_help = "Examples:\n  vigie experiments list\n  vigie experiments list --tracking-uri http://127.0.0.1:5000 --json"
    )]
    List(ExperimentsListArgs),
}

#[derive(Debug, Args)]
pub struct ExperimentsListArgs {
    /// Tracking store (as for `vigie train`).
    #[arg(long)]
    pub tracking_uri: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// The runs of an experiment (of every experiment when none is named), newest first: short
    /// run id, name, status, start time (UTC), duration and a few key metrics.
    #[command(
        after_help = "Examples:\n  vigie runs list vigie-quickstart\n  vigie runs list vigie-quickstart --metric test_f1 --metric field_fpr --limit 10\n  vigie runs list --json"
    )]
    List(RunsListArgs),
    /// One run: its params, metrics, tags, datasets, artifacts, and its model (the logged
    /// model, and the registered versions with their aliases, on a server).
    #[command(
        after_help = "Examples:\n  vigie runs show 0123abcd\n  vigie runs show 0123456789abcdef0123456789abcdef --json"
    )]
    Show(RunsShowArgs),
    /// Delete a run the way MLflow does: marked deleted, hidden from listings, restorable
    /// (`mlflow runs restore --run-id ID`). Asks for confirmation on a terminal; elsewhere
    /// needs --yes.
    #[command(
        after_help = "Examples:\n  vigie runs delete 0123abcd\n  vigie runs delete 0123abcd --yes"
    )]
    Delete(RunsDeleteArgs),
    /// The leaderboard of an experiment's finished runs, best first.
    #[command(
        after_help = "Examples:\n  vigie runs compare vigie-fwaf\n  vigie runs compare vigie-quickstart --sweep quickstart --metric test_f1 --top 5\n  vigie runs compare vigie-csic2010 --kind linear_svm --json"
    )]
    Compare(CompareArgs),
}

#[derive(Debug, Args)]
pub struct RunsListArgs {
    /// Experiment name [default: every experiment].
    pub experiment: Option<String>,
    /// A metric to show (repeat for more) [default: up to three of test_f1, test_fpr,
    /// field_fpr, final_valid_f1, else the runs' most common metrics].
    #[arg(long = "metric", value_name = "KEY")]
    pub metrics: Vec<String>,
    /// Show the N newest runs.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Tracking store (as for `vigie train`).
    #[arg(long)]
    pub tracking_uri: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunsShowArgs {
    /// Run id, or its start (at least 4 characters, as `runs list` shows it).
    pub run: String,
    /// Tracking store (as for `vigie train`).
    #[arg(long)]
    pub tracking_uri: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunsDeleteArgs {
    /// Run id, or its start (at least 4 characters).
    pub run: String,
    /// Delete without asking (needed when standard input is not a terminal).
    #[arg(long, short)]
    pub yes: bool,
    /// Tracking store (as for `vigie train`).
    #[arg(long)]
    pub tracking_uri: Option<String>,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Experiment name.
    pub experiment: String,
    /// Ranking metric (a final metric: final_valid_f1, test_f1, test_roc_auc, ...).
    #[arg(long, default_value = "final_valid_f1")]
    pub metric: String,
    /// Rank lower values first (for losses, times, memory).
    #[arg(long)]
    pub minimize: bool,
    /// Only the trials of this sweep.
    #[arg(long)]
    pub sweep: Option<String>,
    /// Only runs of this model kind (linear_svm, cnn, ...).
    #[arg(long)]
    pub kind: Option<String>,
    /// Only runs on this dataset.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Also list runs that did not finish.
    #[arg(long)]
    pub all: bool,
    /// Show the first N rows.
    #[arg(long)]
    pub top: Option<usize>,
    /// Tracking store (as for `vigie train`).
    #[arg(long)]
    pub tracking_uri: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReproduceArgs {
    /// The run to reproduce (its run id in the tracking store).
    pub run_id: String,
    /// Folder for the new run's files [default: out/reproduce/<run id>-<time>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Tracking store (as for `vigie train`).
    #[arg(long)]
    pub tracking_uri: Option<String>,
    /// Folder of the run journals.
    #[arg(long, env = "VIGIE_JOURNAL_DIR", default_value = ".vigie/journal")]
    pub journal_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The run config (TOML).
    pub config: PathBuf,
    /// Folder for the run's files [default: out/runs/<run name>-<time>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Tracking store: an MLflow server URL, a `file:` URI or a folder [default:
    /// MLFLOW_TRACKING_URI, else ./mlruns].
    #[arg(long)]
    pub tracking_uri: Option<String>,
    /// Folder of the run journals.
    #[arg(long, env = "VIGIE_JOURNAL_DIR", default_value = ".vigie/journal")]
    pub journal_dir: PathBuf,
    /// Override the config's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Set a config key: a dotted key and a TOML value (`model.c=2`, `data.split.seed=7`,
    /// `threshold.rule=max_f1`; text that is no TOML value is a string). Repeatable, applied
    /// in order before the config is checked: an unknown key or a wrong type is refused, and
    /// the run logs and writes the resulting config.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<Override>,
}

#[derive(Debug, Args)]
pub struct AdaptArgs {
    /// The parent model: a folder (a run folder or its model/), a run id, or models:/NAME@ALIAS,
    /// models:/NAME/VERSION.
    #[arg(long)]
    pub model: String,
    /// The site's requests, one per line (decoded like the parent's training data).
    #[arg(
        long,
        required_unless_present = "site_dataset",
        conflicts_with = "site_dataset"
    )]
    pub traffic: Option<PathBuf>,
    /// A catalog dataset standing for the site: its benign requests are the traffic, its
    /// malicious ones measure recall.
    #[arg(long)]
    pub site_dataset: Option<String>,
    /// The parent's run config, when it is not beside the model nor in its run's artifacts.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Share of the traffic kept out of adaptation, to measure the alert rate on requests the
    /// adapted model never saw (0: adapt on all of it).
    #[arg(long, default_value_t = 0.5)]
    pub holdout: f64,
    /// Keys the hash that splits the traffic into adaptation and holdout parts.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The largest share of the site's requests allowed to raise an alert (0.0001: one per
    /// 10,000); the threshold is raised, never lowered, until it holds.
    #[arg(long, default_value_t = 0.0001)]
    pub alert_rate: f64,
    /// The most validation recall the alert rate may cost (0.01: one attack in a hundred); the
    /// threshold stops rising there.
    #[arg(long, default_value_t = 0.01)]
    pub max_recall_loss: f64,
    /// Keep the parent's training data: only set the threshold on the site's traffic.
    #[arg(long)]
    pub threshold_only: bool,
    /// Run name [default: <parent run name>-<site>].
    #[arg(long)]
    pub name: Option<String>,
    /// Register the adapted model under this name (the parent's registered model is not
    /// touched).
    #[arg(long)]
    pub register: Option<String>,
    /// Folder for the run's files [default: out/adapt/<run name>-<time>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Tracking store (as for `vigie train`).
    #[arg(long)]
    pub tracking_uri: Option<String>,
    /// Folder of the run journals.
    #[arg(long, env = "VIGIE_JOURNAL_DIR", default_value = ".vigie/journal")]
    pub journal_dir: PathBuf,
    /// Where models downloaded from a server are cached.
    #[arg(long, env = "VIGIE_MODEL_CACHE", default_value = ".vigie/models")]
    pub cache_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The model: a folder, a run id, or models:/NAME@ALIAS, models:/NAME/VERSION (as for
    /// `vigie score`).
    #[arg(long, required_unless_present = "matrix", conflicts_with = "matrix")]
    pub model: Option<String>,
    /// Datasets to score (repeatable) [default with --model: every defined dataset].
    #[arg(long = "dataset")]
    pub datasets: Vec<String>,
    /// Score every request of the datasets rather than their test split.
    #[arg(long)]
    pub all: bool,
    /// Train the --config model on each training dataset (fwaf and csic2010 by default; see
    /// --train-on) and evaluate each on every dataset: the test split of the training datasets,
    /// every request of the others (echows-urldetect: false positives on real benign traffic).
    #[arg(long)]
    pub matrix: bool,
    /// Run config for --matrix; its dataset is replaced by each training dataset.
    #[arg(long, requires = "matrix")]
    pub config: Option<PathBuf>,
    /// Training datasets for --matrix (repeatable).
    #[arg(long = "train-on", requires = "matrix")]
    pub train_on: Vec<String>,
    /// Datasets every --matrix model is evaluated on (repeatable) [default: the training
    /// datasets, then fwaf, csic2010 and echows-urldetect].
    #[arg(long = "evaluate-on", requires = "matrix")]
    pub evaluate_on: Vec<String>,
    /// Folder for the matrix's runs and tables [default: out/matrix-<time>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Tracking store for --matrix runs, and where a run id or models:/ URI is found (as for
    /// `vigie train`).
    #[arg(long)]
    pub tracking_uri: Option<String>,
    /// Folder of the run journals.
    #[arg(long, env = "VIGIE_JOURNAL_DIR", default_value = ".vigie/journal")]
    pub journal_dir: PathBuf,
    /// Where models downloaded from a server are cached.
    #[arg(long, env = "VIGIE_MODEL_CACHE", default_value = ".vigie/models")]
    pub cache_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct AttackArgs {
    /// The model: a folder, a run id, or models:/NAME@ALIAS, models:/NAME/VERSION (as for
    /// `vigie score`). Payloads are decoded like its training data before scoring.
    #[arg(long)]
    pub model: String,
    /// A file of attack payloads, one per line, as sent (raw).
    #[arg(long, required_unless_present = "dataset", conflicts_with = "dataset")]
    pub input: Option<PathBuf>,
    /// Attack the malicious requests of this dataset's test split (default split settings, as
    /// `vigie eval`), shuffled with --seed.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Attack families to keep, by the repository's family rules (comma-separated: sqli, xss,
    /// path-traversal, cmdi, other).
    #[arg(long, default_value = "sqli,xss")]
    pub family: String,
    /// Payloads per family at most.
    #[arg(long, default_value_t = 300)]
    pub limit: usize,
    /// Search rounds.
    #[arg(long, default_value_t = 30)]
    pub rounds: usize,
    /// Candidates made from each kept variant per round.
    #[arg(long, default_value_t = 8)]
    pub candidates: usize,
    /// Variants kept per payload (1: greedy search).
    #[arg(long, default_value_t = 1)]
    pub beam: usize,
    /// Operators to use (comma-separated names, or `all`).
    #[arg(long, default_value = "all")]
    pub operators: String,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Folder for evasions.jsonl, attack.json and evasion.png [default: out/attack/<model>-<time>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Do not log the search as an MLflow run.
    #[arg(long)]
    pub no_track: bool,
    /// Do not run the same search against libinjection beside the model (it is reported and
    /// logged as `libinjection_evasion_rate` otherwise).
    #[arg(long)]
    pub no_libinjection: bool,
    /// MLflow experiment of the run.
    #[arg(long, default_value = "vigie-attack")]
    pub experiment: String,
    /// Tracking store for the run, and where a run id or models:/ URI is found (as for
    /// `vigie train`).
    #[arg(long)]
    pub tracking_uri: Option<String>,
    /// Folder of the run journals.
    #[arg(long, env = "VIGIE_JOURNAL_DIR", default_value = ".vigie/journal")]
    pub journal_dir: PathBuf,
    /// Where models downloaded from a server are cached.
    #[arg(long, env = "VIGIE_MODEL_CACHE", default_value = ".vigie/models")]
    pub cache_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum MlflowCommand {
    /// Send to an MLflow server what did not reach it: first replay the pending run journals
    /// (runs logged while the server was unreachable, or cut short by a crash), then push the
    /// runs of the local store (`--from-store`, `./mlruns`: where runs go when no tracking URI
    /// is set) when that folder exists. Idempotent: nothing is logged twice, fully synced
    /// journals move to `<journal dir>/done/`, and a pushed run is found again on the server by
    /// its `push.source_run_id` tag (or its journal's `journal.client_run_id`), so pushing again
    /// sends only metric points, params, tags and datasets the server lacks. Experiments keep
    /// their names, parent runs their children, runs their final status and times. With
    /// `--json`, prints `{"journals": …, "local_store": … or null}`.
    #[command(
        after_help = "Example:\n  vigie mlflow sync --journal-dir .vigie/journal --to http://127.0.0.1:5000\n  vigie mlflow sync --from-store ./mlruns --to http://127.0.0.1:5000\n  MLFLOW_TRACKING_URI=http://127.0.0.1:5000 vigie mlflow sync --json"
    )]
    Sync(MlflowSyncArgs),
}

#[derive(Debug, Args)]
pub struct MlflowSyncArgs {
    /// Folder of the run journals (`<client run id>.jsonl`).
    #[arg(long, env = "VIGIE_JOURNAL_DIR", default_value = ".vigie/journal")]
    pub journal_dir: PathBuf,
    /// Tracking server to send them to [default: $MLFLOW_TRACKING_URI]. Credentials, retries
    /// and timeouts still come from the `MLFLOW_*` variables.
    #[arg(long, value_name = "URI")]
    pub to: Option<String>,
    /// Local MLflow file store whose runs are pushed after the journals; skipped when the
    /// folder does not exist.
    #[arg(long, value_name = "DIR", default_value = "mlruns")]
    pub from_store: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// List the known datasets and whether their files are in the data dir.
    List,
    /// Show a dataset's definition and the state of its files.
    Show {
        /// Dataset name, or the path of a definition file (`my.toml`).
        dataset: String,
    },
    /// Download a dataset's files into the data dir and verify their checksums.
    #[command(after_help = "Example:\n  vigie --data-dir ~/vigie-data data fetch fwaf")]
    Fetch(FetchArgs),
    /// Check the files in the data dir against the checksums of the definition.
    Verify { dataset: String },
    /// Describe a dataset: class counts before and after dedup, text lengths,
    /// targeted scripts and attack families, as CSV tables and PNG charts.
    #[command(
        after_help = "Example:\n  vigie data stats fwaf --out out/stats/fwaf\n  vigie data stats csic2010 --json | jq .after_dedup"
    )]
    Stats(StatsArgs),
    /// Load, deduplicate and split a dataset; write the splits as JSON Lines
    /// with a manifest (counts, digest) so any tool can use the same split.
    Prepare(PrepareArgs),
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    pub dataset: String,
    /// Download again even when a file is present and verified.
    #[arg(long)]
    pub force: bool,
    /// Seconds before a stalled download is abandoned.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
}

/// Dedup and split options shared by the commands that prepare data.
#[derive(Debug, Args, Clone)]
pub struct PrepareOpts {
    /// Keep duplicate texts and texts seen with both labels.
    #[arg(long)]
    pub no_dedup: bool,
    /// Fractions of the train/valid/test splits.
    #[arg(long, value_name = "TRAIN,VALID,TEST", default_value = "0.7,0.1,0.2", value_parser = parse_fractions)]
    pub split: (f64, f64, f64),
    /// Seed of the split.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

fn parse_fractions(s: &str) -> Result<(f64, f64, f64), String> {
    let parts: Vec<f64> = s
        .split(',')
        .map(|p| p.trim().parse::<f64>().map_err(|e| format!("{p:?}: {e}")))
        .collect::<Result<_, _>>()?;
    match parts.as_slice() {
        [a, b, c] => Ok((*a, *b, *c)),
        [a, c] => Ok((*a, 0.0, *c)),
        _ => Err("expected TRAIN,VALID,TEST (or TRAIN,TEST)".to_owned()),
    }
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    pub dataset: String,
    /// Folder for the CSV tables and PNG charts [default: out/stats/<dataset>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub prepare: PrepareOpts,
}

#[derive(Debug, Args)]
pub struct PrepareArgs {
    pub dataset: String,
    /// Folder for train.jsonl, valid.jsonl, test.jsonl and manifest.json.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub prepare: PrepareOpts,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Tokenise + TF-IDF transform throughput on a dataset's test split, beside
    /// scikit-learn's `TfidfVectorizer.transform` on the same texts, one core each.
    #[command(
        after_help = "Example:\n  vigie --data-dir ../shared/datasets bench tfidf --dataset fwaf --python .venv/bin/python"
    )]
    Tfidf(BenchTfidfArgs),
    /// Batch scoring of a dataset's test split with a saved model, one core, beside the
    /// scikit-learn reference pipeline's `transform + score` on the same texts (fitted on the
    /// same train split) in the same invocation; and single-request latency on both sides.
    #[command(
        after_help = "Example:\n  vigie --data-dir ../shared/datasets bench score --model out/sweeps/quickstart/trials/<trial>/model --dataset fwaf"
    )]
    Score(BenchScoreArgs),
    /// Logging one training run to an MLflow server: Vigie's run logger beside the Python
    /// `mlflow` client (per value, one `log_batch`, `log_metrics` per epoch), with the requests
    /// each sends and its wall time. Writes a scratch experiment to the server.
    #[command(
        after_help = "Example:\n  export MLFLOW_TRACKING_URI=$(scripts/mlflow-server start)\n  vigie bench mlflow --python .venv/bin/python\n  vigie bench mlflow --epochs 5 --json"
    )]
    Mlflow(BenchMlflowArgs),
    /// What monitoring costs: the requests of an access log scored in batches with and without
    /// the monitoring windows (`vigie monitor`'s accumulators), alternately, in one invocation;
    /// prints both throughputs and their ratio (the target: within 10 %). The log is read once
    /// beforehand, so the ratio is that of scoring alone, the strictest comparison.
    #[command(
        after_help = "Example:\n  vigie bench monitor --model out/runs/field/model --input access.log --window 1h"
    )]
    Monitor(BenchMonitorArgs),
}

#[derive(Debug, Args)]
pub struct BenchMonitorArgs {
    /// The model (a folder, a run id, or models:/...).
    #[arg(long)]
    pub model: String,
    /// The access log to score.
    #[arg(long, short)]
    pub input: PathBuf,
    /// How --input is laid out (as for `vigie monitor`).
    #[arg(long, value_parser = ["csv", "jsonl", "splunk", "clf"])]
    pub input_format: Option<String>,
    /// Window length (as for `vigie monitor`).
    #[arg(long, default_value = "1h")]
    pub window: String,
    /// Timed repetitions of each side (the median is reported).
    #[arg(long, default_value_t = 7)]
    pub repeats: usize,
    /// Requests scored together.
    #[arg(long, default_value_t = 1024)]
    pub batch_size: usize,
    /// Where models downloaded from a server are cached.
    #[arg(long, env = "VIGIE_MODEL_CACHE", default_value = ".vigie/models")]
    pub cache_dir: PathBuf,
    /// Tracking store for run ids and models:/ URIs.
    #[arg(long)]
    pub tracking_uri: Option<String>,
}

#[derive(Debug, Args)]
pub struct BenchMlflowArgs {
    /// The MLflow server to log to (http://127.0.0.1:5055, ...).
    #[arg(long, env = "MLFLOW_TRACKING_URI")]
    pub tracking_uri: String,
    /// Python with `mlflow` for the Python client's side; skipped when absent.
    #[arg(long, env = "VIGIE_PYTHON", default_value = ".venv/bin/python")]
    pub python: PathBuf,
    /// Epochs of the run (6 metrics each).
    #[arg(long, default_value_t = 100)]
    pub epochs: u32,
    /// Params of the run.
    #[arg(long, default_value_t = 50)]
    pub params: u32,
    /// Runs logged per mode: the median time and the most requests of one run are reported.
    #[arg(long, default_value_t = 3)]
    pub repeats: u32,
    /// Skip Vigie's second mode (a flush, so one request, per epoch).
    #[arg(long)]
    pub skip_per_epoch: bool,
}

#[derive(Debug, Args)]
pub struct BenchScoreArgs {
    /// The model to score with (a folder, a run id, or models:/...).
    #[arg(long)]
    pub model: String,
    #[arg(long, default_value = "fwaf")]
    pub dataset: String,
    /// The reference recipe (a model name of the peers' sklearn_reference.py).
    #[arg(long, default_value = "linsvc_char3")]
    pub reference: String,
    /// The scikit-learn reference pipeline.
    #[arg(long, default_value = "../shared/peers/sklearn_reference.py")]
    pub peers: std::path::PathBuf,
    /// Python with scikit-learn for the reference side; skipped when absent.
    #[arg(long, env = "VIGIE_PYTHON", default_value = ".venv/bin/python")]
    pub python: std::path::PathBuf,
    /// Timed repetitions of the batch (the median is reported).
    #[arg(long, default_value_t = 15)]
    pub repeats: usize,
    /// Requests scored one at a time for the latency percentiles.
    #[arg(long, default_value_t = 1000)]
    pub probes: usize,
    /// Where models downloaded from a server are cached.
    #[arg(long, env = "VIGIE_MODEL_CACHE", default_value = ".vigie/models")]
    pub cache_dir: std::path::PathBuf,
    /// Tracking store for run ids and models:/ URIs.
    #[arg(long)]
    pub tracking_uri: Option<String>,
}

#[derive(Debug, Args)]
pub struct BenchTfidfArgs {
    #[arg(long, default_value = "fwaf")]
    pub dataset: String,
    /// The vectoriser: `char3` (char 3-grams, the Fwaf recipe), `char1-3`, or `regex` (security tokens, uni+bigrams).
    #[arg(long, default_value = "char3")]
    pub analyzer: String,
    /// Python with scikit-learn for the reference side; skipped when absent.
    #[arg(long, env = "VIGIE_PYTHON", default_value = ".venv/bin/python")]
    pub python: PathBuf,
    /// Timed repetitions (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use clap::{CommandFactory, Parser};

    use super::Cli;

    /// Every `after_help` text of every command, with the command's path.
    fn examples(command: &clap::Command, path: &str, out: &mut Vec<(String, String)>) {
        if let Some(help) = command.get_after_help() {
            out.push((path.to_owned(), help.to_string()));
        }
        for sub in command.get_subcommands() {
            examples(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    /// A shell line's words: whitespace-separated, with '…' and "…" kept whole.
    fn words(line: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut word = String::new();
        let mut quote = None;
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => word.push(c),
                (None, '\'' | '"') => quote = Some(c),
                (None, c) if c.is_whitespace() => {
                    if !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                }
                (None, c) => word.push(c),
            }
        }
        if !word.is_empty() {
            words.push(word);
        }
        words
    }

    #[test]
    fn every_help_example_parses_and_names_files_that_exist() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut found = Vec::new();
        examples(&Cli::command(), "vigie", &mut found);
        let mut checked = 0;
        for (command, help) in found {
            for line in help.lines().map(str::trim) {
                // The `vigie ...` part of the line, up to a pipe or a redirection.
                let Some(start) = line
                    .find("vigie ")
                    .filter(|&i| i == 0 || line[..i].ends_with(' '))
                else {
                    continue;
                };
                let invocation = line[start..]
                    .replace("$RUN_ID", "0123456789abcdef0123456789abcdef")
                    .replace("<trial>", "trial");
                let invocation = invocation.split(['|', '>']).next().unwrap_or_default();
                let args = words(invocation);
                let parsed = Cli::try_parse_from(&args).or_else(|e| {
                    // A tracking URI set by an earlier `export MLFLOW_TRACKING_URI=...` line.
                    let exported = help.contains("export MLFLOW_TRACKING_URI=");
                    if exported && e.kind() == clap::error::ErrorKind::MissingRequiredArgument {
                        let mut with_uri = args.clone();
                        with_uri.extend(["--tracking-uri".into(), "http://127.0.0.1:5000".into()]);
                        Cli::try_parse_from(&with_uri)
                    } else {
                        Err(e)
                    }
                });
                if let Err(e) = parsed {
                    panic!("`{command} --help` example does not parse: {line}\n{e}");
                }
                for arg in &args {
                    let shipped = ["configs/", "experiments/", "datasets/"]
                        .iter()
                        .any(|dir| arg.starts_with(dir));
                    if shipped && arg.ends_with(".toml") {
                        assert!(
                            root.join(arg).is_file(),
                            "`{command} --help` names {arg}, which does not exist"
                        );
                    }
                }
                checked += 1;
            }
        }
        assert!(checked > 30, "only {checked} examples found");
    }
}

#[derive(Debug, Subcommand)]
pub enum FeedbackCommand {
    /// Append verdicts to a feedback dataset (created, with its definition, when new).
    ///
    /// Requests come from a verdicts file of `vigie score` (--from: CSV or JSON Lines; by
    /// default its flagged rows, or the rows --ids names, the --top highest scored) or from
    /// --request. The file only grows: a request already there with the same verdict is left
    /// out, one with another verdict is refused. The dataset is `datasets/NAME.toml` (in
    /// --datasets-dir, else ./datasets) over `feedback/NAME.jsonl` in the data dir.
    #[command(
        after_help = "Examples:\n  vigie score --model models:/vigie-field@champion --input access.log --format jsonl --output verdicts.jsonl\n  vigie feedback add --to soc-feedback --verdict false_alarm --from verdicts.jsonl --ids 17,42 --analyst ana --note 'search box'\n  vigie feedback add --to soc-feedback --verdict missed --request '/item.php?id=1%20or%20sleep(5)'\n  vigie feedback show soc-feedback"
    )]
    Add(FeedbackAddArgs),
    /// Count a feedback dataset's verdicts.
    Show(FeedbackShowArgs),
}

#[derive(Debug, Args)]
pub struct FeedbackAddArgs {
    /// The feedback dataset to append to.
    #[arg(long, value_name = "NAME")]
    pub to: String,
    /// What the analyst says of the requests: false_alarm, confirmed or missed.
    #[arg(long, value_parser = parse_verdict)]
    pub verdict: vigie_data::feedback::Verdict,
    /// A verdicts file written by `vigie score --output` (CSV or JSON Lines).
    #[arg(long, value_name = "FILE", conflicts_with = "request")]
    pub from: Option<PathBuf>,
    /// Only these rows of --from (their `id` column), comma-separated.
    #[arg(long, value_delimiter = ',', requires = "from")]
    pub ids: Vec<u64>,
    /// Only the N highest-scored of the selected rows.
    #[arg(long, value_name = "N", requires = "from")]
    pub top: Option<usize>,
    /// A request, as logged (decoded as for scoring); repeat for several.
    #[arg(long)]
    pub request: Vec<String>,
    /// The model that scored the requests (kept with each verdict).
    #[arg(long)]
    pub model: Option<String>,
    /// Who gives the verdict [default: $USER].
    #[arg(long)]
    pub analyst: Option<String>,
    /// A note kept with each verdict.
    #[arg(long)]
    pub note: Option<String>,
}

fn parse_verdict(value: &str) -> Result<vigie_data::feedback::Verdict, String> {
    value.parse()
}

#[derive(Debug, Args)]
pub struct FeedbackShowArgs {
    /// The feedback dataset.
    pub name: String,
}
