//! The libinjection family on known attacks, benign values, odd layouts and arbitrary input.

use proptest::prelude::*;

use super::*;
use crate::NoObserver;
use crate::model::LabelledTexts;

fn model() -> LibinjectionModel {
    LibinjectionModel::new(LibinjectionConfig::default())
}

#[test]
fn a_known_sqli_value_is_flagged_with_its_fingerprint() {
    let text = "/login.php?user=admin&pass=1' or '1'='1";
    let findings = model().findings(text);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(&text[findings[0].range.clone()], "1' or '1'='1");
    assert_eq!(findings[0].attack, Attack::Sqli);
    // The C library's fingerprint for this value (libinjection-python 1.1.6).
    assert_eq!(findings[0].fingerprint.as_deref(), Some("s&sos"));
    assert_eq!(model().score_one(text), 1.0);
}

#[test]
fn a_known_xss_value_is_flagged() {
    let text = "/search?q=<script>alert(1)</script>&page=2";
    let findings = model().findings(text);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].attack, Attack::Xss);
    assert_eq!(findings[0].fingerprint, None);
    assert_eq!(model().score_one(text), 1.0);
}

#[test]
fn benign_values_value_less_queries_and_bare_paths_score_zero() {
    let texts = [
        "/shop/item.php?id=42&cat=books&q=harry potter",
        "/a.php?flag&other",
        "/a.php?",
        "/index.html",
        "",
        "GET http://localhost:8080/tienda1/index.jsp",
        "POST http://localhost:8080/tienda1/miembros/editar.jsp modo=registro&login=bob&B1=Registrar",
    ];
    let scores = model().score_batch(&texts);
    assert_eq!(scores, vec![0.0; texts.len()]);
    for text in texts {
        assert!(model().findings(text).is_empty(), "{text}");
    }
}

#[test]
fn a_form_body_is_checked_and_the_options_switch_parts_and_detectors() {
    let post = "POST http://localhost:8080/tienda1/a.jsp id=2&cantidad=' or 1=1--&B1=x";
    assert_eq!(model().score_one(post), 1.0);
    let no_body = LibinjectionModel::new(LibinjectionConfig {
        body: false,
        ..LibinjectionConfig::default()
    });
    assert_eq!(no_body.score_one(post), 0.0);
    let xss_only = LibinjectionModel::new(LibinjectionConfig {
        sqli: false,
        ..LibinjectionConfig::default()
    });
    assert_eq!(xss_only.score_one(post), 0.0);
    let path = LibinjectionModel::new(LibinjectionConfig {
        path: true,
        ..LibinjectionConfig::default()
    });
    let in_path = "/<script>alert(1)</script>";
    assert_eq!(model().score_one(in_path), 0.0);
    assert_eq!(path.score_one(in_path), 1.0);
}

#[test]
fn plus_reads_as_a_space_when_asked() {
    let text = "/a.jsp?id=2&q=1+union+select+1,2";
    let plus = LibinjectionModel::new(LibinjectionConfig {
        plus_as_space: true,
        ..LibinjectionConfig::default()
    });
    assert_eq!(model().score_one(text), 0.0);
    let findings = plus.findings(text);
    assert_eq!(findings.len(), 1, "{findings:?}");
    // The span is the value as written; the fingerprint that of the value read with spaces.
    assert_eq!(&text[findings[0].range.clone()], "1+union+select+1,2");
    assert_eq!(findings[0].fingerprint.as_deref(), Some("1UE1"));
}

#[test]
fn configs_that_check_nothing_are_refused_naming_the_key() {
    let none = LibinjectionConfig {
        sqli: false,
        xss: false,
        ..LibinjectionConfig::default()
    };
    assert!(
        none.validate()
            .unwrap_err()
            .to_string()
            .contains("model.sqli")
    );
    let nowhere = LibinjectionConfig {
        query: false,
        body: false,
        ..LibinjectionConfig::default()
    };
    assert!(
        nowhere
            .validate()
            .unwrap_err()
            .to_string()
            .contains("model.query")
    );
    let unknown: std::result::Result<LibinjectionConfig, _> = toml::from_str("sqlii = true");
    assert!(unknown.is_err());
}

#[test]
fn fit_ignores_the_texts_and_the_model_saves_and_loads() {
    let train = LabelledTexts::new(vec!["/a?x=1"], vec![vigie_data::Label::Benign]);
    let data = TrainData {
        train: train.clone(),
        valid: train,
        seed: 1,
        threads: 1,
    };
    let config = LibinjectionConfig {
        xss: false,
        ..LibinjectionConfig::default()
    };
    let fitted = fit(&config, &data, &mut NoObserver).expect("fit");
    assert_eq!(fitted.config(), &config);
    let dir = tempfile::tempdir().expect("tempdir");
    fitted.save(dir.path()).expect("save");
    assert_eq!(LibinjectionModel::load(dir.path()).expect("load"), fitted);
    std::fs::write(dir.path().join(META_FILE), b"{\"format_version\": 9}").expect("write");
    assert!(LibinjectionModel::load(dir.path()).is_err());
}

proptest! {
    /// libinjection runs on every value of any text without panicking, and the score is 0 or 1.
    #[test]
    fn any_text_scores_zero_or_one(text in "(GET |POST )?[/a-z?&=' \"<>()\t\\-#;%*0-9]{0,80}") {
        let score = model().score_one(&text);
        prop_assert!(score == 0.0 || score == 1.0);
        prop_assert_eq!(score == 1.0, !model().findings(&text).is_empty());
    }

    #[test]
    fn any_unicode_scores_without_panicking(text in "\\PC{0,60}") {
        let _ = model().findings(&text);
    }
}
