//! A request's own time, as logs write it: an access log's `10/Oct/2000:13:55:36 -0700`,
//! RFC 3339 (Splunk's `_time`, `2000-10-10T20:55:36.000+00:00`), or epoch seconds or
//! milliseconds; read into Unix epoch milliseconds, and written back as RFC 3339 in UTC.

use chrono::{DateTime, SecondsFormat};

/// An epoch value at or above this is in milliseconds: as seconds it would be past the year 5000.
const MILLIS_FROM: f64 = 1e11;

/// Epoch milliseconds past this (the year 33658) are not a time anyone logged.
const MAX_MILLIS: f64 = 1e15;

/// Unix epoch milliseconds of a time written as RFC 3339, as an access log writes it, or as
/// epoch seconds or milliseconds (decimals allowed); `None` when it is none of these.
pub fn parse_time_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.starts_with(|c: char| c.is_ascii_digit()) && !text.contains([':', '-', '/']) {
        return text.parse::<f64>().ok().and_then(epoch_ms);
    }
    DateTime::parse_from_rfc3339(text)
        // Splunk's CSV exports write the offset without a colon (`+0000`).
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .map(|time| time.timestamp_millis())
        .ok()
        .or_else(|| parse_access_log_time(text))
}

/// Unix epoch milliseconds of an access log's time, `10/Oct/2000:13:55:36 -0700`.
pub fn parse_access_log_time(text: &str) -> Option<i64> {
    DateTime::parse_from_str(text, "%d/%b/%Y:%H:%M:%S %z")
        .ok()
        .map(|time| time.timestamp_millis())
}

/// Unix epoch milliseconds of an epoch number in seconds or milliseconds (told apart by size).
pub fn epoch_ms(value: f64) -> Option<i64> {
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    let millis = if value >= MILLIS_FROM {
        value
    } else {
        value * 1000.0
    };
    (millis < MAX_MILLIS).then(|| millis.round() as i64)
}

/// Epoch milliseconds as RFC 3339 in UTC with milliseconds: `2000-10-10T20:55:36.000Z`.
pub fn rfc3339_utc(millis: i64) -> Option<String> {
    DateTime::from_timestamp_millis(millis)
        .map(|time| time.to_rfc3339_opts(SecondsFormat::Millis, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2000-10-10T20:55:36Z, worked out by hand: 11,240 days after 1970-01-01, plus 20:55:36.
    const OCT_10_2000: i64 = (11_240 * 86_400 + 20 * 3600 + 55 * 60 + 36) * 1000;

    #[test]
    fn access_log_times_keep_their_offset() {
        assert_eq!(
            parse_access_log_time("10/Oct/2000:13:55:36 -0700"),
            Some(OCT_10_2000)
        );
        assert_eq!(
            parse_time_ms("10/Oct/2000:22:55:36 +0200"),
            Some(OCT_10_2000)
        );
        assert_eq!(parse_access_log_time("10/Foo/2000:13:55:36 -0700"), None);
        assert_eq!(parse_access_log_time("10/Oct/2000:13:55:36"), None);
    }

    #[test]
    fn rfc3339_with_or_without_the_offset_colon() {
        for text in [
            "2000-10-10T20:55:36Z",
            "2000-10-10T20:55:36.000+00:00",
            "2000-10-10T22:55:36.000+02:00",
            "2000-10-10 20:55:36Z",
            "2000-10-10T20:55:36.000+0000",
            " 2000-10-10T13:55:36-07:00 ",
        ] {
            assert_eq!(parse_time_ms(text), Some(OCT_10_2000), "{text}");
        }
        assert_eq!(
            parse_time_ms("2000-10-10T20:55:36.250Z"),
            Some(OCT_10_2000 + 250)
        );
        assert_eq!(parse_time_ms("2000-10-10T20:55:36"), None, "no offset");
    }

    #[test]
    fn epoch_seconds_and_milliseconds_are_told_apart() {
        let seconds = OCT_10_2000 / 1000;
        assert_eq!(parse_time_ms(&seconds.to_string()), Some(OCT_10_2000));
        assert_eq!(parse_time_ms(&OCT_10_2000.to_string()), Some(OCT_10_2000));
        assert_eq!(
            parse_time_ms(&format!("{seconds}.5")),
            Some(OCT_10_2000 + 500)
        );
        assert_eq!(epoch_ms(seconds as f64), Some(OCT_10_2000));
        assert_eq!(epoch_ms(-1.0), None);
        assert_eq!(epoch_ms(f64::NAN), None);
        assert_eq!(epoch_ms(1e20), None);
    }

    #[test]
    fn other_text_is_no_time() {
        for text in ["", "yesterday", "-", "12abc", "2000-13-40T00:00:00Z", "inf"] {
            assert_eq!(parse_time_ms(text), None, "{text}");
        }
    }

    #[test]
    fn written_back_in_utc_with_milliseconds() {
        assert_eq!(
            rfc3339_utc(OCT_10_2000 + 7).as_deref(),
            Some("2000-10-10T20:55:36.007Z")
        );
        assert_eq!(rfc3339_utc(0).as_deref(), Some("1970-01-01T00:00:00.000Z"));
    }
}
