//! A real mapping failure: a child process lowers its address-space limit
//! (RLIMIT_AS, what `ulimit -v` sets) below the index size, so `mmap` fails
//! with ENOMEM and the read-into-memory fallback cannot allocate either. The
//! open must fail cleanly — no abort, no panic — with an error that names
//! the file and the limits to raise.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use disktracker::{ErrorKind, IndexAccess, IndexOptions};
use disktracker_index_mmap::{MmapIndex, format};
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

const CHILD_ENV: &str = "DT_LIMITS_CHILD";
const BIG: u64 = 256 << 20;

/// A long-running reader: the access mode that maps the file.
fn opts(path: &Path) -> IndexOptions {
    let mut o = IndexOptions::new(path);
    o.access = IndexAccess::LongRunning;
    o
}

/// Virtual size of this process in bytes, from /proc.
fn vm_size() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

fn child(dir: &Path) {
    let big = dir.join("big.mmap");
    let small = dir.join("small.mmap");
    // Leave room for ordinary work, not for the big index.
    let limit = vm_size() + (48 << 20);
    let old = getrlimit(Resource::As);
    setrlimit(
        Resource::As,
        Rlimit {
            current: Some(limit),
            maximum: old.maximum,
        },
    )
    .unwrap();
    let small_ok = MmapIndex::open(&opts(&small)).map(|ix| ix.is_mapped());
    println!("SMALL {small_ok:?}");
    match MmapIndex::open(&opts(&big)) {
        Ok(ix) => println!("BIG opened, mapped={}", ix.is_mapped()),
        Err(e) => println!("BIG {:?} {e}", e.kind()),
    }
}

#[test]
fn mapping_failure_names_the_limits() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&dir));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A valid, sparse 256 MiB index: one entry (the root `/a`) and a huge
    // pool whose unused rest is a hole.
    let mut f = File::create(dir.path().join("big.mmap")).unwrap();
    let pool = BIG - (format::HEADER_LEN + format::ENTRY_LEN) as u64;
    f.write_all(&format::MAGIC).unwrap();
    f.write_all(&format::VERSION.to_le_bytes()).unwrap();
    f.write_all(&1u32.to_le_bytes()).unwrap();
    f.write_all(&(pool as u32).to_le_bytes()).unwrap();
    f.write_all(&0u32.to_le_bytes()).unwrap();
    f.write_all(&2u32.to_le_bytes()).unwrap();
    f.write_all(&7u64.to_le_bytes()).unwrap();
    f.write_all(b"/a").unwrap();
    f.set_len(BIG).unwrap();
    drop(f);
    MmapIndex::create(&opts(&dir.path().join("small.mmap")), [(b"/a", 1u64)]).unwrap();
    // Sanity: without the limit, the big file opens (mapped).
    assert!(
        MmapIndex::open(&opts(&dir.path().join("big.mmap")))
            .unwrap()
            .is_mapped()
    );

    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "mapping_failure_names_the_limits",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("SMALL Ok(true)"), "{stdout}");
    let big = stdout
        .lines()
        .find_map(|l| l.split_once("BIG ").map(|(_, r)| r))
        .unwrap();
    eprintln!("error under RLIMIT_AS: {big}");
    let want_kind = format!("{:?}", ErrorKind::Io);
    assert!(big.starts_with(&want_kind), "{big}");
    for needle in [
        "big.mmap",
        "cannot memory-map index",
        "reading it into memory failed too",
        "ulimit -v",
        "vm.max_map_count",
    ] {
        assert!(big.contains(needle), "missing {needle:?} in: {big}");
    }
}
