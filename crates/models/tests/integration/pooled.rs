//! The linear models on the `request` analyzer with fields scored apart (`pool_fields`) and
//! fitted in rounds that narrow each malicious request to its witness field.

use vigie_data::Label;
use vigie_data::request::{RequestScratch, field_texts};
use vigie_data::text::{Analyzer, TfidfConfig, TokenizerConfig};
use vigie_models::linear::{LinearConfig, LinearKind, LinearModel, fit};
use vigie_models::{LabelledTexts, NoObserver, Persist, Scorer, TrainData, TrainObserver};

fn request_config(pool_fields: bool, mil_rounds: usize) -> LinearConfig {
    LinearConfig {
        tfidf: TfidfConfig {
            tokenizer: TokenizerConfig {
                analyzer: Analyzer::Request {
                    ngram_min: 1,
                    ngram_max: 3,
                    rules: true,
                },
                lowercase: true,
            },
            sublinear_tf: true,
            ..TfidfConfig::default()
        },
        pool_fields,
        mil_rounds,
        tol: 1e-4,
        ..LinearConfig::default()
    }
}

/// Benign requests of a shop with a few parameters (three for each malicious one); malicious ones carry one payload in one
/// value among ordinary ones, and a few scanner probes have no payload at all.
fn shop_requests() -> (Vec<String>, Vec<Label>) {
    let payloads = [
        "' or 1=1 --",
        "<script>alert(1)</script>",
        "../../etc/passwd",
        "; cat /etc/shadow",
        "1 union select password from users",
    ];
    let pages = ["index", "shop", "cart", "login", "search", "account"];
    let (mut texts, mut labels) = (Vec::new(), Vec::new());
    for i in 0..120 {
        let page = pages[i % pages.len()];
        for query in ["shoes", "red hat", "size 42"] {
            texts.push(format!("/{page}.php?id={}&lang=fr&q={query}", i * 7 % 1000));
            labels.push(Label::Benign);
        }
        let payload = payloads[i % payloads.len()];
        texts.push(format!(
            "/{page}.php?id={}&lang=fr&q={payload}",
            i * 13 % 1000
        ));
        labels.push(Label::Malicious);
    }
    for probe in ["/setup.php", "/install.php", "/backup.zip"] {
        texts.push(probe.to_owned());
        labels.push(Label::Malicious);
    }
    (texts, labels)
}

fn fit_on_shop(config: &LinearConfig, observer: &mut dyn TrainObserver) -> LinearModel {
    let (texts, labels) = shop_requests();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let data = TrainData {
        train: LabelledTexts::new(refs, labels),
        valid: LabelledTexts::default(),
        seed: 7,
        threads: 1,
    };
    fit(LinearKind::LinearSvm, config, &data, observer).expect("fits")
}

#[test]
fn a_request_scores_as_its_highest_scored_field() {
    let model = fit_on_shop(&request_config(true, 3), &mut NoObserver);
    let request = "/cart.php?id=5&lang=fr&q=' or 1=1 --&page=2";
    let mut fields = Vec::new();
    field_texts(request, &mut RequestScratch::default(), &mut fields);
    let field_refs: Vec<&str> = fields.iter().map(String::as_str).collect();
    let field_scores = model.decision_function(&field_refs);
    let best = field_scores
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(model.decision_function(&[request])[0], best);
    assert!(
        best > 0.0,
        "the payload's field is malicious: {field_scores:?}"
    );
    // The explanation is the witness field's.
    let top = model.contributions(request, 3);
    assert!(
        top.iter()
            .all(|c| c.term.starts_with("v:") || c.term.starts_with("r:")),
        "{top:?}"
    );
}

#[test]
fn ordinary_fields_do_not_dilute_a_payload_when_fields_are_pooled() {
    let pooled = fit_on_shop(&request_config(true, 3), &mut NoObserver);
    let whole = fit_on_shop(&request_config(false, 1), &mut NoObserver);
    let alone = "/cart.php?q=' or 1=1 --";
    let padding: String = (0..30).map(|i| format!("&f{i}=v{i}")).collect();
    let padded = format!("{alone}{padding}");
    let [pooled_alone, pooled_padded] = pooled.decision_function(&[alone, &padded])[..] else {
        unreachable!()
    };
    assert_eq!(
        pooled_alone, pooled_padded,
        "pooled: padding changes nothing"
    );
    let [whole_alone, whole_padded] = whole.decision_function(&[alone, &padded])[..] else {
        unreachable!()
    };
    assert!(
        whole_padded < whole_alone,
        "one row per request: the padding's terms dilute the payload ({whole_alone} -> {whole_padded})"
    );
}

#[derive(Default)]
struct Notes(Vec<String>, Vec<u64>);

impl TrainObserver for Notes {
    fn note(&mut self, message: &str) {
        self.0.push(message.to_owned());
    }

    fn epoch(&mut self, step: u64, _metrics: &[(&str, f64)]) {
        self.1.push(step);
    }
}

#[test]
fn rounds_leave_out_the_malicious_requests_no_field_can_show() {
    let mut notes = Notes::default();
    let config = LinearConfig {
        drop_unfitted_malicious: true,
        ..request_config(true, 2)
    };
    let model = fit_on_shop(&config, &mut notes);
    let kept = notes
        .0
        .iter()
        .find(|n| n.contains("fit 1 of 2"))
        .unwrap_or_else(|| panic!("a note per round: {:?}", notes.0));
    // 120 requests carry a payload; the three scanner probes have nothing a field can show.
    assert!(kept.contains("120 of 123 malicious"), "{kept}");
    // The second fit's passes follow the first's: one point per step in the run's curves.
    let steps = &notes.1;
    assert!(steps.len() > 2, "{steps:?}");
    assert_eq!(*steps, (1..=steps.len() as u64).collect::<Vec<_>>());
    let scores = model.decision_function(&["/backup.zip", "/cart.php?q=<script>alert(1)</script>"]);
    assert!(scores[0] < 0.0 && scores[1] > 0.0, "{scores:?}");
}

#[test]
fn a_saved_pooled_model_scores_identically() {
    let model = fit_on_shop(&request_config(true, 3), &mut NoObserver);
    let dir = tempfile::tempdir().expect("tempdir");
    model.save(dir.path()).expect("saves");
    let loaded = LinearModel::load(dir.path()).expect("loads");
    let probe = [
        "/cart.php?id=5&q=1' or '1'='1",
        "/",
        "",
        "GET /a?b=%3Cscript%3E HTTP/1.1",
    ];
    assert_eq!(loaded.config(), model.config());
    assert_eq!(loaded.score_batch(&probe), model.score_batch(&probe));
}

#[test]
fn pooling_and_rounds_are_checked_naming_their_key() {
    let not_request = LinearConfig {
        pool_fields: true,
        ..LinearConfig::default()
    };
    let drop_without_rounds = LinearConfig {
        drop_unfitted_malicious: true,
        ..request_config(true, 1)
    };
    let no_rounds = request_config(true, 0);
    for (config, key) in [
        (not_request, "model.pool_fields"),
        (drop_without_rounds, "model.drop_unfitted_malicious"),
        (no_rounds, "model.mil_rounds"),
    ] {
        let message = config.validate().expect_err(key).to_string();
        assert!(message.contains(key), "{message}");
    }
}
