//! Isolation Forest (Liu, Ting & Zhou 2008) on dense points, as scikit-learn's
//! `IsolationForest`: every tree isolates a random subsample by random axis-aligned cuts, and
//! points that get isolated in few cuts are anomalies.
//!
//! The anomaly score of `x` is `2^(-E[h(x)] / c(max_samples))` where `h` is the depth at which
//! a tree isolates `x` plus `c(size)` at a leaf still holding `size` training samples, and `c`
//! is the average path length of an unsuccessful binary-search-tree lookup. Higher means more
//! anomalous; it equals `-score_samples` of scikit-learn.
//!
//! Every tree draws from its own seed derived from the forest's seed and its index, so the
//! forest is the same bit for bit whatever the number of threads that builds it.

use std::path::Path;

use rayon::prelude::*;

use crate::random::{SplitMix64, derive_seed};
use crate::{ModelError, Result};

/// Euler–Mascheroni constant, for the harmonic-number approximation in [`average_path_length`].
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// `c(n)`: average path length of an unsuccessful search in a binary search tree of `n`
/// points, the depth adjustment at a leaf holding `n` samples (scikit-learn's
/// `_average_path_length`): 0 for `n <= 1`, 1 for `n = 2`, else `2 H(n-1) - 2 (n-1) / n`.
pub fn average_path_length(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
        }
    }
}

/// How the forest is grown.
#[derive(Debug, Clone, PartialEq)]
pub struct ForestParams {
    /// Number of trees.
    pub n_estimators: usize,
    /// Samples drawn (without replacement) per tree; more than the points means all of them.
    pub max_samples: usize,
    /// Share of the dimensions each tree may cut on, in (0, 1] (at least one).
    pub max_features: f64,
    /// Seeds every tree.
    pub seed: u64,
}

impl Default for ForestParams {
    fn default() -> Self {
        Self {
            n_estimators: 100,
            max_samples: 256,
            max_features: 1.0,
            seed: 0,
        }
    }
}

/// A node of an [`IsolationTree`]: a cut `x[feature] <= threshold` goes left, or a leaf when
/// `left == 0` (the root is no one's child).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Node {
    pub feature: u32,
    pub threshold: f32,
    pub left: u32,
    pub right: u32,
    /// Training samples that reached the node.
    pub size: u32,
}

impl Node {
    pub fn is_leaf(&self) -> bool {
        self.left == 0
    }
}

/// One tree, nodes in pre-order (children come after their parent).
#[derive(Debug, Clone, PartialEq)]
pub struct IsolationTree {
    nodes: Vec<Node>,
    /// `c(size)` of every node, used at leaves.
    leaf_adjustment: Vec<f32>,
}

impl IsolationTree {
    fn from_nodes(nodes: Vec<Node>) -> Self {
        let leaf_adjustment = nodes
            .iter()
            .map(|node| average_path_length(node.size as usize) as f32)
            .collect();
        Self {
            nodes,
            leaf_adjustment,
        }
    }

    /// The nodes, in pre-order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Depth at which `point` reaches a leaf, plus that leaf's `c(size)`.
    pub fn path_length(&self, point: &[f32]) -> f64 {
        let mut index = 0usize;
        let mut depth = 0u32;
        loop {
            let node = &self.nodes[index];
            if node.is_leaf() {
                return f64::from(depth) + f64::from(self.leaf_adjustment[index]);
            }
            index = if point[node.feature as usize] <= node.threshold {
                node.left as usize
            } else {
                node.right as usize
            };
            depth += 1;
        }
    }
}

/// A fitted forest on points of `dims` dimensions.
#[derive(Debug, Clone, PartialEq)]
pub struct IsolationForest {
    dims: usize,
    /// Samples each tree was grown on (`max_samples_` in scikit-learn).
    samples_per_tree: usize,
    trees: Vec<IsolationTree>,
}

/// Trees built between two progress reports.
const TREES_PER_REPORT: usize = 8;

impl IsolationForest {
    /// Grows the forest on `points` (row-major, `points.len() / dims` rows) on the caller's
    /// rayon pool.
    pub fn fit(points: &[f32], dims: usize, params: &ForestParams) -> Result<Self> {
        Self::fit_with_progress(points, dims, params, None, |_| {})
    }

    /// As [`IsolationForest::fit`], on `pool` when given (else the caller's pool), calling
    /// `trees_done(count)` on the calling thread after each batch of trees.
    pub fn fit_with_progress(
        points: &[f32],
        dims: usize,
        params: &ForestParams,
        pool: Option<&rayon::ThreadPool>,
        mut trees_done: impl FnMut(u64),
    ) -> Result<Self> {
        if dims == 0 || !points.len().is_multiple_of(dims) {
            return Err(ModelError::Data(format!(
                "{} values do not make rows of {dims} dimensions",
                points.len()
            )));
        }
        let n_points = points.len() / dims;
        if n_points < 2 {
            return Err(ModelError::Data(format!(
                "an isolation forest needs at least 2 points, got {n_points}"
            )));
        }
        if points.iter().any(|v| !v.is_finite()) {
            return Err(ModelError::Data(
                "points hold NaN or infinite values".into(),
            ));
        }
        if params.n_estimators == 0 {
            return Err(ModelError::config(
                "model.n_estimators",
                "must be at least 1",
            ));
        }
        if params.max_samples == 0 {
            return Err(ModelError::config(
                "model.max_samples",
                "must be at least 1",
            ));
        }
        if !(params.max_features > 0.0 && params.max_features <= 1.0) {
            return Err(ModelError::config(
                "model.max_features",
                format!("must be in (0, 1], got {}", params.max_features),
            ));
        }
        let samples_per_tree = params.max_samples.min(n_points);
        let features_per_tree = ((params.max_features * dims as f64) as usize).clamp(1, dims);
        let max_depth = (samples_per_tree.max(2) as f64).log2().ceil() as u32;
        let builder = TreeBuilder {
            points,
            dims,
            n_points,
            samples_per_tree,
            features_per_tree,
            max_depth,
        };
        let mut trees = Vec::with_capacity(params.n_estimators);
        let indices: Vec<usize> = (0..params.n_estimators).collect();
        for batch in indices.chunks(TREES_PER_REPORT) {
            let build_batch = || -> Vec<IsolationTree> {
                batch
                    .par_iter()
                    .map(|&tree| builder.build(derive_seed(params.seed, tree as u64)))
                    .collect()
            };
            let built = match pool {
                Some(pool) => pool.install(build_batch),
                None => build_batch(),
            };
            trees.extend(built);
            trees_done(batch.len() as u64);
        }
        Ok(Self {
            dims,
            samples_per_tree,
            trees,
        })
    }

    /// Dimensions of the points.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Samples each tree was grown on.
    pub fn samples_per_tree(&self) -> usize {
        self.samples_per_tree
    }

    /// The trees.
    pub fn trees(&self) -> &[IsolationTree] {
        &self.trees
    }

    /// Anomaly score of one point (`dims` values): `2^(-mean path length / c(samples))`.
    pub fn score_point(&self, point: &[f32]) -> f64 {
        let total: f64 = self.trees.iter().map(|tree| tree.path_length(point)).sum();
        let mean = total / self.trees.len().max(1) as f64;
        let normaliser = average_path_length(self.samples_per_tree);
        if normaliser > 0.0 {
            (-mean / normaliser).exp2()
        } else {
            // A forest grown on one sample per tree cannot tell points apart.
            1.0
        }
    }

    /// Scores of row-major `points`, on the caller's rayon pool. Rows of the wrong length at
    /// the end are ignored.
    pub fn score_samples(&self, points: &[f32]) -> Vec<f64> {
        points
            .par_chunks_exact(self.dims)
            .map(|point| self.score_point(point))
            .collect()
    }

    /// Little-endian binary form: magic, version, dims, samples per tree, tree count, then per
    /// tree its node count and nodes (feature u32, threshold f32, left u32, right u32, size u32).
    pub fn to_bytes(&self) -> Vec<u8> {
        let nodes: usize = self.trees.iter().map(|tree| tree.nodes.len()).sum();
        let mut bytes = Vec::with_capacity(24 + 4 * self.trees.len() + 20 * nodes);
        bytes.extend_from_slice(MAGIC);
        for value in [
            FORMAT_VERSION,
            self.dims as u32,
            self.samples_per_tree as u32,
            self.trees.len() as u32,
        ] {
            bytes.extend_from_slice(&value.to_le_bytes());
        }
        for tree in &self.trees {
            bytes.extend_from_slice(&(tree.nodes.len() as u32).to_le_bytes());
            for node in &tree.nodes {
                bytes.extend_from_slice(&node.feature.to_le_bytes());
                bytes.extend_from_slice(&node.threshold.to_le_bytes());
                bytes.extend_from_slice(&node.left.to_le_bytes());
                bytes.extend_from_slice(&node.right.to_le_bytes());
                bytes.extend_from_slice(&node.size.to_le_bytes());
            }
        }
        bytes
    }

    /// Reads [`IsolationForest::to_bytes`] back, checking that every tree is a well-formed
    /// tree over `dims` dimensions; errors are [`ModelError::Artifact`] naming `path`.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        let bad = |message: String| ModelError::artifact(path, message);
        let mut reader = ByteReader { bytes, offset: 0 };
        if reader.take(MAGIC.len()) != Some(MAGIC) {
            return Err(bad("not an isolation forest file (bad magic)".into()));
        }
        let mut next = || reader_u32(&mut reader).ok_or_else(|| bad("truncated".into()));
        let version = next()?;
        if version != FORMAT_VERSION {
            return Err(bad(format!("unknown format version {version}")));
        }
        let dims = next()? as usize;
        let samples_per_tree = next()? as usize;
        let n_trees = next()? as usize;
        if dims == 0 || samples_per_tree == 0 || n_trees == 0 {
            return Err(bad(
                "dims, samples per tree and tree count must be positive".into(),
            ));
        }
        let mut trees = Vec::with_capacity(n_trees.min(1 << 16));
        for tree_index in 0..n_trees {
            let n_nodes = reader_u32(&mut reader).ok_or_else(|| bad("truncated".into()))? as usize;
            let Some(raw) = reader.take(n_nodes.saturating_mul(20)) else {
                return Err(bad(format!("truncated in tree {tree_index}")));
            };
            let nodes: Vec<Node> = raw
                .chunks_exact(20)
                .map(|chunk| {
                    let word = |at: usize| {
                        u32::from_le_bytes([chunk[at], chunk[at + 1], chunk[at + 2], chunk[at + 3]])
                    };
                    Node {
                        feature: word(0),
                        threshold: f32::from_bits(word(4)),
                        left: word(8),
                        right: word(12),
                        size: word(16),
                    }
                })
                .collect();
            check_tree(&nodes, dims, samples_per_tree)
                .map_err(|message| bad(format!("tree {tree_index}: {message}")))?;
            trees.push(IsolationTree::from_nodes(nodes));
        }
        if reader.offset != bytes.len() {
            return Err(bad(format!(
                "{} unexpected bytes after the last tree",
                bytes.len() - reader.offset
            )));
        }
        Ok(Self {
            dims,
            samples_per_tree,
            trees,
        })
    }
}

const MAGIC: &[u8; 8] = b"VIGIEIF\0";
const FORMAT_VERSION: u32 = 1;

struct ByteReader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> ByteReader<'a> {
    fn take(&mut self, count: usize) -> Option<&'a [u8]> {
        let end = self.offset.checked_add(count)?;
        let slice = self.bytes.get(self.offset..end)?;
        self.offset = end;
        Some(slice)
    }
}

fn reader_u32(reader: &mut ByteReader<'_>) -> Option<u32> {
    let raw = reader.take(4)?;
    Some(u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]))
}

/// A loaded tree must be a tree (children after their parent, each node reached once), cut on
/// existing dimensions at finite thresholds, with leaf sizes a forest could have produced.
fn check_tree(nodes: &[Node], dims: usize, samples_per_tree: usize) -> Result<(), String> {
    if nodes.is_empty() {
        return Err("no nodes".into());
    }
    let mut parents = vec![0u8; nodes.len()];
    for (index, node) in nodes.iter().enumerate() {
        if node.size == 0 || node.size as usize > samples_per_tree {
            return Err(format!("node {index} has size {}", node.size));
        }
        if node.is_leaf() {
            continue;
        }
        if node.feature as usize >= dims {
            return Err(format!("node {index} cuts on dimension {}", node.feature));
        }
        if !node.threshold.is_finite() {
            return Err(format!("node {index} has a non-finite threshold"));
        }
        for child in [node.left, node.right] {
            let child = child as usize;
            if child <= index || child >= nodes.len() {
                return Err(format!("node {index} has child {child} out of order"));
            }
            parents[child] += 1;
            if parents[child] > 1 {
                return Err(format!("node {child} has two parents"));
            }
        }
    }
    if let Some(orphan) = parents.iter().skip(1).position(|&count| count == 0) {
        return Err(format!("node {} is unreachable", orphan + 1));
    }
    Ok(())
}

/// What every tree of one fit shares.
struct TreeBuilder<'a> {
    points: &'a [f32],
    dims: usize,
    n_points: usize,
    samples_per_tree: usize,
    features_per_tree: usize,
    max_depth: u32,
}

impl TreeBuilder<'_> {
    fn build(&self, seed: u64) -> IsolationTree {
        let mut rng = SplitMix64::new(seed);
        let mut samples = rng.sample_indices(self.n_points, self.samples_per_tree);
        let mut features: Vec<u32> = if self.features_per_tree < self.dims {
            rng.sample_indices(self.dims, self.features_per_tree)
                .into_iter()
                .map(|f| f as u32)
                .collect()
        } else {
            (0..self.dims as u32).collect()
        };
        let mut nodes = Vec::with_capacity(2 * self.samples_per_tree);
        self.grow(&mut samples, 0, &mut features, &mut rng, &mut nodes);
        IsolationTree::from_nodes(nodes)
    }

    fn value(&self, sample: usize, feature: u32) -> f32 {
        self.points[sample * self.dims + feature as usize]
    }

    /// Appends the subtree of `samples` in pre-order and returns its root's index.
    fn grow(
        &self,
        samples: &mut [usize],
        depth: u32,
        features: &mut [u32],
        rng: &mut SplitMix64,
        nodes: &mut Vec<Node>,
    ) -> u32 {
        let index = nodes.len() as u32;
        nodes.push(Node {
            feature: 0,
            threshold: 0.0,
            left: 0,
            right: 0,
            size: samples.len() as u32,
        });
        if samples.len() <= 1 || depth >= self.max_depth {
            return index;
        }
        let Some((feature, threshold)) = self.draw_cut(samples, features, rng) else {
            // Every feature is constant here: the samples cannot be told apart.
            return index;
        };
        // Partition in place: `x <= threshold` first.
        let mut split = 0;
        for i in 0..samples.len() {
            if self.value(samples[i], feature) <= threshold {
                samples.swap(i, split);
                split += 1;
            }
        }
        let (left_samples, right_samples) = samples.split_at_mut(split);
        let left = self.grow(left_samples, depth + 1, features, rng, nodes);
        let right = self.grow(right_samples, depth + 1, features, rng, nodes);
        let node = &mut nodes[index as usize];
        node.feature = feature;
        node.threshold = threshold;
        node.left = left;
        node.right = right;
        index
    }

    /// A random feature that is not constant on `samples` (features tried in random order, as
    /// scikit-learn's random splitter skips constant ones) and a threshold uniform between its
    /// minimum and maximum there, such that both sides are non-empty.
    fn draw_cut(
        &self,
        samples: &[usize],
        features: &mut [u32],
        rng: &mut SplitMix64,
    ) -> Option<(u32, f32)> {
        for tried in 0..features.len() {
            let pick = tried + rng.below(features.len() - tried);
            features.swap(tried, pick);
            let feature = features[tried];
            let (mut min, mut max) = (f32::INFINITY, f32::NEG_INFINITY);
            for &sample in samples {
                let value = self.value(sample, feature);
                min = min.min(value);
                max = max.max(value);
            }
            if max > min {
                let draw = f64::from(min) + rng.next_f64() * (f64::from(max) - f64::from(min));
                let mut threshold = draw as f32;
                // Rounding to f32 may reach `max`, which would leave the right side empty.
                if threshold >= max {
                    threshold = min;
                }
                return Some((feature, threshold));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_round_trip_and_corruption() {
        let points: Vec<f32> = (0..400).map(|i| ((i * 37) % 101) as f32).collect();
        let params = ForestParams {
            n_estimators: 5,
            max_samples: 64,
            ..ForestParams::default()
        };
        let forest = IsolationForest::fit(&points, 4, &params).expect("fits");
        let bytes = forest.to_bytes();
        let path = Path::new("trees.bin");
        assert_eq!(
            IsolationForest::from_bytes(&bytes, path).expect("loads"),
            forest
        );
        assert!(IsolationForest::from_bytes(&bytes[..bytes.len() - 1], path).is_err());
        let mut bad_child = bytes.clone();
        // First node of the first tree: its `left` field points at itself.
        let left_at = 8 + 16 + 4 + 8;
        bad_child[left_at..left_at + 4].copy_from_slice(&0u32.to_le_bytes());
        bad_child[left_at + 4..left_at + 8].copy_from_slice(&0u32.to_le_bytes());
        assert!(IsolationForest::from_bytes(&bad_child, path).is_err());
    }
}
