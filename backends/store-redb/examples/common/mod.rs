//! What the store examples share: a deterministic tree, stats, medians.
#![allow(dead_code)]

use std::time::Duration;

use disktracker::DirStats;

/// A deterministic tree of `n` directory paths (breadth first, 1–12
/// subdirectories per directory, names 6–13 bytes), sorted bytewise.
pub fn tree(n: usize) -> Vec<(Vec<u8>, u32)> {
    let base = b"/srv/fileshare/department-of-examples".to_vec();
    let mut out = vec![(base.clone(), 0u32)];
    let mut queue = std::collections::VecDeque::from([(base, 0u32)]);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    while out.len() < n {
        let Some((parent, depth)) = queue.pop_front() else {
            break;
        };
        let kids = 1 + next() % 12;
        for _ in 0..kids {
            let r = next();
            let mut p = parent.clone();
            p.push(b'/');
            let name = format!("dir-{:016x}", r);
            p.extend_from_slice(&name.as_bytes()[..6 + (r % 8) as usize]);
            if p.len() > 120 || out.len() >= n {
                continue;
            }
            out.push((p.clone(), depth + 1));
            queue.push_back((p, depth + 1));
        }
    }
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

pub fn stats(i: u64) -> DirStats {
    DirStats {
        total_bytes: i * 40_960,
        total_apparent: i * 39_000,
        direct_bytes: 4096 + i % 7 * 4096,
        direct_apparent: 3000 + i % 11,
        file_count: i * 15,
        direct_files: i % 15,
        child_count: i % 4,
        error_count: 0,
        mtime_ns: 1_700_000_000_000_000_000 + i as i64,
        dev: 2049,
        ino: 1_000_000 + i,
        fingerprint: u128::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835),
    }
}

/// User plus system CPU time of this process so far (clock ticks of 10 ms on Linux).
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    // `rest` starts at field 3 (state).
    let ticks = field(14 - 3) + field(15 - 3);
    Duration::from_millis(ticks * 10)
}

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
