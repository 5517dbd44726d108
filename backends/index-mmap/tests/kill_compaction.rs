//! Crash safety: a child process compacts in a loop and is killed with
//! SIGKILL at random points, many times. After every kill — and all the while
//! the child runs, from this (another) process — the index opens, is valid,
//! and holds exactly one whole generation: the old content or the new, never
//! a mix, never missing.
//!
//! The child is this same test binary, re-executed with `DT_CRASH_CHILD` set.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use disktracker::IndexOptions;
use disktracker_index_mmap::MmapIndex;
use disktracker_testkit::rng::Rng;

const CHILD_ENV: &str = "DT_CRASH_CHILD";
const READY: &str = "DT_CRASH_CHILD_READY";
/// Paths present in every generation.
const STABLE: u64 = 3000;
/// Paths under `/x`, present only in odd generations.
const EXTRA: u64 = 300;

fn opts(path: &Path) -> IndexOptions {
    IndexOptions::new(path)
}

fn stable(i: u64) -> Vec<u8> {
    format!("/s/{:02}/{i}", i % 37).into_bytes()
}

fn extra(i: u64) -> Vec<u8> {
    format!("/x/{i}").into_bytes()
}

fn value(i: u64, generation: u64) -> u64 {
    i * 1_000_000 + generation
}

/// Generation `g` in full: what the index must equal when `/gen` says `g`.
fn generation(g: u64) -> Vec<(Vec<u8>, u64)> {
    let mut v: Vec<(Vec<u8>, u64)> = (0..STABLE).map(|i| (stable(i), value(i, g))).collect();
    if g % 2 == 1 {
        v.extend((0..EXTRA).map(|i| (extra(i), value(i, g))));
    }
    v.push((b"/gen".to_vec(), g));
    v.sort();
    v
}

/// Opens the index and checks it holds one whole generation; returns it.
fn check_whole(path: &Path) -> u64 {
    let ix = MmapIndex::open(&opts(path)).expect("the index always opens");
    ix.verify().expect("the index is always valid");
    let g = ix
        .lookup(b"/gen")
        .expect("lookups succeed")
        .expect("every generation has /gen");
    let got: Vec<(Vec<u8>, u64)> = ix.iter().unwrap().map(|(p, n)| (p.to_vec(), n)).collect();
    assert!(
        got == generation(g),
        "index is not exactly generation {g}: torn"
    );
    g
}

/// The child: advance one generation per compaction, forever.
fn child(path: &Path) -> ! {
    // A long-running compactor, like the watcher.
    let mut o = opts(path);
    o.access = disktracker::IndexAccess::LongRunning;
    let mut ix = MmapIndex::open(&o).unwrap();
    println!("{READY}");
    loop {
        let g = ix.lookup(b"/gen").unwrap().unwrap() + 1;
        for i in 0..STABLE {
            ix.set(&stable(i), value(i, g));
        }
        if g % 2 == 1 {
            for i in 0..EXTRA {
                ix.set(&extra(i), value(i, g));
            }
        } else {
            ix.remove_subtree(b"/x").unwrap();
        }
        ix.set(b"/gen", g);
        ix.compact().unwrap();
    }
}

#[test]
fn sigkill_during_compaction_never_tears_the_index() {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        child(&PathBuf::from(path));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.mmap");
    MmapIndex::create(&opts(&path), generation(0)).unwrap();

    let seed = std::env::var("DT_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash test seed: {seed} (DT_CRASH_SEED={seed} to repeat)");
    let mut rng = Rng::new(seed);

    let iterations = 100;
    let mut last = 0u64;
    let mut tmp_left = 0;
    let mut reads_while_running = 0u64;
    let started = Instant::now();
    for _ in 0..iterations {
        let mut c = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "sigkill_during_compaction_never_tears_the_index",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Wait until the child has the index open and is compacting, but not
        // forever: a reader thread reports the marker (or EOF) on a channel.
        let out = BufReader::new(c.stdout.take().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { break };
                // libtest prints "test NAME ... " without a newline first.
                if line.trim_end().ends_with(READY) {
                    let _ = tx.send(true);
                }
            }
            let _ = tx.send(false);
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(true) => {}
            other => {
                let _ = c.kill();
                let _ = c.wait();
                panic!("the child did not start compacting: {other:?}");
            }
        }
        // Read from this process while the child compacts, for a random time.
        // Up to 60 ms: a compaction's two fsyncs take tens of ms on a
        // loaded machine, and some must complete.
        let until = Instant::now() + Duration::from_micros(rng.below_u64(60_000));
        while Instant::now() < until {
            let g = check_whole(&path);
            assert!(g >= last, "generation went back from {last} to {g}");
            last = g;
            reads_while_running += 1;
        }
        c.kill().unwrap(); // SIGKILL
        c.wait().unwrap();
        if !temp_files(&path).is_empty() {
            tmp_left += 1;
        }
        let g = check_whole(&path);
        assert!(g >= last, "generation went back from {last} to {g}");
        last = g;
    }
    eprintln!(
        "{iterations} kills in {:?}: reached generation {last}, {tmp_left} kills left a .tmp, \
         {reads_while_running} whole reads while the child ran",
        started.elapsed()
    );
    // The test only means something if compactions completed and some kills
    // landed mid-compaction.
    assert!(last >= 2, "the child never finished a compaction");
    assert!(
        tmp_left > 0,
        "no kill landed while a compaction was writing"
    );

    // Leftover temporary files are ignored by open and removed by the next
    // compaction (the writer lock died with its holder).
    let mut ix = MmapIndex::open(&opts(&path)).unwrap();
    ix.set(b"/gen", last);
    ix.compact().unwrap();
    assert_eq!(temp_files(&path), Vec::<String>::new());
}

/// Names in the index's directory other than the index and its lock file.
fn temp_files(index: &Path) -> Vec<String> {
    std::fs::read_dir(index.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "data.mmap" && n != "data.mmap.lock")
        .collect()
}
