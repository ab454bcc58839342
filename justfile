# Common work on Vigie. Each recipe is also a plain command (see README "Without just").

set shell := ["bash", "-euo", "pipefail", "-c"]

data_dir := env_var_or_default("VIGIE_DATA_DIR", "../shared/datasets")

# List the recipes.
default:
    @just --list

# Build the vigie binary with the one optimised profile used everywhere (CI included).
build:
    cargo build --profile ci --workspace

# Run every test (sets up the Python venv for the scikit-learn parity tests when missing).
test *args:
    scripts/test {{args}}

# Formatting and lints, as required before every commit.
lint:
    cargo fmt --all -- --check
    cargo clippy --profile ci --workspace --all-targets -- -D warnings

# Format the code.
fmt:
    cargo fmt --all

# Tokenise + TF-IDF throughput against scikit-learn, in the same invocation.
bench dataset="fwaf" analyzer="char3":
    scripts/setup-python
    VIGIE_DATA_DIR={{data_dir}} cargo run --profile ci --bin vigie -- bench tfidf --dataset {{dataset}} --analyzer {{analyzer}} --python .venv/bin/python

# Train one model from a run config and log it (MLFLOW_TRACKING_URI, else ./mlruns).
# A sweep: every trial as a child run (resumes when run again).
sweep experiment="experiments/quickstart.toml" *args="":
    VIGIE_DATA_DIR={{data_dir}} cargo run --profile ci --bin vigie -- sweep {{experiment}} {{args}}

train config="configs/fwaf-linear-svm.toml":
    VIGIE_DATA_DIR={{data_dir}} cargo run --profile ci --bin vigie -- train {{config}}

# Every model family beside the scikit-learn reference on the same split (long: networks train).
bench-models:
    scripts/bench-models

# Describe a dataset: tables and charts in out/stats/<dataset>.
stats dataset="fwaf":
    VIGIE_DATA_DIR={{data_dir}} cargo run --profile ci --bin vigie -- data stats {{dataset}} --out out/stats/{{dataset}}

# Download a dataset into the data dir and verify it.
fetch dataset:
    VIGIE_DATA_DIR={{data_dir}} cargo run --profile ci --bin vigie -- data fetch {{dataset}}

# Start the MLflow server (127.0.0.1:5055, sqlite, proxied artifacts); `just mlflow-stop` stops it.
mlflow:
    scripts/mlflow-server start

mlflow-stop:
    scripts/mlflow-server stop

# What CI runs.
ci:
    bash .ci/run
