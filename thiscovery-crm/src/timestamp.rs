//! Timestamps as the production tables hold them.
//!
//! Items written by the Python stack carry `created`/`modified` in Python's `str(datetime)`
//! form, `2022-02-25 10:48:31.407821+00:00` (a space, microseconds, an offset). `created` is
//! the GSI range key and cleanup compares it as a string, so this stack writes exactly that
//! form (always UTC; the fraction left out when the microsecond is 0, as Python does) and
//! parses every form it may meet on read:
//! that one, RFC 3339 (`2021-01-16T12:12:30.147Z`), and PostgreSQL's `+00` offsets
//! (`2018-06-13 14:15:16.171819+00`).

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Formats an instant as the tables store it, Python's `str(datetime)` of a UTC time:
/// `YYYY-MM-DD HH:MM:SS.ffffff+00:00`, or `YYYY-MM-DD HH:MM:SS+00:00` when the microsecond is
/// exactly 0. Either form sorts as a string in time order against the other (`+` sorts before
/// `.`), which the GSI range key and the cleanup's `created <` query rely on.
pub fn format(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let fraction = match t.microsecond() {
        0 => String::new(),
        micros => format!(".{micros:06}"),
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}{fraction}+00:00",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
    )
}

/// The Python stack's rule for the epoch milliseconds it sends HubSpot for a stored
/// timestamp: the first 19 characters (`YYYY-MM-DD HH:MM:SS`, a `T` read as a space) taken as
/// UTC, the fraction and any offset ignored. So `2021-01-16 12:12:30.147` gives
/// `1610799150000`, and `2018-06-13 14:15:16.171819+00` gives `1528899316000`.
pub fn python_epoch_millis(s: &str) -> Result<i64, String> {
    let head = s
        .trim()
        .get(..19)
        .ok_or_else(|| format!("invalid timestamp {s:?}: too short"))?;
    let t = parse(head).map_err(|_| format!("invalid timestamp {s:?}: not YYYY-MM-DD HH:MM:SS"))?;
    Ok(epoch_millis(t))
}

/// Parses a timestamp in any of the forms described in the module docs. A timestamp without
/// an offset is taken as UTC.
pub fn parse(s: &str) -> Result<OffsetDateTime, String> {
    let bad = |why: &str| format!("invalid timestamp {s:?}: {why}");
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 16 {
        return Err(bad("too short"));
    }
    let num = |range: std::ops::Range<usize>| -> Result<u32, String> {
        let part = s.get(range).ok_or_else(|| bad("truncated"))?;
        if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad("expected digits"));
        }
        part.parse::<u32>().map_err(|_| bad("expected digits"))
    };
    if b[4] != b'-' || b[7] != b'-' || !(b[10] == b' ' || b[10] == b'T' || b[10] == b't') {
        return Err(bad("expected YYYY-MM-DD HH:MM:SS"));
    }
    let year = num(0..4)? as i32;
    let month = Month::try_from(num(5..7)? as u8).map_err(|_| bad("month out of range"))?;
    let day = num(8..10)? as u8;
    if b[13] != b':' {
        return Err(bad("expected HH:MM"));
    }
    let hour = num(11..13)? as u8;
    let minute = num(14..16)? as u8;
    let mut pos = 16;
    let mut second = 0u8;
    if b.get(pos) == Some(&b':') {
        second = num(pos + 1..pos + 3)? as u8;
        pos += 3;
    }
    let mut nanos = 0u32;
    if b.get(pos) == Some(&b'.') || b.get(pos) == Some(&b',') {
        let start = pos + 1;
        let mut end = start;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        if end == start {
            return Err(bad("empty fraction"));
        }
        let digits = &s[start..end.min(start + 9)];
        nanos = digits.parse::<u32>().map_err(|_| bad("bad fraction"))?
            * 10u32.pow(9 - digits.len() as u32);
        pos = end;
    }
    let offset = parse_offset(&s[pos..]).ok_or_else(|| bad("bad offset"))?;
    let date = Date::from_calendar_date(year, month, day).map_err(|e| bad(&e.to_string()))?;
    let time = Time::from_hms_nano(hour, minute, second, nanos).map_err(|e| bad(&e.to_string()))?;
    Ok(PrimitiveDateTime::new(date, time).assume_offset(offset))
}

fn parse_offset(s: &str) -> Option<UtcOffset> {
    let s = s.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("z") {
        return Some(UtcOffset::UTC);
    }
    let sign: i8 = match s.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let rest = &s[1..];
    let (h, m) = match rest.len() {
        2 => (rest, "00"),
        4 => (&rest[..2], &rest[2..]),
        5 if rest.as_bytes()[2] == b':' => (&rest[..2], &rest[3..]),
        _ => return None,
    };
    let h: i8 = h.parse().ok()?;
    let m: i8 = m.parse().ok()?;
    UtcOffset::from_hms(sign * h, sign * m, 0).ok()
}

/// Milliseconds since the Unix epoch (what HubSpot date properties take).
pub fn epoch_millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_python_str_datetime() {
        let t = parse("2022-02-25T10:48:31.407821Z").unwrap();
        assert_eq!(format(t), "2022-02-25 10:48:31.407821+00:00");
        let t = parse("2022-02-25 11:48:31.000001+01:00").unwrap();
        assert_eq!(format(t), "2022-02-25 10:48:31.000001+00:00");
        // Python keeps all six digits of a fraction, and drops a zero fraction entirely.
        let t = parse("2022-02-25T10:48:31.4Z").unwrap();
        assert_eq!(format(t), "2022-02-25 10:48:31.400000+00:00");
        let t = parse("2022-02-25T10:48:31.0000004Z").unwrap();
        assert_eq!(format(t), "2022-02-25 10:48:31+00:00");
        let t = parse("2022-02-25T10:48:31Z").unwrap();
        assert_eq!(format(t), "2022-02-25 10:48:31+00:00");
        assert_eq!(parse(&format(t)).unwrap(), t);
    }

    #[test]
    fn python_epoch_millis_drops_fraction_and_offset() {
        let cases = [
            ("2022-02-25 10:48:31.164191+00:00", 1_645_786_111_000),
            ("2018-06-13 14:15:16.171819+00", 1_528_899_316_000),
            ("2021-01-16 12:12:30.147", 1_610_799_150_000),
            ("2021-01-16T12:12:30.147Z", 1_610_799_150_000),
            // The offset is ignored, as Python's rule does.
            ("2018-06-12 16:16:56.087895+01", 1_528_820_216_000),
        ];
        for (text, millis) in cases {
            assert_eq!(python_epoch_millis(text).unwrap(), millis, "{text}");
        }
        assert!(python_epoch_millis("2021-01-16").is_err());
        assert!(python_epoch_millis("2021-01-16 12:1x:30").is_err());
    }

    #[test]
    fn parses_every_form_the_system_meets() {
        let cases = [
            ("2022-02-25 10:48:31.407821+00:00", 1_645_786_111_407),
            ("2021-01-16T12:12:30.147Z", 1_610_799_150_147),
            ("2018-06-13 14:15:16.171819+00", 1_528_899_316_171),
            ("2018-06-12 16:16:56.087895+01", 1_528_816_616_087),
            ("2021-07-08T21:20:43Z", 1_625_779_243_000),
            ("2021-07-08T21:20:43", 1_625_779_243_000),
            ("2021-07-08 21:20:43+0000", 1_625_779_243_000),
            ("2021-07-08T21:20:43.123456789-05:30", 1_625_799_043_123),
        ];
        for (text, millis) in cases {
            assert_eq!(epoch_millis(parse(text).unwrap()), millis, "{text}");
        }
    }

    #[test]
    fn rejects_garbage_with_a_reason() {
        for text in [
            "",
            "yesterday",
            "2021-13-01 00:00:00",
            "2021-02-30 00:00:00",
            "2021-01-01 25:00:00",
            "2021-01-01 00:00:00+5",
            "2021-01-01 00:00:00.Z",
            "2021-01-01X00:00:00",
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains("invalid timestamp"), "{text}: {err}");
        }
    }

    #[test]
    fn string_order_matches_time_order() {
        let a = format(parse("2022-02-25T10:48:31.9Z").unwrap());
        let b = format(parse("2022-02-25T10:48:32Z").unwrap());
        let c = format(parse("2022-02-25T10:48:32.1Z").unwrap());
        let d = format(parse("2022-02-26T00:00:00Z").unwrap());
        assert!(a < b && b < c && c < d, "{a} {b} {c} {d}");
    }
}
