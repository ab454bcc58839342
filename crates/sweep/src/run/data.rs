//! The trials' datasets, each distinct `[data]` table prepared once on a thread of its own
//! while the store is read.

use std::collections::HashMap;
use std::time::Instant;

use vigie_data::PreparedDataset;
use vigie_runner::config::{DataConfig, DataSource};

use super::options::SweepProgress;
use crate::error::Result;
use crate::spec::Trial;

pub(super) fn data_key(trial: &Trial) -> String {
    serde_json::to_string(&trial.config.data).unwrap_or_default()
}

/// The prepared datasets of a sweep's trials (each distinct data config once), loaded on a
/// thread of their own from the start of the sweep.
pub(super) struct DataLoader {
    /// `None` when the thread could not start: the data then loads when waited for.
    loading: Option<std::thread::JoinHandle<Result<(PreparedByKey, Instant)>>>,
    configs: Vec<(String, DataConfig)>,
    source: DataSource,
}

pub(super) type PreparedByKey = HashMap<String, PreparedDataset>;

impl DataLoader {
    pub(super) fn spawn(trials: &[&Trial], source: &DataSource) -> DataLoader {
        let mut configs: Vec<(String, DataConfig)> = Vec::new();
        for trial in trials {
            let key = data_key(trial);
            if !configs.iter().any(|(k, _)| *k == key) {
                configs.push((key, trial.config.data.clone()));
            }
        }
        let (jobs, from) = (configs.clone(), source.clone());
        let loading = std::thread::Builder::new()
            .name("vigie-sweep-data".to_owned())
            .spawn(move || Self::load(&jobs, &from))
            .map_err(|error| tracing::warn!(%error, "cannot start the data thread"))
            .ok();
        DataLoader {
            loading,
            configs,
            source: source.clone(),
        }
    }

    fn load(
        configs: &[(String, DataConfig)],
        source: &DataSource,
    ) -> Result<(PreparedByKey, Instant)> {
        let mut prepared = HashMap::new();
        for (key, data) in configs {
            prepared.insert(key.clone(), vigie_runner::run::prepare_data(data, source)?);
        }
        // The field check's data loads here too, once for every trial (kept by the runner), so
        // that the first trial to finish does not wait for it.
        if configs
            .iter()
            .any(|(_, data)| vigie_runner::field::applies_to(data))
        {
            vigie_runner::field::field_set(source);
        }
        Ok((prepared, Instant::now()))
    }

    /// The datasets, and when they were ready.
    pub(super) fn wait(self, progress: &dyn SweepProgress) -> Result<(PreparedByKey, Instant)> {
        for (_, data) in &self.configs {
            progress.note(&format!(
                "loading {} (dedup {}, split {:?})",
                data.dataset, data.dedup, data.split
            ));
        }
        match self.loading {
            Some(loading) => loading
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            None => Self::load(&self.configs, &self.source),
        }
    }
}
