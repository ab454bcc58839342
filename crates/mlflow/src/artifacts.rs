//! Artifacts through the tracking server's proxy (`mlflow server --serve-artifacts`, the default):
//! files go up and down as raw bodies at `/api/2.0/mlflow-artifacts/artifacts/<path>`, where
//! `<path>` is an artifact URI with its `mlflow-artifacts:/` scheme removed.
//!
//! Paths are checked on both sides: a `..` component is refused in what the caller passes, and
//! names the server lists are checked before they become local paths, so a download never writes
//! outside its destination.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::{Method, Url};

use crate::client::{MlflowClient, Payload};
use crate::error::{MlflowError, Result};
use crate::types::{ArtifactListResponse, FileInfo};

/// Scheme of artifact URIs served by the tracking server's proxy.
pub const PROXY_SCHEME: &str = "mlflow-artifacts:";

/// How many files [`MlflowClient::upload_dir`] sends at once.
pub const UPLOAD_CONNECTIONS: usize = 4;

const PROXY_PREFIX: [&str; 4] = ["api", "2.0", "mlflow-artifacts", "artifacts"];

/// Where an artifact root lives on the proxy: the path segments after `mlflow-artifacts:/`
/// (e.g. `["1", "<run_id>", "artifacts"]`).
///
/// Accepts `mlflow-artifacts:/p`, and `mlflow-artifacts:///p` (empty authority); refuses a URI
/// naming a server (`mlflow-artifacts://host/p`: this client talks to one server only), other
/// schemes (the server does not proxy them), and `..` components.
pub fn proxy_path_segments(artifact_uri: &str) -> Result<Vec<String>> {
    let what = "artifact URI";
    let Some(rest) = artifact_uri.strip_prefix(PROXY_SCHEME) else {
        return Err(MlflowError::invalid(
            what,
            format!(
                "{artifact_uri:?} is not an {PROXY_SCHEME}/ URI: only artifacts proxied by the tracking \
                 server are supported (start it with --serve-artifacts, the default)"
            ),
        ));
    };
    let path = match rest.strip_prefix("//") {
        Some(with_authority) => {
            let (authority, path) =
                with_authority.split_at(with_authority.find('/').unwrap_or(with_authority.len()));
            if !authority.is_empty() {
                return Err(MlflowError::invalid(
                    what,
                    format!(
                        "{artifact_uri:?} names a server ({authority}); only {PROXY_SCHEME}/<path> is supported"
                    ),
                ));
            }
            path
        }
        None => rest,
    };
    if !path.starts_with('/') {
        return Err(MlflowError::invalid(
            what,
            format!("{artifact_uri:?} has no absolute path"),
        ));
    }
    relative_segments(what, path)
}

/// Splits a `/`-separated artifact path into its components, ignoring empty and `.` ones and
/// refusing `..`.
pub fn relative_segments(what: &str, path: &str) -> Result<Vec<String>> {
    let mut segments = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                return Err(MlflowError::invalid(
                    what,
                    format!("{path:?} contains a '..' component"),
                ));
            }
            s => segments.push(s.to_string()),
        }
    }
    Ok(segments)
}

fn optional_segments(what: &str, path: Option<&str>) -> Result<Vec<String>> {
    path.map_or(Ok(Vec::new()), |p| relative_segments(what, p))
}

/// A name the server listed must be a single plain component to become a local path.
fn checked_listed_name(name: &str) -> Result<&str> {
    let safe = !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0']);
    if safe {
        Ok(name)
    } else {
        Err(MlflowError::invalid(
            "artifact listing",
            format!("the server listed an unsafe name {name:?}"),
        ))
    }
}

fn utf8_name(path: &Path) -> Result<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .ok_or_else(|| {
            MlflowError::invalid(
                "local path",
                format!("{} has no UTF-8 file name", path.display()),
            )
        })
}

impl MlflowClient {
    /// The proxy path of an artifact root given as an artifact URI (`mlflow-artifacts:/...`, as
    /// in [`crate::RunInfo::artifact_uri`] or [`crate::LoggedModelInfo::artifact_uri`]) or as a
    /// run id (one `runs/get` to read its artifact URI).
    fn artifact_root(&self, root: &str) -> Result<Vec<String>> {
        if root.starts_with(PROXY_SCHEME) || root.contains(':') || root.contains('/') {
            proxy_path_segments(root)
        } else if root.is_empty() {
            Err(MlflowError::invalid("artifact root", "empty run id"))
        } else {
            proxy_path_segments(&self.run_artifact_uri(root)?)
        }
    }

    fn artifact_url(&self, root: &[String], relative: &[String]) -> Result<Url> {
        let segments: Vec<&str> = PROXY_PREFIX
            .iter()
            .copied()
            .chain(root.iter().map(String::as_str))
            .chain(relative.iter().map(String::as_str))
            .collect();
        self.url(&segments, &[])
    }

    /// Uploads one local file as `<artifact_dir>/<file name>` under `root` (an artifact URI or a
    /// run id); `artifact_dir` `None` puts it at the root. The file is streamed from disk.
    /// Returns its artifact path relative to the root.
    pub fn upload_file(
        &self,
        root: &str,
        local_file: &Path,
        artifact_dir: Option<&str>,
    ) -> Result<String> {
        let root = self.artifact_root(root)?;
        let mut relative = optional_segments("artifact path", artifact_dir)?;
        relative.push(utf8_name(local_file)?);
        self.put_file(&root, &relative, local_file)?;
        Ok(relative.join("/"))
    }

    fn put_file(&self, root: &[String], relative: &[String], local_file: &Path) -> Result<()> {
        let metadata = fs::metadata(local_file).map_err(|e| MlflowError::io(local_file, e))?;
        if !metadata.is_file() {
            return Err(MlflowError::invalid(
                "local path",
                format!("{} is not a file", local_file.display()),
            ));
        }
        let url = self.artifact_url(root, relative)?;
        let timeout = self.config().artifact_timeout();
        self.send(Method::PUT, url, Payload::File(local_file), timeout)?;
        Ok(())
    }

    /// Uploads every file under `local_dir`, recursively, keeping the relative paths, under
    /// `<artifact_dir>/` of `root` (the directory's own name is not added, like MLflow's
    /// `log_artifacts`). Symlinks to files are followed, symlinks to directories skipped (they
    /// can loop). Returns the number of files uploaded.
    ///
    /// Up to [`UPLOAD_CONNECTIONS`] files go up at once: a model folder is many small files,
    /// whose uploads are mostly round trips. On an error the other uploads finish, then the
    /// first error is returned.
    pub fn upload_dir(
        &self,
        root: &str,
        local_dir: &Path,
        artifact_dir: Option<&str>,
    ) -> Result<usize> {
        let root = self.artifact_root(root)?;
        let base = optional_segments("artifact path", artifact_dir)?;
        let mut files = Vec::new();
        collect_files(local_dir, &mut Vec::new(), &mut files)?;
        let uploads: Vec<(&PathBuf, Vec<String>)> = files
            .iter()
            .map(|(path, relative)| {
                let mut full = base.clone();
                full.extend(relative.iter().cloned());
                (path, full)
            })
            .collect();
        let next = AtomicUsize::new(0);
        let upload_some = || -> Result<()> {
            let mut first_error = None;
            while let Some((path, full)) = uploads.get(next.fetch_add(1, Ordering::Relaxed)) {
                if let Err(error) = self.put_file(&root, full, path) {
                    first_error.get_or_insert(error);
                }
            }
            first_error.map_or(Ok(()), Err)
        };
        let helpers = uploads.len().min(UPLOAD_CONNECTIONS).saturating_sub(1);
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..helpers).map(|_| scope.spawn(upload_some)).collect();
            let mine = upload_some();
            handles
                .into_iter()
                .map(|handle| {
                    handle
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .fold(mine, Result::and)
        })?;
        Ok(files.len())
    }

    /// Lists the direct children of `path` (`None`: the root) under `root`. Returned paths are
    /// relative to the root (`dir/file.bin`), like MLflow's `list_artifacts`. A missing path
    /// lists as empty.
    pub fn list_artifacts(&self, root: &str, path: Option<&str>) -> Result<Vec<FileInfo>> {
        let root = self.artifact_root(root)?;
        let relative = optional_segments("artifact path", path)?;
        self.list_segments(&root, &relative)
    }

    fn list_segments(&self, root: &[String], relative: &[String]) -> Result<Vec<FileInfo>> {
        let mut proxy_path = root.to_vec();
        proxy_path.extend(relative.iter().cloned());
        let query_path = proxy_path.join("/");
        let url = self.url(&PROXY_PREFIX, &[("path", &query_path)])?;
        let response: ArtifactListResponse = self.call_json(Method::GET, url, Payload::Empty)?;
        response
            .files
            .into_iter()
            .map(|mut info| {
                let name = checked_listed_name(&info.path)?;
                let mut full = relative.to_vec();
                full.push(name.to_string());
                info.path = full.join("/");
                Ok(info)
            })
            .collect()
    }

    /// Downloads one artifact file to `local_file` (parent directories are created). The body is
    /// streamed to `<local_file>.part`, then renamed, so an interrupted download never leaves a
    /// truncated file under the final name. Returns the number of bytes written.
    pub fn download_file(&self, root: &str, artifact_path: &str, local_file: &Path) -> Result<u64> {
        let root = self.artifact_root(root)?;
        let relative = relative_segments("artifact path", artifact_path)?;
        if relative.is_empty() {
            return Err(MlflowError::invalid("artifact path", "empty: name a file"));
        }
        self.get_file(&root, &relative, local_file)
    }

    fn get_file(&self, root: &[String], relative: &[String], local_file: &Path) -> Result<u64> {
        let url = self.artifact_url(root, relative)?;
        let endpoint = format!("GET {url}");
        let timeout = self.config().artifact_timeout();
        let mut response = self.send(Method::GET, url, Payload::Empty, timeout)?;
        if let Some(parent) = local_file.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|e| MlflowError::io(parent, e))?;
        }
        let mut part_name = local_file.as_os_str().to_owned();
        part_name.push(".part");
        let part = PathBuf::from(part_name);
        let mut file = fs::File::create(&part).map_err(|e| MlflowError::io(&part, e))?;
        let written = response.copy_to(&mut file).map_err(|source| {
            let _ = fs::remove_file(&part);
            MlflowError::Transport { endpoint, source }
        })?;
        file.flush().map_err(|e| MlflowError::io(&part, e))?;
        drop(file);
        fs::rename(&part, local_file).map_err(|e| MlflowError::io(local_file, e))?;
        Ok(written)
    }

    /// Downloads everything under `path` (`None`: the whole root), recursively, into
    /// `local_dir`, keeping the relative layout. Returns the number of files written.
    pub fn download_dir(&self, root: &str, path: Option<&str>, local_dir: &Path) -> Result<usize> {
        let root = self.artifact_root(root)?;
        let start = optional_segments("artifact path", path)?;
        let mut pending = vec![start.clone()];
        let mut count = 0;
        while let Some(dir) = pending.pop() {
            for entry in self.list_segments(&root, &dir)? {
                let full: Vec<String> = entry.path.split('/').map(str::to_string).collect();
                if entry.is_dir {
                    pending.push(full);
                    continue;
                }
                // Every component was checked by `list_segments` (a plain name), and the first
                // `start.len()` ones are the requested directory itself.
                let local = full
                    .iter()
                    .skip(start.len())
                    .fold(local_dir.to_path_buf(), |path, name| path.join(name));
                self.get_file(&root, &full, &local)?;
                count += 1;
            }
        }
        Ok(count)
    }
}

/// Files under `dir`, with their path components relative to the walk's start, sorted so uploads
/// happen in a stable order.
fn collect_files(
    dir: &Path,
    prefix: &mut Vec<String>,
    out: &mut Vec<(PathBuf, Vec<String>)>,
) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| MlflowError::io(dir, e))?;
    let mut paths = Vec::new();
    for entry in entries {
        paths.push(entry.map_err(|e| MlflowError::io(dir, e))?.path());
    }
    paths.sort();
    for path in paths {
        let link = fs::symlink_metadata(&path).map_err(|e| MlflowError::io(&path, e))?;
        let target = fs::metadata(&path).map_err(|e| MlflowError::io(&path, e))?;
        let name = utf8_name(&path)?;
        if target.is_dir() {
            if link.file_type().is_symlink() {
                tracing::warn!(
                    path = %path.display(),
                    "skipping symlinked directory in artifact upload"
                );
                continue;
            }
            prefix.push(name);
            collect_files(&path, prefix, out)?;
            prefix.pop();
        } else if target.is_file() {
            let mut relative = prefix.clone();
            relative.push(name);
            out.push((path, relative));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ArtifactListResponse;

    #[test]
    fn run_and_model_artifact_uris_map_to_proxy_paths() {
        let run = "mlflow-artifacts:/1/b2a44eb0894b44e4aec66ff57b1e49c3/artifacts";
        assert_eq!(
            proxy_path_segments(run).expect("valid"),
            vec!["1", "b2a44eb0894b44e4aec66ff57b1e49c3", "artifacts"]
        );
        let model = "mlflow-artifacts:/1/models/m-b69ae460a2d14c329b6b14f1e7200b39/artifacts";
        assert_eq!(
            proxy_path_segments(model).expect("valid")[2],
            "m-b69ae460a2d14c329b6b14f1e7200b39"
        );
        assert_eq!(
            proxy_path_segments("mlflow-artifacts:///1/x/").expect("valid"),
            vec!["1", "x"]
        );
    }

    #[test]
    fn foreign_and_escaping_uris_are_refused() {
        for bad in [
            "s3://bucket/1/x",
            "file:///tmp/mlruns/1",
            "mlflow-artifacts://other-host:5000/1/x",
            "mlflow-artifacts:1/x",
            "mlflow-artifacts:/1/../../etc",
            "runs:/abc/model",
        ] {
            let err = proxy_path_segments(bad).expect_err(bad);
            assert!(
                matches!(err, MlflowError::InvalidArgument { .. }),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn relative_paths_drop_empty_parts_and_refuse_parent_components() {
        assert_eq!(
            relative_segments("p", "/a//b/./c/").expect("valid"),
            vec!["a", "b", "c"]
        );
        assert!(relative_segments("p", "").expect("valid").is_empty());
        assert!(relative_segments("p", "a/../b").is_err());
        assert!(relative_segments("p", "..").is_err());
        // A name that merely contains dots is fine.
        assert_eq!(
            relative_segments("p", "a..b/.hidden").expect("valid"),
            vec!["a..b", ".hidden"]
        );
    }

    #[test]
    fn listed_names_must_be_plain() {
        assert!(checked_listed_name("weights.bin").is_ok());
        assert!(checked_listed_name("a b.txt").is_ok());
        for bad in ["", ".", "..", "a/b", "..\\x", "x\0"] {
            assert!(checked_listed_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn listing_fixture_decodes() {
        let list: ArtifactListResponse =
            serde_json::from_str(include_str!("../tests/fixtures/artifacts_list.json"))
                .expect("parses");
        assert_eq!(list.files.len(), 2);
        assert_eq!(list.files[0].file_size, Some(11));
        assert!(list.files[1].is_dir);
        assert_eq!(list.files[1].file_size, None);
        let empty: ArtifactListResponse = serde_json::from_str("{}").expect("parses");
        assert!(empty.files.is_empty());
    }

    #[test]
    fn local_files_are_collected_recursively_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(dir.path().join("b/c")).expect("mkdir");
        fs::write(dir.path().join("z.txt"), "z").expect("write");
        fs::write(dir.path().join("b/y.txt"), "y").expect("write");
        fs::write(dir.path().join("b/c/x.txt"), "x").expect("write");
        fs::create_dir(dir.path().join("empty")).expect("mkdir");
        let mut files = Vec::new();
        collect_files(dir.path(), &mut Vec::new(), &mut files).expect("walk");
        let relative: Vec<String> = files.iter().map(|(_, r)| r.join("/")).collect();
        assert_eq!(relative, vec!["b/c/x.txt", "b/y.txt", "z.txt"]);
    }
}
