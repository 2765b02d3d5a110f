//! `--since`: a duration ago (`90s`, `10m`, `2h`, `1d`) or an RFC 3339 time, and the RFC 3339
//! timestamps of the log lines, both as ms since the epoch.

/// The cutoff `s` names, at `now_ms`.
pub fn parse(s: &str, now_ms: u64) -> Option<u64> {
    let s = s.trim();
    if let Some(t) = rfc3339_ms(s) {
        return Some(t);
    }
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let per = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    Some(now_ms.saturating_sub(n.checked_mul(per)?))
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` as ms since the epoch.
pub fn rfc3339_ms(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut rest = &s[19..];
    let mut ms = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(frac.len());
        let padded = format!("{:0<3}", &frac[..digits.min(3)]);
        ms = padded.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (oh * 60 + om)
        }
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3_600 + mi * 60 + sec - offset_min * 60;
    u64::try_from(secs * 1_000 + ms).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_and_durations() {
        assert_eq!(rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            rfc3339_ms("2026-01-31T12:00:00.123456Z"),
            Some(1_769_860_800_123)
        );
        assert_eq!(
            rfc3339_ms("2026-01-31T13:00:00+01:00"),
            rfc3339_ms("2026-01-31T12:00:00Z")
        );
        assert_eq!(rfc3339_ms("2026-01-31"), None);
        assert_eq!(parse("10m", 1_000_000), Some(400_000));
        assert_eq!(parse("2h", 10_000_000), Some(2_800_000));
        assert_eq!(parse("1d", 0), Some(0));
        assert_eq!(parse("5 parsecs", 0), None);
        assert_eq!(parse("2026-01-31T12:00:00Z", 0), Some(1_769_860_800_000));
    }
}
