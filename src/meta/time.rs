//! Timestamps as the API writes them: `metav1.Time` (RFC 3339, seconds) and
//! `metav1.MicroTime` (RFC 3339, microseconds), always in UTC.

use std::time::SystemTime;

/// A `Time` as the API writes it: `2026-12-01T22:10:53Z`.
pub(crate) fn time(t: SystemTime) -> String {
    format(t, "%Y-%m-%dT%H:%M:%SZ")
}

/// A `MicroTime` as the API writes it: `2026-12-01T22:10:53.123456Z`.
pub(crate) fn micro_time(t: SystemTime) -> String {
    format(t, "%Y-%m-%dT%H:%M:%S%.6fZ")
}

fn format(t: SystemTime, pattern: &str) -> String {
    let ts = jiff::Timestamp::try_from(t).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    ts.strftime(pattern).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn formats() {
        let t = UNIX_EPOCH + Duration::from_micros(1_764_627_053_123_456);
        assert_eq!(time(t), "2025-12-01T22:10:53Z");
        assert_eq!(micro_time(t), "2025-12-01T22:10:53.123456Z");
        assert_eq!(time(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
