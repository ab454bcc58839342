//! `vigie data list|show|verify|stats|prepare`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use vigie_data::report::{ClassCounts, DatasetStats, StatsInput};
use vigie_data::{
    DatasetDef, DedupReport, FileReport, PrepareConfig, PreparedDataset, Split, SplitConfig,
};

use crate::args::{GlobalArgs, PrepareArgs, PrepareOpts, StatsArgs};
use crate::output::{print_json, spinner};
use crate::say;

/// The state of one file of a definition in the data dir.
#[derive(Debug, Serialize)]
struct FileStatus {
    path: String,
    label: Option<String>,
    /// `present`, `alternative` (a listed stand-in is present) or `missing`.
    status: &'static str,
    found: Option<PathBuf>,
    url: Option<String>,
}

fn file_statuses(def: &DatasetDef, data_dir: &Path) -> Vec<FileStatus> {
    def.files
        .iter()
        .map(|f| {
            let resolved = f.resolve(data_dir);
            FileStatus {
                path: f.path.clone(),
                label: f.label.map(|l| l.to_string()),
                status: match &resolved {
                    Some(r) if r.is_alternative => "alternative",
                    Some(_) => "present",
                    None => "missing",
                },
                found: resolved.map(|r| r.path),
                url: f.url.clone(),
            }
        })
        .collect()
}

#[derive(Debug, Serialize)]
struct DatasetListing {
    name: String,
    description: String,
    format: &'static str,
    definition: PathBuf,
    files: Vec<FileStatus>,
}

pub fn list(global: &GlobalArgs) -> anyhow::Result<()> {
    let catalog = super::catalog(global)?;
    let listing: Vec<DatasetListing> = catalog
        .iter()
        .map(|(def, origin)| DatasetListing {
            name: def.name.clone(),
            description: def.description.clone(),
            format: def.format.name(),
            definition: origin.to_owned(),
            files: file_statuses(def, &global.data_dir),
        })
        .collect();
    if global.json {
        return print_json(&listing);
    }
    println!("data dir: {}", global.data_dir.display());
    for entry in &listing {
        let missing = entry.files.iter().filter(|f| f.status == "missing").count();
        let state = if missing == 0 {
            "ready".to_owned()
        } else {
            format!("{missing} of {} files missing", entry.files.len())
        };
        println!(
            "{:<18} {:<6} {:<24} {}",
            entry.name, entry.format, state, entry.description
        );
    }
    Ok(())
}

pub fn show(global: &GlobalArgs, name: &str) -> anyhow::Result<()> {
    let (def, origin) = super::catalog(global)?.get(name)?;
    let files = file_statuses(&def, &global.data_dir);
    if global.json {
        #[derive(Serialize)]
        struct Show<'a> {
            definition: &'a Path,
            dataset: &'a DatasetDef,
            files: Vec<FileStatus>,
        }
        return print_json(&Show {
            definition: &origin,
            dataset: &def,
            files,
        });
    }
    println!("{} ({})", def.name, origin.display());
    println!("  {}", def.description);
    if let Some(home) = &def.homepage {
        println!("  homepage: {home}");
    }
    println!(
        "  format: {}, charset: {:?}",
        def.format.name(),
        def.decode.charset
    );
    for f in files {
        let found = f
            .found
            .map(|p| format!(" -> {}", p.display()))
            .unwrap_or_default();
        println!(
            "  [{:<11}] {} ({}){found}",
            f.status,
            f.path,
            f.label.as_deref().unwrap_or("label column")
        );
    }
    Ok(())
}

#[derive(Debug, Serialize)]
struct VerifiedFile {
    path: PathBuf,
    /// `ok`, `unchecked` (no checksum known) or `missing`.
    status: &'static str,
    checked: Vec<&'static str>,
}

pub fn verify(global: &GlobalArgs, name: &str) -> anyhow::Result<()> {
    let (def, _) = super::catalog(global)?.get(name)?;
    let mut results = Vec::new();
    for file in &def.files {
        let Some(resolved) = file.resolve(&global.data_dir) else {
            results.push(VerifiedFile {
                path: global.data_dir.join(&file.path),
                status: "missing",
                checked: Vec::new(),
            });
            continue;
        };
        let checked = vigie_data::checksum::verify(&resolved.path, resolved.checksums)?;
        results.push(VerifiedFile {
            path: resolved.path,
            status: if checked.is_empty() {
                "unchecked"
            } else {
                "ok"
            },
            checked,
        });
    }
    let missing = results.iter().filter(|r| r.status == "missing").count();
    if global.json {
        print_json(&results)?;
    } else {
        for r in &results {
            println!(
                "{:<9} {} {}",
                r.status,
                r.path.display(),
                r.checked.join(", ")
            );
        }
    }
    if missing > 0 {
        anyhow::bail!(
            "{missing} file(s) of {name} missing from {}: run `vigie data fetch {name}`",
            global.data_dir.display()
        );
    }
    Ok(())
}

impl PrepareOpts {
    pub fn to_config(&self) -> PrepareConfig {
        let (train, valid, test) = self.split;
        PrepareConfig {
            dedup: !self.no_dedup,
            split: SplitConfig {
                train,
                valid,
                test,
                seed: self.seed,
            },
        }
    }
}

/// Load a dataset with progress on stderr, then dedup and split it.
pub fn load_prepared(
    global: &GlobalArgs,
    name: &str,
    opts: &PrepareOpts,
) -> anyhow::Result<PreparedDataset> {
    let (def, _) = super::catalog(global)?.get(name)?;
    let bar = spinner(global.quiet, format!("loading {}", def.name));
    let dataset = vigie_data::load(&def, &global.data_dir, |report| {
        bar.set_message(format!("loaded {} ({} requests)", report.file, report.kept));
    })
    .with_context(|| format!("loading dataset {}", def.name))?;
    bar.finish_and_clear();
    for file in &dataset.files {
        if file.alternative {
            say!(
                global.quiet,
                "note: {} stands in for the dataset's main file (see `vigie data show {name}`)",
                file.path.display()
            );
        }
        if file.invalid_skipped > 0 {
            say!(
                global.quiet,
                "warning: {}: {} invalid records skipped, e.g. {}",
                file.path.display(),
                file.invalid_skipped,
                file.invalid_examples.join("; ")
            );
        }
    }
    Ok(PreparedDataset::new(dataset, &opts.to_config())?)
}

#[derive(Debug, Serialize)]
struct Counts {
    total: usize,
    benign: usize,
    malicious: usize,
}

impl Counts {
    fn new([benign, malicious]: [usize; 2]) -> Self {
        Counts {
            total: benign + malicious,
            benign,
            malicious,
        }
    }
}

#[derive(Debug, Serialize)]
struct SplitSummary {
    seed: u64,
    train: Counts,
    valid: Counts,
    test: Counts,
}

fn split_summary(prepared: &PreparedDataset) -> SplitSummary {
    let [train, valid, test] = prepared.split_counts();
    SplitSummary {
        seed: prepared.config.split.seed,
        train: Counts::new(train),
        valid: Counts::new(valid),
        test: Counts::new(test),
    }
}

#[derive(Debug, Serialize)]
struct StatsOutput<'a> {
    dataset: &'a str,
    data_dir: &'a Path,
    files: &'a [FileReport],
    before_dedup: Counts,
    dedup: Option<&'a DedupReport>,
    after_dedup: Counts,
    split: SplitSummary,
    digest: &'a str,
    stats: &'a DatasetStats,
    written: Vec<PathBuf>,
}

pub fn stats(global: &GlobalArgs, args: &StatsArgs) -> anyhow::Result<()> {
    let prepared = load_prepared(global, &args.dataset, &args.prepare)?;
    let [benign, malicious] = prepared.counts_before_dedup;
    let input = StatsInput {
        dataset: &prepared.data.name,
        before_dedup: ClassCounts { benign, malicious },
        duplicate_rows_dropped: prepared
            .dedup
            .as_ref()
            .map_or(0, |d| d.duplicate_rows_dropped),
        conflicting_texts_dropped: prepared
            .dedup
            .as_ref()
            .map_or(0, |d| d.conflicting_texts_dropped),
        texts: &prepared.data.texts,
        labels: &prepared.data.labels,
    };
    let stats = DatasetStats::compute(&input);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("out/stats").join(&prepared.data.name));
    let written = stats
        .write(&out)
        .with_context(|| format!("writing the report into {}", out.display()))?;
    if global.json {
        return print_json(&StatsOutput {
            dataset: &prepared.data.name,
            data_dir: &global.data_dir,
            files: &prepared.data.files,
            before_dedup: Counts::new(prepared.counts_before_dedup),
            dedup: prepared.dedup.as_ref(),
            after_dedup: Counts::new(prepared.data.class_counts()),
            split: split_summary(&prepared),
            digest: &prepared.digest,
            stats: &stats,
            written,
        });
    }
    println!("{}", stats.summary());
    let split = split_summary(&prepared);
    println!(
        "split (seed {}): train {} / valid {} / test {}",
        split.seed, split.train.total, split.valid.total, split.test.total
    );
    println!("digest: {}", prepared.digest);
    println!(
        "tables and charts: {} ({} files)",
        out.display(),
        written.len()
    );
    Ok(())
}

#[derive(Debug, Serialize)]
struct Manifest<'a> {
    dataset: &'a str,
    digest: &'a str,
    config: &'a PrepareConfig,
    files: &'a [FileReport],
    dedup: Option<&'a DedupReport>,
    split: SplitSummary,
    /// How the digest is computed, so other tools can check it.
    digest_recipe: &'static str,
}

#[derive(Debug, Serialize)]
struct Row<'a> {
    text: &'a str,
    label: u8,
    origin: String,
}

pub fn prepare(global: &GlobalArgs, args: &PrepareArgs) -> anyhow::Result<()> {
    let prepared = load_prepared(global, &args.dataset, &args.prepare)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    for part in Split::ALL {
        let path = args.out.join(format!("{}.jsonl", part.name()));
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut w = BufWriter::new(file);
        for i in prepared.indices(part) {
            let row = Row {
                text: &prepared.data.texts[i],
                label: prepared.data.labels[i].as_u8(),
                origin: prepared.data.describe_origin(i),
            };
            serde_json::to_writer(&mut w, &row)?;
            w.write_all(b"\n")?;
        }
        w.flush()
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let manifest = Manifest {
        dataset: &prepared.data.name,
        digest: &prepared.digest,
        config: &prepared.config,
        files: &prepared.data.files,
        dedup: prepared.dedup.as_ref(),
        split: split_summary(&prepared),
        digest_recipe: "sha256(b\"vigie-dataset-v1\\n\" + for each request in file order: u64le(len(text)) + utf8(text) + label byte + split byte (0 train, 1 valid, 2 test))",
    };
    let path = args.out.join("manifest.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest)?)
        .with_context(|| format!("writing {}", path.display()))?;
    if global.json {
        return print_json(&manifest);
    }
    let s = &manifest.split;
    println!(
        "{}: train {} / valid {} / test {} requests written to {} (digest {})",
        manifest.dataset,
        s.train.total,
        s.valid.total,
        s.test.total,
        args.out.display(),
        manifest.digest
    );
    Ok(())
}
