//! K-means (Lloyd's algorithm with k-means++ seeding) on dense points, and the clustering of
//! flagged requests into groups an analyst can read: each cluster's size, its most distinctive
//! tokens and a few examples.

use std::collections::HashMap;
use std::fmt::Write as _;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use vigie_data::text::{TokenScratch, Tokenizer, TokenizerConfig};

use super::projection::Projection;
use crate::random::SplitMix64;
use crate::{ModelError, Result};

/// Settings of the `[model.kmeans]` table: how flagged requests are clustered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KMeansConfig {
    /// Number of clusters (default 8); 0 disables clustering.
    pub k: usize,
    /// Most Lloyd iterations (default 100).
    pub max_iter: usize,
}

impl Default for KMeansConfig {
    fn default() -> Self {
        Self {
            k: 8,
            max_iter: 100,
        }
    }
}

/// Largest `k` accepted: clusters are meant to be read by a person.
pub const MAX_CLUSTERS: usize = 1000;

impl KMeansConfig {
    /// Checks the fields; errors name `model.kmeans.<field>`.
    pub fn validate(&self) -> Result<()> {
        if self.k > MAX_CLUSTERS {
            return Err(ModelError::config(
                "model.kmeans.k",
                format!(
                    "must be at most {MAX_CLUSTERS} (0 disables clustering), got {}",
                    self.k
                ),
            ));
        }
        if self.max_iter == 0 {
            return Err(ModelError::config(
                "model.kmeans.max_iter",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// A fitted K-means model.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeans {
    dims: usize,
    /// `k * dims` values, row-major.
    centroids: Vec<f32>,
    /// Cluster of every training point.
    labels: Vec<usize>,
    /// Sum of squared distances of the training points to their centroid.
    inertia: f64,
    /// Lloyd iterations run.
    iterations: usize,
}

impl KMeans {
    /// Clusters `points` (row-major, `points.len() / dims` rows) into `k` clusters: k-means++
    /// seeding from `seed`, then Lloyd iterations until no point changes cluster or `max_iter`.
    /// Runs its assignment steps on the caller's rayon pool; the result does not depend on it.
    pub fn fit(points: &[f32], dims: usize, k: usize, seed: u64, max_iter: usize) -> Result<Self> {
        if dims == 0 || !points.len().is_multiple_of(dims) {
            return Err(ModelError::Data(format!(
                "{} values do not make rows of {dims} dimensions",
                points.len()
            )));
        }
        let n = points.len() / dims;
        if k == 0 || k > n {
            return Err(ModelError::Data(format!(
                "cannot make {k} clusters of {n} points"
            )));
        }
        if points.iter().any(|v| !v.is_finite()) {
            return Err(ModelError::Data(
                "points hold NaN or infinite values".into(),
            ));
        }
        let mut rng = SplitMix64::new(seed);
        let mut centroids = kmeans_plus_plus(points, dims, k, &mut rng);
        let mut labels = vec![usize::MAX; n];
        let mut iterations = 0;
        while iterations < max_iter.max(1) {
            iterations += 1;
            let nearest: Vec<(usize, f64)> = points
                .par_chunks_exact(dims)
                .map(|point| nearest_centroid(point, &centroids, dims))
                .collect();
            let changed = nearest
                .iter()
                .zip(&labels)
                .filter(|((cluster, _), old)| cluster != *old)
                .count();
            labels
                .iter_mut()
                .zip(&nearest)
                .for_each(|(label, (cluster, _))| *label = *cluster);
            if changed == 0 {
                break;
            }
            centroids = update_centroids(points, dims, k, &mut labels, &nearest);
        }
        let inertia = points
            .chunks_exact(dims)
            .zip(&labels)
            .map(|(point, &label)| {
                squared_distance(point, &centroids[label * dims..(label + 1) * dims])
            })
            .sum();
        Ok(Self {
            dims,
            centroids,
            labels,
            inertia,
            iterations,
        })
    }

    /// Number of clusters.
    pub fn k(&self) -> usize {
        self.centroids.len() / self.dims
    }

    /// Dimensions of the points.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Centroids, row-major (`k * dims`).
    pub fn centroids(&self) -> &[f32] {
        &self.centroids
    }

    /// Cluster of every training point, in order.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// Sum of squared distances of the training points to their centroid.
    pub fn inertia(&self) -> f64 {
        self.inertia
    }

    /// Lloyd iterations run.
    pub fn iterations(&self) -> usize {
        self.iterations
    }

    /// The cluster whose centroid is nearest to `point` (`dims` values; extra values are
    /// ignored, missing ones count as 0).
    pub fn assign(&self, point: &[f32]) -> usize {
        let mut padded;
        let point = if point.len() >= self.dims {
            &point[..self.dims]
        } else {
            padded = point.to_vec();
            padded.resize(self.dims, 0.0);
            &padded[..]
        };
        nearest_centroid(point, &self.centroids, self.dims).0
    }
}

fn squared_distance(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = f64::from(x) - f64::from(y);
            d * d
        })
        .sum()
}

/// Index and squared distance of the nearest centroid (the lowest index on ties).
fn nearest_centroid(point: &[f32], centroids: &[f32], dims: usize) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (index, centroid) in centroids.chunks_exact(dims).enumerate() {
        let distance = squared_distance(point, centroid);
        if distance < best.1 {
            best = (index, distance);
        }
    }
    best
}

/// Greedy k-means++ (Arthur & Vassilvitskii 2007, as scikit-learn): the first centre uniformly,
/// then each next one among `2 + ln k` candidates drawn with probability proportional to the
/// squared distance to the nearest centre so far, keeping the candidate that lowers the total
/// the most.
fn kmeans_plus_plus(points: &[f32], dims: usize, k: usize, rng: &mut SplitMix64) -> Vec<f32> {
    let n = points.len() / dims;
    let row = |i: usize| &points[i * dims..(i + 1) * dims];
    let first = rng.below(n);
    let mut centroids = row(first).to_vec();
    let mut closest: Vec<f64> = (0..n)
        .map(|i| squared_distance(row(i), row(first)))
        .collect();
    let trials = 2 + (k as f64).ln() as usize;
    for _ in 1..k {
        let total: f64 = closest.iter().sum();
        let mut best: Option<(f64, Vec<f64>, usize)> = None;
        for _ in 0..trials {
            let candidate = if total > 0.0 {
                let target = rng.next_f64() * total;
                let mut cumulative = 0.0;
                let mut chosen = n - 1;
                for (i, &d) in closest.iter().enumerate() {
                    cumulative += d;
                    if cumulative > target {
                        chosen = i;
                        break;
                    }
                }
                chosen
            } else {
                // Every point sits on a centre already: any point will do.
                rng.below(n)
            };
            let updated: Vec<f64> = closest
                .par_iter()
                .enumerate()
                .map(|(i, &d)| d.min(squared_distance(row(i), row(candidate))))
                .collect();
            let potential: f64 = updated.iter().sum();
            if best
                .as_ref()
                .is_none_or(|(best_potential, _, _)| potential < *best_potential)
            {
                best = Some((potential, updated, candidate));
            }
        }
        if let Some((_, updated, candidate)) = best {
            centroids.extend_from_slice(row(candidate));
            closest = updated;
        }
    }
    centroids
}

/// Means of the clusters of `labels`; an empty cluster takes the point farthest from its own
/// centroid (which then moves to it), as scikit-learn does.
fn update_centroids(
    points: &[f32],
    dims: usize,
    k: usize,
    labels: &mut [usize],
    nearest: &[(usize, f64)],
) -> Vec<f32> {
    let mut sums = vec![0.0f64; k * dims];
    let mut counts = vec![0usize; k];
    for (point, &label) in points.chunks_exact(dims).zip(labels.iter()) {
        counts[label] += 1;
        for (sum, &value) in sums[label * dims..(label + 1) * dims].iter_mut().zip(point) {
            *sum += f64::from(value);
        }
    }
    let mut taken = vec![false; labels.len()];
    for cluster in 0..k {
        if counts[cluster] > 0 {
            continue;
        }
        let far = nearest
            .iter()
            .enumerate()
            .filter(|(i, _)| !taken[*i] && counts[labels[*i]] > 1)
            .max_by(|a, b| a.1.1.total_cmp(&b.1.1).then(b.0.cmp(&a.0)))
            .map(|(i, _)| i);
        let Some(far) = far else { continue };
        taken[far] = true;
        let old = labels[far];
        counts[old] -= 1;
        for (d, &value) in points[far * dims..(far + 1) * dims].iter().enumerate() {
            sums[old * dims + d] -= f64::from(value);
            sums[cluster * dims + d] = f64::from(value);
        }
        counts[cluster] = 1;
        labels[far] = cluster;
    }
    sums.chunks_exact(dims)
        .zip(&counts)
        .flat_map(|(sum, &count)| {
            let count = count.max(1) as f64;
            sum.iter().map(move |&s| (s / count) as f32)
        })
        .collect()
}

/// Tokens shown per cluster.
const TOP_TOKENS: usize = 10;
/// Examples shown per cluster.
const EXAMPLES: usize = 5;
/// Characters kept of an example.
const EXAMPLE_CHARS: usize = 200;

/// Flagged requests grouped by K-means, largest cluster first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterReport {
    /// Clusters made (at most the number of requests).
    pub k: usize,
    /// Requests clustered.
    pub n_requests: usize,
    /// K-means inertia on the projected requests.
    pub inertia: f64,
    pub clusters: Vec<ClusterSummary>,
    /// Cluster id of every request, in input order (not serialised: one per request).
    #[serde(skip)]
    pub assignments: Vec<usize>,
}

/// One cluster of a [`ClusterReport`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterSummary {
    /// Rank by size (0 = largest).
    pub id: usize,
    pub size: usize,
    /// Tokens of the security tokenizer most typical of this cluster, with their score: share
    /// of the cluster's requests holding the token × ln(1 + lift), lift being that share over
    /// the token's share among all flagged requests.
    pub top_tokens: Vec<(String, f64)>,
    /// Up to 5 distinct requests of the cluster, first seen first, cut to 200 characters.
    pub examples: Vec<String>,
}

/// Projects `texts`, clusters them into `min(k, texts.len())` clusters and describes each.
pub fn cluster_texts(
    projection: &Projection,
    texts: &[&str],
    k: usize,
    max_iter: usize,
    seed: u64,
) -> Result<ClusterReport> {
    if k == 0 {
        return Err(ModelError::config(
            "model.kmeans.k",
            "clustering is disabled (k = 0)",
        ));
    }
    if texts.is_empty() {
        return Ok(ClusterReport {
            k: 0,
            n_requests: 0,
            inertia: 0.0,
            clusters: Vec::new(),
            assignments: Vec::new(),
        });
    }
    let points = projection.project(texts);
    let k = k.min(texts.len());
    let kmeans = KMeans::fit(&points, projection.dims(), k, seed, max_iter)?;
    let tokenizer = Tokenizer::new(TokenizerConfig::default())?;

    let mut sizes = vec![0usize; k];
    kmeans.labels().iter().for_each(|&label| sizes[label] += 1);
    // Largest first; equal sizes keep the K-means order.
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| sizes[b].cmp(&sizes[a]).then(a.cmp(&b)));
    let mut rank = vec![0usize; k];
    for (position, &cluster) in order.iter().enumerate() {
        rank[cluster] = position;
    }
    let assignments: Vec<usize> = kmeans.labels().iter().map(|&label| rank[label]).collect();

    // Document frequency of every token, overall and per cluster.
    let mut overall: HashMap<String, usize> = HashMap::new();
    let mut per_cluster: Vec<HashMap<String, usize>> = vec![HashMap::new(); k];
    let mut scratch = TokenScratch::new();
    let mut tokens: Vec<String> = Vec::new();
    for (text, &cluster) in texts.iter().zip(&assignments) {
        tokens.clear();
        tokenizer.for_each_term(text, &mut scratch, |term| tokens.push(term.to_owned()));
        tokens.sort_unstable();
        tokens.dedup();
        for token in &tokens {
            *overall.entry(token.clone()).or_default() += 1;
            *per_cluster[cluster].entry(token.clone()).or_default() += 1;
        }
    }
    let n = texts.len() as f64;
    let mut clusters: Vec<ClusterSummary> = (0..k)
        .map(|id| ClusterSummary {
            id,
            size: sizes[order[id]],
            top_tokens: Vec::new(),
            examples: Vec::new(),
        })
        .collect();
    for (cluster, counts) in clusters.iter_mut().zip(&per_cluster) {
        let size = cluster.size.max(1) as f64;
        let mut scored: Vec<(String, f64)> = counts
            .iter()
            .map(|(token, &count)| {
                let share = count as f64 / size;
                let share_overall = overall.get(token).copied().unwrap_or(count) as f64 / n;
                (token.clone(), share * (1.0 + share / share_overall).ln())
            })
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        scored.truncate(TOP_TOKENS);
        cluster.top_tokens = scored;
    }
    for (text, &cluster) in texts.iter().zip(&assignments) {
        let examples = &mut clusters[cluster].examples;
        if examples.len() < EXAMPLES {
            let example = truncate_chars(text, EXAMPLE_CHARS);
            if !examples.contains(&example) {
                examples.push(example);
            }
        }
    }
    Ok(ClusterReport {
        k,
        n_requests: texts.len(),
        inertia: kmeans.inertia(),
        clusters,
        assignments,
    })
}

fn truncate_chars(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// A token as a Markdown code span that cannot break a table row.
fn table_code(token: &str) -> String {
    let escaped = token.replace('|', "\\|");
    if escaped.contains('`') {
        format!("`` {escaped} ``")
    } else {
        format!("`{escaped}`")
    }
}

impl ClusterReport {
    /// A Markdown summary: one table row per cluster, then each cluster's examples.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "## Clusters of flagged requests\n\n{} requests in {} clusters (K-means on the projected requests, inertia {:.3}).\n",
            self.n_requests, self.k, self.inertia
        );
        out.push_str("| Cluster | Requests | Share | Distinctive tokens |\n");
        out.push_str("|---:|---:|---:|---|\n");
        for cluster in &self.clusters {
            let share = 100.0 * cluster.size as f64 / self.n_requests.max(1) as f64;
            let tokens: Vec<String> = cluster
                .top_tokens
                .iter()
                .map(|(token, _)| table_code(token))
                .collect();
            let _ = writeln!(
                out,
                "| {} | {} | {share:.1}% | {} |",
                cluster.id,
                cluster.size,
                tokens.join(" ")
            );
        }
        for cluster in &self.clusters {
            let _ = writeln!(
                out,
                "\n### Cluster {} ({} requests)\n\n```text",
                cluster.id, cluster.size
            );
            for example in &cluster.examples {
                // A fence inside an example would close the block early.
                let _ = writeln!(out, "{}", example.replace("```", "'''"));
            }
            out.push_str("```\n");
        }
        out
    }
}
