//! Durations and byte sizes in the spellings Prometheus' flags and config use.

use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UnitError {
    #[error("not a valid duration string: {0:?} (use e.g. 15d, 2h30m, 90s, 500ms)")]
    Duration(String),
    #[error("not a valid size: {0:?} (use e.g. 512MB, 10GB, 1TB)")]
    Size(String),
}

/// Prometheus' `model.ParseDuration`: a sequence of `<int><unit>` with units
/// in decreasing order among y w d h m s ms (y = 365d, w = 7d); `0` alone is
/// zero.
pub fn parse_duration(s: &str) -> Result<Duration, UnitError> {
    let err = || UnitError::Duration(s.to_string());
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(err());
    }
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 24 * 3600 * 1000),
        ("w", 7 * 24 * 3600 * 1000),
        ("d", 24 * 3600 * 1000),
        ("h", 3600 * 1000),
        ("ms", 1),
        ("m", 60 * 1000),
        ("s", 1000),
    ];
    // Rank of each unit in the required (decreasing) order.
    let rank = |u: &str| match u {
        "y" => 0,
        "w" => 1,
        "d" => 2,
        "h" => 3,
        "m" => 4,
        "s" => 5,
        _ => 6,
    };
    let mut rest = s;
    let mut total: u64 = 0;
    let mut last_rank = -1i32;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return Err(err());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        let (unit, mult) = UNITS
            .iter()
            .find(|(u, _)| rest.starts_with(u))
            .ok_or_else(err)?;
        let r = rank(unit);
        if r <= last_rank {
            return Err(err());
        }
        last_rank = r;
        rest = &rest[unit.len()..];
        total = n
            .checked_mul(*mult)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(err)?;
    }
    Ok(Duration::from_millis(total))
}

/// Byte sizes as Prometheus' `--storage.tsdb.retention.size` reads them:
/// base-2 units B, KB, MB, GB, TB, PB, EB (KiB … also accepted).
pub fn parse_size(s: &str) -> Result<u64, UnitError> {
    let err = || UnitError::Size(s.to_string());
    let t = s.trim();
    let digits = t.bytes().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return Err(err());
    }
    let n: u64 = t[..digits].parse().map_err(|_| err())?;
    let unit = t[digits..].trim().to_ascii_uppercase();
    let shift = match unit.as_str() {
        "" | "B" => 0,
        "KB" | "KIB" | "K" => 10,
        "MB" | "MIB" | "M" => 20,
        "GB" | "GIB" | "G" => 30,
        "TB" | "TIB" | "T" => 40,
        "PB" | "PIB" | "P" => 50,
        "EB" | "EIB" | "E" => 60,
        _ => return Err(err()),
    };
    n.checked_mul(1u64 << shift).ok_or_else(err)
}

/// `units.Base2Bytes` as Prometheus' config reads it (alecthomas/units
/// `ParseBase2Bytes`): `<number><unit>` terms, units case-sensitive, either
/// all IEC (`B KiB MiB GiB TiB PiB EiB`) or all legacy (`B KB MB GB …`, also
/// powers of 1024), fractions allowed (`1.5MB`), `0` alone is zero and a
/// bare number without a unit is an error. Negative sizes are refused.
pub fn parse_base2_bytes(s: &str) -> Result<u64, UnitError> {
    const IEC: [(&str, f64); 7] = [
        ("B", 1.0),
        ("KiB", 1024.0),
        ("MiB", 1048576.0),
        ("GiB", 1073741824.0),
        ("TiB", 1099511627776.0),
        ("PiB", 1125899906842624.0),
        ("EiB", 1152921504606846976.0),
    ];
    const LEGACY: [(&str, f64); 7] = [
        ("B", 1.0),
        ("KB", 1024.0),
        ("MB", 1048576.0),
        ("GB", 1073741824.0),
        ("TB", 1099511627776.0),
        ("PB", 1125899906842624.0),
        ("EB", 1152921504606846976.0),
    ];
    parse_unit_terms(s, &IEC)
        .or_else(|| parse_unit_terms(s, &LEGACY))
        .ok_or_else(|| UnitError::Size(s.to_string()))
}

fn parse_unit_terms(s: &str, units: &[(&str, f64)]) -> Option<u64> {
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() || rest.starts_with('-') {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let mut number_len = int_len;
        let mut frac_len = 0;
        if rest.as_bytes().get(int_len) == Some(&b'.') {
            frac_len = rest[int_len + 1..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count();
            number_len = int_len + 1 + frac_len;
        }
        if int_len == 0 && frac_len == 0 {
            return None;
        }
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .bytes()
            .take_while(|b| *b != b'.' && !b.is_ascii_digit())
            .count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let (_, mult) = units.iter().find(|(u, _)| *u == unit)?;
        total += number * mult;
    }
    (total.is_finite() && total < 9.223372036854776e18).then_some(total as u64)
}

/// Prometheus' `model.Duration` printed form: `1m30s`, `90d`, `0s`
/// (years and weeks only when they divide the duration exactly).
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    const DAY: u128 = 24 * 3600 * 1000;
    for (unit, mult, exact) in [
        ("y", 365 * DAY, true),
        ("w", 7 * DAY, true),
        ("d", DAY, false),
        ("h", 3600 * 1000, false),
        ("m", 60 * 1000, false),
        ("s", 1000, false),
        ("ms", 1, false),
    ] {
        if exact && !ms.is_multiple_of(mult) {
            continue;
        }
        let v = ms / mult;
        if v > 0 {
            out.push_str(&format!("{v}{unit}"));
            ms -= v * mult;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15d"), Ok(Duration::from_secs(15 * 86400)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m500ms"), Ok(Duration::from_millis(60_500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("30m1h").is_err());
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("-5m").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512MB"), Ok(512 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn base2_bytes_like_prometheus_config() {
        assert_eq!(parse_base2_bytes("10MB"), Ok(10 << 20));
        assert_eq!(parse_base2_bytes("1KiB"), Ok(1024));
        assert_eq!(parse_base2_bytes("1.5KB"), Ok(1536));
        assert_eq!(parse_base2_bytes("1MB512KB"), Ok((1 << 20) + (512 << 10)));
        assert_eq!(parse_base2_bytes("0"), Ok(0));
        assert_eq!(parse_base2_bytes("100B"), Ok(100));
        // A bare number, lowercase units, mixed unit families: refused.
        assert!(parse_base2_bytes("100").is_err());
        assert!(parse_base2_bytes("10mb").is_err());
        assert!(parse_base2_bytes("1KiB1KB").is_err());
        assert!(parse_base2_bytes("").is_err());
        assert!(parse_base2_bytes("-1MB").is_err());
    }

    #[test]
    fn durations_print_like_model_duration() {
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_secs(90 * 86400)), "90d");
        assert_eq!(format_duration(Duration::from_secs(14 * 86400)), "2w");
        assert_eq!(format_duration(Duration::from_secs(365 * 86400)), "1y");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1s500ms");
        for s in ["1h30m", "15s", "2w", "1y", "3d12h", "250ms"] {
            assert_eq!(parse_duration(s).map(format_duration), Ok(s.to_string()));
        }
    }
}
