//! The run's work apart from tracking: the model fitted, its threshold chosen, measured on the
//! test split, the field, robustness and feedback checks, and its folder written.

use std::fs;
use std::path::PathBuf;
use std::time::Instant;

use vigie_data::{Label, PreparedDataset};
use vigie_models::artifact::{Manifest, SavedModel, TrainingData, ValidationScores};
use vigie_models::metrics::{self, BinaryMetrics, FamilyRecall, ScoringSpeed, ThresholdChoice};
use vigie_models::spec::TrainedModel;
use vigie_models::{LabelledTexts, Scorer, TrainData, TrainObserver};

use super::artifacts::{draw_charts, write_extra_artifacts, write_file};
use super::data::site_requests;
use super::final_metrics::metric_values;
use super::observer::{RefitObserver, RunObserver};
use super::{RunOutcome, RunRequest};
use crate::adversarial;
use crate::error::{Result, RunError};
use crate::feedback::{self, FeedbackMetrics};
use crate::field;
use crate::field::FieldMetrics;
use crate::pyfunc;
use crate::robust;
use crate::robust::RobustnessMetrics;
use crate::site::{self, SiteConfig, SiteRequests, SiteSummary};
use crate::system;

/// Single-request latency probes per run (a deterministic sample of the test split).
pub(super) const LATENCY_PROBES: usize = 1000;

/// The model on the run's feedback datasets at `threshold`, with `[data.feedback]`.
pub(super) fn feedback_check(
    request: &RunRequest,
    model: &dyn vigie_models::Scorer,
    threshold: f64,
) -> Result<Option<FeedbackMetrics>> {
    let Some(config) = &request.config.data.feedback else {
        return Ok(None);
    };
    let source = request
        .field_data
        .as_ref()
        .ok_or_else(|| RunError::Invalid {
            message: "a run with `[data.feedback]` needs its data source to read the feedback"
                .to_owned(),
        })?;
    let requests = feedback::load(config, source)?;
    Ok(Some(feedback::measure(model, &requests, threshold)))
}

/// A model trained and measured, its files written: what is left is logging it.
#[derive(Debug)]
pub(super) struct Trained {
    /// Without run ids or tracking time yet.
    pub(super) outcome: RunOutcome,
    pub(super) manifest: Manifest,
    /// `threshold`, `final_valid_*`, `test_*`, timings, memory: logged at `last_step`.
    pub(super) final_metrics: Vec<(String, f64)>,
    pub(super) last_step: u64,
}

/// The threshold rule's choice raised, when the site's alert rate asks for it, to let at most
/// that share of the site's adaptation requests through; the validation metrics at the
/// threshold finally kept; and what the site did.
pub(super) fn adapt_threshold(
    model: &TrainedModel,
    site: &SiteRequests,
    config: &SiteConfig,
    mut choice: ThresholdChoice,
    valid_scores: &[f64],
    valid: &LabelledTexts<'_>,
) -> (ThresholdChoice, BinaryMetrics, SiteSummary) {
    let texts: Vec<&str> = site.adapt.iter().map(String::as_str).collect();
    let adapt_scores = model.score_batch(&texts);
    let site_threshold = config
        .alert_rate
        .map(|rate| site::alert_threshold(&adapt_scores, rate));
    let malicious: Vec<f64> = valid_scores
        .iter()
        .zip(&valid.labels)
        .filter(|(_, label)| **label == Label::Malicious)
        .map(|(score, _)| *score)
        .collect();
    let recall_floor =
        site::recall_floor_threshold(&malicious, choice.threshold, config.max_recall_loss);
    let recall_capped = site_threshold.is_some_and(|t| t > recall_floor);
    let site_bound = site_threshold.map(|t| t.min(recall_floor));
    let raised = site_bound.is_some_and(|t| t > choice.threshold);
    if let Some(bound) = site_bound.filter(|_| raised) {
        choice.threshold = bound;
        choice.rule = format!("{}+site_alert_rate", choice.rule);
    }
    let valid_metrics = metrics::evaluate(valid_scores, &valid.labels, choice.threshold);
    if raised {
        choice.valid_f1 = valid_metrics.f1;
        choice.valid_fpr = valid_metrics.fpr;
        choice.valid_tpr = valid_metrics.recall;
    }
    let adapt_alerts = adapt_scores
        .iter()
        .filter(|&&s| s >= choice.threshold)
        .count() as u64;
    let summary = SiteSummary {
        traffic: site.name.clone(),
        sha256: site.sha256.clone(),
        adapt_requests: site.adapt.len() as u64,
        added_to_training: if config.train {
            site.adapt.len() as u64
        } else {
            0
        },
        quarantined: site.quarantined.len() as u64,
        holdout_requests: site.holdout.texts.len() as u64,
        alert_rate: config.alert_rate,
        site_threshold,
        threshold_raised: raised,
        recall_capped,
        adapt_alerts,
    };
    (choice, valid_metrics, summary)
}

/// Fits the model (events to `observer`), chooses the threshold, measures the test split and
/// writes the run's files: everything but the tracking store.
pub(super) fn train_and_write(
    request: &RunRequest,
    prepared: &PreparedDataset,
    splits: &[LabelledTexts<'_>; 3],
    observer: &mut RunObserver<'_, '_>,
) -> Result<Trained> {
    let fitted = fit(request, splits, observer)?;
    let last_step = observer.last_step;
    let progress = &mut *observer.progress;
    let Fitted {
        model,
        adversarial,
        train_seconds,
        valid_scores,
        threshold,
        valid_metrics,
    } = fitted;
    let site = site_requests(request)?;
    let measured = measure(
        request,
        &model,
        splits,
        (threshold, valid_metrics, &valid_scores),
        site.as_deref(),
        progress,
    )?;
    // Files: the model first (the most expensive thing to lose), then the rest.
    let saved = save_model(request, prepared, splits, model, &measured, &valid_scores)?;
    write_charts(request, &saved, splits, &measured)?;
    let peak_rss_bytes = system::peak_rss_bytes();
    let mut final_metrics = measured.metric_values();
    if let Some(adversarial) = &adversarial {
        final_metrics.extend(adversarial.metric_values());
    }
    final_metrics.extend(cost_metrics(
        train_seconds,
        &measured.scoring,
        peak_rss_bytes,
    ));
    let outcome = measured.into_outcome(request, prepared, train_seconds, peak_rss_bytes);
    write_outcome_files(&request.out_dir, &outcome, site.as_deref())?;
    Ok(Trained {
        outcome,
        manifest: saved.manifest,
        final_metrics,
        last_step,
    })
}

/// A model fitted and its threshold chosen on the validation split.
struct Fitted {
    model: TrainedModel,
    adversarial: Option<adversarial::AdversarialSummary>,
    train_seconds: f64,
    valid_scores: Vec<f64>,
    threshold: ThresholdChoice,
    valid_metrics: BinaryMetrics,
}

/// Fits the model (with `[data.augment]`'s adversarial rounds), chooses the threshold on the
/// validation split, then refits on train + valid when the family asks for it.
fn fit(
    request: &RunRequest,
    [train, valid, _]: &[LabelledTexts<'_>; 3],
    observer: &mut RunObserver<'_, '_>,
) -> Result<Fitted> {
    let config = &request.config;
    let data = TrainData {
        train: train.clone(),
        valid: valid.clone(),
        seed: config.seed,
        threads: config.threads,
    };
    let started = Instant::now();
    let mut model = config.model.fit(&data, observer)?;
    let mut adversarial = None;
    if let Some(augment) = config.data.augment.as_ref()
        && augment.adversarial_rounds > 0
    {
        observer.phase("adversarial rounds", None);
        let (hardened, summary) = adversarial::harden(
            &config.model,
            &config.threshold,
            augment,
            &data,
            observer,
            model,
        )?;
        model = hardened;
        adversarial = Some(summary);
    }
    let mut train_seconds = started.elapsed().as_secs_f64();
    // Families that do not ask during training (the linear solvers, Isolation Forest) are
    // stopped here, before the evaluation and the artifacts.
    stop_if_asked(observer)?;

    observer.phase("evaluate", None);
    let valid_scores = model.score_batch(&valid.texts);
    let threshold = metrics::choose_threshold(
        &valid_scores,
        &valid.labels,
        &config.threshold,
        model.default_threshold(),
    )?;
    let valid_metrics = metrics::evaluate(&valid_scores, &valid.labels, threshold.threshold);
    if config.model.refits_with_valid() {
        observer.phase("refit on train + valid", None);
        let started = Instant::now();
        model = model.refit(valid, config.seed, &mut RefitObserver(observer))?;
        train_seconds += started.elapsed().as_secs_f64();
        stop_if_asked(observer)?;
    }
    Ok(Fitted {
        model,
        adversarial,
        train_seconds,
        valid_scores,
        threshold,
        valid_metrics,
    })
}

fn stop_if_asked(observer: &mut RunObserver<'_, '_>) -> Result<()> {
    match observer.stop_requested() {
        Some(reason) => Err(vigie_models::ModelError::Stopped(reason).into()),
        None => Ok(()),
    }
}

/// What a fitted model measured: on the test split at the final threshold, and by the checks
/// the config asks for.
struct Measured {
    threshold: ThresholdChoice,
    valid_metrics: BinaryMetrics,
    site_summary: Option<SiteSummary>,
    test_scores: Vec<f64>,
    test_metrics: BinaryMetrics,
    by_family: Vec<FamilyRecall>,
    field: Option<FieldMetrics>,
    robustness: Option<RobustnessMetrics>,
    feedback: Option<FeedbackMetrics>,
    scoring: ScoringSpeed,
}

/// The final threshold (raised for a site's alert rate with `[data.site]`), the test split,
/// the field, robustness and feedback checks, and the scoring speed.
fn measure(
    request: &RunRequest,
    model: &TrainedModel,
    [_, valid, test]: &[LabelledTexts<'_>; 3],
    (threshold, valid_metrics, valid_scores): (ThresholdChoice, BinaryMetrics, &[f64]),
    site: Option<&SiteRequests>,
    progress: &mut dyn TrainObserver,
) -> Result<Measured> {
    let config = &request.config;
    let (threshold, valid_metrics, site_summary) = match (site, &config.data.site) {
        (Some(site), Some(site_config)) => {
            progress.phase("site threshold", None);
            let adapted = adapt_threshold(model, site, site_config, threshold, valid_scores, valid);
            (adapted.0, adapted.1, Some(adapted.2))
        }
        _ => (threshold, valid_metrics, None),
    };
    let at = threshold.threshold;
    let test_scores = model.score_batch(&test.texts);
    let test_metrics = metrics::evaluate(&test_scores, &test.labels, at);
    let by_family = metrics::recall_by_family(&test.texts, &test_scores, &test.labels, at);
    progress.phase("field check", None);
    let field = match site {
        // Adapted to a site: measured on its traffic held out of adaptation.
        Some(site) => Some(field::measure(model, &site.holdout, at)),
        None => field::check(&config.data, request.field_data.as_ref(), model, at),
    };
    let robustness = match &config.robustness {
        Some(robustness) => {
            progress.phase("robustness check", None);
            Some(robust::check(robustness, model, valid, at)?)
        }
        None => None,
    };
    let feedback = feedback_check(request, model, at)?;
    progress.phase("time scoring", None);
    let scoring = metrics::scoring_speed(model, &test.texts, LATENCY_PROBES);
    Ok(Measured {
        threshold,
        valid_metrics,
        site_summary,
        test_scores,
        test_metrics,
        by_family,
        field,
        robustness,
        feedback,
        scoring,
    })
}

impl Measured {
    /// `threshold`, `final_valid_*` (the validation split at the chosen threshold, kept apart
    /// from the families' per-epoch `valid_*` curves), `test_*` and the checks' metrics.
    fn metric_values(&self) -> Vec<(String, f64)> {
        let mut values: Vec<(String, f64)> = vec![("threshold".into(), self.threshold.threshold)];
        values.extend(metric_values("final_valid", &self.valid_metrics));
        values.extend(metric_values("test", &self.test_metrics));
        for family in &self.by_family {
            values.push((format!("test_recall_{}", family.family), family.recall));
        }
        let checks = [
            self.field.as_ref().map(FieldMetrics::metric_values),
            self.site_summary.as_ref().map(SiteSummary::metric_values),
            self.robustness
                .as_ref()
                .map(RobustnessMetrics::metric_values),
            self.feedback.as_ref().map(FeedbackMetrics::metric_values),
        ];
        values.extend(checks.into_iter().flatten().flatten());
        values
    }

    fn into_outcome(
        self,
        request: &RunRequest,
        prepared: &PreparedDataset,
        train_seconds: f64,
        peak_rss_bytes: Option<u64>,
    ) -> RunOutcome {
        let config = &request.config;
        RunOutcome {
            run_name: config.run_name(),
            experiment: config.experiment(),
            run_id: None,
            synced: false,
            journal: PathBuf::new(),
            out_dir: request.out_dir.clone(),
            model_dir: request.out_dir.join(MODEL_DIR),
            logged_model_id: None,
            registered_version: None,
            dataset: config.data.dataset.clone(),
            dataset_digest: prepared.digest.clone(),
            model_kind: config.model.kind().to_owned(),
            threshold: self.threshold,
            valid: self.valid_metrics,
            test: self.test_metrics,
            test_recall_by_family: self.by_family,
            field: self.field,
            site: self.site_summary,
            robustness: self.robustness,
            feedback: self.feedback,
            train_seconds,
            scoring: self.scoring,
            peak_rss_bytes,
            tracking_seconds: 0.0,
            final_metrics: Vec::new(),
        }
    }
}

/// Training time, scoring speed and memory, logged last.
fn cost_metrics(
    train_seconds: f64,
    scoring: &ScoringSpeed,
    peak_rss_bytes: Option<u64>,
) -> Vec<(String, f64)> {
    let mut values = vec![
        ("train_seconds".to_owned(), train_seconds),
        (
            "score_requests_per_s".to_owned(),
            scoring.batch_requests_per_s,
        ),
        ("score_p50_us".to_owned(), scoring.single_p50_us),
        ("score_p99_us".to_owned(), scoring.single_p99_us),
    ];
    if let Some(bytes) = peak_rss_bytes {
        values.push(("peak_rss_mb".to_owned(), bytes as f64 / (1024.0 * 1024.0)));
    }
    values
}

/// The model folder under the run's output folder.
const MODEL_DIR: &str = "model";

/// Writes the model folder: the family's files, the Python scorer where there is one, and the
/// manifest with the threshold, the training data's identity and the validation scores.
fn save_model(
    request: &RunRequest,
    prepared: &PreparedDataset,
    [train, valid, _]: &[LabelledTexts<'_>; 3],
    model: TrainedModel,
    measured: &Measured,
    valid_scores: &[f64],
) -> Result<SavedModel> {
    let config = &request.config;
    let mut saved = SavedModel {
        manifest: Manifest::new(
            config.model.clone(),
            measured.threshold.clone(),
            TrainingData {
                dataset: config.data.dataset.clone(),
                digest: prepared.digest.clone(),
                train_counts: train.class_counts(),
                valid_counts: valid.class_counts(),
            },
            config.seed,
            u64::try_from(vigie_mlflow::now_millis()).unwrap_or(0),
        ),
        model,
        validation: Some(ValidationScores::new(valid_scores, &valid.labels)),
    };
    let decode = pyfunc::training_decode(config, request.field_data.as_ref());
    let model_dir = request.out_dir.join(MODEL_DIR);
    saved.save_with_files(&model_dir, &pyfunc::folder_files(&config.model, &decode)?)?;
    Ok(saved)
}

/// The test split's charts and the family's own reports.
fn write_charts(
    request: &RunRequest,
    saved: &SavedModel,
    [_, _, test]: &[LabelledTexts<'_>; 3],
    measured: &Measured,
) -> Result<()> {
    let out = &request.out_dir;
    let plots_dir = out.join("plots");
    fs::create_dir_all(&plots_dir).map_err(|e| RunError::io(&plots_dir, "cannot create", e))?;
    draw_charts(
        &plots_dir,
        &measured.test_scores,
        &test.labels,
        &measured.test_metrics,
        &request.config.run_name(),
    )?;
    write_extra_artifacts(
        saved,
        out,
        &test.texts,
        &measured.test_scores,
        measured.threshold.threshold,
        request.config.seed,
    )
}

/// `metrics.json`, and the lists analysts read: the feedback the model still gets wrong, and
/// the site's requests libinjection reads as attacks.
fn write_outcome_files(
    out: &std::path::Path,
    outcome: &RunOutcome,
    site: Option<&SiteRequests>,
) -> Result<()> {
    let metrics_json = serde_json::to_vec_pretty(outcome).map_err(|e| RunError::Invalid {
        message: format!("cannot serialise the metrics: {e}"),
    })?;
    write_file(&out.join("metrics.json"), &metrics_json)?;
    if let Some(feedback) = &outcome.feedback {
        write_file(
            &out.join(feedback::REGRESSIONS_FILE),
            feedback.regressions_text().as_bytes(),
        )?;
    }
    if let Some(site) = site {
        let mut listed = site.quarantined.join("\n");
        listed.push('\n');
        write_file(&out.join(site::QUARANTINE_FILE), listed.as_bytes())?;
    }
    Ok(())
}
