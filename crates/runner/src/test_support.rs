//! What the runner's unit tests share.

use vigie_models::Scorer;

/// Scores a request by whether it holds a quote: enough to know which ones are flagged.
pub(crate) struct QuoteScorer;

impl Scorer for QuoteScorer {
    fn score_batch(&self, texts: &[&str]) -> Vec<f64> {
        texts
            .iter()
            .map(|t| f64::from(u8::from(t.contains('\''))))
            .collect()
    }
}
