//! What `TrackingStore` gives a person managing runs on a server: experiments, one level of
//! artifacts, the registered versions of a run with their aliases, and the soft delete.

use std::fs;

use vigie_mlflow::{
    CreateLoggedModel, CreateModelVersion, CreateRun, LoggedModelStatus, ModelOutput, TrackingStore,
};

use crate::common::{client, new_run, unique};

#[test]
fn a_runs_versions_carry_their_aliases_and_only_that_runs_versions_are_returned() {
    let client = client();
    let (experiment_id, run) = new_run(&client, "manage-models");
    let run_id = run.info.run_id.clone();
    let other = client
        .create_run(&CreateRun::new(&experiment_id))
        .expect("other run");
    let model = client
        .create_logged_model(&CreateLoggedModel {
            experiment_id: experiment_id.clone(),
            name: Some("model".into()),
            source_run_id: Some(run_id.clone()),
            ..CreateLoggedModel::default()
        })
        .expect("logged model");
    let model_id = model.info.model_id.clone();
    client
        .log_outputs(
            &run_id,
            &[ModelOutput {
                model_id: model_id.clone(),
                step: 0,
            }],
        )
        .expect("outputs");
    client
        .finalize_logged_model(&model_id, LoggedModelStatus::Ready)
        .expect("ready");

    let name = unique("manage-registered");
    client
        .create_registered_model(&name, None, &[])
        .expect("registered");
    let register = |run: &str| {
        client
            .create_model_version(&CreateModelVersion {
                name: name.clone(),
                source: format!("models:/{model_id}"),
                run_id: Some(run.to_owned()),
                model_id: Some(model_id.clone()),
                ..CreateModelVersion::default()
            })
            .expect("version")
            .version
    };
    let first = register(&run_id);
    let _elsewhere = register(&other.info.run_id);
    let third = register(&run_id);
    client
        .set_registered_model_alias(&name, "champion", &third)
        .expect("alias");
    client
        .set_registered_model_alias(&name, "previous", &first)
        .expect("alias");
    client
        .set_registered_model_alias(&name, "rollback", &first)
        .expect("alias");

    let versions = TrackingStore::run_model_versions(&client, &run_id).expect("versions");
    let shown: Vec<(&str, &str, Vec<&str>)> = versions
        .iter()
        .map(|v| {
            let mut aliases: Vec<&str> = v.aliases.iter().map(String::as_str).collect();
            aliases.sort_unstable();
            (v.name.as_str(), v.version.as_str(), aliases)
        })
        .collect();
    assert_eq!(
        shown,
        [
            (name.as_str(), "1", vec!["previous", "rollback"]),
            (name.as_str(), "3", vec!["champion"]),
        ]
    );
    let logged = TrackingStore::logged_model(&client, &model_id)
        .expect("reads")
        .expect("found");
    assert_eq!(logged.info.status, LoggedModelStatus::Ready);
    assert!(
        TrackingStore::logged_model(&client, "m-00000000000000000000000000000000")
            .expect("an unknown model is None, not an error")
            .is_none()
    );
}

#[test]
fn experiments_artifacts_and_the_soft_delete() {
    let client = client();
    let (experiment_id, run) = new_run(&client, "manage-runs");
    let run_id = run.info.run_id.clone();
    let kept = client
        .create_run(&CreateRun::new(&experiment_id))
        .expect("kept run");

    let names: Vec<String> = TrackingStore::list_experiments(&client)
        .expect("experiments")
        .into_iter()
        .filter(|e| e.experiment_id == experiment_id)
        .map(|e| e.lifecycle_stage)
        .collect();
    assert_eq!(names, ["active"]);

    let local = tempfile::tempdir().expect("tempdir");
    fs::create_dir_all(local.path().join("model/sub")).expect("mkdir");
    fs::write(local.path().join("model/MLmodel"), "flavors: {}\n").expect("write");
    fs::write(local.path().join("model/sub/w.bin"), [1u8; 7]).expect("write");
    client
        .log_artifacts(&run_id, &local.path().join("model"), Some("model"))
        .expect("upload");
    let root = client.list_run_artifacts(&run_id, None).expect("root");
    let shown: Vec<(&str, bool)> = root.iter().map(|f| (f.path.as_str(), f.is_dir)).collect();
    assert_eq!(shown, [("model", true)]);
    let inside = client
        .list_run_artifacts(&run_id, Some("model/sub"))
        .expect("sub");
    assert_eq!(inside.len(), 1);
    assert_eq!(inside[0].path, "model/sub/w.bin");
    assert_eq!(inside[0].file_size, Some(7));

    TrackingStore::delete_run(&client, &run_id).expect("deleted");
    let listed: Vec<String> = TrackingStore::list_runs(&client, &experiment_id)
        .expect("runs")
        .into_iter()
        .map(|r| r.info.run_id)
        .collect();
    assert_eq!(listed, [kept.info.run_id]);
    let read = TrackingStore::get_run(&client, &run_id).expect("still readable");
    assert_eq!(read.info.lifecycle_stage, "deleted");
    TrackingStore::delete_run(&client, &run_id).expect("deleting again is no error");
    let unknown = TrackingStore::delete_run(&client, "0123456789abcdef0123456789abcdef")
        .expect_err("unknown run");
    assert!(unknown.is_not_found(), "{unknown}");
}
