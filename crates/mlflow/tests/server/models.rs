//! MLflow 3 logged models, `runs/outputs`, the registry and `models:/` URIs, end to end.

use std::fs;

use vigie_mlflow::{
    CreateLoggedModel, CreateModelVersion, LoggedModelStatus, ModelOutput, ModelVersionStatus,
    Param, SearchRegisteredModels, Tag,
};

use crate::common::{client, new_run, unique};

const MLMODEL: &str = "artifact_path: model\nflavors:\n  rust_custom: {model_file: weights.bin, format: raw-f32}\nmlflow_version: 3.17.2\n";

#[test]
fn logged_model_registry_alias_and_download_flow() {
    let client = client();
    let (experiment_id, run) = new_run(&client, "models");
    let run_id = run.info.run_id.clone();

    // 1. The logged model.
    let model = client
        .create_logged_model(&CreateLoggedModel {
            experiment_id: experiment_id.clone(),
            name: Some("rust-mlp".into()),
            model_type: Some("mlp".into()),
            source_run_id: Some(run_id.clone()),
            params: vec![Param::new("hidden", "64")],
            tags: vec![Tag::new("framework", "none")],
        })
        .expect("created");
    let model_id = model.info.model_id.clone();
    assert!(model_id.starts_with("m-"), "{model_id}");
    assert_eq!(model.info.status, LoggedModelStatus::Pending);
    assert_eq!(
        model.info.artifact_uri,
        format!("mlflow-artifacts:/{experiment_id}/models/{model_id}/artifacts")
    );

    // 2. Linked to its run.
    client
        .log_outputs(
            &run_id,
            &[ModelOutput {
                model_id: model_id.clone(),
                step: 3,
            }],
        )
        .expect("outputs");
    let outputs = client.get_run(&run_id).expect("run").outputs.model_outputs;
    assert_eq!(
        outputs,
        vec![ModelOutput {
            model_id: model_id.clone(),
            step: 3
        }]
    );

    // 3. Its files.
    let local = tempfile::tempdir().expect("tempdir");
    let source = local.path().join("model");
    fs::create_dir_all(source.join("extra")).expect("mkdir");
    fs::write(source.join("MLmodel"), MLMODEL).expect("write");
    let weights: Vec<u8> = (0..40_000u32)
        .flat_map(|i| (i as f32 * 0.5).to_le_bytes())
        .collect();
    fs::write(source.join("weights.bin"), &weights).expect("write");
    fs::write(source.join("extra/vocab.txt"), "a\nb\n").expect("write");
    assert_eq!(
        client
            .upload_dir(&model.info.artifact_uri, &source, None)
            .expect("upload"),
        3
    );

    // 4. Ready.
    let finalized = client
        .finalize_logged_model(&model_id, LoggedModelStatus::Ready)
        .expect("finalized");
    assert_eq!(finalized.info.status, LoggedModelStatus::Ready);
    let fetched = client.get_logged_model(&model_id).expect("get");
    assert_eq!(fetched.info.status, LoggedModelStatus::Ready);
    assert_eq!(fetched.info.source_run_id.as_deref(), Some(run_id.as_str()));
    assert_eq!(fetched.info.model_type.as_deref(), Some("mlp"));
    assert_eq!(fetched.data.params, vec![Param::new("hidden", "64")]);
    assert!(fetched.info.tags.contains(&Tag::new("framework", "none")));

    // 5. Registered, aliased, resolved and downloaded.
    let name = unique("registered");
    let registered = client
        .create_registered_model(&name, Some("test model"), &[Tag::new("owner", "tests")])
        .expect("registered");
    assert_eq!(registered.name, name);
    let err = client
        .create_registered_model(&name, None, &[])
        .expect_err("duplicate");
    assert!(err.is_already_exists(), "{err}");

    let version = client
        .create_model_version(&CreateModelVersion {
            name: name.clone(),
            source: format!("models:/{model_id}"),
            run_id: Some(run_id.clone()),
            model_id: Some(model_id.clone()),
            ..CreateModelVersion::default()
        })
        .expect("version");
    assert_eq!(version.version, "1");
    assert_eq!(version.status, ModelVersionStatus::Ready);
    let got = client.get_model_version(&name, "1").expect("get version");
    assert_eq!(got.source, format!("models:/{model_id}"));
    assert_eq!(got.run_id.as_deref(), Some(run_id.as_str()));

    client
        .set_registered_model_alias(&name, "champion", "1")
        .expect("alias");
    let by_alias = client
        .get_model_version_by_alias(&name, "champion")
        .expect("by alias");
    assert_eq!(by_alias.version, "1");
    assert_eq!(by_alias.aliases, vec!["champion".to_string()]);
    let registered = client.get_registered_model(&name).expect("get registered");
    assert_eq!(registered.description.as_deref(), Some("test model"));
    assert_eq!(registered.aliases.len(), 1);
    assert_eq!(registered.latest_versions[0].version, "1");

    let download_uri = client
        .get_model_version_download_uri(&name, "1")
        .expect("download uri");
    assert_eq!(download_uri, model.info.artifact_uri);
    for uri in [
        format!("models:/{name}@champion"),
        format!("models:/{name}/1"),
        format!("models:/{name}/latest"),
        format!("models:/{model_id}"),
    ] {
        assert_eq!(
            client.resolve_model_uri(&uri).expect(&uri),
            model.info.artifact_uri,
            "{uri}"
        );
    }
    let dest = local.path().join("downloaded");
    let files = client
        .download_model(&format!("models:/{name}@champion"), &dest)
        .expect("download");
    assert_eq!(files, 3);
    assert_eq!(
        fs::read_to_string(dest.join("MLmodel")).expect("MLmodel"),
        MLMODEL
    );
    assert_eq!(
        fs::read(dest.join("weights.bin")).expect("weights"),
        weights
    );
    assert_eq!(
        fs::read_to_string(dest.join("extra/vocab.txt")).expect("vocab"),
        "a\nb\n"
    );

    let found = client
        .search_registered_models_all(&SearchRegisteredModels {
            filter: Some(format!("name = '{name}'")),
            max_results: Some(10),
            order_by: vec!["name ASC".into()],
            ..SearchRegisteredModels::default()
        })
        .expect("search");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, name);

    client
        .delete_registered_model_alias(&name, "champion")
        .expect("delete alias");
    let err = client
        .get_model_version_by_alias(&name, "champion")
        .expect_err("alias gone");
    assert!(err.error_code().is_some(), "{err}");
    let err = client
        .resolve_model_uri(&format!("models:/{name}@champion"))
        .expect_err("alias gone");
    assert!(err.status().is_some_and(|s| s.is_client_error()), "{err}");
}

#[test]
fn failed_uploads_can_be_marked_and_bad_sources_are_refused() {
    let client = client();
    let (experiment_id, run) = new_run(&client, "failedmodel");
    let model = client
        .create_logged_model(&CreateLoggedModel {
            experiment_id,
            source_run_id: Some(run.info.run_id.clone()),
            ..CreateLoggedModel::default()
        })
        .expect("created");
    assert!(!model.info.name.is_empty(), "the server names it");
    let failed = client
        .finalize_logged_model(&model.info.model_id, LoggedModelStatus::UploadFailed)
        .expect("finalized");
    assert_eq!(failed.info.status, LoggedModelStatus::UploadFailed);

    let err = client
        .get_logged_model("m-00000000000000000000000000000000")
        .expect_err("unknown");
    assert!(err.is_not_found(), "{err}");

    let name = unique("badsource");
    client
        .create_registered_model(&name, None, &[])
        .expect("registered");
    let err = client
        .create_model_version(&CreateModelVersion {
            name,
            source: "models:/x".into(),
            ..CreateModelVersion::default()
        })
        .expect_err("bad source");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(400), "{err}");
}

#[test]
fn search_registered_models_paginates() {
    let client = client();
    let prefix = unique("regsearch");
    for i in 0..3 {
        client
            .create_registered_model(&format!("{prefix}-{i}"), None, &[])
            .expect("registered");
    }
    let search = SearchRegisteredModels {
        filter: Some(format!("name LIKE '{prefix}-%'")),
        max_results: Some(2),
        order_by: vec!["name DESC".into()],
        ..SearchRegisteredModels::default()
    };
    let first = client.search_registered_models(&search).expect("page");
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.items[0].name, format!("{prefix}-2"));
    assert!(first.next_page_token.is_some());
    let all = client.search_registered_models_all(&search).expect("all");
    let names: Vec<String> = all.into_iter().map(|m| m.name).collect();
    assert_eq!(
        names,
        vec![
            format!("{prefix}-2"),
            format!("{prefix}-1"),
            format!("{prefix}-0")
        ]
    );
}
