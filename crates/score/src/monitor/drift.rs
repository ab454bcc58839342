//! The drift rule: a window drifts when its scores moved away from validation (PSI over a
//! bound) or when it raises many more alerts than the model is expected to.

use serde::Serialize;

/// The usual rule of thumb: PSI under 0.1 is stable, over 0.2 a significant shift.
pub const DEFAULT_PSI_BOUND: f64 = 0.2;

/// Default multiple of the expected alert rate over which a window drifts.
pub const DEFAULT_ALERT_FACTOR: f64 = 3.0;

/// The lowest expected alert rate (one alert per 1000 requests): a validation split of a few
/// thousand benign requests often has no false alarm at all, and "any alert is drift" would
/// flag every window of real traffic.
pub const MIN_EXPECTED_ALERT_RATE: f64 = 0.001;

/// Windows with fewer requests are reported but not judged: their PSI and rate are noise.
pub const DEFAULT_MIN_REQUESTS: u64 = 100;

/// When a window drifts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DriftRule {
    pub psi_bound: f64,
    pub alert_factor: f64,
    /// The alert rate the model is expected to raise on ordinary traffic.
    pub expected_alert_rate: f64,
    pub min_requests: u64,
}

/// Why a window drifted.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "rule")]
pub enum DriftReason {
    /// The window's PSI is over the bound.
    Psi { psi: f64, bound: f64 },
    /// The window's alert rate is over `alert_factor` × the expected rate.
    AlertRate { rate: f64, limit: f64 },
}

impl DriftRule {
    /// The rule with the defaults and the expected rate [`expected_alert_rate`] gives.
    pub fn with_expected(expected_alert_rate: f64) -> DriftRule {
        DriftRule {
            psi_bound: DEFAULT_PSI_BOUND,
            alert_factor: DEFAULT_ALERT_FACTOR,
            expected_alert_rate,
            min_requests: DEFAULT_MIN_REQUESTS,
        }
    }

    /// An error naming the option when a value makes no sense.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.psi_bound.is_finite() && self.psi_bound > 0.0) {
            return Err(format!(
                "--psi-bound: {} is not a positive number",
                self.psi_bound
            ));
        }
        if !(self.alert_factor.is_finite() && self.alert_factor > 0.0) {
            return Err(format!(
                "--alert-factor: {} is not a positive number",
                self.alert_factor
            ));
        }
        if !(0.0..=1.0).contains(&self.expected_alert_rate) {
            return Err(format!(
                "--expected-alert-rate: {} is not a rate between 0 and 1",
                self.expected_alert_rate
            ));
        }
        Ok(())
    }

    /// The alert rate over which a window drifts.
    pub fn alert_limit(&self) -> f64 {
        self.alert_factor * self.expected_alert_rate
    }

    /// Why a window of `requests` with this PSI and alert rate drifted (empty: it did not, or
    /// it has too few requests to judge).
    pub fn check(&self, requests: u64, psi: Option<f64>, alert_rate: f64) -> Vec<DriftReason> {
        if requests < self.min_requests {
            return Vec::new();
        }
        let mut reasons = Vec::new();
        if let Some(psi) = psi.filter(|&psi| psi > self.psi_bound) {
            reasons.push(DriftReason::Psi {
                psi,
                bound: self.psi_bound,
            });
        }
        if alert_rate > self.alert_limit() {
            reasons.push(DriftReason::AlertRate {
                rate: alert_rate,
                limit: self.alert_limit(),
            });
        }
        reasons
    }
}

/// The alert rate expected on ordinary traffic: the share of the benign validation scores at or
/// over `threshold` (the model's validation FPR), floored at [`MIN_EXPECTED_ALERT_RATE`].
pub fn expected_alert_rate(benign_validation: &[f64], threshold: f64) -> f64 {
    let alerts = benign_validation
        .iter()
        .filter(|&&s| s >= threshold)
        .count();
    let fpr = alerts as f64 / benign_validation.len().max(1) as f64;
    fpr.max(MIN_EXPECTED_ALERT_RATE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_drifts_on_psi_or_on_alerts_and_small_windows_are_not_judged() {
        let rule = DriftRule::with_expected(0.01);
        assert!(rule.check(1000, Some(0.05), 0.02).is_empty());
        assert_eq!(
            rule.check(1000, Some(0.5), 0.02),
            vec![DriftReason::Psi {
                psi: 0.5,
                bound: 0.2
            }]
        );
        let alerts = rule.check(1000, None, 0.2);
        assert!(matches!(alerts[..], [DriftReason::AlertRate { rate, .. }] if rate == 0.2));
        assert_eq!(rule.check(1000, Some(0.5), 0.2).len(), 2);
        assert!(rule.check(10, Some(5.0), 1.0).is_empty());
    }

    #[test]
    fn the_expected_rate_is_the_validation_fpr_floored() {
        let benign: Vec<f64> = (0..100).map(f64::from).collect();
        assert!((expected_alert_rate(&benign, 95.0) - 0.05).abs() < 1e-12);
        assert_eq!(
            expected_alert_rate(&benign, 1000.0),
            MIN_EXPECTED_ALERT_RATE
        );
        assert_eq!(expected_alert_rate(&[], 0.0), MIN_EXPECTED_ALERT_RATE);
    }

    #[test]
    fn nonsense_options_are_refused_by_name() {
        let mut rule = DriftRule::with_expected(0.01);
        assert!(rule.validate().is_ok());
        rule.psi_bound = -1.0;
        assert!(rule.validate().unwrap_err().contains("--psi-bound"));
        rule.psi_bound = 0.2;
        rule.expected_alert_rate = 2.0;
        assert!(
            rule.validate()
                .unwrap_err()
                .contains("--expected-alert-rate")
        );
    }
}
