//! `log_batch` against the real server: splitting at the limits, validation, non-finite values.

use std::time::Instant;

use vigie_mlflow::batch::{MAX_PARAM_VALUE_CHARS, minimal_request_count};
use vigie_mlflow::{Metric, MlflowError, Param, Tag};

use crate::common::{client, new_run};

#[test]
fn five_thousand_metrics_and_250_params_land_in_the_minimal_number_of_requests() {
    let client = client();
    let (_, run) = new_run(&client, "bigbatch");
    let run_id = &run.info.run_id;
    let keys = ["loss", "acc", "f1", "precision", "recall"];
    let metrics: Vec<Metric> = (0..1000)
        .flat_map(|step| {
            keys.iter().map(move |key| {
                Metric::at(*key, step as f64 / 1000.0, step, 1_700_000_000_000 + step)
            })
        })
        .collect();
    let params: Vec<Param> = (0..250)
        .map(|i| Param::new(format!("hp_{i:03}"), format!("value-{i}")))
        .collect();
    let tags = vec![Tag::new("batch", "big")];
    assert_eq!(metrics.len(), 5000);

    let before = client.stats();
    let started = Instant::now();
    let requests = client
        .log_batch(run_id, &metrics, &params, &tags)
        .expect("logged");
    let elapsed = started.elapsed();
    let sent = client.stats().attempts - before.attempts;
    // ⌈5251 / 1000⌉ = 6 requests; the param limit alone would need 3.
    assert_eq!(minimal_request_count(5000, 250, 1), 6);
    assert_eq!(requests, 6);
    assert_eq!(sent, 6, "no extra request, no retry");
    eprintln!("log_batch: 5000 metrics + 250 params + 1 tag in {requests} requests, {elapsed:?}");

    for key in keys {
        let history = client.get_metric_history(run_id, key).expect("history");
        assert_eq!(history.len(), 1000, "{key}");
        let mut steps: Vec<i64> = history.iter().map(|m| m.step).collect();
        steps.sort();
        assert_eq!(steps, (0..1000).collect::<Vec<_>>(), "{key}");
    }
    let data = client.get_run(run_id).expect("get").data;
    assert_eq!(data.params.len(), 250);
    for param in &params {
        assert_eq!(data.param(&param.key), Some(param.value.as_str()));
    }
    assert_eq!(data.tag("batch"), Some("big"));
    assert_eq!(data.metric("loss"), Some(0.999), "latest value");
}

#[test]
fn non_finite_values_survive_a_batch() {
    let client = client();
    let (_, run) = new_run(&client, "nanbatch");
    let run_id = &run.info.run_id;
    let metrics = [
        Metric::at("v", f64::NAN, 0, 1),
        Metric::at("v", f64::INFINITY, 1, 2),
        Metric::at("v", f64::NEG_INFINITY, 2, 3),
        Metric::at("v", 1.5, 3, 4),
    ];
    assert_eq!(
        client
            .log_batch(run_id, &metrics, &[], &[])
            .expect("logged"),
        1
    );
    let mut history = client.get_metric_history(run_id, "v").expect("history");
    history.sort_by_key(|m| m.step);
    assert!(history[0].value.is_nan());
    assert_eq!(history[1].value, f64::MAX);
    assert_eq!(history[2].value, f64::MIN);
    assert_eq!(history[3].value, 1.5);
}

#[test]
fn invalid_batches_send_nothing() {
    let client = client();
    let (_, run) = new_run(&client, "badbatch");
    let run_id = &run.info.run_id;
    let good: Vec<Metric> = (0..1500).map(|i| Metric::new("ok", 1.0, i)).collect();
    let before = client.stats();

    let long_value = Param::new("vocabulary", "x".repeat(MAX_PARAM_VALUE_CHARS + 1));
    let err = client
        .log_batch(run_id, &good, &[long_value], &[])
        .expect_err("too long");
    let MlflowError::InvalidArgument { what, message } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(what, "param value");
    assert!(
        message.contains("vocabulary") && message.contains("6001"),
        "{message}"
    );

    let long_key = Metric::new("k".repeat(251), 1.0, 0);
    let mut metrics = good.clone();
    metrics.push(long_key);
    let err = client
        .log_batch(run_id, &metrics, &[], &[])
        .expect_err("key too long");
    assert!(err.to_string().contains("metric key"), "{err}");

    let duplicates = [Param::new("lr", "0.1"), Param::new("lr", "0.1")];
    let err = client
        .log_batch(run_id, &[], &duplicates, &[])
        .expect_err("duplicate");
    assert!(err.to_string().contains("appears twice"), "{err}");

    assert_eq!(client.stats().attempts, before.attempts, "nothing was sent");
    assert!(
        client
            .get_metric_history(run_id, "ok")
            .expect("history")
            .is_empty()
    );
    assert_eq!(client.log_batch(run_id, &[], &[], &[]).expect("empty"), 0);
}

#[test]
fn a_param_of_exactly_the_limit_is_stored_whole() {
    let client = client();
    let (_, run) = new_run(&client, "longparam");
    let value = "é".repeat(MAX_PARAM_VALUE_CHARS);
    client
        .log_batch(
            &run.info.run_id,
            &[],
            &[Param::new("long", value.clone())],
            &[],
        )
        .expect("logged");
    let data = client.get_run(&run.info.run_id).expect("get").data;
    assert_eq!(data.param("long"), Some(value.as_str()));
}
