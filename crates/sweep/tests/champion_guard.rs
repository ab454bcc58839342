//! The champion guard (`[objective] never_raise`) end to end, against the real MLflow server of
//! `MLFLOW_TRACKING_URI` (127.0.0.1 only; `scripts/test` starts one): a sweep whose best trial
//! beats the champion on the objective is registered, but takes the `champion` alias only when
//! it raises no guard metric above the champion's, and its version's decision tag says why.
//!
//! The trials are one linear SVM on a tiny noisy dataset (benign requests that look like attacks
//! and attacks that look benign, so that no threshold separates its validation split), under
//! three threshold rules: the same scores, so the metrics compare by construction:
//! - `target_fpr` 0.01: no false alarm on the validation split, few attacks caught (low F1);
//! - `max_f1`: the best F1 of any threshold, bought with false alarms;
//! - `target_fpr` 0.5: a threshold so low that F1 falls and false alarms are many.
//!
//! The objective is `final_valid_f1`, the guard `final_valid_fpr` (the field check's `field_fpr`
//! needs echows-urldetect, absent from a tiny data dir; a guard is any final metric).
//!
//! The analysts' guard is absolute: a trial measured on a feedback dataset (`[data.feedback]`)
//! that raises again an alarm analysts dismissed is not crowned, champion or not, unless the
//! sweep file allows that many.

use std::fs;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use vigie_data::Catalog;
use vigie_mlflow::{MlflowClient, TrackingConfig};
use vigie_runner::DataSource;
use vigie_sweep::{NoProgress, SweepOptions, SweepOutcome, SweepSpec, run_sweep};
use vigie_test_support::{lines_dataset, local_tracking_uri, unique_suffix};

const OBJECTIVE: &str = "final_valid_f1";
const GUARD: &str = "final_valid_fpr";

fn client(uri: &str) -> MlflowClient {
    let config = TrackingConfig::from_lookup(|name| match name {
        "MLFLOW_TRACKING_URI" => Some(uri.to_owned()),
        _ => None,
    })
    .expect("tracking config");
    MlflowClient::new(config).expect("client")
}

/// A tiny dataset in `dir/datasets` (definition) and `dir/data` (files) that no threshold
/// separates: requests of one shape carry either label, by a rule (`i % 3`) that character
/// n-grams cannot see. A third of the script-tag searches are benign (a security blog's search
/// box), a third of the logo requests are attacks (a scanner's probes).
fn noisy_dataset(dir: &Path) {
    let mut benign = String::new();
    let mut malicious = String::new();
    for i in 0..150 {
        benign.push_str(&format!("/shop/item.php?id={i}&cat={}\n", i % 7));
        benign.push_str(&format!("/blog/2024/post-{i}.html?page={}\n", i % 3));
        malicious.push_str(&format!("/item.php?id={i}' or 1=1--\n"));
        malicious.push_str(&format!("/download?file=../../../../etc/passwd{i}\n"));
        let logo = format!("/images/logo_{i}.png\n");
        let script = format!("/search?q=<script>alert({i})</script>\n");
        if i % 3 == 1 {
            malicious.push_str(&logo);
        } else {
            benign.push_str(&logo);
        }
        if i % 3 == 0 {
            benign.push_str(&script);
        } else {
            malicious.push_str(&script);
        }
    }
    lines_dataset(dir, "noisy", &benign, &malicious);
}

/// The run config of every trial, with `threshold` as its `[threshold]` table.
fn base_config(threshold: &str) -> String {
    format!(
        "name = \"noisy-svm\"\nseed = 7\n[data]\ndataset = \"noisy\"\n\
         [model]\nkind = \"linear_svm\"\n[model.tfidf]\nsublinear_tf = true\n\
         [model.tfidf.tokenizer.analyzer]\nkind = \"char\"\nngram_min = 1\nngram_max = 3\n\
         [threshold]\n{threshold}\n"
    )
}

/// One registered model on the server, and the sweeps that compete for its alias.
struct Arena {
    dir: tempfile::TempDir,
    uri: String,
    client: MlflowClient,
    model_name: String,
    experiment: String,
}

impl Arena {
    fn new(label: &str) -> Arena {
        let uri = local_tracking_uri();
        let dir = tempfile::tempdir().expect("tempdir");
        noisy_dataset(dir.path());
        let suffix = unique_suffix();
        Arena {
            client: client(&uri),
            uri,
            dir,
            model_name: format!("vigie-test-guard-{label}-{suffix}"),
            experiment: format!("vigie-test-guard-{label}-{suffix}"),
        }
    }

    /// Runs the one-trial sweep `name` (its trial: the base config with `threshold`) on the
    /// arena's registered model, guarded by `never_raise`.
    fn sweep(&self, name: &str, threshold: &str, never_raise: &[&str]) -> SweepOutcome {
        let guards: Vec<String> = never_raise.iter().map(|g| format!("\"{g}\"")).collect();
        let objective = format!("never_raise = [{}]\n", guards.join(", "));
        self.sweep_with(name, &base_config(threshold), OBJECTIVE, &objective)
    }

    /// Runs the one-trial sweep `name` whose base config is `base` and whose `[objective]`
    /// holds `objective` beside its `metric`.
    fn sweep_with(&self, name: &str, base: &str, metric: &str, objective: &str) -> SweepOutcome {
        let dir = self.dir.path();
        fs::write(dir.join(format!("{name}-base.toml")), base).expect("write base");
        let sweep_file = dir.join(format!("{name}.toml"));
        fs::write(
            &sweep_file,
            format!(
                "name = \"{name}\"\nbase = \"{name}-base.toml\"\nexperiment = \"{}\"\n\
                 registered_model = \"{}\"\nmax_parallel = 1\n\
                 [objective]\nmetric = \"{metric}\"\n{objective}",
                self.experiment, self.model_name,
            ),
        )
        .expect("write sweep");
        let spec = SweepSpec::from_file(&sweep_file).expect("sweep file");
        let catalog = Catalog::with_dir(&dir.join("datasets")).expect("catalog");
        let plan = spec.plan(&catalog).expect("plan");
        assert_eq!(plan.trials.len(), 1, "one trial per sweep");
        let source = DataSource {
            catalog,
            data_dir: dir.join("data"),
        };
        let options = SweepOptions {
            shard: None,
            max_parallel: None,
            out_dir: dir.join("out").join(name),
            journal_root: dir.join("journal"),
            tracking_uri: Some(self.uri.clone()),
            heartbeat: Duration::from_secs(5),
        };
        let outcome = run_sweep(
            &spec,
            &plan,
            &source,
            &options,
            &AtomicBool::new(false),
            &NoProgress,
        )
        .expect("sweep");
        assert_eq!(outcome.failed(), 0, "{outcome:?}");
        assert_eq!(outcome.leaderboard.rows.len(), 1, "{outcome:?}");
        outcome
    }

    /// The sweep's trial's value of `metric`, as logged on the server.
    fn metric(&self, outcome: &SweepOutcome, metric: &str) -> f64 {
        let run = self
            .client
            .get_run(&outcome.leaderboard.rows[0].run_id)
            .expect("trial run");
        run.data
            .metric(metric)
            .unwrap_or_else(|| panic!("the trial logged no {metric}"))
    }

    /// The version the `champion` alias names.
    fn champion(&self) -> String {
        self.champion_if_any().expect("champion alias")
    }

    fn champion_if_any(&self) -> Option<String> {
        self.client
            .get_model_version_by_alias(&self.model_name, "champion")
            .ok()
            .map(|version| version.version)
    }

    /// Version `version`'s tag `key`.
    fn version_tag(&self, version: &str, key: &str) -> Option<String> {
        self.client
            .get_model_version(&self.model_name, version)
            .expect("model version")
            .tag(key)
            .map(str::to_owned)
    }
}

const STRICT: &str = "rule = \"target_fpr\"\nfpr = 0.01";
const BEST_F1: &str = "rule = \"max_f1\"";
const LOOSE: &str = "rule = \"target_fpr\"\nfpr = 0.5";

#[test]
fn a_better_trial_that_raises_the_guard_is_registered_but_the_alias_stays() {
    let arena = Arena::new("raised");
    let first = arena.sweep("guard-strict", STRICT, &[GUARD]);
    let first_decision = first.champion.as_ref().expect("a champion decision");
    assert_eq!(first_decision.reason, "first champion");
    assert_eq!(first_decision.version, "1");
    assert_eq!(arena.champion(), "1");
    let (champion_f1, champion_fpr) =
        (arena.metric(&first, OBJECTIVE), arena.metric(&first, GUARD));

    let second = arena.sweep("guard-best-f1", BEST_F1, &[GUARD]);
    let (f1, fpr) = (
        arena.metric(&second, OBJECTIVE),
        arena.metric(&second, GUARD),
    );
    // The premise: better on the objective, with more false alarms. Were the data separable,
    // both trials would score F1 1 with no false alarm, and the test would say so here.
    assert!(
        f1 > champion_f1,
        "the max_f1 trial should beat the strict one on {OBJECTIVE}: {f1} vs {champion_f1}"
    );
    assert!(
        fpr > champion_fpr,
        "the max_f1 trial should raise {GUARD}: {fpr} vs {champion_fpr}"
    );

    let decision = second.champion.as_ref().expect("a champion decision");
    assert_eq!(decision.version, "2", "the better trial is registered");
    assert!(!decision.champion, "{decision:?}");
    assert_eq!(
        decision.previous,
        Some(("1".to_owned(), champion_f1)),
        "{decision:?}"
    );
    assert_eq!(
        arena.champion(),
        "1",
        "a trial that raises the guard does not take the alias"
    );
    let expected = format!(
        "beats the champion {name}/1 ({OBJECTIVE} = {champion_f1:.6}) but raises {GUARD} from \
         {champion_fpr:.6} to {fpr:.6}: alias kept",
        name = arena.model_name
    );
    assert_eq!(decision.reason, expected);
    assert_eq!(
        arena.version_tag("2", "vigie.champion_decision").as_deref(),
        Some(expected.as_str()),
        "the version says why it is not the champion"
    );
    assert_eq!(
        arena.version_tag("2", "vigie.previous_champion").as_deref(),
        Some(format!("{}/1 {OBJECTIVE}={champion_f1}", arena.model_name).as_str())
    );
    assert_eq!(
        arena.version_tag("1", "vigie.champion_decision").as_deref(),
        Some("first champion"),
        "the champion's own decision is untouched"
    );

    // Without the guard, the same trial would have taken the alias: it is the guard that kept it.
    let unguarded = arena.sweep("unguarded-best-f1", BEST_F1, &[]);
    let decision = unguarded.champion.as_ref().expect("a champion decision");
    assert_eq!(decision.version, "3");
    assert!(decision.champion, "{decision:?}");
    assert_eq!(arena.champion(), "3");
}

#[test]
fn a_better_trial_that_does_not_raise_the_guard_takes_the_alias() {
    let arena = Arena::new("kept");
    let first = arena.sweep("guard-loose", LOOSE, &[GUARD]);
    assert_eq!(
        first.champion.as_ref().map(|d| d.reason.as_str()),
        Some("first champion")
    );
    assert_eq!(arena.champion(), "1");
    let (champion_f1, champion_fpr) =
        (arena.metric(&first, OBJECTIVE), arena.metric(&first, GUARD));

    let second = arena.sweep("guard-best-f1", BEST_F1, &[GUARD]);
    let (f1, fpr) = (
        arena.metric(&second, OBJECTIVE),
        arena.metric(&second, GUARD),
    );
    assert!(
        f1 > champion_f1,
        "the max_f1 trial should beat the loose one on {OBJECTIVE}: {f1} vs {champion_f1}"
    );
    assert!(
        fpr <= champion_fpr,
        "the max_f1 trial should not raise {GUARD}: {fpr} vs {champion_fpr}"
    );

    let decision = second.champion.as_ref().expect("a champion decision");
    assert_eq!(decision.version, "2");
    assert!(decision.champion, "{decision:?}");
    assert_eq!(
        arena.champion(),
        "2",
        "the better, unguarded trial takes the alias"
    );
    let expected = format!(
        "beats the champion {name}/1 ({OBJECTIVE} = {champion_f1:.6}): alias moved",
        name = arena.model_name
    );
    assert_eq!(decision.reason, expected);
    assert_eq!(
        arena.version_tag("2", "vigie.champion_decision").as_deref(),
        Some(expected.as_str())
    );
}

/// A feedback dataset `soc` in the arena: one dismissed alarm (a script-tag search, the shape
/// the noisy data's attacks mostly have) and, with `confirmed`, one confirmed attack.
fn soc_feedback(dir: &Path, confirmed: bool) {
    let mut records = vec![
        vigie_data::feedback::FeedbackRecord {
            request: "/search?q=<script>alert(4242)</script>".to_owned(),
            verdict: vigie_data::feedback::Verdict::FalseAlarm,
            model: None,
            score: None,
            time: "2026-12-04T10:00:00.000Z".to_owned(),
            analyst: Some("ana".to_owned()),
            note: Some("the security blog's search box".to_owned()),
            source: None,
        },
        vigie_data::feedback::FeedbackRecord {
            request: "/item.php?id=4242' or 1=1--".to_owned(),
            verdict: vigie_data::feedback::Verdict::Confirmed,
            model: None,
            score: None,
            time: "2026-12-04T10:01:00.000Z".to_owned(),
            analyst: Some("ana".to_owned()),
            note: None,
            source: None,
        },
    ];
    if !confirmed {
        records.truncate(1);
    }
    vigie_data::feedback::append(&dir.join("data/feedback/soc.jsonl"), &records).expect("feedback");
    fs::write(
        dir.join("datasets/soc.toml"),
        vigie_data::feedback::definition_toml("soc", "feedback/soc.jsonl"),
    )
    .expect("definition");
}

#[test]
fn a_trial_that_raises_a_dismissed_alarm_again_is_not_crowned_unless_the_sweep_allows_it() {
    let arena = Arena::new("feedback");
    soc_feedback(arena.dir.path(), true);
    // Measured on the feedback, not trained on it (weight 0): the loose threshold flags every
    // script-tag search, the dismissed one included.
    let base = format!(
        "{}[data.feedback]\ndatasets = [\"soc\"]\nweight = 0\n",
        base_config(LOOSE)
    );
    let refused = arena.sweep_with("feedback-strict", &base, OBJECTIVE, "");
    assert_eq!(arena.metric(&refused, "feedback_false_alarms"), 1.0);
    assert_eq!(arena.metric(&refused, "feedback_dismissed"), 1.0);
    let decision = refused.champion.as_ref().expect("a champion decision");
    assert!(!decision.champion, "{decision:?}");
    assert_eq!(
        decision.reason,
        "raises again 1 alarm(s) analysts dismissed (the sweep allows 0): no champion crowned"
    );
    assert_eq!(arena.champion_if_any(), None, "no alias given");
    assert_eq!(
        arena
            .version_tag(&decision.version, "vigie.feedback_false_alarms")
            .as_deref(),
        Some("1"),
        "the count is on the version"
    );

    let allowed = arena.sweep_with(
        "feedback-allowed",
        &base,
        OBJECTIVE,
        "allow_feedback_false_alarms = 1\nallow_feedback_missed = 1\n",
    );
    let decision = allowed.champion.as_ref().expect("a champion decision");
    assert!(decision.champion, "{decision:?}");
    assert_eq!(decision.reason, "first champion");
    assert_eq!(
        arena.champion_if_any().as_deref(),
        Some(decision.version.as_str())
    );
}

#[test]
fn a_champion_that_raises_an_alarm_analysts_have_since_dismissed_yields_to_a_trial_that_does_not() {
    // The objective favours the loose threshold (it catches more attacks), so only the
    // analysts' verdicts can move the alias away from it.
    const RECALL: &str = "final_valid_recall";
    let arena = Arena::new("since-dismissed");
    let before = arena.sweep_with("before-verdicts", &base_config(LOOSE), RECALL, "");
    assert_eq!(
        before.champion.as_ref().map(|d| d.reason.as_str()),
        Some("first champion")
    );
    // Then the analysts dismiss one of its alarms.
    soc_feedback(arena.dir.path(), false);
    let base = format!(
        "{}[data.feedback]\ndatasets = [\"soc\"]\nweight = 0\n",
        base_config(STRICT)
    );
    let after = arena.sweep_with("after-verdicts", &base, RECALL, "");
    assert_eq!(arena.metric(&after, "feedback_false_alarms"), 0.0);
    let champion_recall = arena.metric(&before, RECALL);
    assert!(
        arena.metric(&after, RECALL) < champion_recall,
        "the premise: the strict trial is worse on {RECALL} than the loose champion"
    );

    let decision = after.champion.as_ref().expect("a champion decision");
    assert!(decision.champion, "{decision:?}");
    assert_eq!(
        decision.reason,
        format!(
            "the champion {}/1 raises again 1 alarm(s) analysts dismissed (the sweep allows 0); \
             this trial does not: alias moved",
            arena.model_name
        )
    );
    assert_eq!(decision.previous, Some(("1".to_owned(), champion_recall)));
    assert_eq!(arena.champion(), decision.version);
    assert_eq!(
        arena
            .version_tag(&decision.version, "vigie.champion_decision")
            .as_deref(),
        Some(decision.reason.as_str())
    );

    // A trial that raises the dismissed alarm cannot win it back, better on the objective or not.
    let again = arena.sweep_with(
        "after-verdicts-loose",
        &base.replace(STRICT, LOOSE),
        RECALL,
        "",
    );
    let decision = again.champion.as_ref().expect("a champion decision");
    assert!(!decision.champion, "{decision:?}");
    assert!(
        decision.reason.starts_with("raises again 1 alarm(s)"),
        "{decision:?}"
    );
}
