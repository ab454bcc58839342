//! File checksums as datasets publish them: sha256, or the git blob id
//! (`sha1("blob <len>\0" + content)`) where only a repository copy is known.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::definition::ExpectedChecksums;
use crate::error::{DataError, Result};

/// The sha256 and git blob id of a file's bytes as stored (a `.gz` is hashed compressed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChecksums {
    pub sha256: String,
    pub git_blob: String,
    pub bytes: u64,
}

/// Hash a file in one streaming pass.
pub fn file_checksums(path: &Path) -> Result<FileChecksums> {
    let bytes = std::fs::metadata(path)
        .map_err(|e| DataError::io(path, "cannot stat", e))?
        .len();
    let mut file = File::open(path).map_err(|e| DataError::io(path, "cannot open", e))?;
    let mut sha256 = Sha256::new();
    let mut blob = Sha1::new();
    blob.update(format!("blob {bytes}\0").as_bytes());
    let mut buf = vec![0u8; 1 << 16];
    let mut seen = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| DataError::io(path, "cannot read", e))?;
        if n == 0 {
            break;
        }
        sha256.update(&buf[..n]);
        blob.update(&buf[..n]);
        seen += n as u64;
    }
    if seen != bytes {
        // The file changed while being hashed: the blob header would be wrong.
        return Err(DataError::io(
            path,
            "hashing",
            std::io::Error::other(format!(
                "file size changed from {bytes} to {seen} bytes while reading"
            )),
        ));
    }
    Ok(FileChecksums {
        sha256: hex::encode(sha256.finalize()),
        git_blob: hex::encode(blob.finalize()),
        bytes,
    })
}

/// Check a file against the checksums its definition states; returns which were checked.
pub fn verify(path: &Path, expected: ExpectedChecksums<'_>) -> Result<Vec<&'static str>> {
    if expected.sha256.is_none() && expected.git_blob.is_none() {
        return Ok(Vec::new());
    }
    let actual = file_checksums(path)?;
    let mut checked = Vec::new();
    if let Some(want) = expected.sha256 {
        if !want.eq_ignore_ascii_case(&actual.sha256) {
            return Err(DataError::Checksum {
                path: path.to_owned(),
                kind: "sha256",
                expected: want.to_owned(),
                actual: actual.sha256,
            });
        }
        checked.push("sha256");
    }
    if let Some(want) = expected.git_blob {
        if !want.eq_ignore_ascii_case(&actual.git_blob) {
            return Err(DataError::Checksum {
                path: path.to_owned(),
                kind: "git blob",
                expected: want.to_owned(),
                actual: actual.git_blob,
            });
        }
        checked.push("git blob");
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_sha256sum_and_git_hash_object() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("hello.txt");
        std::fs::write(&path, "hello\n").expect("write");
        let c = file_checksums(&path).expect("hash");
        // `printf 'hello\n' | sha256sum` and `git hash-object`.
        assert_eq!(
            c.sha256,
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
        );
        assert_eq!(c.git_blob, "ce013625030ba8dba906f756967f9e9ca394464a");
        let ok = ExpectedChecksums {
            sha256: Some(&c.sha256),
            git_blob: Some(&c.git_blob),
        };
        assert_eq!(verify(&path, ok).expect("verified"), ["sha256", "git blob"]);
        let bad = ExpectedChecksums {
            sha256: None,
            git_blob: Some("0000000000000000000000000000000000000000"),
        };
        let err = verify(&path, bad).unwrap_err().to_string();
        assert!(err.contains("hello.txt") && err.contains("ce0136"), "{err}");
    }
}
