//! Finding the model `--model` names: a local folder, a run id, or a registry URI, downloaded
//! into a local cache and verified before use.
//!
//! - a folder: a saved model (`vigie-model.json` inside), or a run's folder holding `model/`;
//! - a run id (32 hex digits, or `runs:/<id>`): the run's `model/` artifacts, read in place
//!   from a local store; on a server, the run's MLflow 3 logged model (where `vigie train`
//!   puts a server run's model), else its `model/` artifacts;
//! - `models:/NAME/VERSION`, `models:/NAME@ALIAS`, `models:/NAME/latest` or `models:/<model
//!   id>`: from the server's registry. An alias or `latest` is first resolved to its version,
//!   so the cache never serves a version the alias has left.
//!
//! Downloads go to `<cache>/<kind>/<key>` through a temporary folder renamed into place, so a
//! cut download is never taken for a model. Every load verifies the sha256 of every file
//! against the manifest; a cached copy that fails is downloaded again once.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use vigie_mlflow::{DefaultStore, LoggedModelStatus, MlflowClient, ModelUri};
use vigie_models::artifact::{MANIFEST_FILE, SavedModel};

use crate::error::{Result, ScoreError};

/// What `--model` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    Path(PathBuf),
    Run(String),
    Registry(String),
}

impl FromStr for ModelRef {
    type Err = ScoreError;

    fn from_str(text: &str) -> Result<ModelRef> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ScoreError::model(text, "empty"));
        }
        if text.starts_with(vigie_mlflow::models::MODELS_SCHEME) {
            ModelUri::from_str(text).map_err(|e| ScoreError::model(text, e.to_string()))?;
            return Ok(ModelRef::Registry(text.to_owned()));
        }
        if let Some(rest) = text.strip_prefix("runs:/") {
            let run_id = rest.split('/').next().unwrap_or_default();
            if is_run_id(run_id) {
                return Ok(ModelRef::Run(run_id.to_owned()));
            }
            return Err(ScoreError::model(text, "expected runs:/<32 hex digits>"));
        }
        let path = PathBuf::from(text);
        if !path.exists() && is_run_id(text) {
            return Ok(ModelRef::Run(text.to_owned()));
        }
        Ok(ModelRef::Path(path))
    }
}

fn is_run_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A model found and loaded, with where it came from.
pub struct ResolvedModel {
    pub model: SavedModel,
    /// The folder it was loaded from.
    pub dir: PathBuf,
    /// What it is, for messages: `models:/vigie-fwaf/3`, `run 0123…`, a path.
    pub identity: String,
}

/// Finds, downloads (into `cache`) when needed, verifies and loads the model `reference` names.
pub fn resolve(reference: &ModelRef, store: &DefaultStore, cache: &Path) -> Result<ResolvedModel> {
    match reference {
        ModelRef::Path(path) => {
            let dir = model_folder(path).ok_or_else(|| {
                ScoreError::model(
                    path.display().to_string(),
                    format!(
                        "no {MANIFEST_FILE} in this folder nor in its model/ (not a saved Vigie \
                         model, a run id or a models:/ URI)"
                    ),
                )
            })?;
            let model = SavedModel::load(&dir)?;
            Ok(ResolvedModel {
                identity: dir.display().to_string(),
                model,
                dir,
            })
        }
        ModelRef::Run(run_id) => resolve_run(run_id, store, cache),
        ModelRef::Registry(uri) => match store {
            DefaultStore::Server(client) => resolve_registry(uri, client, cache),
            DefaultStore::Local(_) => Err(ScoreError::model(
                uri,
                "the local store has no model registry: set MLFLOW_TRACKING_URI (or \
                 --tracking-uri) to the MLflow server, or pass a run id or a model folder",
            )),
        },
    }
}

/// `path` itself when it holds a manifest, else its `model/` folder when that does.
fn model_folder(path: &Path) -> Option<PathBuf> {
    [path.to_owned(), path.join("model")]
        .into_iter()
        .find(|dir| dir.join(MANIFEST_FILE).is_file())
}

fn resolve_run(run_id: &str, store: &DefaultStore, cache: &Path) -> Result<ResolvedModel> {
    let identity = format!("run {run_id}");
    match store {
        DefaultStore::Local(files) => {
            let dir = files
                .artifact_dir(run_id)
                .map_err(|e| ScoreError::model(run_id, e.to_string()))?
                .join("model");
            if !dir.join(MANIFEST_FILE).is_file() {
                return Err(ScoreError::model(run_id, "the run has no model/ artifacts"));
            }
            let model = SavedModel::load(&dir)?;
            Ok(ResolvedModel {
                model,
                dir,
                identity,
            })
        }
        DefaultStore::Server(client) => {
            let target = cache.join("runs").join(run_id);
            load_cached(&target, &identity, |staging| {
                let run = client.get_run(run_id)?;
                match ready_logged_model(client, &run)? {
                    Some(artifact_uri) => client.download_dir(&artifact_uri, None, staging)?,
                    None => client.download_dir(&run.info.artifact_uri, Some("model"), staging)?,
                };
                Ok(())
            })
        }
    }
}

/// Where the files of `run`'s READY MLflow 3 logged model are, if it has one: a run trained
/// against a server keeps its model there; a run whose logged model failed, or one pushed or
/// synced from a journal, keeps it in its artifacts' `model/`.
fn ready_logged_model(client: &MlflowClient, run: &vigie_mlflow::Run) -> Result<Option<String>> {
    for output in &run.outputs.model_outputs {
        match client.get_logged_model(&output.model_id) {
            Ok(model) if model.info.status == LoggedModelStatus::Ready => {
                return Ok(Some(model.info.artifact_uri));
            }
            Ok(_) => {}
            // Deleted since: the run's artifacts may still hold the model.
            Err(error) if error.is_not_found() => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(None)
}

fn resolve_registry(uri: &str, client: &MlflowClient, cache: &Path) -> Result<ResolvedModel> {
    let parsed = ModelUri::from_str(uri).map_err(|e| ScoreError::model(uri, e.to_string()))?;
    // A moving pointer (alias, latest) is pinned to its version first.
    let (name_version, key) = match &parsed {
        ModelUri::Version { name, version } => (
            format!("models:/{name}/{version}"),
            vec![name.clone(), version.clone()],
        ),
        ModelUri::Alias { name, alias } => {
            let version = client.get_model_version_by_alias(name, alias)?.version;
            (
                format!("models:/{name}/{version}"),
                vec![name.clone(), version],
            )
        }
        ModelUri::Latest { name } => {
            let registered = client.get_registered_model(name)?;
            let version = registered
                .latest_versions
                .iter()
                .filter_map(|v| v.version.parse::<u64>().ok())
                .max()
                .ok_or_else(|| ScoreError::model(uri, "the registered model has no version"))?
                .to_string();
            (
                format!("models:/{name}/{version}"),
                vec![name.clone(), version],
            )
        }
        ModelUri::LoggedModel { model_id } => {
            (format!("models:/{model_id}"), vec![model_id.clone()])
        }
    };
    let mut target = cache.join("registry");
    for part in &key {
        target.push(sanitize(part));
    }
    load_cached(&target, &name_version, |staging| {
        client.download_model(&name_version, staging)?;
        Ok(())
    })
}

/// Loads the cached copy at `target` if it verifies, else downloads it (through a staging
/// folder renamed into place) and loads that.
fn load_cached(
    target: &Path,
    identity: &str,
    download: impl Fn(&Path) -> Result<()>,
) -> Result<ResolvedModel> {
    if target.join(MANIFEST_FILE).is_file() {
        match SavedModel::load(target) {
            Ok(model) => {
                return Ok(ResolvedModel {
                    model,
                    dir: target.to_owned(),
                    identity: identity.to_owned(),
                });
            }
            Err(error) => {
                tracing::warn!(%error, dir = %target.display(), "cached model fails verification: downloading it again");
                std::fs::remove_dir_all(target)
                    .map_err(|e| ScoreError::io(target, "cannot remove the bad cached model", e))?;
            }
        }
    }
    let parent = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .map_err(|e| ScoreError::io(parent, "cannot create the model cache", e))?;
    let staging = parent.join(format!(
        ".download-{}-{}",
        std::process::id(),
        vigie_mlflow::now_millis()
    ));
    // Verified (and loaded) before it takes the cache's name; the loaded model is the one used.
    let downloaded = download(&staging).and_then(|()| Ok(SavedModel::load(&staging)?));
    let model = match downloaded {
        Ok(model) => model,
        Err(error) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(error);
        }
    };
    if let Err(error) = std::fs::rename(&staging, target) {
        let _ = std::fs::remove_dir_all(&staging);
        // Another process put the same model there first: theirs has the same files.
        if !target.join(MANIFEST_FILE).is_file() {
            return Err(ScoreError::io(
                target,
                "cannot move the downloaded model into the cache",
                error,
            ));
        }
    }
    Ok(ResolvedModel {
        model,
        dir: target.to_owned(),
        identity: identity.to_owned(),
    })
}

/// A registry name as one safe path component.
fn sanitize(part: &str) -> String {
    part.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_told_apart() {
        assert_eq!(
            "models:/vigie-fwaf@champion"
                .parse::<ModelRef>()
                .expect("uri"),
            ModelRef::Registry("models:/vigie-fwaf@champion".into())
        );
        let run = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            run.parse::<ModelRef>().expect("run"),
            ModelRef::Run(run.into())
        );
        assert_eq!(
            format!("runs:/{run}/model")
                .parse::<ModelRef>()
                .expect("runs uri"),
            ModelRef::Run(run.into())
        );
        assert_eq!(
            "out/runs/x".parse::<ModelRef>().expect("path"),
            ModelRef::Path("out/runs/x".into())
        );
        assert!("runs:/nope".parse::<ModelRef>().is_err());
        assert!("models:/".parse::<ModelRef>().is_err());
        assert!("".parse::<ModelRef>().is_err());
        assert_eq!(sanitize("a/b@c"), "a_b_c");
    }

    #[test]
    fn a_folder_without_a_model_is_named_in_the_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store =
            DefaultStore::from_uri(Some(dir.path().join("mlruns").to_str().expect("utf-8")))
                .expect("store");
        let error = resolve(&ModelRef::Path(dir.path().to_owned()), &store, dir.path())
            .err()
            .expect("no model there")
            .to_string();
        assert!(error.contains("vigie-model.json"), "{error}");
        let error = resolve(
            &ModelRef::Registry("models:/x@champion".into()),
            &store,
            dir.path(),
        )
        .err()
        .expect("no registry")
        .to_string();
        assert!(error.contains("no model registry"), "{error}");
    }
}
