//! MLflow 3 logged models and the model registry, and `models:/` URIs.
//!
//! The MLflow 3 way to log a model, which this module supports end to end:
//! 1. [`MlflowClient::create_logged_model`] (status `LOGGED_MODEL_PENDING`, gives an
//!    `artifact_uri`);
//! 2. [`MlflowClient::log_outputs`] links it to its run;
//! 3. upload `MLmodel` and the model files to its `artifact_uri` ([`MlflowClient::upload_dir`]);
//! 4. [`MlflowClient::finalize_logged_model`] with [`LoggedModelStatus::Ready`];
//! 5. optionally register it: [`MlflowClient::create_model_version`] with source
//!    `models:/<model_id>`, then [`MlflowClient::set_registered_model_alias`].

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use reqwest::Method;
use serde::de::IgnoredAny;

use crate::batch::{validate_param, validate_tag};
use crate::client::MlflowClient;
use crate::error::{MlflowError, Result};
use crate::types::*;

/// Scheme of model URIs.
pub const MODELS_SCHEME: &str = "models:/";

/// A parsed `models:/` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelUri {
    /// `models:/NAME/VERSION`.
    Version {
        /// Registered model name.
        name: String,
        /// Version number.
        version: String,
    },
    /// `models:/NAME@ALIAS`.
    Alias {
        /// Registered model name.
        name: String,
        /// Alias.
        alias: String,
    },
    /// `models:/NAME/latest`: the highest version.
    Latest {
        /// Registered model name.
        name: String,
    },
    /// `models:/<model_id>`: an MLflow 3 logged model (`m-<32 hex>`), registered or not.
    LoggedModel {
        /// Logged model id.
        model_id: String,
    },
}

impl FromStr for ModelUri {
    type Err = MlflowError;

    fn from_str(uri: &str) -> Result<Self> {
        let what = "model URI";
        let expected = "expected models:/NAME/VERSION, models:/NAME@ALIAS, models:/NAME/latest or models:/<model_id>";
        let fail = |why: &str| MlflowError::invalid(what, format!("{uri:?}: {why}; {expected}"));
        let rest = uri
            .strip_prefix(MODELS_SCHEME)
            .ok_or_else(|| fail("not a models:/ URI"))?;
        if rest.starts_with('/') {
            return Err(fail(
                "models:// URIs (with a registry profile) are not supported",
            ));
        }
        let rest = rest.trim_end_matches('/');
        if let Some((name, suffix)) = rest.split_once('/') {
            if name.is_empty() || suffix.is_empty() || suffix.contains('/') {
                return Err(fail("malformed path"));
            }
            if suffix.bytes().all(|b| b.is_ascii_digit()) {
                return Ok(ModelUri::Version {
                    name: name.to_string(),
                    version: suffix.to_string(),
                });
            }
            if suffix.eq_ignore_ascii_case("latest") {
                return Ok(ModelUri::Latest {
                    name: name.to_string(),
                });
            }
            return Err(fail(&format!(
                "{suffix:?} is not a version number (stages are deprecated: use an alias)"
            )));
        }
        if let Some((name, alias)) = rest.rsplit_once('@') {
            if name.is_empty() || alias.is_empty() {
                return Err(fail("empty name or alias"));
            }
            return Ok(ModelUri::Alias {
                name: name.to_string(),
                alias: alias.to_string(),
            });
        }
        if rest.starts_with("m-") && rest.len() > 2 {
            return Ok(ModelUri::LoggedModel {
                model_id: rest.to_string(),
            });
        }
        Err(fail("no version, alias or model id"))
    }
}

impl fmt::Display for ModelUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelUri::Version { name, version } => write!(f, "{MODELS_SCHEME}{name}/{version}"),
            ModelUri::Alias { name, alias } => write!(f, "{MODELS_SCHEME}{name}@{alias}"),
            ModelUri::Latest { name } => write!(f, "{MODELS_SCHEME}{name}/latest"),
            ModelUri::LoggedModel { model_id } => write!(f, "{MODELS_SCHEME}{model_id}"),
        }
    }
}

fn logged_model_segments(model_id: &str) -> [&str; 5] {
    ["api", "2.0", "mlflow", "logged-models", model_id]
}

impl MlflowClient {
    // ----- Logged models (MLflow 3) -----

    /// Creates a logged model (status `LOGGED_MODEL_PENDING`). Upload its files to
    /// `model.info.artifact_uri`, then call [`MlflowClient::finalize_logged_model`].
    pub fn create_logged_model(&self, request: &CreateLoggedModel) -> Result<LoggedModel> {
        for param in &request.params {
            validate_param(param)?;
        }
        for tag in &request.tags {
            validate_tag(tag)?;
        }
        let response: LoggedModelResponse = self.post("logged-models", request)?;
        Ok(response.model)
    }

    /// Sets a logged model's final status: [`LoggedModelStatus::Ready`] once its files are
    /// uploaded, [`LoggedModelStatus::UploadFailed`] if that failed.
    pub fn finalize_logged_model(
        &self,
        model_id: &str,
        status: LoggedModelStatus,
    ) -> Result<LoggedModel> {
        let url = self.url(&logged_model_segments(model_id), &[])?;
        let body = FinalizeLoggedModelBody { model_id, status };
        let response: LoggedModelResponse = self.call_json_body(Method::PATCH, url, &body)?;
        Ok(response.model)
    }

    /// Steps 1 and 2 for a run's model: creates the logged model (PENDING) in the run's
    /// experiment, made by the run, and names it as the run's output.
    pub fn create_run_logged_model(
        &self,
        run_id: &str,
        request: &CreateLoggedModel,
    ) -> Result<LoggedModel> {
        let run = self.get_run(run_id)?;
        let model = self.create_logged_model(&CreateLoggedModel {
            experiment_id: run.info.experiment_id,
            source_run_id: Some(run_id.to_owned()),
            ..request.clone()
        })?;
        self.log_outputs(
            run_id,
            &[ModelOutput {
                model_id: model.info.model_id.clone(),
                step: 0,
            }],
        )?;
        Ok(model)
    }

    /// Steps 3 and 4: uploads the folder `dir` (its `MLmodel` naming the model) to the logged
    /// model's `artifact_uri` and marks it READY. A failed upload marks it UPLOAD_FAILED and
    /// returns the upload's error.
    pub fn upload_logged_model(
        &self,
        model_id: &str,
        artifact_uri: &str,
        dir: &Path,
    ) -> Result<()> {
        if let Err(error) = self.upload_dir(artifact_uri, dir, None) {
            let _ = self.finalize_logged_model(model_id, LoggedModelStatus::UploadFailed);
            return Err(error);
        }
        self.finalize_logged_model(model_id, LoggedModelStatus::Ready)?;
        Ok(())
    }

    /// The logged model with this id.
    pub fn get_logged_model(&self, model_id: &str) -> Result<LoggedModel> {
        let url = self.url(&logged_model_segments(model_id), &[])?;
        let response: LoggedModelResponse =
            self.call_json(Method::GET, url, crate::client::Payload::Empty)?;
        Ok(response.model)
    }

    // ----- Registry -----

    /// Registers a model name. Fails with `RESOURCE_ALREADY_EXISTS` if it is taken.
    pub fn create_registered_model(
        &self,
        name: &str,
        description: Option<&str>,
        tags: &[Tag],
    ) -> Result<RegisteredModel> {
        for tag in tags {
            validate_tag(tag)?;
        }
        let body = CreateRegisteredModelBody {
            name,
            description,
            tags,
        };
        let response: RegisteredModelResponse = self.post("registered-models/create", &body)?;
        Ok(response.registered_model)
    }

    /// Registers a model name unless it is taken (by an earlier run or a concurrent one).
    pub fn ensure_registered_model(&self, name: &str) -> Result<()> {
        match self.create_registered_model(name, None, &[]) {
            Err(error) if !error.is_already_exists() => Err(error),
            _ => Ok(()),
        }
    }

    /// Step 5 without the alias: a new version of the registered model `name` (see
    /// [`MlflowClient::ensure_registered_model`]) from the logged model `model_id`, made by
    /// `run_id`, with `tags`.
    pub fn register_logged_model(
        &self,
        name: &str,
        model_id: &str,
        run_id: &str,
        tags: Vec<Tag>,
    ) -> Result<ModelVersion> {
        self.create_model_version(&CreateModelVersion {
            name: name.to_owned(),
            source: format!("{MODELS_SCHEME}{model_id}"),
            run_id: Some(run_id.to_owned()),
            model_id: Some(model_id.to_owned()),
            tags,
            ..CreateModelVersion::default()
        })
    }

    /// The registered model with this name, with its latest versions and aliases.
    pub fn get_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        let response: RegisteredModelResponse =
            self.get("registered-models/get", &[("name", name)])?;
        Ok(response.registered_model)
    }

    /// One page of registered models.
    pub fn search_registered_models(
        &self,
        search: &SearchRegisteredModels,
    ) -> Result<Page<RegisteredModel>> {
        let max_results = search.max_results.map(|n| n.to_string());
        let query = search_query(search, max_results.as_deref());
        let response: RegisteredModelsPage = self.get("registered-models/search", &query)?;
        Ok(page(response.registered_models, response.next_page_token))
    }

    /// Every registered model matching `search`, following page tokens.
    pub fn search_registered_models_all(
        &self,
        search: &SearchRegisteredModels,
    ) -> Result<Vec<RegisteredModel>> {
        let mut request = search.clone();
        crate::client::collect_pages(
            |token| {
                request.page_token = token;
                self.search_registered_models(&request)
            },
            search.page_token.clone(),
        )
    }

    /// One page of model versions, e.g. with the filter `run_id = '<run id>'`. MLflow 3.17 does
    /// not fill `aliases` here: [`MlflowClient::run_model_versions`] does.
    pub fn search_model_versions(
        &self,
        search: &SearchRegisteredModels,
    ) -> Result<Page<ModelVersion>> {
        let max_results = search.max_results.map(|n| n.to_string());
        let query = search_query(search, max_results.as_deref());
        let response: ModelVersionsPage = self.get("model-versions/search", &query)?;
        Ok(page(response.model_versions, response.next_page_token))
    }

    /// The registered versions made from a run's models, with their aliases (read from each
    /// registered model, as the version search leaves them out), by name then version number.
    pub fn run_model_versions(&self, run_id: &str) -> Result<Vec<ModelVersion>> {
        let search = SearchRegisteredModels {
            filter: Some(format!("run_id = '{}'", run_id.replace('\'', "\\'"))),
            ..SearchRegisteredModels::default()
        };
        let mut request = search.clone();
        let mut versions = crate::client::collect_pages(
            |token| {
                request.page_token = token;
                self.search_model_versions(&request)
            },
            None,
        )?;
        let mut aliases: std::collections::BTreeMap<String, Vec<RegisteredModelAlias>> =
            std::collections::BTreeMap::new();
        for version in &mut versions {
            if !aliases.contains_key(&version.name) {
                let model = self.get_registered_model(&version.name)?;
                aliases.insert(version.name.clone(), model.aliases);
            }
            version.aliases = aliases
                .get(&version.name)
                .into_iter()
                .flatten()
                .filter(|a| a.version == version.version)
                .map(|a| a.alias.clone())
                .collect();
        }
        versions.sort_by(|a, b| {
            let number = |v: &ModelVersion| v.version.parse::<u64>().unwrap_or(u64::MAX);
            (a.name.as_str(), number(a)).cmp(&(b.name.as_str(), number(b)))
        });
        Ok(versions)
    }

    /// Creates the next version of a registered model. For an MLflow 3 logged model, `source`
    /// is `models:/<model_id>` and `model_id` is set.
    pub fn create_model_version(&self, request: &CreateModelVersion) -> Result<ModelVersion> {
        for tag in &request.tags {
            validate_tag(tag)?;
        }
        let response: ModelVersionResponse = self.post("model-versions/create", request)?;
        Ok(response.model_version)
    }

    /// One version of a registered model.
    pub fn get_model_version(&self, name: &str, version: &str) -> Result<ModelVersion> {
        let response: ModelVersionResponse = self.get(
            "model-versions/get",
            &[("name", name), ("version", version)],
        )?;
        Ok(response.model_version)
    }

    /// Points `alias` (e.g. `champion`) at `version`, moving it if it pointed elsewhere.
    pub fn set_registered_model_alias(&self, name: &str, alias: &str, version: &str) -> Result<()> {
        let body = AliasBody {
            name,
            alias,
            version: Some(version),
        };
        self.post::<_, IgnoredAny>("registered-models/alias", &body)?;
        Ok(())
    }

    /// Sets a tag on a model version (e.g. why it was, or was not, made the champion).
    pub fn set_model_version_tag(
        &self,
        name: &str,
        version: &str,
        key: &str,
        value: &str,
    ) -> Result<()> {
        validate_tag(&Tag::new(key, value))?;
        let body =
            serde_json::json!({"name": name, "version": version, "key": key, "value": value});
        self.post::<_, IgnoredAny>("model-versions/set-tag", &body)?;
        Ok(())
    }

    /// The version an alias points at (its `aliases` field is filled). An unknown alias is
    /// reported by MLflow 3.17 as `INVALID_PARAMETER_VALUE`, not as not-found.
    pub fn get_model_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion> {
        let response: ModelVersionResponse = self.get(
            "registered-models/alias",
            &[("name", name), ("alias", alias)],
        )?;
        Ok(response.model_version)
    }

    /// Removes an alias.
    pub fn delete_registered_model_alias(&self, name: &str, alias: &str) -> Result<()> {
        // The server reads DELETE arguments from a JSON body, not from the query string.
        let body = AliasBody {
            name,
            alias,
            version: None,
        };
        self.send_body::<_, IgnoredAny>(Method::DELETE, "registered-models/alias", &body)?;
        Ok(())
    }

    /// Where a version's files are: for a version of a logged model, the logged model's
    /// `artifact_uri`.
    pub fn get_model_version_download_uri(&self, name: &str, version: &str) -> Result<String> {
        let response: DownloadUriResponse = self.get(
            "model-versions/get-download-uri",
            &[("name", name), ("version", version)],
        )?;
        Ok(response.artifact_uri)
    }

    /// The artifact URI of the model a `models:/` URI names (see [`ModelUri`]): one or two
    /// requests.
    pub fn resolve_model_uri(&self, uri: &str) -> Result<String> {
        match uri.parse::<ModelUri>()? {
            ModelUri::Version { name, version } => {
                self.get_model_version_download_uri(&name, &version)
            }
            ModelUri::Alias { name, alias } => {
                let version = self.get_model_version_by_alias(&name, &alias)?;
                self.get_model_version_download_uri(&name, &version.version)
            }
            ModelUri::Latest { name } => {
                let model = self.get_registered_model(&name)?;
                let latest = model
                    .latest_versions
                    .iter()
                    .max_by_key(|v| v.version.parse::<u64>().unwrap_or(0))
                    .ok_or_else(|| {
                        MlflowError::invalid(
                            "model URI",
                            format!("{uri:?}: {name:?} has no versions"),
                        )
                    })?;
                self.get_model_version_download_uri(&name, &latest.version)
            }
            ModelUri::LoggedModel { model_id } => {
                Ok(self.get_logged_model(&model_id)?.info.artifact_uri)
            }
        }
    }

    /// Downloads every file of the model a `models:/` URI names into `local_dir` (its
    /// `MLmodel` at the top). Returns the number of files.
    pub fn download_model(&self, uri: &str, local_dir: &Path) -> Result<usize> {
        let artifact_uri = self.resolve_model_uri(uri)?;
        self.download_dir(&artifact_uri, None, local_dir)
    }
}

/// The query parameters of a registered-model or model-version search (`max_results` given
/// as text, so that the pairs borrow it).
fn search_query<'a>(
    search: &'a SearchRegisteredModels,
    max_results: Option<&'a str>,
) -> Vec<(&'static str, &'a str)> {
    let mut query = Vec::new();
    if let Some(filter) = &search.filter {
        query.push(("filter", filter.as_str()));
    }
    if let Some(n) = max_results {
        query.push(("max_results", n));
    }
    for key in &search.order_by {
        query.push(("order_by", key.as_str()));
    }
    if let Some(token) = &search.page_token {
        query.push(("page_token", token.as_str()));
    }
    query
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(uri: &str) -> ModelUri {
        uri.parse().unwrap_or_else(|e| panic!("{uri}: {e}"))
    }

    #[test]
    fn every_supported_form_parses_and_prints_back() {
        let cases = [
            (
                "models:/rust-mlp/3",
                ModelUri::Version {
                    name: "rust-mlp".into(),
                    version: "3".into(),
                },
            ),
            (
                "models:/rust-mlp@champion",
                ModelUri::Alias {
                    name: "rust-mlp".into(),
                    alias: "champion".into(),
                },
            ),
            (
                "models:/rust-mlp/latest",
                ModelUri::Latest {
                    name: "rust-mlp".into(),
                },
            ),
            (
                "models:/m-b69ae460a2d14c329b6b14f1e7200b39",
                ModelUri::LoggedModel {
                    model_id: "m-b69ae460a2d14c329b6b14f1e7200b39".into(),
                },
            ),
        ];
        for (text, expected) in cases {
            let parsed = parse(text);
            assert_eq!(parsed, expected);
            assert_eq!(parsed.to_string(), text);
        }
        assert_eq!(
            parse("models:/a b/12/"),
            ModelUri::Version {
                name: "a b".into(),
                version: "12".into()
            }
        );
        assert_eq!(
            parse("models:/x/LATEST"),
            ModelUri::Latest { name: "x".into() }
        );
        assert_eq!(
            parse("models:/a@b@c"),
            ModelUri::Alias {
                name: "a@b".into(),
                alias: "c".into()
            }
        );
    }

    #[test]
    fn malformed_uris_are_refused() {
        for bad in [
            "runs:/abc/model",
            "models:",
            "models:/",
            "models:/x",
            "models:/x/Production",
            "models:/x/1/2",
            "models:/@alias",
            "models:/name@",
            "models:/m-",
            "models://profile/x/1",
            "models:/x/",
        ] {
            let err = bad.parse::<ModelUri>().expect_err(bad);
            assert!(
                matches!(err, MlflowError::InvalidArgument { .. }),
                "{bad}: {err:?}"
            );
        }
    }
}
