//! The write-ahead journal of a run: every operation of a run is appended here before it is
//! sent to a [`crate::TrackingStore`], so a run survives a store that cannot be reached, a
//! crash, or a deleted artifact file.
//!
//! # Layout
//!
//! One JSON Lines file per run under a journal root, named by the run's client-side id:
//!
//! ```text
//! <root>/<client_run_id>.jsonl              records, one JSON object a line
//! <root>/<client_run_id>/artifacts/<seq>/…  copies of the logged artifact files
//! <root>/done/<client_run_id>.jsonl         journals whose run is fully in the store
//! <root>/done/<client_run_id>/…             and their artifact copies
//! ```
//!
//! Each operation record ([`JournalOp`]) has a sequence number; an [`JournalRecord::Ack`]
//! record appended after a successful apply lists the sequence numbers it covers (and, for the
//! `start` record, the store's run id). The unacknowledged operations are what a replay
//! ([`crate::sync`]) still has to send.
//!
//! # Durability
//!
//! Each record is one `write` of a whole line, so a killed process leaves at most one incomplete
//! final line, which [`read_journal`] ignores with a warning. The file is fsync'ed at run
//! boundaries and at each flush ([`Journal::sync`]). A live writer holds an exclusive lock on its
//! file ([`std::fs::File::try_lock`]), so a replay never touches a run that is still logging.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{MlflowError, Result};
use crate::types::{DatasetInput, Metric, Param, RunStatus, Tag};

/// Version written in each `start` record; a reader refuses journals of a newer format.
pub const JOURNAL_FORMAT_VERSION: u32 = 1;
/// Extension of journal files.
pub const JOURNAL_EXTENSION: &str = "jsonl";
/// Sub-folder of the journal root where fully synced journals are moved.
pub const DONE_DIR: &str = "done";
/// Run tag holding the client-side run id, used to find a run again after a crash
/// (the journal's name; generic, not tied to any trainer).
pub const CLIENT_RUN_ID_TAG: &str = "journal.client_run_id";

/// One line of a journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum JournalRecord {
    /// An operation of the run, to apply to the store.
    Op(JournalOp),
    /// Operations that reached the store.
    Ack(Ack),
}

/// Acknowledgement of applied operations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ack {
    /// Sequence numbers of the applied operations.
    pub ack: Vec<u64>,
    /// The store's run id, set when the `start` operation is acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

/// An operation of a run, as journaled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum JournalOp {
    /// The run was started.
    Start {
        /// Sequence number (0 for the start).
        seq: u64,
        /// Journal format version ([`JOURNAL_FORMAT_VERSION`]).
        version: u32,
        /// The client-side run id (also the journal's file name and the
        /// [`CLIENT_RUN_ID_TAG`] tag).
        client_run_id: String,
        /// Experiment name, created in the store when missing.
        experiment: String,
        /// Run name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run_name: Option<String>,
        /// Tags set at creation (the client id tag and the parent run tag included).
        #[serde(default)]
        tags: Vec<Tag>,
        /// Start time, ms since the epoch.
        start_time: i64,
    },
    /// Metrics, params and tags.
    Batch {
        /// Sequence number.
        seq: u64,
        /// Metric points.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        metrics: Vec<Metric>,
        /// Params.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        params: Vec<Param>,
        /// Tags.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tags: Vec<Tag>,
    },
    /// Datasets the run used.
    Inputs {
        /// Sequence number.
        seq: u64,
        /// The datasets.
        datasets: Vec<DatasetInput>,
    },
    /// A file or folder logged as an artifact; `file` is its copy, relative to the run's
    /// artifact folder in the journal (`<seq>/<name>`).
    Artifact {
        /// Sequence number.
        seq: u64,
        /// The copy, relative to `<root>/<client_run_id>/artifacts/`.
        file: String,
        /// Artifact folder in the run (`None`: the root).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        artifact_dir: Option<String>,
    },
    /// The run ended.
    Finish {
        /// Sequence number.
        seq: u64,
        /// Final status.
        status: RunStatus,
        /// End time, ms since the epoch.
        end_time: i64,
    },
}

impl JournalOp {
    /// The operation's sequence number.
    pub fn seq(&self) -> u64 {
        match self {
            JournalOp::Start { seq, .. }
            | JournalOp::Batch { seq, .. }
            | JournalOp::Inputs { seq, .. }
            | JournalOp::Artifact { seq, .. }
            | JournalOp::Finish { seq, .. } => *seq,
        }
    }
}

/// What a journal file holds, as read by [`read_journal`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JournalContents {
    /// Operations in file order.
    pub ops: Vec<JournalOp>,
    /// Sequence numbers acknowledged.
    pub acked: BTreeSet<u64>,
    /// The store's run id, when the start was acknowledged.
    pub run_id: Option<String>,
    /// Bytes of complete lines; less than the file's length when the last line is torn.
    pub valid_len: u64,
    /// Whether an incomplete final line was ignored.
    pub torn_tail: bool,
}

impl JournalContents {
    /// The client-side run id, from the `start` record.
    pub fn client_run_id(&self) -> Option<&str> {
        self.ops.iter().find_map(|op| match op {
            JournalOp::Start { client_run_id, .. } => Some(client_run_id.as_str()),
            _ => None,
        })
    }

    /// Operations not acknowledged yet, in order.
    pub fn pending(&self) -> impl Iterator<Item = &JournalOp> {
        self.ops.iter().filter(|op| !self.acked.contains(&op.seq()))
    }

    /// Whether the run has a `finish` record.
    pub fn is_finished(&self) -> bool {
        self.ops
            .iter()
            .any(|op| matches!(op, JournalOp::Finish { .. }))
    }

    /// Whether every operation, the finish included, reached the store.
    pub fn is_complete(&self) -> bool {
        self.is_finished() && self.pending().next().is_none()
    }

    /// The next free sequence number.
    pub fn next_seq(&self) -> u64 {
        self.ops.iter().map(|op| op.seq() + 1).max().unwrap_or(0)
    }
}

/// Reads a journal. An incomplete final line (a writer killed mid-write) is ignored with a
/// warning; any other line that is not a journal record is an error naming the file and line.
pub fn read_journal(path: &Path) -> Result<JournalContents> {
    let bytes = fs::read(path).map_err(|e| MlflowError::io(path, e))?;
    let mut contents = JournalContents::default();
    let complete_len = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let tail = &bytes[complete_len..];
    if !tail.is_empty() {
        tracing::warn!(
            journal = %path.display(),
            bytes = tail.len(),
            "ignoring the incomplete last line of a journal (the writer was interrupted)"
        );
        contents.torn_tail = true;
    }
    contents.valid_len = complete_len as u64;
    for (index, line) in bytes[..complete_len].split(|b| *b == b'\n').enumerate() {
        let line_number = index + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record: JournalRecord = serde_json::from_slice(line)
            .map_err(|e| journal_error(path, Some(line_number), e.to_string()))?;
        match record {
            JournalRecord::Op(op) => {
                if let JournalOp::Start { version, .. } = &op
                    && *version > JOURNAL_FORMAT_VERSION
                {
                    return Err(journal_error(
                        path,
                        Some(line_number),
                        format!(
                            "journal format {version} is newer than this reader's ({JOURNAL_FORMAT_VERSION})"
                        ),
                    ));
                }
                contents.ops.push(op);
            }
            JournalRecord::Ack(ack) => {
                contents.acked.extend(ack.ack);
                if ack.run_id.is_some() {
                    contents.run_id = ack.run_id;
                }
            }
        }
    }
    match contents.ops.first() {
        Some(JournalOp::Start { .. }) => Ok(contents),
        _ => Err(journal_error(
            path,
            None,
            "does not begin with a start record".into(),
        )),
    }
}

fn journal_error(path: &Path, line: Option<usize>, message: String) -> MlflowError {
    MlflowError::Journal {
        path: path.to_path_buf(),
        line,
        message,
    }
}

/// The journal file of `client_run_id` under `root`.
pub fn journal_path(root: &Path, client_run_id: &str) -> PathBuf {
    root.join(format!("{client_run_id}.{JOURNAL_EXTENSION}"))
}

/// The folder holding the artifact copies of a journal (`<root>/<id>/artifacts` beside
/// `<root>/<id>.jsonl`).
pub fn artifacts_dir(journal: &Path) -> PathBuf {
    journal.with_extension("").join("artifacts")
}

/// The journals of `root` still pending (not moved to `done/`), sorted by name.
pub fn pending_journals(root: &Path) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(MlflowError::io(root, e)),
    };
    let mut journals = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| MlflowError::io(root, e))?.path();
        if path.is_file() && path.extension().is_some_and(|ext| ext == JOURNAL_EXTENSION) {
            journals.push(path);
        }
    }
    journals.sort();
    Ok(journals)
}

/// An open journal file, locked for this writer, appended to one record at a time.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    next_seq: u64,
}

impl Journal {
    /// Creates the journal of a new run (the file must not exist) and locks it.
    pub fn create(root: &Path, client_run_id: &str) -> Result<Journal> {
        fs::create_dir_all(root).map_err(|e| MlflowError::io(root, e))?;
        let path = journal_path(root, client_run_id);
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| MlflowError::io(&path, e))?;
        lock(&path, &file)?;
        // The new directory entry must survive a crash too.
        if let Ok(dir) = File::open(root) {
            let _ = dir.sync_all();
        }
        Ok(Journal {
            path,
            file,
            next_seq: 0,
        })
    }

    /// Opens an existing journal to append to it. Returns `None` when another writer holds
    /// its lock (a run still logging). An incomplete final line is cut off first, so new records
    /// start on a line of their own.
    pub fn open_existing(path: &Path) -> Result<Option<(Journal, JournalContents)>> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .map_err(|e| MlflowError::io(path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => return Err(MlflowError::io(path, e)),
        }
        let contents = read_journal(path)?;
        if contents.torn_tail {
            file.set_len(contents.valid_len)
                .map_err(|e| MlflowError::io(path, e))?;
        }
        let journal = Journal {
            path: path.to_path_buf(),
            file,
            next_seq: contents.next_seq(),
        };
        Ok(Some((journal, contents)))
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The folder of this journal's artifact copies.
    pub fn artifacts_dir(&self) -> PathBuf {
        artifacts_dir(&self.path)
    }

    /// The sequence number the next operation gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Takes the next sequence number.
    pub fn take_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Appends one record as one line, in one write (not fsync'ed: see [`Journal::sync`]).
    pub fn append(&mut self, record: &JournalRecord) -> Result<()> {
        let mut line = serde_json::to_vec(record)
            .map_err(|e| journal_error(&self.path, None, format!("cannot encode a record: {e}")))?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .map_err(|e| MlflowError::io(&self.path, e))
    }

    /// Appends an operation.
    pub fn append_op(&mut self, op: &JournalOp) -> Result<()> {
        self.append(&JournalRecord::Op(op.clone()))
    }

    /// Appends an acknowledgement of `seqs` (nothing when empty).
    pub fn ack(&mut self, seqs: Vec<u64>, run_id: Option<String>) -> Result<()> {
        if seqs.is_empty() && run_id.is_none() {
            return Ok(());
        }
        self.append(&JournalRecord::Ack(Ack { ack: seqs, run_id }))
    }

    /// Flushes the file to disk (fsync).
    pub fn sync(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| MlflowError::io(&self.path, e))
    }

    /// Moves the journal and its artifact copies to `<root>/done/`: the run is fully in the
    /// store. The lock goes with the file handle.
    pub fn mark_done(self) -> Result<PathBuf> {
        self.sync()?;
        move_to_done(&self.path)
    }
}

/// Moves the journal at `path` and its artifact copies to `<root>/done/` (see
/// [`Journal::mark_done`]), for a writer that keeps its handle, and so its lock, a little longer.
pub(crate) fn move_to_done(path: &Path) -> Result<PathBuf> {
    let root = path.parent().unwrap_or(Path::new("."));
    let done = root.join(DONE_DIR);
    fs::create_dir_all(&done).map_err(|e| MlflowError::io(&done, e))?;
    let file_name = path.file_name().unwrap_or_default();
    let target = done.join(file_name);
    let run_dir = path.with_extension("");
    if run_dir.is_dir() {
        let run_dir_target = done.join(run_dir.file_name().unwrap_or_default());
        fs::rename(&run_dir, &run_dir_target).map_err(|e| MlflowError::io(&run_dir, e))?;
    }
    fs::rename(path, &target).map_err(|e| MlflowError::io(path, e))?;
    Ok(target)
}

fn lock(path: &Path, file: &File) -> Result<()> {
    file.try_lock().map_err(|e| match e {
        std::fs::TryLockError::WouldBlock => {
            journal_error(path, None, "locked by another writer".into())
        }
        std::fs::TryLockError::Error(e) => MlflowError::io(path, e),
    })
}

/// Copies a file, or a folder recursively, to `target` (created); used to keep artifacts in the
/// journal so deleting the original cannot lose them.
pub fn copy_recursively(source: &Path, target: &Path) -> Result<()> {
    let metadata = fs::metadata(source).map_err(|e| MlflowError::io(source, e))?;
    if metadata.is_dir() {
        fs::create_dir_all(target).map_err(|e| MlflowError::io(target, e))?;
        for entry in fs::read_dir(source).map_err(|e| MlflowError::io(source, e))? {
            let entry = entry.map_err(|e| MlflowError::io(source, e))?;
            copy_recursively(&entry.path(), &target.join(entry.file_name()))?;
        }
    } else {
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| MlflowError::io(parent, e))?;
        }
        fs::copy(source, target).map_err(|e| MlflowError::io(source, e))?;
        let copy = File::open(target).map_err(|e| MlflowError::io(target, e))?;
        copy.sync_all().map_err(|e| MlflowError::io(target, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(client_run_id: &str) -> JournalOp {
        JournalOp::Start {
            seq: 0,
            version: JOURNAL_FORMAT_VERSION,
            client_run_id: client_run_id.into(),
            experiment: "exp".into(),
            run_name: Some("run".into()),
            tags: vec![Tag::new(CLIENT_RUN_ID_TAG, client_run_id)],
            start_time: 1_700_000_000_000,
        }
    }

    fn write_sample(root: &Path) -> PathBuf {
        let mut journal = Journal::create(root, "abc").unwrap();
        let seq = journal.take_seq();
        journal.append_op(&start("abc")).unwrap();
        journal.ack(vec![seq], Some("run-1".into())).unwrap();
        let batch = JournalOp::Batch {
            seq: journal.take_seq(),
            metrics: vec![
                Metric::at("loss", 0.5, 1, 10),
                Metric::at("loss", f64::NAN, 2, 11),
            ],
            params: vec![Param::new("lr", "0.1")],
            tags: vec![],
        };
        journal.append_op(&batch).unwrap();
        let finish = JournalOp::Finish {
            seq: journal.take_seq(),
            status: RunStatus::Finished,
            end_time: 12,
        };
        journal.append_op(&finish).unwrap();
        journal.ack(vec![2], None).unwrap();
        journal.sync().unwrap();
        journal.path().to_path_buf()
    }

    #[test]
    fn records_round_trip_and_acks_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_sample(dir.path());
        assert_eq!(path, dir.path().join("abc.jsonl"));
        let contents = read_journal(&path).unwrap();
        assert_eq!(contents.client_run_id(), Some("abc"));
        assert_eq!(contents.run_id.as_deref(), Some("run-1"));
        assert_eq!(contents.ops.len(), 3);
        assert_eq!(contents.acked, BTreeSet::from([0, 2]));
        let pending: Vec<u64> = contents.pending().map(JournalOp::seq).collect();
        assert_eq!(pending, vec![1]);
        assert!(contents.is_finished());
        assert!(!contents.is_complete());
        assert_eq!(contents.next_seq(), 3);
        assert!(!contents.torn_tail);
        let JournalOp::Batch { metrics, .. } = &contents.ops[1] else {
            panic!("not a batch: {:?}", contents.ops[1]);
        };
        assert!(metrics[1].value.is_nan());
    }

    #[test]
    fn torn_final_line_is_ignored_and_cut_before_appending() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_sample(dir.path());
        let full_len = fs::metadata(&path).unwrap().len();
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(br#"{"op":"batch","seq":3,"metrics":[{"key":"lo"#)
            .unwrap();
        drop(file);
        let contents = read_journal(&path).unwrap();
        assert!(contents.torn_tail);
        assert_eq!(contents.valid_len, full_len);
        assert_eq!(contents.ops.len(), 3);

        let (mut journal, _) = Journal::open_existing(&path).unwrap().unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), full_len);
        journal.ack(vec![1], None).unwrap();
        drop(journal);
        let contents = read_journal(&path).unwrap();
        assert!(!contents.torn_tail);
        assert!(contents.is_complete());
    }

    #[test]
    fn garbage_line_is_an_error_naming_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_sample(dir.path());
        let text = fs::read_to_string(&path).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.insert(2, "not json");
        fs::write(&path, lines.join("\n") + "\n").unwrap();
        let err = read_journal(&path).unwrap_err();
        let MlflowError::Journal {
            path: err_path,
            line,
            ..
        } = &err
        else {
            panic!("not a journal error: {err:?}");
        };
        assert_eq!(err_path, &path);
        assert_eq!(*line, Some(3));
        assert!(err.to_string().contains("abc.jsonl:3"), "{err}");
    }

    #[test]
    fn unknown_operation_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_sample(dir.path());
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"op\":\"teleport\",\"seq\":9}\n")
            .unwrap();
        drop(file);
        let err = read_journal(&path).unwrap_err();
        assert!(
            matches!(err, MlflowError::Journal { line: Some(6), .. }),
            "{err:?}"
        );
    }

    #[test]
    fn a_live_writer_locks_its_journal() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::create(dir.path(), "live").unwrap();
        assert!(Journal::open_existing(journal.path()).unwrap().is_none());
        let path = journal.path().to_path_buf();
        drop(journal);
        fs::write(
            &path,
            serde_json::to_string(&JournalRecord::Op(start("live"))).unwrap() + "\n",
        )
        .unwrap();
        assert!(Journal::open_existing(&path).unwrap().is_some());
    }

    #[test]
    fn done_journals_leave_the_pending_list() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_sample(dir.path());
        fs::create_dir_all(artifacts_dir(&path)).unwrap();
        assert_eq!(pending_journals(dir.path()).unwrap(), vec![path.clone()]);
        let (journal, _) = Journal::open_existing(&path).unwrap().unwrap();
        let done = journal.mark_done().unwrap();
        assert_eq!(done, dir.path().join("done/abc.jsonl"));
        assert!(dir.path().join("done/abc/artifacts").is_dir());
        assert!(pending_journals(dir.path()).unwrap().is_empty());
        assert!(
            pending_journals(&dir.path().join("missing"))
                .unwrap()
                .is_empty()
        );
    }
}
