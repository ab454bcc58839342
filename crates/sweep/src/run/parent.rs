//! The shard's parent run: created with the sweep's tags and params, and the plan's files
//! logged on it.

use std::path::{Path, PathBuf};

use vigie_mlflow::{CreateRun, DefaultStore, Param, Tag, TrackingStore, mlflow_tags, now_millis};

use super::write;
use crate::error::{Result, SweepError};
use crate::spec::{SweepPlan, SweepSpec};
use crate::tags;

pub(super) fn create_parent(
    store: &DefaultStore,
    spec: &SweepSpec,
    plan: &SweepPlan,
    experiment_id: &str,
    shard_label: &str,
    owner_tags: Vec<Tag>,
) -> Result<String> {
    let mut run_tags = vec![
        Tag::new(tags::SWEEP, &spec.name),
        Tag::new(tags::ROLE, tags::ROLE_PARENT),
        Tag::new(tags::SHARD, shard_label),
        Tag::new(mlflow_tags::SOURCE_NAME, "vigie sweep"),
        Tag::new(mlflow_tags::SOURCE_TYPE, mlflow_tags::source_type::LOCAL),
        Tag::new(mlflow_tags::USER, vigie_runner::system::user_name()),
        Tag::new(vigie_runner::run::tags::VERSION, env!("CARGO_PKG_VERSION")),
    ];
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    if let Some((commit, dirty)) = vigie_runner::system::git_state(&cwd) {
        run_tags.push(Tag::new(mlflow_tags::SOURCE_GIT_COMMIT, commit));
        run_tags.push(Tag::new(
            vigie_runner::run::tags::GIT_DIRTY,
            dirty.to_string(),
        ));
    }
    run_tags.extend(owner_tags);
    let run_name = if shard_label == "all" {
        spec.name.clone()
    } else {
        format!("{} (shard {shard_label})", spec.name)
    };
    let run = store.create_run(&CreateRun {
        experiment_id: experiment_id.to_owned(),
        run_name: Some(run_name),
        start_time: Some(now_millis()),
        tags: run_tags,
        user_id: Some(vigie_runner::system::user_name()),
    })?;
    let run_id = run.info.run_id;
    let params = vec![
        Param::new("sweep.name", &spec.name),
        Param::new("sweep.file", spec.path.display().to_string()),
        Param::new("sweep.shard", shard_label),
        Param::new("objective.metric", &spec.objective.metric),
        Param::new("objective.direction", spec.objective.direction.name()),
        Param::new(
            "sweep.duplicates_dropped",
            plan.duplicates_dropped.to_string(),
        ),
    ];
    store.log_batch(&run_id, &[], &params, &[])?;
    Ok(run_id)
}

/// The sweep file as written, its search space, and the plan (every trial's id and changes).
pub(super) fn log_plan_artifacts(
    store: &DefaultStore,
    spec: &SweepSpec,
    plan: &SweepPlan,
    parent_run_id: &str,
    out_dir: &Path,
) -> Result<()> {
    std::fs::create_dir_all(out_dir).map_err(|e| SweepError::io(out_dir, "cannot create", e))?;
    let sweep_file = out_dir.join("sweep.toml");
    write(&sweep_file, spec.source_text.as_bytes())?;
    let space = out_dir.join("search_space.json");
    write(
        &space,
        serde_json::to_string_pretty(&spec.search_space_json())
            .unwrap_or_default()
            .as_bytes(),
    )?;
    let trials: Vec<serde_json::Value> = plan
        .trials
        .iter()
        .map(|t| {
            serde_json::json!({
                "index": t.index,
                "id": t.id,
                "name": t.config.run_name(),
                "changes": t.describe(),
            })
        })
        .collect();
    let plan_path = out_dir.join("plan.json");
    write(
        &plan_path,
        serde_json::to_string_pretty(&trials)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    for path in [&sweep_file, &space, &plan_path] {
        store.log_artifacts(parent_run_id, path, None)?;
    }
    Ok(())
}
