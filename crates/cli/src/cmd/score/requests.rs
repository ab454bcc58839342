//! Requests given on the command line: each verdict on the terminal with its features marked
//! in the text, or (`--json`) the verdicts as a JSON list, the same objects `/score` returns.

use std::io::Write;

use vigie_score::Engine;
use vigie_score::engine::ThresholdSource;
use vigie_score::highlight::highlight;

use crate::args::{GlobalArgs, ScoreArgs};
use crate::output::print_json;

pub(super) fn score_requests(
    global: &GlobalArgs,
    args: &ScoreArgs,
    engine: &Engine,
) -> anyhow::Result<()> {
    let raw: Vec<&str> = args.requests.iter().map(String::as_str).collect();
    let verdicts = engine.verdicts(&raw, args.top);
    if global.json {
        return print_json(&verdicts);
    }
    let ansi = crate::output::color_stdout();
    let mut out = std::io::stdout().lock();
    for verdict in &verdicts {
        let label = match (verdict.malicious, ansi) {
            (true, true) => "\u{1b}[1;31mMALICIOUS\u{1b}[0m",
            (true, false) => "MALICIOUS",
            (false, _) => "benign",
        };
        writeln!(
            out,
            "{label}  score {:.6}  threshold {:.6}  family {}",
            verdict.score, verdict.threshold, verdict.family
        )?;
        writeln!(
            out,
            "  {}",
            highlight(&verdict.text, &verdict.features, ansi)
        )?;
        for feature in &verdict.features {
            writeln!(out, "    {:+.4}  {:?}", feature.weight, feature.text)?;
        }
    }
    if !global.quiet {
        eprintln!(
            "model {} ({}), threshold {}",
            engine.origin(),
            engine.manifest().kind,
            match engine.threshold_source() {
                ThresholdSource::Stored => "stored with the model".to_owned(),
                ThresholdSource::Given => "from --threshold".to_owned(),
                ThresholdSource::TargetFpr {
                    fpr,
                    valid_fpr,
                    valid_tpr,
                } => format!(
                    "for --target-fpr {fpr} (validation split: FPR {valid_fpr:.5}, TPR {valid_tpr:.5})"
                ),
            }
        );
    }
    Ok(())
}
