//! From request texts to short dense vectors: feature hashing (security-pattern word tokens by
//! default)
//! followed by a seeded very sparse random projection (Achlioptas 2003; Li, Hastie & Church
//! 2006) down to `dims` dimensions.
//!
//! The projection matrix is never stored: its entry for (hashed column, output dimension) is
//! derived on the fly from a hash of the pair and the seed. With density `p = 1/s` an entry is
//! `+sqrt(s / dims)` or `-sqrt(s / dims)` with probability `p / 2` each and 0 otherwise, which
//! preserves squared norms in expectation (Johnson–Lindenstrauss). Isolation Forest and K-means
//! need dense, low-dimensional inputs; the hashed rows have a million sparse columns.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use vigie_data::text::{HashingConfig, HashingScratch, HashingVectorizer, RowVectorizer};

use crate::random::{derive_seed, mix64};
use crate::{ModelError, Result};

/// Settings of the `[model.projection]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProjectionConfig {
    /// Feature hashing of the texts (default: security-pattern word unigrams, 2^20 columns, L2
    /// rows; on fwaf they give a test ROC-AUC of 0.92 where character 1- to 3-grams give 0.60).
    pub hashing: HashingConfig,
    /// Output dimensions (default 64).
    pub dims: usize,
    /// Share of non-zero entries of the projection matrix, in (0, 1] (default 1/3, Achlioptas'
    /// sparse projection; Li's "very sparse" 1/sqrt(n_features) drops most n-grams when `dims`
    /// is as small as here).
    pub density: f64,
    /// Rescale every projected row to unit Euclidean length (default true).
    pub normalize: bool,
    /// Added to the run's seed to draw the matrix, to vary the projection alone (default 0).
    pub seed_offset: u64,
}

impl Default for ProjectionConfig {
    fn default() -> Self {
        Self {
            hashing: HashingConfig::default(),
            dims: 64,
            density: 1.0 / 3.0,
            normalize: true,
            seed_offset: 0,
        }
    }
}

/// Largest `dims` accepted: the forest and K-means are meant for short vectors.
pub const MAX_DIMS: usize = 4096;

impl ProjectionConfig {
    /// Checks every field; errors name `model.projection.<field>`.
    pub fn validate(&self) -> Result<()> {
        HashingVectorizer::new(self.hashing.clone())
            .map_err(|err| ModelError::config("model.projection.hashing", err.to_string()))?;
        if self.dims == 0 || self.dims > MAX_DIMS {
            return Err(ModelError::config(
                "model.projection.dims",
                format!("must be between 1 and {MAX_DIMS}, got {}", self.dims),
            ));
        }
        if !(self.density > 0.0 && self.density <= 1.0) {
            return Err(ModelError::config(
                "model.projection.density",
                format!("must be in (0, 1], got {}", self.density),
            ));
        }
        Ok(())
    }
}

/// A ready projection: the hashing vectoriser plus the seed that fixes the matrix.
#[derive(Debug, Clone)]
pub struct Projection {
    config: ProjectionConfig,
    seed: u64,
    hashing: HashingVectorizer,
    /// Entries are non-zero when the top 53 bits of their hash are below this.
    nonzero_below: u64,
    /// `sqrt(s / dims)` with `s = 1 / density`.
    scale: f32,
}

/// Texts per parallel work unit: large enough to amortise scratch buffers.
const TEXTS_PER_TASK: usize = 256;

impl Projection {
    /// Validates `config` and fixes the matrix from `run_seed + config.seed_offset`.
    pub fn new(config: &ProjectionConfig, run_seed: u64) -> Result<Self> {
        Self::with_seed(config, run_seed.wrapping_add(config.seed_offset))
    }

    /// As [`Projection::new`], from the final seed (as [`Projection::seed`] returns it).
    pub fn with_seed(config: &ProjectionConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let hashing = HashingVectorizer::new(config.hashing.clone())?;
        let nonzero_below = (config.density * (1u64 << 53) as f64).round() as u64;
        let scale = ((1.0 / config.density) / config.dims as f64).sqrt() as f32;
        Ok(Self {
            config: config.clone(),
            seed,
            hashing,
            nonzero_below,
            scale,
        })
    }

    /// The settings.
    pub fn config(&self) -> &ProjectionConfig {
        &self.config
    }

    /// Output dimensions.
    pub fn dims(&self) -> usize {
        self.config.dims
    }

    /// The seed that fixes the matrix (the run's seed plus `seed_offset`).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The projected rows of `texts`, row-major (`texts.len() * dims` values). Runs on the
    /// caller's rayon pool; each row depends on its text alone, so the result does not depend
    /// on the number of threads.
    pub fn project(&self, texts: &[&str]) -> Vec<f32> {
        let dims = self.dims();
        let mut out = vec![0.0f32; texts.len() * dims];
        out.par_chunks_mut(TEXTS_PER_TASK * dims)
            .zip(texts.par_chunks(TEXTS_PER_TASK))
            .for_each(|(rows, chunk)| {
                let mut scratch = ProjectionScratch::default();
                for (row, text) in rows.chunks_mut(dims).zip(chunk) {
                    self.project_one_into(text, &mut scratch, row);
                }
            });
        out
    }

    /// Projects one text into `row` (`dims` values, overwritten).
    pub fn project_one_into(&self, text: &str, scratch: &mut ProjectionScratch, row: &mut [f32]) {
        row.fill(0.0);
        scratch.columns.clear();
        scratch.values.clear();
        self.hashing.transform_one_into(
            text,
            &mut scratch.hashing,
            &mut scratch.columns,
            &mut scratch.values,
        );
        let half = self.nonzero_below / 2;
        for (&column, &value) in scratch.columns.iter().zip(&scratch.values) {
            let column_key = mix64(derive_seed(self.seed, u64::from(column)));
            let weight = value * self.scale;
            for (dim, out) in row.iter_mut().enumerate() {
                let draw =
                    mix64(column_key ^ (dim as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)) >> 11;
                if draw < half {
                    *out += weight;
                } else if draw < self.nonzero_below {
                    *out -= weight;
                }
            }
        }
        if self.config.normalize {
            let norm = row
                .iter()
                .map(|&v| f64::from(v) * f64::from(v))
                .sum::<f64>()
                .sqrt();
            if norm > 0.0 {
                let inverse = (1.0 / norm) as f32;
                row.iter_mut().for_each(|v| *v *= inverse);
            }
        }
    }
}

/// Reusable buffers of [`Projection::project_one_into`]; keep one per thread.
#[derive(Debug, Default, Clone)]
pub struct ProjectionScratch {
    hashing: HashingScratch,
    columns: Vec<u32>,
    values: Vec<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_unit_and_seeded() {
        let config = ProjectionConfig::default();
        let projection = Projection::new(&config, 3).expect("valid");
        let texts = ["GET /index.php?id=1' OR 1=1--", "GET /static/logo.png", ""];
        let rows = projection.project(&texts);
        assert_eq!(rows.len(), 3 * 64);
        for row in rows.chunks(64).take(2) {
            let norm: f32 = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "{norm}");
        }
        assert!(rows[128..].iter().all(|&v| v == 0.0));
        assert_eq!(rows, projection.project(&texts));
        let other = Projection::new(&config, 4).expect("valid");
        assert_ne!(rows, other.project(&texts));
    }

    #[test]
    fn preserves_distances_roughly() {
        // Without normalisation a dense projection keeps squared norms in expectation.
        let config = ProjectionConfig {
            dims: 512,
            normalize: false,
            ..ProjectionConfig::default()
        };
        let projection = Projection::new(&config, 0).expect("valid");
        let rows = projection.project(&["abcdefghijklmnopqrstuvwxyz0123456789"]);
        let norm: f32 = rows.iter().map(|v| v * v).sum::<f32>();
        assert!((norm - 1.0).abs() < 0.25, "{norm}");
    }

    #[test]
    fn bad_settings_name_their_key() {
        for (config, key) in [
            (
                ProjectionConfig {
                    dims: 0,
                    ..ProjectionConfig::default()
                },
                "model.projection.dims",
            ),
            (
                ProjectionConfig {
                    density: 0.0,
                    ..ProjectionConfig::default()
                },
                "model.projection.density",
            ),
        ] {
            match config.validate() {
                Err(ModelError::InvalidConfig { field, .. }) => assert_eq!(field, key),
                other => panic!("{other:?}"),
            }
        }
    }
}
