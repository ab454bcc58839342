//! What the service's tests share: one tiny linear SVM trained per test binary (through
//! `vigie_runner`, on a hand-written dataset), and loaders that give it under any identity.

// Each test binary uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use vigie_data::Catalog;
use vigie_mlflow::DefaultStore;
use vigie_runner::{DataSource, RunConfig, RunRequest, Training};
use vigie_score::service::Loader;
use vigie_score::{Engine, ModelRef, ScoreError, resolve};
use vigie_test_support::{TINY_SVM_CONFIG, tiny_dataset};

/// The trained model's folder and the store it was logged to.
pub struct Trained {
    pub dir: PathBuf,
    pub model_dir: PathBuf,
}

pub fn trained() -> &'static Trained {
    static TRAINED: OnceLock<Trained> = OnceLock::new();
    TRAINED.get_or_init(|| {
        // Kept for the whole test binary (a static is never dropped), under cargo's
        // per-target temporary folder rather than /tmp.
        let dir = tempfile::Builder::new()
            .prefix("vigie-score-service-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap()
            .keep();
        tiny_dataset(&dir);
        let source = DataSource {
            catalog: Catalog::with_dir(&dir.join("datasets")).unwrap(),
            data_dir: dir.join("data"),
        };
        let request = RunRequest {
            config: RunConfig::from_toml(TINY_SVM_CONFIG, Path::new("svm.toml")).unwrap(),
            out_dir: dir.join("out/svm"),
            journal_root: dir.join("journal"),
            parent_run_id: None,
            extra_tags: Vec::new(),
            // The service's tests need the model, not its field numbers.
            field_data: None,
        };
        let mut quiet = vigie_models::NoObserver;
        let outcome = Training::load(&request, &source, &mut quiet)
            .and_then(|training| training.logged(store(&dir), &mut quiet))
            .unwrap();
        // reqwest is built without a TLS provider (no C build); it needs one installed even
        // for plain-HTTP clients. An error only means one is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Trained {
            model_dir: outcome.model_dir,
            dir,
        }
    })
}

pub fn store(dir: &Path) -> DefaultStore {
    let uri = dir.join("mlruns");
    DefaultStore::from_uri(Some(uri.to_str().unwrap())).unwrap()
}

/// The trained model, loaded afresh, under `identity`.
pub fn engine(identity: &str) -> Engine {
    let trained = trained();
    let resolved = resolve(
        &ModelRef::Path(trained.model_dir.clone()),
        &store(&trained.dir),
        &trained.dir.join("cache"),
    )
    .unwrap();
    Engine::new(resolved.model, identity)
}

/// What a scripted loader gives on its next call.
#[derive(Clone)]
pub enum Next {
    Model(String),
    Failure,
}

/// A loader that returns the trained model under the identity `script` holds, or fails.
pub fn scripted_loader(script: &Arc<Mutex<Next>>) -> Loader {
    let script = Arc::clone(script);
    Arc::new(move || match script.lock().unwrap().clone() {
        Next::Model(identity) => Ok(engine(&identity)),
        Next::Failure => Err(ScoreError::model(
            "models:/vigie-tiny@champion",
            "registry unreachable",
        )),
    })
}
