//! Paths, file formats and small IO helpers of MLflow's file-store layout (see the module docs
//! of [`super`]): run and experiment `meta.yaml`, metric lines, safe key paths, atomic writes.

use std::fs;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use reqwest::StatusCode;

use crate::error::{
    INVALID_PARAMETER_VALUE, MlflowError, RESOURCE_ALREADY_EXISTS, RESOURCE_DOES_NOT_EXIST, Result,
};
use crate::types::{Experiment, Metric, RunInfo, RunStatus};
use crate::yaml::{self, Field, YamlValue};

/// Name of the metadata file of experiments, runs, datasets and inputs.
pub(crate) const META: &str = "meta.yaml";
/// Where MLflow moves deleted experiments.
pub(crate) const TRASH: &str = ".trash";
/// Sub-folders of a run.
pub(crate) const METRICS: &str = "metrics";
pub(crate) const PARAMS: &str = "params";
pub(crate) const TAGS: &str = "tags";
pub(crate) const ARTIFACTS: &str = "artifacts";
pub(crate) const INPUTS: &str = "inputs";
/// Sub-folder of an experiment holding the datasets its runs used.
pub(crate) const DATASETS: &str = "datasets";
/// Folders inside an experiment that are not runs (`FileStore.RESERVED_EXPERIMENT_FOLDERS`).
pub(crate) const RESERVED_EXPERIMENT_FOLDERS: [&str; 4] = [TAGS, DATASETS, "traces", "models"];
/// Folders of the root that are not experiments: the trash and the model registry.
pub(crate) const RESERVED_ROOT_FOLDERS: [&str; 2] = [TRASH, "models"];
/// MLflow's `SourceType.LOCAL`, the only source type its FileStore writes.
const SOURCE_TYPE_LOCAL: i64 = 4;

/// Errors shaped like the server's, so callers can use [`MlflowError::is_not_found`] and
/// [`MlflowError::error_code`] whichever store they talk to. `endpoint` names the operation and
/// the store (`get-run file:///…/mlruns`).
pub(crate) fn store_error(
    endpoint: String,
    status: StatusCode,
    code: &str,
    message: String,
) -> MlflowError {
    MlflowError::Api {
        endpoint,
        status,
        error_code: Some(code.to_owned()),
        message,
    }
}

pub(crate) fn not_found(endpoint: String, message: String) -> MlflowError {
    store_error(
        endpoint,
        StatusCode::NOT_FOUND,
        RESOURCE_DOES_NOT_EXIST,
        message,
    )
}

pub(crate) fn invalid_value(endpoint: String, message: String) -> MlflowError {
    store_error(
        endpoint,
        StatusCode::BAD_REQUEST,
        INVALID_PARAMETER_VALUE,
        message,
    )
}

pub(crate) fn already_exists(endpoint: String, message: String) -> MlflowError {
    store_error(
        endpoint,
        StatusCode::BAD_REQUEST,
        RESOURCE_ALREADY_EXISTS,
        message,
    )
}

/// A file on disk that does not have the expected shape; the message names the line.
pub(crate) fn bad_file(path: &Path, line: Option<usize>, message: impl AsRef<str>) -> MlflowError {
    let message = match line {
        Some(line) => format!("line {line}: {}", message.as_ref()),
        None => message.as_ref().to_owned(),
    };
    MlflowError::io(path, io::Error::new(io::ErrorKind::InvalidData, message))
}

/// Ids MLflow accepts for runs and experiments (`_validate_run_id`): they become folder names, so
/// nothing else may get near the file system (no `/`, no `..`).
pub(crate) fn validate_id(what: &str, id: &str) -> Result<()> {
    let mut chars = id.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id.len() <= 256
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(MlflowError::invalid(
            what,
            format!("{id:?} is not a valid id (letters, digits, '_' and '-')"),
        ))
    }
}

/// The file of a metric, param or tag key under `dir`. MLflow keeps `/` in keys as sub-folders;
/// empty, `.` and `..` components are refused so a key cannot leave `dir`.
pub(crate) fn key_path(dir: &Path, what: &str, key: &str) -> Result<PathBuf> {
    let mut path = dir.to_path_buf();
    for component in key.split('/') {
        if component.is_empty() || component == "." || component == ".." {
            return Err(MlflowError::invalid(
                what,
                format!("{key:?} is not a safe path (empty, '.' or '..' component)"),
            ));
        }
        path.push(component);
    }
    Ok(path)
}

/// A random name for temporary files, unique enough that concurrent writers never share one.
fn temp_name() -> String {
    format!(".tmp-{:016x}", fastrand::u64(..))
}

/// Writes `contents` to `path` through a temporary file in `temp_dir` (same file system) and a
/// rename, so a reader or a crash never sees half a file. `durable` adds an fsync before the
/// rename, for the `meta.yaml` files a store cannot do without.
pub(crate) fn write_atomic(
    path: &Path,
    temp_dir: &Path,
    contents: &[u8],
    durable: bool,
) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| MlflowError::io(parent, e))?;
    }
    let temp = temp_dir.join(temp_name());
    let written = (|| {
        let mut file = fs::File::create(&temp)?;
        file.write_all(contents)?;
        if durable {
            file.sync_all()?;
        }
        Ok::<(), io::Error>(())
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(MlflowError::io(&temp, e));
    }
    fs::rename(&temp, path).map_err(|e| {
        let _ = fs::remove_file(&temp);
        MlflowError::io(path, e)
    })
}

/// Copies a file through a temporary file in `temp_dir` and a rename.
pub(crate) fn copy_atomic(from: &Path, to: &Path, temp_dir: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(|e| MlflowError::io(parent, e))?;
    }
    let temp = temp_dir.join(temp_name());
    if let Err(e) = fs::copy(from, &temp) {
        let _ = fs::remove_file(&temp);
        return Err(MlflowError::io(from, e));
    }
    fs::rename(&temp, to).map_err(|e| {
        let _ = fs::remove_file(&temp);
        MlflowError::io(to, e)
    })
}

/// Appends whole lines to a metric file. If a previous writer died mid-line (the file does not
/// end with a newline), that unfinished line is cut first: it was never acknowledged, and left
/// in place it would glue onto the next line and make the whole file unreadable.
pub(crate) fn append_lines(path: &Path, lines: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| MlflowError::io(parent, e))?;
    }
    let io_error = |e| MlflowError::io(path, e);
    let mut file = fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(io_error)?;
    let len = file.metadata().map_err(io_error)?.len();
    if len > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(len - 1)).map_err(io_error)?;
        file.read_exact(&mut last).map_err(io_error)?;
        if last[0] != b'\n' {
            let mut contents = Vec::new();
            file.seek(SeekFrom::Start(0)).map_err(io_error)?;
            file.read_to_end(&mut contents).map_err(io_error)?;
            let keep = contents
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |pos| pos + 1);
            tracing::warn!(
                path = %path.display(),
                cut_bytes = contents.len() - keep,
                "metric file ended with an unfinished line (interrupted write); cutting it"
            );
            file.set_len(keep as u64).map_err(io_error)?;
        }
    }
    file.write_all(lines.as_bytes()).map_err(io_error)
}

/// A metric value as MLflow's FileStore writes it: Python's spelling for the non-finite values;
/// finite ones in Rust's shortest round-trip form (`0.1`, `1.0`, `1e-5`), which Python's
/// `float()` reads back to the same bits.
pub(crate) fn format_metric_value(value: f64) -> String {
    if value.is_nan() {
        "nan".into()
    } else if value.is_infinite() {
        if value > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{value:?}")
    }
}

/// One metric line: `timestamp value step`.
pub(crate) fn format_metric_line(metric: &Metric) -> String {
    format!(
        "{} {} {}\n",
        metric.timestamp,
        format_metric_value(metric.value),
        metric.step
    )
}

/// Reads a metric file: lines of 2 (`ts value`, step 0), 3 (`ts value step`) or 5 fields (plus a
/// dataset name and digest, ignored), as MLflow does. A bad line is an error naming it.
pub(crate) fn read_metric_file(path: &Path, key: &str) -> Result<Vec<Metric>> {
    let text = read_text(path)?;
    let mut points = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let bad = |message: &str| bad_file(path, Some(index + 1), format!("{message}: {line:?}"));
        if !matches!(fields.len(), 2 | 3 | 5) {
            return Err(bad("expected 'timestamp value step'"));
        }
        let timestamp = fields[0].parse::<i64>().map_err(|_| bad("bad timestamp"))?;
        let value = fields[1].parse::<f64>().map_err(|_| bad("bad value"))?;
        let step = match fields.get(2) {
            Some(step) => step.parse::<i64>().map_err(|_| bad("bad step"))?,
            None => 0,
        };
        points.push(Metric::at(key, value, step, timestamp));
    }
    Ok(points)
}

/// The whole file as UTF-8.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    let bytes = fs::read(path).map_err(|e| MlflowError::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        let line = e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        bad_file(path, Some(line), "not valid UTF-8")
    })
}

/// Every file under `dir`, recursively, as (key, path) with `/`-separated keys sorted; a missing
/// `dir` has none. Keys with `/` are sub-folders in MLflow's layout.
pub(crate) fn keyed_files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    if dir.is_dir() {
        collect_files(dir, "", &mut found)?;
    }
    found.sort();
    Ok(found)
}

fn collect_files(dir: &Path, prefix: &str, found: &mut Vec<(String, PathBuf)>) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(|e| MlflowError::io(dir, e))? {
        let entry = entry.map_err(|e| MlflowError::io(dir, e))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            return Err(bad_file(&path, None, "file name is not valid UTF-8"));
        };
        let key = format!("{prefix}{name}");
        let file_type = entry.file_type().map_err(|e| MlflowError::io(&path, e))?;
        if file_type.is_dir() {
            collect_files(&path, &format!("{key}/"), found)?;
        } else {
            found.push((key, path));
        }
    }
    Ok(())
}

/// Names of the sub-folders of `dir` (sorted), skipping hidden ones and `reserved`.
pub(crate) fn sub_folders(dir: &Path, reserved: &[&str]) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| MlflowError::io(dir, e))? {
        let entry = entry.map_err(|e| MlflowError::io(dir, e))?;
        let is_dir = entry
            .file_type()
            .map_err(|e| MlflowError::io(entry.path(), e))?
            .is_dir();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if is_dir && !name.starts_with('.') && !reserved.contains(&name.as_str()) {
            names.push(name);
        }
    }
    names.sort_by(|a, b| (a.len(), a).cmp(&(b.len(), b)));
    Ok(names)
}

/// A `file://` URI for an absolute path, percent-encoded like Python's `Path.as_uri()` (which
/// MLflow uses and undoes with `unquote`).
pub(crate) fn file_uri(path: &Path) -> String {
    let mut text = path.to_string_lossy().replace('\\', "/");
    if !text.starts_with('/') {
        text.insert(0, '/');
    }
    let mut uri = String::from("file://");
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'/' | b'_' | b'.' | b'-' | b'~') {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri
}

/// A parsed `meta.yaml` with typed accessors whose errors name the file.
pub(crate) struct MetaFile<'a> {
    path: &'a Path,
    fields: std::collections::BTreeMap<String, YamlValue>,
}

impl<'a> MetaFile<'a> {
    pub(crate) fn read(path: &'a Path) -> Result<Self> {
        let text = read_text(path)?;
        if text.trim().is_empty() {
            return Err(bad_file(path, None, "empty file (interrupted write?)"));
        }
        let fields =
            yaml::parse(&text).map_err(|(line, message)| bad_file(path, Some(line), message))?;
        Ok(MetaFile { path, fields })
    }

    /// A string field, `None` when absent or null.
    pub(crate) fn opt_str(&self, key: &str) -> Result<Option<String>> {
        match self.fields.get(key) {
            None | Some(YamlValue::Null) => Ok(None),
            Some(YamlValue::Scalar(s)) => Ok(Some(s.clone())),
            Some(YamlValue::Map(_)) => Err(bad_file(
                self.path,
                None,
                format!("{key}: expected a scalar"),
            )),
        }
    }

    /// A string field that must be there.
    pub(crate) fn str(&self, key: &str) -> Result<String> {
        self.opt_str(key)?
            .ok_or_else(|| bad_file(self.path, None, format!("missing field {key:?}")))
    }

    /// An integer field, `None` when absent or null.
    pub(crate) fn opt_int(&self, key: &str) -> Result<Option<i64>> {
        self.opt_str(key)?
            .map(|s| {
                s.trim().parse::<i64>().map_err(|_| {
                    bad_file(self.path, None, format!("{key}: {s:?} is not an integer"))
                })
            })
            .transpose()
    }

    /// A nested string mapping (empty when absent).
    pub(crate) fn map(&self, key: &str) -> Result<Vec<(String, String)>> {
        match self.fields.get(key) {
            None | Some(YamlValue::Null) => Ok(Vec::new()),
            Some(YamlValue::Map(entries)) => Ok(entries.clone()),
            Some(YamlValue::Scalar(_)) => Err(bad_file(
                self.path,
                None,
                format!("{key}: expected a mapping"),
            )),
        }
    }
}

/// An experiment's `meta.yaml`, with the fields MLflow 3.17 writes (sorted like PyYAML).
pub(crate) fn render_experiment_meta(experiment: &Experiment) -> String {
    yaml::render(&[
        (
            "artifact_location",
            Field::Str(&experiment.artifact_location),
        ),
        ("creation_time", Field::OptInt(experiment.creation_time)),
        ("effective_trace_archival_retention", Field::Null),
        ("experiment_id", Field::Str(&experiment.experiment_id)),
        (
            "last_update_time",
            Field::OptInt(experiment.last_update_time),
        ),
        ("lifecycle_stage", Field::Str(&experiment.lifecycle_stage)),
        ("name", Field::Str(&experiment.name)),
        ("trace_location", Field::Null),
        ("workspace", Field::Str("default")),
    ])
}

/// Reads an experiment's `meta.yaml` (tags are read separately, from its `tags/` folder).
pub(crate) fn read_experiment_meta(path: &Path) -> Result<Experiment> {
    let meta = MetaFile::read(path)?;
    Ok(Experiment {
        experiment_id: meta.str("experiment_id")?,
        name: meta.str("name")?,
        artifact_location: meta.opt_str("artifact_location")?.unwrap_or_default(),
        lifecycle_stage: meta
            .opt_str("lifecycle_stage")?
            .unwrap_or_else(|| "active".into()),
        creation_time: meta.opt_int("creation_time")?,
        last_update_time: meta.opt_int("last_update_time")?,
        tags: Vec::new(),
    })
}

/// MLflow's integer codes for run states in `meta.yaml`.
pub(crate) fn status_code(status: RunStatus) -> Option<i64> {
    match status {
        RunStatus::Running => Some(1),
        RunStatus::Scheduled => Some(2),
        RunStatus::Finished => Some(3),
        RunStatus::Failed => Some(4),
        RunStatus::Killed => Some(5),
        RunStatus::Unknown => None,
    }
}

fn status_from_code(code: i64) -> RunStatus {
    match code {
        1 => RunStatus::Running,
        2 => RunStatus::Scheduled,
        3 => RunStatus::Finished,
        4 => RunStatus::Failed,
        5 => RunStatus::Killed,
        _ => RunStatus::Unknown,
    }
}

/// A run's `meta.yaml`, with the fields MLflow 3.17 writes (sorted like PyYAML). `status` must
/// not be [`RunStatus::Unknown`] (checked by the callers). `deleted_time` (ms) is written, as
/// MLflow does, when the run is being deleted.
pub(crate) fn render_run_meta(info: &RunInfo, deleted_time: Option<i64>) -> String {
    let mut fields = vec![("artifact_uri", Field::Str(&info.artifact_uri))];
    if deleted_time.is_some() {
        fields.push(("deleted_time", Field::OptInt(deleted_time)));
    }
    fields.extend([
        ("end_time", Field::OptInt(info.end_time)),
        ("entry_point_name", Field::Str("")),
        ("experiment_id", Field::Str(&info.experiment_id)),
        ("lifecycle_stage", Field::Str(&info.lifecycle_stage)),
        ("run_id", Field::Str(&info.run_id)),
        ("run_name", Field::Str(&info.run_name)),
        ("source_name", Field::Str("")),
        ("source_type", Field::Int(SOURCE_TYPE_LOCAL)),
        ("source_version", Field::Str("")),
        ("start_time", Field::OptInt(info.start_time)),
        ("status", Field::Int(status_code(info.status).unwrap_or(1))),
        ("tags", Field::List(Vec::new())),
        ("user_id", Field::Str(&info.user_id)),
    ]);
    yaml::render(&fields)
}

/// Reads a run's `meta.yaml`. Older MLflow versions wrote `run_uuid` instead of `run_id`.
pub(crate) fn read_run_meta(path: &Path) -> Result<RunInfo> {
    let meta = MetaFile::read(path)?;
    let run_id = match meta.opt_str("run_id")? {
        Some(id) => id,
        None => meta.str("run_uuid")?,
    };
    Ok(RunInfo {
        run_id,
        experiment_id: meta.str("experiment_id")?,
        run_name: meta.opt_str("run_name")?.unwrap_or_default(),
        user_id: meta.opt_str("user_id")?.unwrap_or_default(),
        status: status_from_code(meta.opt_int("status")?.unwrap_or(1)),
        start_time: meta.opt_int("start_time")?,
        end_time: meta.opt_int("end_time")?,
        artifact_uri: meta.opt_str("artifact_uri")?.unwrap_or_default(),
        lifecycle_stage: meta
            .opt_str("lifecycle_stage")?
            .unwrap_or_else(|| "active".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_values_use_pythons_spelling_for_non_finite() {
        assert_eq!(format_metric_value(f64::NAN), "nan");
        assert_eq!(format_metric_value(f64::INFINITY), "inf");
        assert_eq!(format_metric_value(f64::NEG_INFINITY), "-inf");
        assert_eq!(format_metric_value(1.0), "1.0");
        for value in [0.1, 1e-5, 1e300, -2.5e-300, f64::MAX, 123_456.789] {
            let text = format_metric_value(value);
            assert_eq!(text.parse::<f64>().ok(), Some(value), "{text}");
        }
    }

    #[test]
    fn file_uris_are_percent_encoded() {
        assert_eq!(
            file_uri(Path::new("/tmp/a b/%x/é")),
            "file:///tmp/a%20b/%25x/%C3%A9"
        );
    }

    #[test]
    fn unsafe_keys_are_refused() {
        let dir = Path::new("/r");
        assert_eq!(
            key_path(dir, "k", "a/b").ok(),
            Some(PathBuf::from("/r/a/b"))
        );
        for key in ["../x", "a/../../b", "/abs", "a//b", "a/", "."] {
            assert!(key_path(dir, "k", key).is_err(), "{key}");
        }
        assert!(validate_id("run id", "../x").is_err());
        assert!(validate_id("run id", "").is_err());
        assert!(validate_id("run id", "0123abc").is_ok());
    }
}
