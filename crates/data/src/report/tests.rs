use super::charts::format_count;
use super::*;

fn strings(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|text| (*text).to_owned()).collect()
}

/// Five benign and four malicious texts with known lengths, scripts and families.
fn sample() -> (Vec<String>, Vec<Label>) {
    let texts = strings(&[
        "/index.php?page=1",                                      // 17 chars, index.php
        "/index.php?page=2&lang=en",                              // 25, index.php
        "/img/logo.png",                                          // 13, logo.png
        "/about/",                                                // 7, none
        "GET http://localhost:8080/shop/cart.jsp?id=2 B1=Añadir", // 54 (ñ is one char), cart.jsp
        "/index.php?id=1 union select 1,2",                       // 32, index.php, sqli
        "/search.php?q=<script>alert(1)</script>",                // 39, search.php, xss
        "/dl.php?f=../../etc/passwd",                             // 26, dl.php, path traversal
        "/ping?ip=1;cat /etc/passwd",                             // 26, none, cmdi
    ]);
    let labels = [
        [Label::Benign; 5].as_slice(),
        [Label::Malicious; 4].as_slice(),
    ]
    .concat();
    (texts, labels)
}

fn sample_stats() -> DatasetStats {
    let (texts, labels) = sample();
    DatasetStats::compute(&StatsInput {
        dataset: "sample",
        before_dedup: ClassCounts {
            benign: 7,
            malicious: 5,
        },
        duplicate_rows_dropped: 1,
        conflicting_texts_dropped: 1,
        texts: &texts,
        labels: &labels,
    })
}

fn empty_stats() -> DatasetStats {
    DatasetStats::compute(&StatsInput {
        dataset: "empty",
        before_dedup: ClassCounts::default(),
        duplicate_rows_dropped: 0,
        conflicting_texts_dropped: 0,
        texts: &[],
        labels: &[],
    })
}

#[test]
fn computes_counts_lengths_scripts_and_families() {
    let stats = sample_stats();
    assert_eq!(
        stats.after_dedup,
        ClassCounts {
            benign: 5,
            malicious: 4
        }
    );
    assert_eq!(stats.before_dedup.total(), 12);

    // Benign lengths sorted: 7 13 17 25 54; malicious: 26 26 32 39.
    let [benign, malicious, all] = stats.lengths.as_slice() else {
        panic!("three length rows expected");
    };
    assert_eq!(
        (
            benign.count,
            benign.min,
            benign.p50,
            benign.p90,
            benign.p99,
            benign.max
        ),
        (5, Some(7), Some(17), Some(54), Some(54), Some(54))
    );
    assert_eq!(benign.mean, Some(23.2));
    assert_eq!(
        (malicious.min, malicious.p50, malicious.p90, malicious.max),
        (Some(26), Some(26), Some(39), Some(39))
    );
    assert_eq!(malicious.mean, Some(30.75));
    // All 9 sorted: 7 13 17 25 26 26 32 39 54 → p50 = 5th = 26, p90 = 9th = 54.
    assert_eq!(
        (all.count, all.p50, all.p90, all.class),
        (9, Some(26), Some(54), "all")
    );

    let bin = |name: &str| {
        stats
            .length_histogram
            .iter()
            .find(|bin| bin.bin == name)
            .map(|bin| bin.counts)
            .unwrap()
    };
    assert_eq!(stats.length_histogram.len(), LENGTH_BIN_STARTS.len());
    assert_eq!(
        bin("<10"),
        ClassCounts {
            benign: 1,
            malicious: 0
        }
    );
    assert_eq!(
        bin("10-19"),
        ClassCounts {
            benign: 2,
            malicious: 0
        }
    );
    assert_eq!(
        bin("20-49"),
        ClassCounts {
            benign: 1,
            malicious: 4
        }
    );
    assert_eq!(
        bin("50-99"),
        ClassCounts {
            benign: 1,
            malicious: 0
        }
    );
    assert_eq!(bin("100k+"), ClassCounts::default());

    assert_eq!(stats.distinct_scripts, 5);
    assert_eq!(
        stats.texts_without_script,
        ClassCounts {
            benign: 1,
            malicious: 1
        }
    );
    let top: Vec<(&str, usize, usize)> = stats
        .top_scripts
        .iter()
        .map(|row| (row.script.as_str(), row.counts.benign, row.counts.malicious))
        .collect();
    assert_eq!(
        top,
        [
            ("index.php", 2, 1),
            ("cart.jsp", 1, 0),
            ("dl.php", 0, 1),
            ("logo.png", 1, 0),
            ("search.php", 0, 1),
        ]
    );

    let family = |family: AttackFamily| {
        stats
            .attack_families
            .iter()
            .find(|row| row.family == family)
            .map(|row| row.counts)
            .unwrap()
    };
    assert_eq!(
        family(AttackFamily::Sqli),
        ClassCounts {
            benign: 0,
            malicious: 1
        }
    );
    assert_eq!(
        family(AttackFamily::Xss),
        ClassCounts {
            benign: 0,
            malicious: 1
        }
    );
    assert_eq!(
        family(AttackFamily::PathTraversal),
        ClassCounts {
            benign: 0,
            malicious: 1
        }
    );
    assert_eq!(
        family(AttackFamily::Cmdi),
        ClassCounts {
            benign: 0,
            malicious: 1
        }
    );
    assert_eq!(
        family(AttackFamily::Other),
        ClassCounts {
            benign: 5,
            malicious: 0
        }
    );
    assert_eq!(stats.benign_matching_attack_rules(), 0);
}

#[test]
fn top_scripts_are_capped_and_ranked() {
    let mut texts = Vec::new();
    for index in 0..30 {
        for _ in 0..=index {
            texts.push(format!("/s{index:02}.php"));
        }
    }
    let labels = vec![Label::Malicious; texts.len()];
    let stats = DatasetStats::compute(&StatsInput {
        dataset: "many",
        before_dedup: ClassCounts::from_labels(&labels),
        duplicate_rows_dropped: 0,
        conflicting_texts_dropped: 0,
        texts: &texts,
        labels: &labels,
    });
    assert_eq!(stats.distinct_scripts, 30);
    assert_eq!(stats.top_scripts.len(), TOP_SCRIPTS);
    assert_eq!(stats.top_scripts[0].script, "s29.php");
    assert_eq!(stats.top_scripts[0].counts.malicious, 30);
    assert_eq!(stats.top_scripts[19].script, "s10.php");
    assert!(stats.lengths[0].mean.is_none());
}

#[test]
fn percentiles_use_nearest_rank() {
    let sorted: Vec<usize> = (1..=100).collect();
    let summary = LengthSummary::from_sorted("all", &sorted);
    assert_eq!(
        (summary.p50, summary.p90, summary.p99),
        (Some(50), Some(90), Some(99))
    );
    let single = LengthSummary::from_sorted("all", &[42]);
    assert_eq!(
        (single.min, single.p50, single.p99, single.max),
        (Some(42), Some(42), Some(42), Some(42))
    );
    let none = LengthSummary::from_sorted("all", &[]);
    assert_eq!((none.count, none.mean, none.p50), (0, None, None));
}

#[test]
fn counts_are_formatted_compactly() {
    let cases = [
        (0.0, "0"),
        (0.5, "0.5"),
        (7.0, "7"),
        (950.0, "950"),
        (1_000.0, "1k"),
        (1_500.0, "1.5k"),
        (9_400.0, "9.4k"),
        (19_113.0, "19k"),
        (1_000_000.0, "1M"),
        (3_250_000.0, "3.2M"),
    ];
    for (value, expected) in cases {
        assert_eq!(format_count(value), expected, "{value}");
    }
}

#[test]
fn histogram_bins_cover_every_length() {
    let lengths = [vec![0, 9, 10, 99_999, 100_000, 5_000_000], vec![]];
    let bins = length_histogram(&lengths);
    assert_eq!(bins[0].counts.benign, 2);
    assert_eq!(bins[1].counts.benign, 1);
    assert_eq!(bins[12].bin, "50k-100k");
    assert_eq!(bins[12].max_chars, Some(99_999));
    assert_eq!(bins[12].counts.benign, 1);
    assert_eq!(bins[13].counts.benign, 2);
    assert_eq!(bins[13].max_chars, None);
    let names: Vec<&str> = bins.iter().map(|bin| bin.bin.as_str()).collect();
    assert_eq!(
        names,
        [
            "<10", "10-19", "20-49", "50-99", "100-199", "200-499", "500-999", "1k-2k", "2k-5k",
            "5k-10k", "10k-20k", "20k-50k", "50k-100k", "100k+"
        ]
    );
}

fn read_csv(path: &Path) -> (String, Vec<String>) {
    let content = std::fs::read_to_string(path).unwrap();
    let mut lines = content.lines().map(str::to_owned);
    let header = lines.next().unwrap_or_default();
    (header, lines.collect())
}

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{path:?} is not a PNG"
    );
    assert!(
        bytes.len() > 5_000,
        "{path:?} is only {} bytes",
        bytes.len()
    );
}

const EXPECTED_FILES: [&str; 9] = [
    "class_counts.csv",
    "length_summary.csv",
    "length_histogram.csv",
    "top_scripts.csv",
    "attack_families.csv",
    "class_counts.png",
    "length_histogram.png",
    "top_scripts.png",
    "attack_families.png",
];

#[test]
fn writes_every_table_and_chart() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nested/report");
    let written = sample_stats().write(&out).unwrap();
    let names: Vec<String> = written
        .iter()
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, EXPECTED_FILES);

    let expectations = [
        ("class_counts.csv", "stage,benign,malicious,total", 4),
        (
            "length_summary.csv",
            "class,count,mean,min,p50,p90,p99,max",
            3,
        ),
        (
            "length_histogram.csv",
            "bin,min_chars,max_chars,benign,malicious,benign_pct,malicious_pct",
            LENGTH_BIN_STARTS.len(),
        ),
        ("top_scripts.csv", "rank,script,benign,malicious,total", 5),
        (
            "attack_families.csv",
            "family,benign,malicious,total,benign_pct,malicious_pct",
            5,
        ),
    ];
    for (file, header, rows) in expectations {
        let (found_header, found_rows) = read_csv(&out.join(file));
        assert_eq!(found_header, header, "{file}");
        assert_eq!(found_rows.len(), rows, "{file}");
    }
    let (_, class_rows) = read_csv(&out.join("class_counts.csv"));
    assert_eq!(class_rows[0], "before_dedup,7,5,12");
    assert_eq!(class_rows[2], "duplicate_rows_dropped,,,1");
    let (_, script_rows) = read_csv(&out.join("top_scripts.csv"));
    assert_eq!(script_rows[0], "1,index.php,2,1,3");
    let (_, length_rows) = read_csv(&out.join("length_summary.csv"));
    assert_eq!(length_rows[0], "benign,5,23.200,7,17,54,54,54");

    for file in &EXPECTED_FILES[5..] {
        assert_png(&out.join(file));
    }
}

#[test]
fn empty_input_gives_empty_tables_and_no_data_charts() {
    let stats = empty_stats();
    assert_eq!(stats.after_dedup.total(), 0);
    assert!(stats.top_scripts.is_empty());
    assert!(
        stats
            .lengths
            .iter()
            .all(|row| row.count == 0 && row.p50.is_none())
    );
    assert!(stats.summary().contains("0 texts"));

    let dir = tempfile::tempdir().unwrap();
    let written = stats.write(dir.path()).unwrap();
    assert_eq!(written.len(), EXPECTED_FILES.len());
    let (header, rows) = read_csv(&dir.path().join("top_scripts.csv"));
    assert_eq!(header, "rank,script,benign,malicious,total");
    assert!(rows.is_empty());
    let (_, rows) = read_csv(&dir.path().join("length_summary.csv"));
    assert_eq!(rows[0], "benign,0,,,,,,");
    for file in &EXPECTED_FILES[5..] {
        assert_png(&dir.path().join(file));
    }
}

#[test]
fn one_class_and_no_script() {
    let texts = strings(&["/a/", "/b/", "/c?x=1"]);
    let labels = vec![Label::Benign; 3];
    let stats = DatasetStats::compute(&StatsInput {
        dataset: "benign-only",
        before_dedup: ClassCounts::from_labels(&labels),
        duplicate_rows_dropped: 0,
        conflicting_texts_dropped: 0,
        texts: &texts,
        labels: &labels,
    });
    assert_eq!(stats.after_dedup.malicious, 0);
    assert!(stats.top_scripts.is_empty());
    assert_eq!(stats.texts_without_script.benign, 3);
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(stats.write(dir.path()).unwrap().len(), EXPECTED_FILES.len());
}

#[test]
fn draws_names_outside_the_bundled_font() {
    let texts = strings(&["/测试.php", "/😀.jsp?x=1", "/a\u{200b}b.asp", "/ok.php"]);
    let labels = [
        Label::Benign,
        Label::Malicious,
        Label::Malicious,
        Label::Benign,
    ];
    let stats = DatasetStats::compute(&StatsInput {
        dataset: "ユニコード",
        before_dedup: ClassCounts::from_labels(&labels),
        duplicate_rows_dropped: 0,
        conflicting_texts_dropped: 0,
        texts: &texts,
        labels: &labels,
    });
    assert_eq!(stats.top_scripts.len(), 4);
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(stats.write(dir.path()).unwrap().len(), EXPECTED_FILES.len());
    assert_png(&dir.path().join("top_scripts.png"));
}

#[test]
fn summary_mentions_label_noise() {
    let texts = strings(&["/x.php?id=1 union select 1", "/index.html"]);
    let labels = [Label::Benign, Label::Malicious];
    let stats = DatasetStats::compute(&StatsInput {
        dataset: "noisy",
        before_dedup: ClassCounts::from_labels(&labels),
        duplicate_rows_dropped: 0,
        conflicting_texts_dropped: 0,
        texts: &texts,
        labels: &labels,
    });
    let summary = stats.summary();
    assert!(summary.contains("Dataset noisy: 2 texts"), "{summary}");
    assert!(summary.contains("label noise"), "{summary}");
    assert!(summary.contains("x.php"), "{summary}");
    let json = serde_json::to_value(&stats).unwrap();
    assert_eq!(json["attack_families"][0]["family"], "sqli");
    assert_eq!(json["attack_families"][0]["counts"]["benign"], 1);
}

#[test]
fn write_reports_unwritable_directory() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let err = sample_stats().write(&blocker.join("out")).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }), "{err}");
}
