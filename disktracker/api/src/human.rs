//! Formatting of sizes, deltas, percentages, times and durations for people,
//! shared by every reporter (first-party or not) so they all read alike.
//!
//! Everything here is total: every input, however absurd, gives a string and
//! never a panic, because a reporter must not crash on the data it is handed.

use jiff::fmt::temporal::DateTimePrinter;
use jiff::tz::Offset;

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
    // Whole units and remainder apart, so that `bytes * 10` cannot overflow:
    // `q * 10 <= 2^68 * 10` and `r * 10 < 2^64`.
    let (q, r) = (bytes / div, bytes % div);
    q * 10 + (r * 10 + div / 2) / div
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

/// A short duration given in nanoseconds: `"420 ns"`, `"1.5 µs"`,
/// `"12.3 ms"`, then as [`duration_ms`].
pub fn duration_ns(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{:.1} µs", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} ms", ns as f64 / 1e6),
        _ => duration_ms(ns / 1_000_000),
    }
}

/// A rate per second with a decimal prefix: `"850/s"`, `"48.5 k/s"`, `"1.23 M/s"`.
pub fn rate(per_second: f64) -> String {
    if !per_second.is_finite() || per_second < 0.0 {
        return "-".to_owned();
    }
    if per_second < 1e3 {
        format!("{per_second:.0}/s")
    } else if per_second < 1e6 {
        format!("{:.1} k/s", per_second / 1e3)
    } else {
        format!("{:.2} M/s", per_second / 1e6)
    }
}

/// Milliseconds since the Unix epoch as UTC `"YYYY-MM-DD HH:MM:SS"`.
///
/// Times from `-9999-01-02` to `9999-12-30` (the range of
/// [`jiff::Timestamp`]) are shown on the proleptic Gregorian calendar, years
/// before 1 in ISO 8601's extended form (`-000001-12-31 23:59:59`). Anything
/// outside that range — only a corrupt record or a wildly wrong clock gives
/// one — is not clamped to a date it is not but shown as
/// `"out-of-range time N ms"`, keeping the stored number.
pub fn utc(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => DateTimePrinter::new()
            .separator(b' ')
            .precision(Some(0))
            .datetime_to_string(&Offset::UTC.to_datetime(ts)),
        Err(_) => out_of_range(ms),
    }
}

/// Milliseconds since the Unix epoch as ISO 8601 UTC with milliseconds
/// (`"2026-11-21T06:02:23.123Z"`), for machine-readable text formats. The
/// range and the out-of-range marker are those of [`utc`].
pub fn iso_utc(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => format!("{ts:.3}"),
        Err(_) => out_of_range(ms),
    }
}

fn out_of_range(ms: i64) -> String {
    format!("out-of-range time {ms} ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_durations_and_rates_pick_their_unit() {
        assert_eq!(duration_ns(0), "0 ns");
        assert_eq!(duration_ns(999), "999 ns");
        assert_eq!(duration_ns(1_500), "1.5 µs");
        assert_eq!(duration_ns(12_345_678), "12.3 ms");
        assert_eq!(duration_ns(2_070_000_000), "2.07 s");
        assert_eq!(duration_ns(u64::MAX), duration_ms(u64::MAX / 1_000_000));
        assert_eq!(rate(850.2), "850/s");
        assert_eq!(rate(48_520.0), "48.5 k/s");
        assert_eq!(rate(1_234_567.0), "1.23 M/s");
        assert_eq!(rate(f64::NAN), "-");
        assert_eq!(rate(-1.0), "-");
    }

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
    }

    #[test]
    fn deltas_at_the_extremes_are_exact() {
        // |i128::MIN| = 2^127 bytes = 2^67 EiB exactly; i128::MAX = 2^127 - 1
        // rounds up to the same tenth.
        let two_67 = (1u128 << 67).to_string();
        assert_eq!(two_67, "147573952589676412928");
        assert_eq!(delta(i128::MIN), format!("-{two_67}.0 EiB"));
        assert_eq!(delta(i128::MAX), format!("+{two_67}.0 EiB"));
        // (2^66 + 3) EiB and a half, far beyond where `bytes * 10` overflows.
        let n = (1i128 << 66) + 3;
        assert_eq!(delta(-((n << 60) + (1 << 59))), format!("-{n}.5 EiB"));
    }

    /// Days since 1970-01-01 to `(year, month, day)`, counted year by year
    /// and month by month: slow, obviously right, independent of `jiff`.
    fn civil_by_counting(mut days: i64) -> (i64, i64, i64) {
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let year_len = |y: i64| if leap(y) { 366 } else { 365 };
        let mut y = 1970;
        while days < 0 {
            y -= 1;
            days += year_len(y);
        }
        while days >= year_len(y) {
            days -= year_len(y);
            y += 1;
        }
        let months = [
            31,
            if leap(y) { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        let mut m = 0;
        while days >= months[m] {
            days -= months[m];
            m += 1;
        }
        (y, m as i64 + 1, days + 1)
    }

    fn reference(ms: i64, sep: char, millis: bool) -> String {
        let (days, in_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
        let (y, m, d) = civil_by_counting(days);
        let year = if y < 0 {
            format!("-{:06}", -y)
        } else {
            format!("{y:04}")
        };
        let s = in_day / 1000;
        let mut out = format!(
            "{year}-{m:02}-{d:02}{sep}{:02}:{:02}:{:02}",
            s / 3600,
            s % 3600 / 60,
            s % 60
        );
        if millis {
            out.push_str(&format!(".{:03}Z", in_day % 1000));
        }
        out
    }

    #[test]
    fn dates_follow_the_gregorian_calendar() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(-1), "1969-12-31 23:59:59");
        assert_eq!(iso_utc(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00");
        // Leap rules at century boundaries, year 1 and the year before it.
        let mut samples = vec![
            -2_203_891_200_000, // 1900-03-01
            -2_203_977_600_000, // 1900-02-28
            4_107_542_400_000,  // 2100-03-01
            -62_135_596_800_000,
            -62_135_596_800_001,
            -62_167_219_200_001,
            1_700_000_000_123,
        ];
        // A spread over the whole representable range (a fixed LCG).
        let (lo, hi) = (-377_705_023_201_000_i64, 253_402_207_200_000_i64);
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..300 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            samples.push(lo + (x % (hi - lo) as u64) as i64);
        }
        samples.extend([lo, hi]);
        for ms in samples {
            assert_eq!(utc(ms), reference(ms, ' ', false), "{ms}");
            assert_eq!(iso_utc(ms), reference(ms, 'T', true), "{ms}");
        }
    }

    #[test]
    fn times_outside_the_calendar_are_marked_not_clamped() {
        let (lo, hi) = (-377_705_023_201_000_i64, 253_402_207_200_000_i64);
        for ms in [i64::MIN, lo - 1, hi + 1, i64::MAX] {
            let want = format!("out-of-range time {ms} ms");
            assert_eq!(utc(ms), want);
            assert_eq!(iso_utc(ms), want);
        }
    }
}
