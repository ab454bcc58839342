//! Runs against the real server: lifecycle, tags, params, metrics, inputs, search.

use std::time::{Duration, Instant};

use vigie_mlflow::{
    CreateRun, Dataset, DatasetInput, Metric, RunStatus, SearchRuns, Tag, UpdateRun, ViewType,
    mlflow_tags,
};

use crate::common::{client, new_run, unique};

#[test]
fn run_lifecycle_update_tags_delete_and_restore() {
    let client = client();
    let experiment = client
        .get_or_create_experiment(&unique("life"))
        .expect("experiment");
    let exp_id = experiment.experiment_id;
    let run = client
        .create_run(&CreateRun {
            experiment_id: exp_id.clone(),
            run_name: Some("first".into()),
            start_time: Some(1_700_000_000_000),
            tags: vec![
                Tag::new(mlflow_tags::SOURCE_TYPE, mlflow_tags::source_type::LOCAL),
                Tag::new("stage", "dev"),
            ],
            user_id: Some("trainer".into()),
        })
        .expect("created");
    let run_id = run.info.run_id.clone();
    assert_eq!(run_id.len(), 32);
    assert_eq!(run.info.status, RunStatus::Running);
    assert_eq!(run.info.user_id, "trainer");
    assert_eq!(run.info.start_time, Some(1_700_000_000_000));
    assert_eq!(
        run.info.artifact_uri,
        format!("mlflow-artifacts:/{exp_id}/{run_id}/artifacts")
    );
    assert_eq!(
        run.data.tag(mlflow_tags::RUN_NAME),
        Some("first"),
        "the server adds it"
    );

    let info = client
        .update_run(&UpdateRun {
            run_id: run_id.clone(),
            status: Some(RunStatus::Finished),
            end_time: Some(1_700_000_060_000),
            run_name: Some("renamed".into()),
        })
        .expect("updated");
    assert_eq!(info.status, RunStatus::Finished);
    assert_eq!(info.end_time, Some(1_700_000_060_000));
    assert_eq!(info.run_name, "renamed");

    client
        .set_tag(&run_id, mlflow_tags::NOTE_CONTENT, "**bold**")
        .expect("set tag");
    client.delete_tag(&run_id, "stage").expect("delete tag");
    let fetched = client.get_run(&run_id).expect("get");
    assert_eq!(
        fetched.data.tag(mlflow_tags::NOTE_CONTENT),
        Some("**bold**")
    );
    assert_eq!(fetched.data.tag("stage"), None);
    assert_eq!(fetched.info.run_name, "renamed");
    let err = client
        .delete_tag(&run_id, "stage")
        .expect_err("already gone");
    assert!(err.is_not_found(), "{err}");

    let search = |view| SearchRuns {
        experiment_ids: vec![exp_id.clone()],
        run_view_type: Some(view),
        ..SearchRuns::default()
    };
    client.delete_run(&run_id).expect("delete");
    assert_eq!(
        client.get_run(&run_id).expect("get").info.lifecycle_stage,
        "deleted"
    );
    assert!(
        client
            .search_runs_all(&search(ViewType::ActiveOnly))
            .expect("search")
            .is_empty()
    );
    assert_eq!(
        client
            .search_runs_all(&search(ViewType::DeletedOnly))
            .expect("search")
            .len(),
        1
    );
    client.restore_run(&run_id).expect("restore");
    assert_eq!(
        client.get_run(&run_id).expect("get").info.lifecycle_stage,
        "active"
    );
    assert_eq!(
        client
            .search_runs_all(&search(ViewType::ActiveOnly))
            .expect("search")
            .len(),
        1
    );

    let ended = client.end_run(&run_id, RunStatus::Failed).expect("end");
    assert_eq!(ended.status, RunStatus::Failed);
    assert!(ended.end_time.is_some());
}

#[test]
fn unknown_run_is_not_found_at_once() {
    let client = client();
    let before = client.stats();
    let started = Instant::now();
    let err = client
        .get_run("00000000000000000000000000000000")
        .expect_err("unknown");
    assert_eq!(err.error_code(), Some("RESOURCE_DOES_NOT_EXIST"));
    assert_eq!(err.status().map(|s| s.as_u16()), Some(404));
    assert!(err.is_not_found());
    assert!(started.elapsed() < Duration::from_secs(5));
    let after = client.stats();
    assert_eq!(
        (
            after.attempts - before.attempts,
            after.retries - before.retries
        ),
        (1, 0)
    );
}

#[test]
fn params_are_write_once_but_relogging_the_same_value_is_fine() {
    let client = client();
    let (_, run) = new_run(&client, "param");
    let run_id = &run.info.run_id;
    client.log_param(run_id, "lr", "0.01").expect("first");
    client
        .log_param(run_id, "lr", "0.01")
        .expect("same value again");
    let before = client.stats();
    let err = client
        .log_param(run_id, "lr", "0.02")
        .expect_err("overwrite");
    assert_eq!(err.error_code(), Some("INVALID_PARAMETER_VALUE"));
    assert_eq!(err.status().map(|s| s.as_u16()), Some(400));
    assert_eq!(
        client.stats().attempts - before.attempts,
        1,
        "4xx is not retried"
    );
    assert_eq!(
        client.get_run(run_id).expect("get").data.param("lr"),
        Some("0.01")
    );
}

#[test]
fn single_metrics_round_trip_including_non_finite_values() {
    let client = client();
    let (_, run) = new_run(&client, "metric");
    let run_id = &run.info.run_id;
    let values = [0.5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -3.25];
    for (step, value) in values.iter().enumerate() {
        client
            .log_metric(
                run_id,
                &Metric::at("loss", *value, step as i64, 1_700_000_000_000 + step as i64),
            )
            .expect("logged");
    }
    let history = client.get_metric_history(run_id, "loss").expect("history");
    assert_eq!(history.len(), 5);
    let mut history = history;
    history.sort_by_key(|m| m.step);
    assert_eq!(history[0].value, 0.5);
    assert!(history[1].value.is_nan());
    // MLflow 3.17 stores ±Infinity as ±f64::MAX.
    assert!(history[2].value >= f64::MAX, "{}", history[2].value);
    assert!(history[3].value <= f64::MIN, "{}", history[3].value);
    assert_eq!(history[4].value, -3.25);
    assert_eq!(history[4].timestamp, 1_700_000_000_004);
    assert_eq!(
        client.get_run(run_id).expect("get").data.metric("loss"),
        Some(-3.25)
    );
}

#[test]
fn metric_history_pages() {
    let client = client();
    let (_, run) = new_run(&client, "history");
    let run_id = &run.info.run_id;
    let metrics: Vec<Metric> = (0..7)
        .map(|step| Metric::new("acc", step as f64 / 10.0, step))
        .collect();
    client
        .log_batch(run_id, &metrics, &[], &[])
        .expect("logged");
    let first = client
        .get_metric_history_page(run_id, "acc", Some(3), None)
        .expect("page");
    assert_eq!(first.items.len(), 3);
    let token = first.next_page_token.expect("more pages");
    let second = client
        .get_metric_history_page(run_id, "acc", Some(3), Some(&token))
        .expect("page");
    assert_eq!(second.items.len(), 3);
    let all = client.get_metric_history(run_id, "acc").expect("all");
    let mut steps: Vec<i64> = all.iter().map(|m| m.step).collect();
    steps.sort();
    assert_eq!(steps, (0..7).collect::<Vec<_>>());
}

#[test]
fn dataset_inputs_round_trip() {
    let client = client();
    let (_, run) = new_run(&client, "inputs");
    let run_id = &run.info.run_id;
    let input = DatasetInput {
        tags: vec![Tag::new(mlflow_tags::DATASET_CONTEXT, "train")],
        dataset: Dataset {
            name: "csic2010".into(),
            digest: "4f2a9c".into(),
            source_type: "local".into(),
            source: r#"{"uri": "data/csic2010.txt.gz"}"#.into(),
            schema: Some(r#"{"text": "string", "label": "int"}"#.into()),
            profile: Some(r#"{"rows": 61065}"#.into()),
        },
    };
    client
        .log_inputs(run_id, std::slice::from_ref(&input), &[])
        .expect("logged");
    let inputs = client.get_run(run_id).expect("get").inputs;
    assert_eq!(inputs.dataset_inputs, vec![input]);
}

#[test]
fn search_runs_filters_orders_and_paginates() {
    let client = client();
    let experiment = client
        .get_or_create_experiment(&unique("runsearch"))
        .expect("experiment");
    let exp_id = experiment.experiment_id;
    let mut run_ids = Vec::new();
    for i in 0..7 {
        let run = client
            .create_run(&CreateRun {
                run_name: Some(format!("run-{i}")),
                ..CreateRun::new(&exp_id)
            })
            .expect("run");
        let loss = Metric::new("loss", 1.0 - f64::from(i) / 10.0, 0);
        let lr = vigie_mlflow::Param::new("lr", if i % 2 == 0 { "0.01" } else { "0.1" });
        client
            .log_batch(&run.info.run_id, &[loss], &[lr], &[])
            .expect("logged");
        client
            .end_run(&run.info.run_id, RunStatus::Finished)
            .expect("ended");
        run_ids.push(run.info.run_id);
    }
    let page_size = 3;
    let search = SearchRuns {
        experiment_ids: vec![exp_id.clone()],
        max_results: Some(page_size),
        order_by: vec!["metrics.loss ASC".into()],
        ..SearchRuns::default()
    };
    let first = client.search_runs(&search).expect("first page");
    assert_eq!(first.items.len(), 3);
    assert!(first.next_page_token.is_some());
    let all = client.search_runs_all(&search).expect("all pages");
    assert_eq!(all.len(), 7);
    let losses: Vec<f64> = all.iter().filter_map(|r| r.data.metric("loss")).collect();
    assert!(
        losses.windows(2).all(|w| w[0] <= w[1]),
        "ascending: {losses:?}"
    );
    assert_eq!(all[0].info.run_id, run_ids[6], "lowest loss first");

    let filtered = client
        .search_runs_all(&SearchRuns {
            experiment_ids: vec![exp_id.clone()],
            filter: Some(
                r#"metrics.loss < 0.55 and params.lr = "0.01" and attributes.status = "FINISHED""#
                    .into(),
            ),
            ..SearchRuns::default()
        })
        .expect("filtered");
    let mut names: Vec<String> = filtered.iter().map(|r| r.info.run_name.clone()).collect();
    names.sort();
    assert_eq!(names, vec!["run-6"]);

    let err = client
        .search_runs(&SearchRuns {
            experiment_ids: vec![exp_id],
            filter: Some("metrics.loss <<< nonsense".into()),
            ..SearchRuns::default()
        })
        .expect_err("bad filter");
    assert_eq!(err.error_code(), Some("INVALID_PARAMETER_VALUE"));
}
