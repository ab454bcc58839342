//! `vigie data fetch`: download a dataset's files into the data dir and verify them.
//!
//! A file is written to `<path>.part` while it downloads and renamed into
//! place only once its checksums match, so an interrupted or corrupted
//! download never leaves a file that loading would trust.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Serialize;
use vigie_data::checksum;
use vigie_data::definition::FileDef;

use crate::args::{FetchArgs, GlobalArgs};
use crate::output::{download_bar, print_json};
use crate::say;

#[derive(Debug, Serialize)]
struct Fetched {
    path: PathBuf,
    /// `downloaded`, `present` (already there and verified) or `failed`.
    status: &'static str,
    bytes: Option<u64>,
    verified: Vec<&'static str>,
    error: Option<String>,
}

pub fn fetch(global: &GlobalArgs, args: &FetchArgs) -> anyhow::Result<()> {
    let (def, _) = super::catalog(global)?.get(&args.dataset)?;
    // reqwest is built without a default TLS provider (no C build); pick ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(args.timeout.min(30)))
        .timeout(None)
        .user_agent(concat!("vigie/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")?;
    let mut results = Vec::new();
    for file in &def.files {
        let target = global.data_dir.join(&file.path);
        let result = fetch_one(&client, file, &target, args, global.quiet);
        results.push(match result {
            Ok(f) => f,
            Err(e) => Fetched {
                path: target,
                status: "failed",
                bytes: None,
                verified: Vec::new(),
                error: Some(crate::error_report(&e)),
            },
        });
    }
    let failed: Vec<&Fetched> = results.iter().filter(|r| r.status == "failed").collect();
    if global.json {
        print_json(&results)?;
    } else {
        for r in &results {
            let detail = match (&r.error, r.bytes) {
                (Some(e), _) => e.clone(),
                (None, Some(b)) => format!("{b} bytes, verified: {}", r.verified.join(", ")),
                (None, None) => String::new(),
            };
            println!("{:<10} {} {detail}", r.status, r.path.display());
        }
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} files of {} could not be fetched. Without network access, download them elsewhere \
             and put them in the data dir {} at the paths above (set it with --data-dir or VIGIE_DATA_DIR); \
             `vigie data verify {}` checks them.",
            failed.len(),
            results.len(),
            def.name,
            global.data_dir.display(),
            def.name
        );
    }
    Ok(())
}

fn fetch_one(
    client: &reqwest::blocking::Client,
    file: &FileDef,
    target: &Path,
    args: &FetchArgs,
    quiet: bool,
) -> anyhow::Result<Fetched> {
    if target.is_file() && !args.force {
        let verified = checksum::verify(target, file.checksums())?;
        return Ok(Fetched {
            path: target.to_owned(),
            status: "present",
            bytes: std::fs::metadata(target).ok().map(|m| m.len()),
            verified,
            error: None,
        });
    }
    let Some(url) = &file.url else {
        bail!(
            "no download URL in the definition: copy the file to {} by hand",
            target.display()
        );
    };
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut part = target.as_os_str().to_owned();
    part.push(".part");
    let part = PathBuf::from(part);
    say!(quiet, "downloading {url}");
    let download = download(client, url, &part, args.timeout, quiet)
        .with_context(|| format!("downloading {url}"));
    let bytes = match download {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
    };
    let verified = match checksum::verify(&part, file.checksums()) {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            return Err(e).context(format!(
                "{url} did not match the definition's checksum; nothing was kept"
            ));
        }
    };
    std::fs::rename(&part, target)
        .with_context(|| format!("moving {} into place", part.display()))?;
    Ok(Fetched {
        path: target.to_owned(),
        status: "downloaded",
        bytes: Some(bytes),
        verified,
        error: None,
    })
}

fn download(
    client: &reqwest::blocking::Client,
    url: &str,
    part: &Path,
    timeout: u64,
    quiet: bool,
) -> anyhow::Result<u64> {
    let mut response = client
        .get(url)
        .timeout(Duration::from_secs(timeout.max(1) * 60))
        .send()
        .context("no connection (offline?)")?;
    let status = response.status();
    if !status.is_success() {
        bail!("the server answered {status}");
    }
    // Read the announced size now: once the body is consumed, reqwest reports what is left.
    let expected = response.content_length();
    let bar = download_bar(
        quiet,
        expected,
        part.file_name().map_or("", |n| n.to_str().unwrap_or("")),
    );
    let file = File::create(part).with_context(|| format!("creating {}", part.display()))?;
    let mut out = BufWriter::new(file);
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = response.read(&mut buf).context("reading the response")?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])
            .with_context(|| format!("writing {}", part.display()))?;
        total += n as u64;
        bar.set_position(total);
    }
    out.flush()
        .with_context(|| format!("writing {}", part.display()))?;
    bar.finish_and_clear();
    if let Some(expected) = expected
        && expected != total
    {
        bail!("connection closed after {total} of {expected} bytes");
    }
    Ok(total)
}
