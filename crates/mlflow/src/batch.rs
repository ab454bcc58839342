//! Client-side checks of what a run logs, and the splitting of big batches into requests the
//! server accepts (`runs/log-batch` limits of `mlflow/utils/validation.py`).
//!
//! Everything is checked before the first request leaves, so a bad key at the end of a big batch
//! does not leave the run half-logged, and a value the server would silently cut (params over
//! 6000 characters, tags over 8000) is reported instead.

use std::collections::HashSet;

use crate::error::{MlflowError, Result, truncate_chars};
use crate::types::{Metric, Param, Tag};

/// Most metrics in one `runs/log-batch` request.
pub const MAX_METRICS_PER_BATCH: usize = 1000;
/// Most params in one request.
pub const MAX_PARAMS_PER_BATCH: usize = 100;
/// Most tags in one request.
pub const MAX_TAGS_PER_BATCH: usize = 100;
/// Most metrics + params + tags in one request.
pub const MAX_ENTITIES_PER_BATCH: usize = 1000;
/// Longest metric, param or tag key, in characters.
pub const MAX_KEY_CHARS: usize = 250;
/// Longest param value, in characters (the server silently truncates longer ones).
pub const MAX_PARAM_VALUE_CHARS: usize = 6000;
/// Longest tag value, in characters (the server silently truncates longer ones).
pub const MAX_TAG_VALUE_CHARS: usize = 8000;

/// Key characters in error messages: enough to recognise the key, not a whole pasted blob.
const SHOWN_KEY_CHARS: usize = 80;

/// One `runs/log-batch` request's share of a batch: consecutive slices of the caller's metrics,
/// params and tags, in order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchChunk<'a> {
    /// Metrics of this request.
    pub metrics: &'a [Metric],
    /// Params of this request.
    pub params: &'a [Param],
    /// Tags of this request.
    pub tags: &'a [Tag],
}

impl BatchChunk<'_> {
    /// Metrics + params + tags.
    pub fn len(&self) -> usize {
        self.metrics.len() + self.params.len() + self.tags.len()
    }

    /// Whether the chunk holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Splits a batch into the fewest requests the server limits allow.
///
/// Each request takes as many params and tags as it may (up to 100 each), then fills up to 1000
/// entities with metrics. That is optimal: every request but the last is either full (1000
/// entities) or carries the maximum of params or tags, so the count is
/// `max(⌈metrics/1000⌉, ⌈params/100⌉, ⌈tags/100⌉, ⌈total/1000⌉)`, the lower bound. An empty batch
/// gives no request. Order within each kind is kept.
pub fn split_batch<'a>(
    metrics: &'a [Metric],
    params: &'a [Param],
    tags: &'a [Tag],
) -> Vec<BatchChunk<'a>> {
    let (mut metrics, mut params, mut tags) = (metrics, params, tags);
    let mut chunks = Vec::with_capacity(minimal_request_count(
        metrics.len(),
        params.len(),
        tags.len(),
    ));
    while !(metrics.is_empty() && params.is_empty() && tags.is_empty()) {
        let (chunk_params, rest_params) = params.split_at(params.len().min(MAX_PARAMS_PER_BATCH));
        let (chunk_tags, rest_tags) = tags.split_at(tags.len().min(MAX_TAGS_PER_BATCH));
        // 100 params + 100 tags leave at least 800 slots, so metrics always make progress.
        let metric_room = MAX_METRICS_PER_BATCH
            .min(MAX_ENTITIES_PER_BATCH - chunk_params.len() - chunk_tags.len());
        let (chunk_metrics, rest_metrics) = metrics.split_at(metrics.len().min(metric_room));
        chunks.push(BatchChunk {
            metrics: chunk_metrics,
            params: chunk_params,
            tags: chunk_tags,
        });
        (metrics, params, tags) = (rest_metrics, rest_params, rest_tags);
    }
    chunks
}

/// The lower bound on `runs/log-batch` requests for a batch of this size, which
/// [`split_batch`] reaches.
pub fn minimal_request_count(metrics: usize, params: usize, tags: usize) -> usize {
    metrics
        .div_ceil(MAX_METRICS_PER_BATCH)
        .max(params.div_ceil(MAX_PARAMS_PER_BATCH))
        .max(tags.div_ceil(MAX_TAGS_PER_BATCH))
        .max((metrics + params + tags).div_ceil(MAX_ENTITIES_PER_BATCH))
}

/// Checks a whole batch: keys (non-empty, at most 250 characters, MLflow's character set), param
/// and tag value lengths, and param keys unique within the call.
pub fn validate_batch(metrics: &[Metric], params: &[Param], tags: &[Tag]) -> Result<()> {
    for metric in metrics {
        validate_key("metric key", &metric.key)?;
    }
    let mut seen = HashSet::with_capacity(params.len());
    for param in params {
        validate_param(param)?;
        if !seen.insert(param.key.as_str()) {
            return Err(MlflowError::invalid(
                "param key",
                format!("{} appears twice in one batch", show_key(&param.key)),
            ));
        }
    }
    for tag in tags {
        validate_tag(tag)?;
    }
    Ok(())
}

/// Checks one param's key and value.
pub(crate) fn validate_param(param: &Param) -> Result<()> {
    validate_key("param key", &param.key)?;
    validate_value(
        "param value",
        &param.key,
        &param.value,
        MAX_PARAM_VALUE_CHARS,
    )
}

/// Checks one tag's key and value.
pub(crate) fn validate_tag(tag: &Tag) -> Result<()> {
    validate_key("tag key", &tag.key)?;
    validate_value("tag value", &tag.key, &tag.value, MAX_TAG_VALUE_CHARS)
}

/// Keys must be 1–250 characters among letters, digits, `_ - . : /` and space, as the server
/// requires; checking here names the key before anything is sent.
pub(crate) fn validate_key(what: &str, key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(MlflowError::invalid(what, "empty key"));
    }
    let chars = key.chars().count();
    if chars > MAX_KEY_CHARS {
        return Err(MlflowError::invalid(
            what,
            format!(
                "{} is {chars} characters long; the limit is {MAX_KEY_CHARS}",
                show_key(key)
            ),
        ));
    }
    if let Some(bad) = key.chars().find(|c| !is_key_char(*c)) {
        return Err(MlflowError::invalid(
            what,
            format!(
                "{} contains {bad:?}: keys may only hold letters, digits, '_', '-', '.', ' ', ':' and '/'",
                show_key(key)
            ),
        ));
    }
    Ok(())
}

fn is_key_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ' | ':' | '/')
}

fn validate_value(what: &str, key: &str, value: &str, max_chars: usize) -> Result<()> {
    // Cheap byte-length test first: most values are short.
    if value.len() > max_chars {
        let chars = value.chars().count();
        if chars > max_chars {
            return Err(MlflowError::invalid(
                what,
                format!(
                    "value of {} is {chars} characters long; the server keeps at most {max_chars} \
                     (it would silently cut it)",
                    show_key(key)
                ),
            ));
        }
    }
    Ok(())
}

fn show_key(key: &str) -> String {
    format!("{:?}", truncate_chars(key, SHOWN_KEY_CHARS))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(n: usize) -> Vec<Metric> {
        (0..n)
            .map(|i| Metric::at(format!("m{}", i % 7), i as f64, i as i64, 1))
            .collect()
    }

    fn params(n: usize) -> Vec<Param> {
        (0..n)
            .map(|i| Param::new(format!("p{i}"), i.to_string()))
            .collect()
    }

    fn tags(n: usize) -> Vec<Tag> {
        (0..n).map(|i| Tag::new(format!("t{i}"), "v")).collect()
    }

    /// Splits, then checks every limit, that nothing is lost or reordered, and that the count is
    /// the lower bound.
    fn check_split(m: usize, p: usize, t: usize) -> usize {
        let (ms, ps, ts) = (metrics(m), params(p), tags(t));
        let chunks = split_batch(&ms, &ps, &ts);
        for chunk in &chunks {
            assert!(!chunk.is_empty(), "({m},{p},{t}): empty chunk");
            assert!(chunk.metrics.len() <= MAX_METRICS_PER_BATCH);
            assert!(chunk.params.len() <= MAX_PARAMS_PER_BATCH);
            assert!(chunk.tags.len() <= MAX_TAGS_PER_BATCH);
            assert!(
                chunk.len() <= MAX_ENTITIES_PER_BATCH,
                "({m},{p},{t}): {}",
                chunk.len()
            );
        }
        let joined_metrics: Vec<Metric> = chunks
            .iter()
            .flat_map(|c| c.metrics.iter().cloned())
            .collect();
        let joined_params: Vec<Param> = chunks
            .iter()
            .flat_map(|c| c.params.iter().cloned())
            .collect();
        let joined_tags: Vec<Tag> = chunks.iter().flat_map(|c| c.tags.iter().cloned()).collect();
        assert_eq!(joined_metrics, ms);
        assert_eq!(joined_params, ps);
        assert_eq!(joined_tags, ts);
        assert_eq!(
            chunks.len(),
            minimal_request_count(m, p, t),
            "({m},{p},{t})"
        );
        chunks.len()
    }

    #[test]
    fn empty_batch_sends_nothing() {
        assert_eq!(check_split(0, 0, 0), 0);
    }

    #[test]
    fn metric_limit_and_its_neighbours() {
        assert_eq!(check_split(1, 0, 0), 1);
        assert_eq!(check_split(999, 0, 0), 1);
        assert_eq!(check_split(1000, 0, 0), 1);
        assert_eq!(check_split(1001, 0, 0), 2);
        assert_eq!(check_split(2000, 0, 0), 2);
        assert_eq!(check_split(2001, 0, 0), 3);
    }

    #[test]
    fn param_limit_and_its_neighbours() {
        assert_eq!(check_split(0, 99, 0), 1);
        assert_eq!(check_split(0, 100, 0), 1);
        assert_eq!(check_split(0, 101, 0), 2);
        assert_eq!(check_split(0, 200, 0), 2);
        assert_eq!(check_split(0, 201, 0), 3);
    }

    #[test]
    fn tag_limit_and_its_neighbours() {
        assert_eq!(check_split(0, 0, 100), 1);
        assert_eq!(check_split(0, 0, 101), 2);
        assert_eq!(check_split(0, 100, 100), 1);
        assert_eq!(check_split(0, 101, 101), 2);
    }

    #[test]
    fn total_limit_and_its_neighbours() {
        // The case the notes measured: 1000 metrics + 50 params is refused in one request.
        assert_eq!(check_split(1000, 50, 0), 2);
        assert_eq!(check_split(950, 50, 0), 1);
        assert_eq!(check_split(951, 50, 0), 2);
        assert_eq!(check_split(800, 100, 100), 1);
        assert_eq!(check_split(801, 100, 100), 2);
        assert_eq!(check_split(900, 100, 0), 1);
        assert_eq!(check_split(901, 100, 0), 2);
        assert_eq!(check_split(1800, 200, 0), 2);
        assert_eq!(check_split(1801, 200, 0), 3);
    }

    #[test]
    fn packing_is_greedy() {
        let (ms, ps) = (metrics(5000), params(250));
        let chunks = split_batch(&ms, &ps, &[]);
        let shape: Vec<(usize, usize)> = chunks
            .iter()
            .map(|c| (c.metrics.len(), c.params.len()))
            .collect();
        assert_eq!(
            shape,
            vec![
                (900, 100),
                (900, 100),
                (950, 50),
                (1000, 0),
                (1000, 0),
                (250, 0)
            ]
        );
        assert_eq!(minimal_request_count(5000, 250, 0), 6);
    }

    #[test]
    fn every_small_combination_is_minimal() {
        for m in [
            0, 1, 500, 799, 800, 801, 999, 1000, 1001, 1899, 1900, 1901, 3000, 5000,
        ] {
            for p in [0, 1, 50, 99, 100, 101, 150, 250, 1000] {
                for t in [0, 1, 99, 100, 101, 300] {
                    check_split(m, p, t);
                }
            }
        }
    }

    #[test]
    fn long_keys_are_refused_with_their_name() {
        let key = "k".repeat(MAX_KEY_CHARS);
        assert!(validate_batch(&[Metric::at(&key, 1.0, 0, 0)], &[], &[]).is_ok());
        let long = format!("{key}x");
        let err = validate_batch(&[Metric::at(&long, 1.0, 0, 0)], &[], &[]).expect_err("too long");
        let text = err.to_string();
        assert!(
            text.contains("metric key") && text.contains("251 characters") && text.contains("kkkk"),
            "{text}"
        );
        let err = validate_batch(&[], &[Param::new(&long, "v")], &[]).expect_err("too long");
        assert!(err.to_string().contains("param key"));
        let err = validate_batch(&[], &[], &[Tag::new(&long, "v")]).expect_err("too long");
        assert!(err.to_string().contains("tag key"));
        // Characters, not bytes.
        assert!(validate_key("metric key", &"é".repeat(MAX_KEY_CHARS)).is_ok());
    }

    #[test]
    fn long_param_values_are_reported_not_cut() {
        let ok = Param::new("lr", "x".repeat(MAX_PARAM_VALUE_CHARS));
        assert!(validate_batch(&[], &[ok], &[]).is_ok());
        let err = validate_batch(
            &[],
            &[Param::new("vocab", "x".repeat(MAX_PARAM_VALUE_CHARS + 1))],
            &[],
        )
        .expect_err("too long");
        let MlflowError::InvalidArgument { what, message } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(what, "param value");
        assert!(
            message.contains("\"vocab\"") && message.contains("6001 characters"),
            "{message}"
        );
        // Multi-byte values are measured in characters like the server does.
        assert!(validate_param(&Param::new("k", "é".repeat(MAX_PARAM_VALUE_CHARS))).is_ok());
        let err = validate_tag(&Tag::new("note", "x".repeat(MAX_TAG_VALUE_CHARS + 1)))
            .expect_err("too long");
        assert!(err.to_string().contains("8001 characters"));
        assert!(validate_tag(&Tag::new("note", "x".repeat(MAX_TAG_VALUE_CHARS))).is_ok());
    }

    #[test]
    fn duplicate_param_keys_are_refused() {
        let err = validate_batch(
            &[],
            &[
                Param::new("lr", "1"),
                Param::new("bs", "2"),
                Param::new("lr", "1"),
            ],
            &[],
        )
        .expect_err("duplicate");
        assert!(err.to_string().contains("\"lr\" appears twice"), "{err}");
        // Metrics repeat keys by design (one value per step).
        assert!(validate_batch(&metrics(20), &[], &[]).is_ok());
    }

    #[test]
    fn key_characters_follow_the_server() {
        for good in ["loss", "val/loss", "f1 macro", "a:b-c_d.e", "précision"] {
            assert!(validate_key("metric key", good).is_ok(), "{good}");
        }
        for bad in ["", "bad!key", "a\nb", "x=y", "q?"] {
            assert!(validate_key("metric key", bad).is_err(), "{bad:?}");
        }
    }
}
