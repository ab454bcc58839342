//! Experiments against the real server.

use std::thread;

use vigie_mlflow::{SearchExperiments, Tag, ViewType};

use crate::common::{client, unique};

#[test]
fn create_get_by_id_and_name_and_tag() {
    let client = client();
    let name = unique("exp");
    let id = client
        .create_experiment(&name, &[Tag::new("team", "soc")], None)
        .expect("created");
    let experiment = client.get_experiment(&id).expect("get");
    assert_eq!(experiment.name, name);
    assert_eq!(experiment.lifecycle_stage, "active");
    assert_eq!(experiment.tag("team"), Some("soc"));
    assert_eq!(
        experiment.artifact_location,
        format!("mlflow-artifacts:/{id}")
    );
    assert!(experiment.creation_time.is_some());

    client
        .set_experiment_tag(&id, "mlflow.note.content", "# notes")
        .expect("tag");
    let by_name = client
        .get_experiment_by_name(&name)
        .expect("get by name")
        .expect("exists");
    assert_eq!(by_name.experiment_id, id);
    assert_eq!(by_name.tag("mlflow.note.content"), Some("# notes"));

    assert_eq!(
        client
            .get_experiment_by_name(&unique("absent"))
            .expect("lookup"),
        None
    );
    let err = client.get_experiment("999999999").expect_err("unknown id");
    assert!(err.is_not_found(), "{err}");
}

#[test]
fn duplicate_names_are_reported_as_already_existing() {
    let client = client();
    let name = unique("dup");
    client.create_experiment(&name, &[], None).expect("first");
    let err = client
        .create_experiment(&name, &[], None)
        .expect_err("second");
    assert!(err.is_already_exists(), "{err}");
    assert_eq!(err.error_code(), Some("RESOURCE_ALREADY_EXISTS"));
}

#[test]
fn get_or_create_is_idempotent_under_a_race() {
    let client = client();
    let name = unique("race");
    let ids: Vec<String> = thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let client = client.clone();
                let name = name.clone();
                scope.spawn(move || {
                    client
                        .get_or_create_experiment(&name)
                        .expect("get or create")
                        .experiment_id
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
    assert_eq!(
        client
            .get_or_create_experiment(&name)
            .expect("again")
            .experiment_id,
        ids[0]
    );
}

#[test]
fn search_follows_page_tokens() {
    let client = client();
    let prefix = unique("search");
    let mut created: Vec<String> = (0..5)
        .map(|i| {
            client
                .create_experiment(&format!("{prefix}-{i}"), &[], None)
                .expect("created")
        })
        .collect();
    created.sort();
    let search = SearchExperiments {
        filter: Some(format!("name LIKE '{prefix}-%'")),
        max_results: Some(2),
        order_by: vec!["name ASC".into()],
        view_type: Some(ViewType::ActiveOnly),
        ..SearchExperiments::default()
    };
    let first = client.search_experiments(&search).expect("first page");
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.items[0].name, format!("{prefix}-0"));
    assert!(first.next_page_token.is_some());
    let all = client.search_experiments_all(&search).expect("all pages");
    let mut ids: Vec<String> = all.iter().map(|e| e.experiment_id.clone()).collect();
    ids.sort();
    assert_eq!(ids, created);
    let names: Vec<&str> = all.iter().map(|e| e.name.as_str()).collect();
    assert!(
        names.windows(2).all(|w| w[0] < w[1]),
        "ordered by name: {names:?}"
    );
}
