//! Formatting of sizes, deltas, percentages, times and durations for people,
//! shared by every reporter (first-party or not) so they all read alike.
//!
//! Everything here is total: every input, however absurd, gives a string and
//! never a panic, because a reporter must not crash on the data it is handed.

/// Binary unit names, one per power of 1024. `u64::MAX` is just under 16 EiB,
/// so EiB is the last unit any size or delta can need.
const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/// A byte count with a binary prefix: exact bytes below 1 KiB (`"300 B"`),
/// otherwise one decimal (`"1.5 MiB"`).
///
/// Rounding is to nearest; a value that would round to `1024.0` of one unit
/// is shown as `1.0` of the next, so a column never reads `1024.0 KiB`.
pub fn size(bytes: u64) -> String {
    magnitude(u128::from(bytes))
}

/// A signed change with an explicit sign (`"+1.2 MiB"`, `"-300 B"`, `"0 B"`).
pub fn delta(d: i128) -> String {
    let sign = match d.signum() {
        1 => "+",
        -1 => "-",
        _ => "",
    };
    format!("{sign}{}", magnitude(d.unsigned_abs()))
}

fn magnitude(bytes: u128) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut exp = 1;
    while exp + 1 < UNITS.len() && bytes >= 1u128 << (10 * (exp + 1)) {
        exp += 1;
    }
    let mut tenths = tenths_of(bytes, exp);
    if tenths >= 10 * 1024 && exp + 1 < UNITS.len() {
        exp += 1;
        tenths = tenths_of(bytes, exp);
    }
    format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[exp])
}

/// `bytes / 1024^exp` in tenths, rounded half up, in integers so that no
/// float rounding can make two equal inputs print differently.
fn tenths_of(bytes: u128, exp: usize) -> u128 {
    let div = 1u128 << (10 * exp);
    bytes.saturating_mul(10).saturating_add(div / 2) / div
}

/// `part` as a percentage of `whole` with one decimal (`"37.5%"`), or `"-"`
/// when `whole` is zero and the share means nothing.
pub fn share(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".to_owned();
    }
    pct(part as f64 * 100.0 / whole as f64)
}

/// A percentage already computed, with one decimal; `"-"` if not finite.
pub fn pct(p: f64) -> String {
    if p.is_finite() {
        format!("{p:.1}%")
    } else {
        "-".to_owned()
    }
}

/// A wall-clock duration: `"850 ms"`, `"12.34 s"`, `"3m 05s"`, `"2h 03m 05s"`.
pub fn duration_ms(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms} ms");
    }
    if ms < 60_000 {
        return format!("{}.{:02} s", ms / 1000, (ms % 1000) / 10);
    }
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    if h == 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{h}h {m:02}m {s:02}s")
    }
}

const MS_PER_DAY: i64 = 86_400_000;

/// Milliseconds since the Unix epoch as UTC `"YYYY-MM-DD HH:MM:SS"`.
///
/// Computed here (proleptic Gregorian calendar, Howard Hinnant's
/// `civil_from_days`) rather than with a date crate: it is the one conversion
/// the reporters need, and unlike `humantime` it is total — times before 1970
/// and absurd values format instead of panicking.
pub fn utc(ms: i64) -> String {
    let days = ms.div_euclid(MS_PER_DAY);
    let secs = ms.rem_euclid(MS_PER_DAY) / 1000;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// Milliseconds since the Unix epoch as ISO 8601 UTC with milliseconds
/// (`"2026-11-21T06:02:23.123Z"`), for machine-readable text formats.
pub fn iso_utc(ms: i64) -> String {
    let days = ms.div_euclid(MS_PER_DAY);
    let in_day = ms.rem_euclid(MS_PER_DAY);
    let (secs, millis) = (in_day / 1000, in_day % 1000);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// Year, month (1–12) and day (1–31) of a day count since 1970-01-01.
/// `|days| <= i64::MAX / 86_400_000`, so none of the arithmetic can overflow.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_pick_the_unit_and_round() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1024), "1.0 KiB");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(1024 * 1024 - 1), "1.0 MiB");
        assert_eq!(size(u64::MAX), "16.0 EiB");
        assert_eq!(delta(-300), "-300 B");
        assert_eq!(delta(0), "0 B");
        assert_eq!(delta(i128::MIN), delta(i128::MIN)); // no panic on the extreme
    }

    #[test]
    fn dates_follow_the_gregorian_calendar() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(-1), "1969-12-31 23:59:59");
        // 2000-02-29 (a leap day in a century year divisible by 400).
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00");
        let _ = utc(i64::MIN);
        let _ = utc(i64::MAX);
    }
}
