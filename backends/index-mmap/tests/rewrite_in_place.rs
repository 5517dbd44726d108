//! Issue 9, finding 1: another program rewrites `data.mmap` in place (what
//! `cp`, `rsync --inplace` or restoring a backup do) while DiskTracker
//! processes open it and look paths up. Before, a mapped reader died of
//! SIGBUS (exit 135) in 23 of 300 runs with `cp` and 177 of 600 with
//! truncate-and-rewrite.
//!
//! Here, reader processes (this test binary re-executed, as `disktracker
//! size` would run) each open the index and look paths up, many times, in
//! both ways of reading (one-shot positioned reads, and the guarded mapping
//! of a long-running reader), while a thread rewrites the file in place in
//! both ways. Required: no reader dies by a signal (the exit status is
//! checked for one), and every answer is the exact answer of one of the two
//! versions being written, or a `Corrupt` error naming the file.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use disktracker::{ErrorKind, IndexOptions};
use disktracker_index_mmap::{Load, MmapIndex, format};
use disktracker_testkit::rng::Rng;

const CHILD_ENV: &str = "DT_REWRITE_CHILD";
/// Paths in the index (about 1.5 MB, so a rewrite takes a while).
const PATHS: u64 = 20_000;
/// Reader processes per configuration, and opens each.
const READERS: usize = 4;
const OPENS_PER_READER: usize = 150;
const LOOKUPS_PER_OPEN: usize = 8;

fn path_of(i: u64) -> Vec<u8> {
    format!("/srv/data/{:03}/{:05}", i % 211, i).into_bytes()
}

/// Version `v` (0 or 1) of the index: same paths, sizes differing by `v`,
/// so the two files have the same length and any answer names its version.
fn version(v: u64) -> Vec<u8> {
    let mut entries: Vec<(Vec<u8>, u64)> =
        (0..PATHS).map(|i| (path_of(i), i * 4096 * 2 + v)).collect();
    entries.sort();
    format::encode(entries.iter().map(|(p, n)| (p.as_slice(), *n))).unwrap()
}

/// The child: open and look up, `OPENS_PER_READER` times; exit 3 on a wrong
/// answer or an error of the wrong kind. Prints its tally.
fn child(path: &Path, load: Load, seed: u64) -> ! {
    let mut rng = Rng::new(seed);
    let (mut answered, mut corrupt, mut changed) = (0u64, 0u64, 0u64);
    for _ in 0..OPENS_PER_READER {
        // Paced like separate `size` processes, so the rewriter gets the CPU
        // too and the opens spread over many rewrites.
        std::thread::sleep(std::time::Duration::from_micros(rng.below_u64(3000)));
        let ix = match MmapIndex::open_with(&IndexOptions::new(path), load) {
            Ok(ix) => ix,
            Err(e) if e.kind() == ErrorKind::Corrupt => {
                corrupt += 1;
                continue;
            }
            Err(e) => {
                println!("BAD open error: {e}");
                std::process::exit(3);
            }
        };
        for _ in 0..LOOKUPS_PER_OPEN {
            let i = rng.below_u64(PATHS);
            let mut q = path_of(i);
            let absent = rng.below(4) == 0;
            if absent {
                q.push(b'~');
            }
            match ix.lookup(&q) {
                Ok(None) if absent => answered += 1,
                Ok(Some(n)) if !absent && n / 2 == i * 4096 => answered += 1,
                Ok(other) => {
                    println!("WRONG answer {other:?} for {}", String::from_utf8_lossy(&q));
                    std::process::exit(3);
                }
                Err(e) if e.kind() == ErrorKind::Corrupt && e.to_string().contains("data.mmap") => {
                    if e.to_string().contains("changed while it was being read") {
                        changed += 1;
                    } else {
                        corrupt += 1;
                    }
                }
                Err(e) => {
                    println!("BAD lookup error: {e}");
                    std::process::exit(3);
                }
            }
        }
    }
    println!("TALLY {answered} {corrupt} {changed}");
    std::process::exit(0);
}

/// How the rewriter changes the file, as another program would.
#[derive(Clone, Copy, Debug)]
enum Rewrite {
    /// `cp new data.mmap`: open with O_TRUNC, write it all.
    Cp,
    /// Truncate to a random shorter length, then write the whole file back.
    TruncateRewrite,
}

fn rewriter(
    path: &Path,
    how: Rewrite,
    versions: &[Vec<u8>; 2],
    stop: &AtomicBool,
    rounds: &AtomicU64,
) {
    let mut rng = Rng::new(0x5EED);
    let mut k = 0usize;
    while !stop.load(Ordering::Relaxed) {
        k += 1;
        let bytes = &versions[k % 2];
        match how {
            Rewrite::Cp => {
                let mut f = OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(path)
                    .unwrap();
                for chunk in bytes.chunks(128 << 10) {
                    f.write_all(chunk).unwrap();
                }
            }
            Rewrite::TruncateRewrite => {
                let f = OpenOptions::new().write(true).open(path).unwrap();
                f.set_len(rng.below_u64(bytes.len() as u64)).unwrap();
                std::thread::yield_now();
                f.write_all_at(bytes, 0).unwrap();
            }
        }
        rounds.fetch_add(1, Ordering::Relaxed);
        // A shell loop of `cp` runs a new process each time: the file
        // stays whole for a moment between rewrites.
        std::thread::sleep(std::time::Duration::from_micros(rng.below_u64(2000)));
    }
}

fn run(how: Rewrite, load: Load) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.mmap");
    let versions = [version(0), version(1)];
    fs::write(&path, &versions[0]).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicU64::new(0));
    let writer = {
        let (path, stop, rounds) = (path.clone(), stop.clone(), rounds.clone());
        std::thread::spawn(move || rewriter(&path, how, &versions, &stop, &rounds))
    };
    while rounds.load(Ordering::Relaxed) < 2 {
        std::thread::yield_now();
    }
    let children: Vec<_> = (0..READERS)
        .map(|r| {
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "child_entry",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_ENV, format!("{}|{load:?}|{r}", path.display()))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let (mut answered, mut corrupt, mut changed) = (0u64, 0u64, 0u64);
    let (mut signals, mut failures) = (vec![], vec![]);
    for c in children {
        let out = c.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if let Some(sig) = out.status.signal() {
            signals.push(sig);
            continue;
        }
        if !out.status.success() {
            failures.push(stdout);
            continue;
        }
        let tally = stdout
            .lines()
            .find_map(|l| l.split_once("TALLY ").map(|(_, t)| t.to_owned()))
            .unwrap_or_else(|| panic!("no tally in: {stdout}"));
        let mut it = tally.split_whitespace().map(|n| n.parse::<u64>().unwrap());
        answered += it.next().unwrap();
        corrupt += it.next().unwrap();
        changed += it.next().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    eprintln!(
        "{how:?}, {load:?}: {} opens in {READERS} processes during {} rewrites: \
         {answered} exact answers, {corrupt} corrupt and {changed} changed-file errors, \
         {} signals",
        READERS * OPENS_PER_READER,
        rounds.load(Ordering::Relaxed),
        signals.len()
    );
    assert!(signals.is_empty(), "readers died by signals {signals:?}");
    assert!(failures.is_empty(), "readers failed: {failures:?}");
    assert!(
        rounds.load(Ordering::Relaxed) > 10,
        "the file was hardly rewritten"
    );
    // Both outcomes happened: the readers ran into rewrites and also
    // answered between them.
    assert!(answered > 0, "no lookup ever answered");
    assert!(corrupt + changed > 0, "no reader ever met a rewrite");
}

/// The re-executed reader process (run by the tests below, not on its own).
#[test]
#[ignore = "the reader process of the tests below; needs their environment"]
fn child_entry() {
    let arg = std::env::var_os(CHILD_ENV).expect("run by the rewrite tests, which set it");
    let arg = arg.to_string_lossy().into_owned();
    let mut parts = arg.split('|');
    let path = parts.next().unwrap().to_owned();
    let load = match parts.next().unwrap() {
        "Pread" => Load::Pread,
        "Map" => Load::Map,
        _ => Load::Read,
    };
    let r: u64 = parts.next().unwrap().parse().unwrap();
    child(Path::new(&path), load, r + 1);
}

#[test]
fn one_shot_readers_survive_cp_over_the_index() {
    run(Rewrite::Cp, Load::Pread);
}

#[test]
fn one_shot_readers_survive_truncate_and_rewrite() {
    run(Rewrite::TruncateRewrite, Load::Pread);
}

#[test]
fn mapped_readers_survive_cp_over_the_index() {
    run(Rewrite::Cp, Load::Map);
}

#[test]
fn mapped_readers_survive_truncate_and_rewrite() {
    run(Rewrite::TruncateRewrite, Load::Map);
}
