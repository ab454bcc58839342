//! `vigie config template KIND` and `vigie init`: commented run configs and sweep files with
//! every key and its default, printed or written (never over a file without `--force`).

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use vigie_runner::template::run_config_template;
use vigie_sweep::spec::sweep_template;

use crate::args::{GlobalArgs, InitArgs, TemplateArgs};
use crate::say;

/// Where `vigie init` writes, and the base its sweep file names (relative to the sweep file).
const INIT_RUN: &str = "configs/my-run.toml";
const INIT_SWEEP: &str = "experiments/my-sweep.toml";
const SWEEP_BASE: &str = "../configs/my-run.toml";

pub fn template(global: &GlobalArgs, args: &TemplateArgs) -> anyhow::Result<()> {
    let text = template_text(&args.kind)?;
    match &args.output {
        Some(path) => {
            write_new(path, &text, args.force)?;
            say!(global.quiet, "wrote {}", path.display());
        }
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .context("writing the template to stdout")?,
    }
    Ok(())
}

pub fn init(global: &GlobalArgs, args: &InitArgs) -> anyhow::Result<()> {
    let run = args.dir.join(INIT_RUN);
    let sweep = args.dir.join(INIT_SWEEP);
    if !args.force
        && let Some(existing) = [&run, &sweep].into_iter().find(|p| p.exists())
    {
        bail!("{} exists (--force overwrites it)", existing.display());
    }
    write_new(&run, &template_text(&args.kind)?, args.force)?;
    write_new(&sweep, &template_text("sweep")?, args.force)?;
    say!(
        global.quiet,
        "wrote {} and {}\n  vigie train {}\n  vigie sweep {} --dry-run",
        run.display(),
        sweep.display(),
        run.display(),
        sweep.display()
    );
    Ok(())
}

/// The template of a model kind, or of a sweep file over `configs/my-run.toml`.
fn template_text(kind: &str) -> anyhow::Result<String> {
    if kind == "sweep" {
        return Ok(sweep_template(SWEEP_BASE));
    }
    Ok(run_config_template(kind)?)
}

/// Writes `text` to `path` (its folder created), refusing an existing file unless `force`.
fn write_new(path: &Path, text: &str, force: bool) -> anyhow::Result<()> {
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("{}: cannot create the folder", folder.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = match options.open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!("{} exists (--force overwrites it)", path.display())
        }
        other => other.with_context(|| format!("{}: cannot write", path.display()))?,
    };
    file.write_all(text.as_bytes())
        .with_context(|| format!("{}: cannot write", path.display()))
}

#[cfg(test)]
mod tests {
    use vigie_models::spec::ModelSpec;

    use super::*;
    use crate::args::TEMPLATE_KINDS;

    #[test]
    fn the_template_kinds_are_the_model_kinds_and_sweep() {
        assert_eq!(TEMPLATE_KINDS[..8], ModelSpec::KINDS);
        assert_eq!(TEMPLATE_KINDS[8], "sweep");
    }

    #[test]
    fn an_existing_file_is_kept_without_force() {
        let dir = tempfile::TempDir::new().expect("dir");
        let path = dir.path().join("a/b.toml");
        write_new(&path, "one", false).expect("new");
        let err = write_new(&path, "two", false)
            .expect_err("exists")
            .to_string();
        assert!(err.contains("--force"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "one");
        write_new(&path, "three", true).expect("forced");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "three");
    }
}
