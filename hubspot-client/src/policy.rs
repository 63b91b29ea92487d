//! Pure retry policy: how responses are classified, how long to wait, when to stop.
//!
//! Nothing here does I/O; the attempt loop in `send` applies these functions, and they are
//! table-tested below.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::ErrorClass;

/// How the client retries. Plain data with presets.
///
/// ```
/// use std::time::Duration;
/// use hubspot_client::RetryPolicy;
///
/// let patient = RetryPolicy {
///     max_attempts: 8,
///     overall_deadline: Some(Duration::from_secs(300)),
///     ..RetryPolicy::default()
/// };
/// assert!(patient.jitter);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included (1 = never retry). Refreshing the token after a
    /// 401 does not count as an attempt.
    pub max_attempts: u32,
    /// Backoff before the first retry; doubles each retry.
    pub initial_backoff: Duration,
    /// Cap on one backoff.
    pub max_backoff: Duration,
    /// Give up when the next wait would end after this long from the call's start.
    pub overall_deadline: Option<Duration>,
    /// Full jitter: wait a uniformly random time in `[0, backoff]` instead of `backoff`.
    pub jitter: bool,
    /// Minimum wait after a 423 `Locked` (HubSpot asks for at least 2 s).
    pub locked_min_wait: Duration,
    /// The longest server-given wait (`Retry-After`) honoured: a longer one is cut to this.
    /// HubSpot's per-second and ten-second limits never need more than their window; a
    /// `Retry-After` of an hour (or `1e300`) must not park the client. A wait that would end
    /// after [`overall_deadline`](Self::overall_deadline) is not waited at all: the call
    /// gives up at once, and no other call of the client is held back by it.
    pub max_retry_after: Duration,
}

/// The default [`RetryPolicy::max_retry_after`]: 60 seconds.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

impl Default for RetryPolicy {
    /// 5 attempts, backoff from 500 ms doubling to 30 s, full jitter, 2 minutes overall.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            overall_deadline: Some(Duration::from_secs(120)),
            jitter: true,
            locked_min_wait: Duration::from_secs(2),
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
        }
    }
}

impl RetryPolicy {
    /// Never retry (one attempt; a 401 still triggers one token refresh).
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// For tests: 5 attempts, millisecond backoffs, no jitter, so retry counts are exact and
    /// tests are quick.
    pub fn fast_for_tests() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(20),
            overall_deadline: Some(Duration::from_secs(30)),
            jitter: false,
            locked_min_wait: Duration::from_millis(5),
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
        }
    }

    /// The backoff before retry number `retry` (1 for the first retry), before jitter:
    /// `initial * 2^(retry-1)`, capped at `max_backoff`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = retry.saturating_sub(1).min(31);
        self.initial_backoff
            .saturating_mul(1u32 << exp)
            .min(self.max_backoff)
    }

    /// The wait before retry number `retry`, applying jitter with `random` in `[0, 1)`. A
    /// server-given `retry_after` wins over the backoff (it is a floor, never shortened).
    pub fn wait(&self, retry: u32, retry_after: Option<Duration>, random: f64) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.max_retry_after);
        }
        let backoff = self.backoff(retry);
        if self.jitter {
            backoff.mul_f64(random.clamp(0.0, 1.0))
        } else {
            backoff
        }
    }
}

/// Classifies an error status. `policy_name` is HubSpot's `policyName` from a 429 body.
///
/// | status | class |
/// |---|---|
/// | 401 | refresh auth once |
/// | 429 `DAILY` | retry later (after the daily reset) |
/// | 429 other (`TEN_SECONDLY_ROLLING`, `SECONDLY`, none) | retry |
/// | 423 | retry (at least 2 s later, see [`RetryPolicy::locked_min_wait`]) |
/// | 408, 5xx except 501 | retry |
/// | anything else (400, 403, 404, 409, 422, 501, ...) | permanent |
pub fn classify_status(status: u16, policy_name: Option<&str>) -> ErrorClass {
    match status {
        401 => ErrorClass::RefreshAuth,
        429 if policy_name.is_some_and(|p| p.eq_ignore_ascii_case("DAILY")) => {
            ErrorClass::RetryLater {
                not_before: next_daily_reset(SystemTime::now(), 0),
            }
        }
        429 | 423 | 408 => ErrorClass::Retry { retry_after: None },
        501 => ErrorClass::Permanent,
        500..=599 => ErrorClass::Retry { retry_after: None },
        _ => ErrorClass::Permanent,
    }
}

/// Parses a `Retry-After` header: delay-seconds or an HTTP date (relative to `now`). Returns
/// `None` for anything else. Never panics: a number too large for a `Duration` (`1e300`) is
/// [`Duration::MAX`], for the caller to cap ([`RetryPolicy::max_retry_after`]).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        if secs.is_nan() || secs < 0.0 {
            return None;
        }
        return Some(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The next midnight after `now` in a time zone `utc_offset_minutes` east of UTC: when
/// HubSpot resets an account's daily limit.
pub fn next_daily_reset(now: SystemTime, utc_offset_minutes: i32) -> SystemTime {
    const DAY: i64 = 86_400;
    let now_secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let local = now_secs + i64::from(utc_offset_minutes) * 60;
    let next_local_midnight = (local.div_euclid(DAY) + 1) * DAY;
    let utc = next_local_midnight - i64::from(utc_offset_minutes) * 60;
    UNIX_EPOCH + Duration::from_secs(utc.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        let retry = ErrorClass::Retry { retry_after: None };
        let cases: &[(u16, Option<&str>, ErrorClass)] = &[
            (400, None, ErrorClass::Permanent),
            (401, None, ErrorClass::RefreshAuth),
            (403, None, ErrorClass::Permanent),
            (404, None, ErrorClass::Permanent),
            (408, None, retry),
            (409, None, ErrorClass::Permanent),
            (422, None, ErrorClass::Permanent),
            (423, None, retry),
            (429, Some("TEN_SECONDLY_ROLLING"), retry),
            (429, Some("SECONDLY"), retry),
            (429, None, retry),
            (500, None, retry),
            (501, None, ErrorClass::Permanent),
            (502, None, retry),
            (503, None, retry),
            (504, None, retry),
            (521, None, retry),
            (523, None, retry),
            (524, None, retry),
        ];
        for (status, policy, expected) in cases {
            assert_eq!(
                classify_status(*status, *policy),
                *expected,
                "status {status} policy {policy:?}"
            );
        }
        assert!(matches!(
            classify_status(429, Some("DAILY")),
            ErrorClass::RetryLater { .. }
        ));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            jitter: false,
            ..RetryPolicy::default()
        };
        let got: Vec<u128> = (1..=6).map(|r| p.backoff(r).as_millis()).collect();
        assert_eq!(got, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(p.backoff(1000), Duration::from_millis(1000));
    }

    #[test]
    fn wait_applies_full_jitter_and_respects_retry_after() {
        let p = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            ..RetryPolicy::default()
        };
        assert_eq!(p.wait(1, None, 0.0), Duration::ZERO);
        assert_eq!(p.wait(1, None, 0.5), Duration::from_millis(50));
        assert_eq!(p.wait(2, None, 0.999_999).as_millis(), 199);
        assert_eq!(
            p.wait(1, Some(Duration::from_secs(3)), 0.1),
            Duration::from_secs(3)
        );
        let no_jitter = RetryPolicy { jitter: false, ..p };
        assert_eq!(no_jitter.wait(3, None, 0.1), Duration::from_millis(400));
    }

    #[test]
    fn retry_after_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("10", now), Some(Duration::from_secs(10)));
        assert_eq!(
            parse_retry_after(" 1.5 ", now),
            Some(Duration::from_millis(1500))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        // Hostile values parse without panicking.
        assert_eq!(parse_retry_after("1e300", now), Some(Duration::MAX));
        assert_eq!(parse_retry_after("inf", now), Some(Duration::MAX));
        assert_eq!(
            parse_retry_after("18446744073709551615", now),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(parse_retry_after("NaN", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
        // ...and are cut to the policy's maximum.
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.wait(1, Some(Duration::MAX), 0.5),
            DEFAULT_MAX_RETRY_AFTER
        );
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("", now), None);
    }

    #[test]
    fn daily_reset_is_next_local_midnight() {
        // 2026-11-28 13:00:00 UTC
        let now = UNIX_EPOCH + Duration::from_secs(1_795_870_800);
        let midnight_utc = UNIX_EPOCH + Duration::from_secs(1_795_910_400);
        assert_eq!(next_daily_reset(now, 0), midnight_utc);
        // UTC-5: local 08:00, next local midnight is 05:00 UTC the next day.
        assert_eq!(
            next_daily_reset(now, -300),
            midnight_utc + Duration::from_secs(5 * 3600)
        );
        // UTC+14: local 03:00 on the 29th, next local midnight is the 29th 10:00 UTC.
        assert_eq!(
            next_daily_reset(now, 14 * 60),
            midnight_utc + Duration::from_secs(10 * 3600)
        );
        // exactly at midnight: the next one, a day later.
        assert_eq!(
            next_daily_reset(midnight_utc, 0),
            midnight_utc + Duration::from_secs(86_400)
        );
    }
}
