//! Linear models on sparse TF-IDF rows: L2-regularised logistic regression and linear SVM,
//! trained by liblinear's dual coordinate descent solvers (rewritten here in [`solver`]).
//!
//! [`fit`] learns a [`FittedTfidf`] on the training texts (char 1–3-grams with sublinear tf by
//! default, the reference's `linsvc_char3` recipe), then solves
//!
//! ```text
//!     min_w  ½‖w‖² + Σᵢ Cᵢ · loss(yᵢ (wᵀxᵢ + w_b · s))
//! ```
//!
//! with `yᵢ ∈ {−1, +1}` (+1 malicious), `Cᵢ = c × class weight` and, as in liblinear and
//! scikit-learn's liblinear path, the intercept obtained as the weight `w_b` of an extra
//! constant feature `s = intercept_scaling` appended to every row: it is regularised like the
//! other weights, so a larger `intercept_scaling` regularises the intercept less. The loss is the
//! logistic loss `ln(1 + e^(−m))` or the (squared) hinge `max(0, 1 − m)[²]` of the margin `m`.
//!
//! The solvers stop on liblinear's projected-gradient criterion (see [`solver`]) with tolerance
//! `tol`; the default 0.1 is liblinear's own default for its dual solvers: the dual criterion is
//! a bound on the KKT violation of single coordinates, and at 0.1 the weights already rank
//! requests as well as a tightly converged solution, at a fraction of the passes.
//!
//! A trained [`LinearModel`] scores raw texts on its own: logistic regression gives
//! `P(malicious) = σ(wᵀx + b)`, the SVM its margin `wᵀx + b`; [`LinearModel::contributions`]
//! lists the terms that weighed most on one score, for analysts.

mod bags;
mod solver;

use std::fmt;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};
use vigie_data::Label;
use vigie_data::prefetch::prefetch;
use vigie_data::text::{
    Analyzer, CsrMatrix, FittedTfidf, RowVectorizer, TfidfConfig, TfidfDot, TfidfDotScratch,
    TfidfScratch, TfidfVectorizer, Tokenizer, TokenizerConfig,
};

pub use crate::model::ClassWeight;
use crate::model::{LabelledTexts, Persist, Scorer, TrainData, TrainObserver};
use crate::{ModelError, Result};

use bags::{Bags, ContinuedEpochs, for_each_field_text};
use solver::{Problem, SolverMatrix, SolverOptions, SvmLossKind};

/// Which loss the linear model minimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinearKind {
    LogisticRegression,
    LinearSvm,
}

impl LinearKind {
    pub fn name(self) -> &'static str {
        match self {
            LinearKind::LogisticRegression => "logistic_regression",
            LinearKind::LinearSvm => "linear_svm",
        }
    }
}

/// The SVM's loss on the margin `m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SvmLoss {
    /// `max(0, 1 − m)²` (liblinear solver 1, scikit-learn's `LinearSVC` default).
    #[default]
    SquaredHinge,
    /// `max(0, 1 − m)` (liblinear solver 3).
    Hinge,
}

/// Hyperparameters of the linear models (`[model]` keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinearConfig {
    /// The TF-IDF vectoriser fitted on the training texts. Defaults to char 1–3-grams with
    /// sublinear tf; a `[model.tfidf]` table given in full or in part starts from
    /// [`TfidfConfig`]'s own defaults instead (scikit-learn's: `sublinear_tf = false`, word
    /// unigrams), so write every key you rely on.
    pub tfidf: TfidfConfig,
    /// Inverse regularisation strength (larger: fit the training data more closely).
    pub c: f64,
    pub class_weight: ClassWeight,
    /// Stopping tolerance of the dual solver (liblinear's `eps`), see the module docs.
    pub tol: f64,
    /// Most passes over the training rows.
    pub max_iter: usize,
    /// SVM loss (defaults to squared hinge); logistic regression refuses it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<SvmLoss>,
    /// Value of the constant feature whose weight is the intercept; 0 fits no intercept.
    pub intercept_scaling: f64,
    /// Once the threshold is chosen on the validation split, fit the model again on train +
    /// valid and keep the threshold, as scikit-learn's `refit` does after a search: the saved
    /// model has seen a seventh more requests. The refit keeps the first fit's vectoriser and
    /// starts the solver from its dual variables ([`LinearModel::refit`]), so it costs a
    /// fraction of a fit. Its `final_valid_*` metrics stay those of the fit on train alone
    /// (the refit has no held-out split).
    #[serde(skip_serializing_if = "is_false")]
    pub refit_with_valid: bool,
    /// Score each field of a request apart (the `request` analyzer's fields: the path, each
    /// unusual parameter name, each value) and take the largest score: a request is malicious
    /// when one of its fields is (multiple-instance learning). Training rows are fields; see
    /// `mil_rounds`. Needs the `request` analyzer.
    #[serde(skip_serializing_if = "is_false")]
    pub pool_fields: bool,
    /// Fits in a row. After each fit but the last, a malicious request keeps as malicious rows
    /// only its fields on the malicious side of the margin and its highest-scored one (its
    /// witness); its other fields, as ordinary as any benign one, leave the training rows.
    /// 1: one fit, every field of a malicious request malicious.
    #[serde(skip_serializing_if = "is_one")]
    pub mil_rounds: usize,
    /// Between fits, also leave out the malicious requests whose witness still has a negative
    /// margin although it was fitted for: their evidence is not in the features (a scanner
    /// probing a file name, an anomaly that is a misspelt value), and fitting them anyway
    /// teaches the model that ordinary requests are malicious. Needs `mil_rounds` >= 2; works
    /// without `pool_fields` too (each request is then its one field).
    #[serde(skip_serializing_if = "is_false")]
    pub drop_unfitted_malicious: bool,
}

fn is_one(value: &usize) -> bool {
    *value == 1
}

// Unset, the key is not written: configs and saved models read as before it existed (and a
// sweep trial's identity, the hash of its resolved config, does not change).
fn is_false(value: &bool) -> bool {
    !value
}

impl Default for LinearConfig {
    fn default() -> Self {
        LinearConfig {
            tfidf: default_tfidf(),
            c: 1.0,
            class_weight: ClassWeight::Balanced,
            tol: 0.1,
            max_iter: 1000,
            loss: None,
            intercept_scaling: 1.0,
            refit_with_valid: false,
            pool_fields: false,
            mil_rounds: 1,
            drop_unfitted_malicious: false,
        }
    }
}

/// Char 1–3-grams, lowercased, sublinear tf, L2 rows: the reference's `linsvc_char3`.
fn default_tfidf() -> TfidfConfig {
    TfidfConfig {
        tokenizer: TokenizerConfig {
            analyzer: Analyzer::Char {
                ngram_min: 1,
                ngram_max: 3,
            },
            lowercase: true,
        },
        sublinear_tf: true,
        ..TfidfConfig::default()
    }
}

impl LinearConfig {
    fn validate_rounds(&self) -> Result<()> {
        if self.mil_rounds == 0 {
            return Err(ModelError::config("model.mil_rounds", "must be at least 1"));
        }
        if self.drop_unfitted_malicious && self.mil_rounds < 2 {
            return Err(ModelError::config(
                "model.drop_unfitted_malicious",
                "needs model.mil_rounds >= 2 (the requests are left out between fits)",
            ));
        }
        if self.pool_fields {
            if !matches!(self.tfidf.tokenizer.analyzer, Analyzer::Request { .. }) {
                return Err(ModelError::config(
                    "model.pool_fields",
                    "needs the request analyzer (model.tfidf.tokenizer.analyzer.kind = \"request\"): only it knows a request's fields",
                ));
            }
            if self.refit_with_valid {
                return Err(ModelError::config(
                    "model.refit_with_valid",
                    "does not combine with model.pool_fields",
                ));
            }
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<()> {
        if !(self.c.is_finite() && self.c > 0.0) {
            return Err(ModelError::config(
                "model.c",
                format!("must be a positive number, got {}", self.c),
            ));
        }
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return Err(ModelError::config(
                "model.tol",
                format!("must be a positive number, got {}", self.tol),
            ));
        }
        if self.max_iter == 0 {
            return Err(ModelError::config("model.max_iter", "must be at least 1"));
        }
        self.validate_rounds()?;
        if !(self.intercept_scaling.is_finite() && self.intercept_scaling >= 0.0) {
            return Err(ModelError::config(
                "model.intercept_scaling",
                format!(
                    "must be 0 (no intercept) or a positive number, got {}",
                    self.intercept_scaling
                ),
            ));
        }
        self.tfidf
            .validate()
            .map_err(|err| ModelError::config("model.tfidf", err.to_string()))?;
        Tokenizer::new(self.tfidf.tokenizer.clone())
            .map_err(|err| ModelError::config("model.tfidf.tokenizer", err.to_string()))?;
        Ok(())
    }

    /// [`LinearConfig::validate`], plus the checks that depend on the model kind.
    pub fn validate_for(&self, kind: LinearKind) -> Result<()> {
        self.validate()?;
        if kind == LinearKind::LogisticRegression && self.loss.is_some() {
            return Err(ModelError::config(
                "model.loss",
                "applies to linear_svm only: logistic regression always minimises the logistic loss",
            ));
        }
        Ok(())
    }
}

/// One term's part in a score: `contribution = weight × value`, positive towards malicious.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    pub term: String,
    pub column: u32,
    pub weight: f32,
    /// The term's TF-IDF value in the text.
    pub value: f32,
    pub contribution: f32,
}

/// How the solver ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SolverReport {
    pub iterations: usize,
    pub converged: bool,
    /// The stopping quantity at the last pass (compare with `tol`).
    pub violation: f64,
}

/// A trained linear model with its vectoriser.
#[derive(Debug, Clone)]
pub struct LinearModel {
    kind: LinearKind,
    config: LinearConfig,
    /// The vectoriser fused with the weights: what scores a text.
    scorer: TfidfDot,
    weights: Vec<f32>,
    bias: f64,
    solver: Option<SolverReport>,
    /// Kept after a fit with `refit_with_valid`, until [`LinearModel::refit`].
    refit_from: Option<Box<TrainingRows>>,
}

/// Trains a linear model of `kind` on `data.train`. With `refit_with_valid`, the model keeps
/// what [`LinearModel::refit`] starts from (its training rows and dual variables).
pub fn fit(
    kind: LinearKind,
    config: &LinearConfig,
    data: &TrainData<'_>,
    observer: &mut dyn TrainObserver,
) -> Result<LinearModel> {
    config.validate_for(kind)?;
    let train = &data.train;
    let [n_benign, n_malicious] = train.class_counts();
    if n_benign == 0 || n_malicious == 0 {
        return Err(ModelError::Data(format!(
            "the training split needs both classes, it has {n_benign} benign and {n_malicious} malicious texts"
        )));
    }

    observer.phase("vectorise", Some(train.len() as u64));
    let bags = Bags::new(&train.texts, &train.labels, config.pool_fields);
    let (mut tfidf, matrix) = TfidfVectorizer::fit_transform_threads(
        config.tfidf.clone(),
        &bags.row_texts(),
        data.threads,
    )?;
    observer.advance(train.len() as u64);
    let y = bags.row_targets();
    let requests = config.pool_fields.then_some([n_benign, n_malicious]);
    if config.mil_rounds == 1 {
        return solve(
            kind,
            config,
            tfidf,
            TrainingRows {
                requests,
                ..TrainingRows::new(matrix, y)
            },
            config.refit_with_valid,
            data.seed,
            observer,
        );
    }
    let mut keep = vec![true; y.len()];
    let mut requests = requests;
    let mut observer = ContinuedEpochs::new(observer);
    for round in 1.. {
        let (rows, rows_y) = kept_rows(&matrix, &y, &keep)?;
        let model = solve(
            kind,
            config,
            tfidf,
            TrainingRows {
                requests,
                ..TrainingRows::new(rows, rows_y)
            },
            false,
            data.seed,
            &mut observer,
        )?;
        if round == config.mil_rounds {
            return Ok(model);
        }
        let margins = model.decision_function_matrix(&matrix);
        let witnesses = bags.witnesses(&margins, config.drop_unfitted_malicious);
        observer.note(&format!(
            "{}: fit {round} of {}: {} of {n_malicious} malicious requests kept, by their fields on the malicious side and their highest-scored one",
            kind.name(),
            config.mil_rounds,
            witnesses.malicious_kept,
        ));
        keep = witnesses.keep;
        requests = requests.map(|[benign, _]| [benign, witnesses.malicious_kept]);
        tfidf = model.scorer.into_tfidf();
        observer.next_fit();
    }
    unreachable!("the rounds end at config.mil_rounds, validated to be at least 1")
}

/// The rows of `matrix` (and their targets) where `keep` is true.
fn kept_rows(matrix: &CsrMatrix, y: &[f64], keep: &[bool]) -> Result<(CsrMatrix, Vec<f64>)> {
    let mut rows = CsrMatrix::new(matrix.n_cols());
    let mut rows_y = Vec::with_capacity(y.len());
    for ((row, &target), _) in matrix.rows().zip(y).zip(keep).filter(|(_, k)| **k) {
        rows.push_row(row.0, row.1)
            .map_err(|e| ModelError::Training(e.to_string()))?;
        rows_y.push(target);
    }
    Ok((rows, rows_y))
}

fn signed(label: Label) -> f64 {
    if label.is_malicious() { 1.0 } else { -1.0 }
}

/// The rows a solve sees (as the solver reads them), their targets and, once solved, their
/// dual variables: what a refit starts from.
#[derive(Clone)]
struct TrainingRows {
    matrix: SolverMatrix,
    y: Vec<f64>,
    dual: Vec<f64>,
    /// `[benign, malicious]` requests when rows are fields: balanced class weights weigh the
    /// classes by requests, so that a request's many ordinary fields do not make its class
    /// look larger than it is.
    requests: Option<[usize; 2]>,
}

impl TrainingRows {
    fn new(matrix: CsrMatrix, y: Vec<f64>) -> Self {
        TrainingRows {
            matrix: SolverMatrix::new(matrix),
            y,
            dual: Vec::new(),
            requests: None,
        }
    }
}

impl fmt::Debug for TrainingRows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrainingRows")
            .field("rows", &self.y.len())
            .finish_non_exhaustive()
    }
}

/// Solves `kind` on `rows` (from `rows.dual`, cold when empty), with `tfidf` the vectoriser
/// that made them; the model keeps the rows for a refit when `keep_rows`.
fn solve(
    kind: LinearKind,
    config: &LinearConfig,
    tfidf: FittedTfidf,
    mut rows: TrainingRows,
    keep_rows: bool,
    seed: u64,
    observer: &mut dyn TrainObserver,
) -> Result<LinearModel> {
    let n_malicious_rows = rows.y.iter().filter(|&&y| y > 0.0).count();
    let [n_benign, n_malicious] = rows
        .requests
        .unwrap_or([rows.y.len() - n_malicious_rows, n_malicious_rows]);
    let [weight_benign, weight_malicious] = config.class_weight.weights([n_benign, n_malicious]);
    let problem = Problem {
        x: &rows.matrix,
        y: &rows.y,
        c_negative: config.c * weight_benign,
        c_positive: config.c * weight_malicious,
        intercept_feature: config.intercept_scaling,
    };
    let options = SolverOptions {
        tol: config.tol,
        max_iter: config.max_iter,
        seed,
        warm_start: std::mem::take(&mut rows.dual),
    };

    observer.phase("fit", Some(config.max_iter as u64));
    let solution = {
        let mut on_pass = |pass: usize, objective: f64, violation: f64| {
            observer.advance(1);
            observer.epoch(
                pass as u64,
                &[("train_objective", objective), ("max_violation", violation)],
            );
        };
        match kind {
            LinearKind::LogisticRegression => {
                solver::solve_logistic(&problem, &options, &mut on_pass)
            }
            LinearKind::LinearSvm => {
                let loss = match config.loss.unwrap_or_default() {
                    SvmLoss::SquaredHinge => SvmLossKind::SquaredHinge,
                    SvmLoss::Hinge => SvmLossKind::Hinge,
                };
                solver::solve_svm(&problem, loss, &options, &mut on_pass)
            }
        }
    };
    if !solution.converged {
        observer.note(&format!(
            "{}: reached max_iter = {} before converging (violation {:.3e} > tol {:.1e}); \
             raise model.max_iter or model.tol",
            kind.name(),
            config.max_iter,
            solution.violation,
            config.tol
        ));
    }
    if solution.weights.iter().any(|w| !w.is_finite()) || !solution.intercept_weight.is_finite() {
        return Err(ModelError::Training(format!(
            "{}: the solver produced non-finite weights",
            kind.name()
        )));
    }
    let weights: Vec<f32> = solution.weights.iter().map(|&w| w as f32).collect();
    let refit_from = keep_rows.then(|| {
        Box::new(TrainingRows {
            dual: solution.dual,
            ..rows
        })
    });
    Ok(LinearModel {
        kind,
        config: config.clone(),
        scorer: TfidfDot::new(tfidf, &weights),
        weights,
        bias: solution.intercept_weight * config.intercept_scaling,
        solver: Some(SolverReport {
            iterations: solution.iterations,
            converged: solution.converged,
            violation: solution.violation,
        }),
        refit_from,
    })
}

impl LinearModel {
    /// Fits the model again with `more` rows after its training rows, with the same
    /// vectoriser (vocabulary and idf) and the solver started from the first solve's dual
    /// variables (the new rows' at zero): a few passes instead of a fit from scratch. Only a
    /// model fitted with `refit_with_valid` can, once (the refit keeps no rows).
    pub fn refit(
        self,
        more: &LabelledTexts<'_>,
        seed: u64,
        observer: &mut dyn TrainObserver,
    ) -> Result<LinearModel> {
        let LinearModel {
            kind,
            config,
            scorer,
            refit_from,
            ..
        } = self;
        let Some(state) = refit_from else {
            return Err(ModelError::InvalidConfig {
                field: "model.refit_with_valid".into(),
                message: "the model keeps no training rows to refit from (it was not fitted with \
                          refit_with_valid = true, or is a refit itself)"
                    .into(),
            });
        };
        let mut rows = *state;
        let tfidf = scorer.into_tfidf();
        observer.phase("vectorise", Some(more.len() as u64));
        rows.matrix
            .append_rows(&tfidf.transform(more.texts.iter().copied()));
        rows.y
            .extend(more.labels.iter().map(|label| signed(*label)));
        observer.advance(more.len() as u64);
        // The refit model is the last: its rows go as soon as it is solved.
        solve(kind, &config, tfidf, rows, false, seed, observer)
    }

    pub fn kind(&self) -> LinearKind {
        self.kind
    }

    pub fn config(&self) -> &LinearConfig {
        &self.config
    }

    pub fn tfidf(&self) -> &FittedTfidf {
        self.scorer.tfidf()
    }

    /// One weight per TF-IDF column.
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    /// The intercept `b` (the intercept feature's weight times `intercept_scaling`).
    pub fn bias(&self) -> f64 {
        self.bias
    }

    /// How the solver ended; `None` for a loaded model.
    pub fn solver_report(&self) -> Option<SolverReport> {
        self.solver
    }

    /// The score at which a request turns malicious before any tuning: 0.5 for the
    /// probability of logistic regression, 0 for the SVM margin.
    pub fn default_threshold(&self) -> f64 {
        match self.kind {
            LinearKind::LogisticRegression => 0.5,
            LinearKind::LinearSvm => 0.0,
        }
    }

    /// `wᵀx + b` of each text (for logistic regression, the log-odds of malicious).
    pub fn decision_function(&self, texts: &[&str]) -> Vec<f64> {
        self.map_margins(texts, |margin| margin)
    }

    /// `map(wᵀx + b)` of each text, the batch's texts asked for a few ahead.
    fn map_margins(&self, texts: &[&str], map: impl Fn(f64) -> f64) -> Vec<f64> {
        with_scratch(|scratch| {
            // Each batch pays for its own values: a verdict remembered from an earlier call
            // would make repeated benchmark batches look faster than traffic is.
            scratch.start_batch();
            let mut mapped = Vec::with_capacity(texts.len());
            for (k, text) in texts.iter().enumerate() {
                prefetch_text(texts, k + TEXT_PREFETCH_AHEAD);
                mapped.push(map(self.margin(text, scratch)));
            }
            mapped
        })
    }

    /// `wᵀx + b` of the rows of a matrix built by [`LinearModel::tfidf`].
    pub fn decision_function_matrix(&self, matrix: &CsrMatrix) -> Vec<f64> {
        matrix.rows().map(|row| self.row_margin(row)).collect()
    }

    /// The `top` terms of `text` with the largest `|weight × value|`, largest first.
    pub fn contributions(&self, text: &str, top: usize) -> Vec<Contribution> {
        if self.config.pool_fields {
            // The request's score is its highest-scored field's: that field explains it.
            let mut best: Option<(f64, String)> = None;
            with_scratch(|scratch| {
                for_each_field_text(text, |field| {
                    let margin = self.scorer.dot(field, scratch);
                    if best.as_ref().is_none_or(|(m, _)| margin > *m) {
                        best = Some((margin, field.to_owned()));
                    }
                });
            });
            return match best {
                Some((_, field)) => self.unpooled_contributions(&field, top),
                None => Vec::new(),
            };
        }
        self.unpooled_contributions(text, top)
    }

    fn unpooled_contributions(&self, text: &str, top: usize) -> Vec<Contribution> {
        let mut scratch = TfidfScratch::default();
        let (indices, values) = self.tfidf().transform_one(text, &mut scratch);
        let mut contributions: Vec<Contribution> = indices
            .iter()
            .zip(&values)
            .map(|(&column, &value)| {
                let weight = self.weights[column as usize];
                Contribution {
                    term: self.tfidf().vocabulary()[column as usize].clone(),
                    column,
                    weight,
                    value,
                    contribution: weight * value,
                }
            })
            .collect();
        contributions.sort_by(|a, b| {
            b.contribution
                .abs()
                .total_cmp(&a.contribution.abs())
                .then(a.column.cmp(&b.column))
        });
        contributions.truncate(top);
        contributions
    }

    /// `wᵀx + b` of one text: the fused TF-IDF dot product, the one score of a text at
    /// training, evaluation and scoring time.
    fn margin(&self, text: &str, scratch: &mut TfidfDotScratch) -> f64 {
        if !self.config.pool_fields {
            return self.bias + self.scorer.dot(text, scratch);
        }
        let mut best = f64::NEG_INFINITY;
        let keyed = self.scorer.for_each_field_dot(text, scratch, |dot| {
            best = best.max(self.bias + dot);
        });
        if !keyed {
            for_each_field_text(text, |field| {
                best = best.max(self.bias + self.scorer.dot(field, scratch));
            });
        }
        if best == f64::NEG_INFINITY {
            // No field gives terms (`/`, an empty body): the score of no evidence.
            best = self.bias + self.scorer.dot("", scratch);
        }
        best
    }

    fn row_margin(&self, (indices, values): (&[u32], &[f32])) -> f64 {
        let mut sum = self.bias;
        for (&column, &value) in indices.iter().zip(values) {
            // Columns come from our own vectoriser, so they are below weights.len().
            if let Some(&weight) = self.weights.get(column as usize) {
                sum += f64::from(weight) * f64::from(value);
            }
        }
        sum
    }

    fn link(&self, margin: f64) -> f64 {
        match self.kind {
            LinearKind::LogisticRegression => sigmoid(margin),
            LinearKind::LinearSvm => margin,
        }
    }
}

fn sigmoid(margin: f64) -> f64 {
    // Written so that neither branch overflows.
    if margin >= 0.0 {
        1.0 / (1.0 + (-margin).exp())
    } else {
        let e = margin.exp();
        e / (1.0 + e)
    }
}

impl Scorer for LinearModel {
    fn score_batch(&self, texts: &[&str]) -> Vec<f64> {
        self.map_margins(texts, |margin| self.link(margin))
    }
}

/// A batch's texts live in allocations of their own, scattered over the heap: each one's first
/// bytes are asked for this many texts ahead.
const TEXT_PREFETCH_AHEAD: usize = 2;

#[inline(always)]
fn prefetch_text(texts: &[&str], k: usize) {
    if let Some(text) = texts.get(k) {
        prefetch(text.as_bytes());
    }
}

thread_local! {
    /// One scoring scratch per thread: a service scores one request per call, and building
    /// the scratch's tables each time would cost more than the scoring.
    static SCRATCH: std::cell::RefCell<TfidfDotScratch> =
        std::cell::RefCell::new(TfidfDotScratch::new());
}

fn with_scratch<T>(score: impl FnOnce(&mut TfidfDotScratch) -> T) -> T {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => score(&mut scratch),
        // Only if scoring ever calls back into scoring on this thread.
        Err(_) => score(&mut TfidfDotScratch::new()),
    })
}

/// Saved files.
const META_FILE: &str = "linear.json";
const TFIDF_FILE: &str = "tfidf.json";
const WEIGHTS_FILE: &str = "weights.f32";
const FORMAT_VERSION: u32 = 1;

/// Contents of [`META_FILE`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LinearMeta {
    format_version: u32,
    kind: LinearKind,
    config: LinearConfig,
    n_features: usize,
    bias: f64,
}

impl Persist for LinearModel {
    fn save(&self, dir: &Path) -> Result<()> {
        let meta = LinearMeta {
            format_version: FORMAT_VERSION,
            kind: self.kind,
            config: self.config.clone(),
            n_features: self.weights.len(),
            bias: self.bias,
        };
        let meta_path = dir.join(META_FILE);
        let meta_json = serde_json::to_vec_pretty(&meta)
            .map_err(|err| ModelError::artifact(&meta_path, err.to_string()))?;
        fs::write(&meta_path, meta_json)
            .map_err(|err| ModelError::io(&meta_path, "cannot write", err))?;

        let tfidf_path = dir.join(TFIDF_FILE);
        let tfidf_json = serde_json::to_vec(self.tfidf())
            .map_err(|err| ModelError::artifact(&tfidf_path, err.to_string()))?;
        fs::write(&tfidf_path, tfidf_json)
            .map_err(|err| ModelError::io(&tfidf_path, "cannot write", err))?;

        let weights_path = dir.join(WEIGHTS_FILE);
        let bytes: Vec<u8> = self.weights.iter().flat_map(|w| w.to_le_bytes()).collect();
        fs::write(&weights_path, bytes)
            .map_err(|err| ModelError::io(&weights_path, "cannot write", err))?;
        Ok(())
    }

    fn load(dir: &Path) -> Result<Self> {
        let meta_path = dir.join(META_FILE);
        let meta_bytes =
            fs::read(&meta_path).map_err(|err| ModelError::io(&meta_path, "cannot read", err))?;
        let meta: LinearMeta = serde_json::from_slice(&meta_bytes).map_err(|err| {
            ModelError::artifact(&meta_path, format!("not a linear model description: {err}"))
        })?;
        if meta.format_version != FORMAT_VERSION {
            return Err(ModelError::artifact(
                &meta_path,
                format!(
                    "format version {} is not the supported {FORMAT_VERSION}",
                    meta.format_version
                ),
            ));
        }
        meta.config
            .validate_for(meta.kind)
            .map_err(|err| ModelError::artifact(&meta_path, err.to_string()))?;
        if !meta.bias.is_finite() {
            return Err(ModelError::artifact(&meta_path, "non-finite bias"));
        }

        let tfidf_path = dir.join(TFIDF_FILE);
        let tfidf_bytes =
            fs::read(&tfidf_path).map_err(|err| ModelError::io(&tfidf_path, "cannot read", err))?;
        let tfidf: FittedTfidf = serde_json::from_slice(&tfidf_bytes).map_err(|err| {
            ModelError::artifact(
                &tfidf_path,
                format!("not a fitted TF-IDF vectoriser: {err}"),
            )
        })?;
        if tfidf.n_features() != meta.n_features {
            return Err(ModelError::artifact(
                &tfidf_path,
                format!(
                    "{} vocabulary terms, but {META_FILE} says {} features",
                    tfidf.n_features(),
                    meta.n_features
                ),
            ));
        }

        let weights_path = dir.join(WEIGHTS_FILE);
        let bytes = fs::read(&weights_path)
            .map_err(|err| ModelError::io(&weights_path, "cannot read", err))?;
        if bytes.len() != meta.n_features * 4 {
            return Err(ModelError::artifact(
                &weights_path,
                format!(
                    "{} bytes, expected {} ({} little-endian f32 weights)",
                    bytes.len(),
                    meta.n_features * 4,
                    meta.n_features
                ),
            ));
        }
        let weights: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
            .collect();
        if weights.iter().any(|w| !w.is_finite()) {
            return Err(ModelError::artifact(&weights_path, "non-finite weight"));
        }
        Ok(LinearModel {
            kind: meta.kind,
            config: meta.config,
            scorer: TfidfDot::new(tfidf, &weights),
            weights,
            bias: meta.bias,
            solver: None,
            refit_from: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigmoid_is_stable_at_the_extremes() {
        assert_eq!(sigmoid(0.0), 0.5);
        assert!(sigmoid(-1000.0) >= 0.0 && sigmoid(-1000.0) < 1e-300);
        assert_eq!(sigmoid(1000.0), 1.0);
    }

    #[test]
    fn config_reads_from_toml_and_rejects_unknown_keys() {
        let config: LinearConfig =
            toml::from_str("c = 2.5\nclass_weight = \"none\"\nloss = \"hinge\"").expect("valid");
        assert_eq!(config.c, 2.5);
        assert_eq!(config.class_weight, ClassWeight::None);
        assert_eq!(config.loss, Some(SvmLoss::Hinge));
        assert_eq!(config.tfidf, default_tfidf());
        assert!(toml::from_str::<LinearConfig>("cc = 1.0").is_err());
        assert!(matches!(
            config.validate_for(LinearKind::LogisticRegression),
            Err(ModelError::InvalidConfig { field, .. }) if field == "model.loss"
        ));
        assert!(config.validate_for(LinearKind::LinearSvm).is_ok());
    }

    #[test]
    fn refit_with_valid_is_written_only_when_set() {
        let unset = toml::to_string(&LinearConfig::default()).expect("serialise");
        assert!(!unset.contains("refit_with_valid"), "{unset}");
        let set: LinearConfig = toml::from_str("refit_with_valid = true").expect("valid");
        assert!(set.refit_with_valid);
        let written = toml::to_string(&set).expect("serialise");
        assert!(written.contains("refit_with_valid = true"), "{written}");
        assert_eq!(
            toml::from_str::<LinearConfig>(&written).expect("read back"),
            set
        );
    }

    #[test]
    fn shuffles_are_permutations_and_seeded() {
        let mut a: Vec<usize> = (0..100).collect();
        let mut b = a.clone();
        crate::random::SplitMix64::new(7).shuffle(&mut a);
        crate::random::SplitMix64::new(7).shuffle(&mut b);
        assert_eq!(a, b);
        assert_ne!(a, (0..100).collect::<Vec<_>>());
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    }
}
