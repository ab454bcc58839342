//! The shipped definitions on the real datasets. The expected counts are the
//! scikit-learn reference pipeline's (`../shared/peers/README.md`), under the same decoding.

use vigie_data::{Catalog, Label, PrepareConfig, PreparedDataset, Split, load};

use vigie_test_support::shared_datasets;

fn prepared(name: &str) -> Option<PreparedDataset> {
    let data_dir = shared_datasets()?;
    let (def, _) = Catalog::builtin()
        .expect("catalog")
        .get(name)
        .expect("definition");
    let dataset = load(&def, &data_dir, |_| {}).expect("load");
    Some(PreparedDataset::new(dataset, &PrepareConfig::default()).expect("prepare"))
}

#[test]
fn fwaf_counts_match_the_reference() {
    let Some(p) = prepared("fwaf") else { return };
    let dedup = p.dedup.as_ref().expect("dedup on by default");
    assert_eq!(p.data.len(), 156_438);
    assert_eq!(p.data.class_counts()[1], 44_468);
    assert_eq!(dedup.duplicate_rows_dropped, 3_779);
    assert_eq!(dedup.conflicting_texts_dropped, 3);
    // The partial benign file stands in for the full upstream one.
    assert!(p.data.files[1].alternative && p.data.files[1].partial);
    assert!(!p.data.files[0].alternative);
    // 61 blank lines, and 7 more that are only whitespace once percent-decoded (`%20`...).
    assert_eq!(p.data.files[0].empty_dropped, 68);
    // Stratified: the malicious share is the same in every split, to within rounding.
    let share = |part: Split| {
        let (_, labels) = p.part(part);
        labels.iter().filter(|l| **l == Label::Malicious).count() as f64 / labels.len() as f64
    };
    let overall = 44_468.0 / 156_438.0;
    for part in Split::ALL {
        assert!(
            (share(part) - overall).abs() < 1e-3,
            "{part:?}: {}",
            share(part)
        );
    }
}

#[test]
fn csic2010_counts_match_the_reference() {
    let Some(p) = prepared("csic2010") else {
        return;
    };
    let dedup = p.dedup.as_ref().expect("dedup on by default");
    assert_eq!(p.data.len(), 34_596);
    assert_eq!(p.data.class_counts()[1], 15_956);
    assert_eq!(dedup.duplicate_rows_dropped, 62_469);
    assert_eq!(dedup.rows_in, 36_000 + 36_000 + 25_065);
    // The gzip copies stand in for the plain upstream files, holding the same data.
    assert!(p.data.files.iter().all(|f| f.alternative && !f.partial));
    // Latin-1 escapes decode to the Spanish letters (%F1 = ñ).
    assert!(
        p.data
            .texts
            .iter()
            .any(|t| t.contains("A\u{f1}adir al carrito") || t.contains("A\u{f1}adir+al+carrito"))
    );
}

#[test]
fn echows_loads_and_its_sqli_side_is_malicious() {
    let Some(p) = prepared("echows-urldetect") else {
        return;
    };
    let [benign, malicious] = p.counts_before_dedup;
    assert_eq!(benign, 5_827 + 21_926);
    assert_eq!(malicious, 1_027);
}

#[test]
fn digest_is_reproducible_and_tracks_the_seed() {
    let Some(a) = prepared("echows-urldetect") else {
        return;
    };
    let b = prepared("echows-urldetect").expect("second load");
    assert_eq!(a.digest, b.digest);
    assert_eq!(a.split, b.split);
    let other = PreparedDataset::new(
        a.data.clone(),
        &PrepareConfig {
            split: vigie_data::SplitConfig {
                seed: 43,
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .expect("prepare");
    assert_ne!(a.digest, other.digest);
}
