//! Small helpers with no HubSpot knowledge: time formatting, ids, paths, emails.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 for times before it).
pub(crate) fn epoch_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// `SystemTime` for a count of milliseconds since the Unix epoch.
pub(crate) fn from_epoch_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// ISO-8601 in UTC with milliseconds, the form HubSpot answers with: `2020-01-30T17:42:10.276Z`.
pub(crate) fn iso8601(t: SystemTime) -> String {
    let ms = epoch_millis(t);
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        ms % 1000
    )
}

/// Proleptic Gregorian date for a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

/// A small non-cryptographic generator (splitmix64) for ids and tokens.
#[derive(Debug)]
pub(crate) struct IdGen(u64);

impl IdGen {
    /// Seeded from the clock and a process-wide counter so parallel fakes differ.
    pub(crate) fn new() -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static INSTANCES: AtomicU64 = AtomicU64::new(0);
        let n = INSTANCES.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Self(nanos ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(std::process::id()))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A version-4-shaped UUID string, as HubSpot's `correlationId`s are.
    pub(crate) fn uuid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0x0fff,
            ((b >> 48) & 0x3fff) | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }

    /// An opaque token with a readable prefix.
    pub(crate) fn token(&mut self, prefix: &str) -> String {
        format!("{prefix}-{:016x}{:016x}", self.next_u64(), self.next_u64())
    }
}

/// Percent-decodes one path segment (`a%40b.com` -> `a@b.com`); `+` stays a plus.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// HubSpot stores emails trimmed and lowercased.
pub(crate) fn normalize_email(s: &str) -> String {
    s.trim().to_lowercase()
}

/// A plausible email address: one `@`, a non-empty local part, a dotted domain, no spaces.
pub(crate) fn plausible_email(s: &str) -> bool {
    let s = s.trim();
    if s.is_empty() || s.len() > 254 || s.chars().any(char::is_whitespace) {
        return false;
    }
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
}

/// HubSpot keeps property values as strings: numbers and booleans become their text, `null`
/// clears the value.
/// Property values as HubSpot keeps them: every value as a string.
pub(crate) fn string_map<'a>(
    entries: impl IntoIterator<Item = (&'a String, &'a serde_json::Value)>,
) -> std::collections::BTreeMap<String, String> {
    entries
        .into_iter()
        .map(|(k, v)| (k.clone(), property_string(v)))
        .collect()
}

/// The object at `key` of `value` as a string map (empty when absent or not an object).
pub(crate) fn string_map_at(
    value: &serde_json::Value,
    key: &str,
) -> std::collections::BTreeMap<String, String> {
    value
        .get(key)
        .and_then(serde_json::Value::as_object)
        .map(string_map)
        .unwrap_or_default()
}

pub(crate) fn property_string(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_known_instants() {
        assert_eq!(iso8601(from_epoch_millis(0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            iso8601(from_epoch_millis(1_580_406_130_276)),
            "2020-01-30T17:42:10.276Z"
        );
        assert_eq!(
            iso8601(from_epoch_millis(951_782_400_000)),
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn decode_and_validate() {
        assert_eq!(percent_decode("a%40b.com"), "a@b.com");
        assert_eq!(percent_decode("a+b%4"), "a+b%4");
        assert!(plausible_email("a@b.com"));
        assert!(!plausible_email("bad-email"));
        assert!(!plausible_email("a@b"));
        assert!(!plausible_email("a b@c.com"));
    }
}
