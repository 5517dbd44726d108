//! The inotify source at the kernel's limits, forced by lowering the
//! sysctls (root only; each value is restored, also when a check fails):
//! a queue overflow is reported as "rescan needed" of the root, and running
//! out of watches is an error naming the sysctl at start and an "unwatched"
//! event for the first directory the walk hook cannot watch.
// A failed unwrap in a test is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use disktracker::registry::{self, Plugin as _};
use disktracker::{ErrorKind, EventSource, FsEvent, FsEventKind};
use disktracker_events_inotify as _;

const QUEUE: &str = "/proc/sys/fs/inotify/max_queued_events";
const WATCHES: &str = "/proc/sys/fs/inotify/max_user_watches";

/// Sets a sysctl for the guard's lifetime.
struct Sysctl {
    path: &'static str,
    old: String,
}

impl Sysctl {
    fn set(path: &'static str, value: u64) -> Sysctl {
        let old = fs::read_to_string(path).unwrap();
        fs::write(path, value.to_string()).unwrap();
        Sysctl { path, old }
    }
}

impl Drop for Sysctl {
    fn drop(&mut self) {
        let _ = fs::write(self.path, self.old.trim());
    }
}

fn source() -> Box<dyn EventSource> {
    let p = registry::event_sources().unwrap().get("inotify").unwrap();
    (p.create)(&p.default_settings().unwrap()).unwrap()
}

/// The events received until one matches `want` (or `wait` passes).
fn wait_for(
    rx: &Receiver<FsEvent>,
    wait: Duration,
    want: impl Fn(&FsEvent) -> bool,
) -> Vec<FsEvent> {
    let deadline = Instant::now() + wait;
    let mut seen = Vec::new();
    while let Ok(e) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        let hit = want(&e);
        seen.push(e);
        if hit {
            break;
        }
    }
    seen
}

/// Watches in use by this user, from every process's inotify fds.
fn watches_in_use() -> u64 {
    let mut n = 0;
    for p in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(fds) = fs::read_dir(p.path().join("fdinfo")) else {
            continue;
        };
        for f in fds.flatten() {
            if let Ok(text) = fs::read_to_string(f.path()) {
                n += text
                    .lines()
                    .filter(|l| l.starts_with("inotify wd:"))
                    .count() as u64;
            }
        }
    }
    n
}

fn dirs(root: &Path, n: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let d = root.join(format!("d{i:03}"));
            fs::create_dir(&d).unwrap();
            d
        })
        .collect()
}

#[test]
#[ignore = "needs root: lowers fs.inotify.max_queued_events and max_user_watches"]
fn kernel_limits_are_reported() {
    overflow_is_a_rescan_of_the_root();
    out_of_watches_names_the_sysctl();
}

fn overflow_is_a_rescan_of_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let (tx, rx) = channel();
    let mut s = {
        // Read when the instance is created.
        let _small = Sysctl::set(QUEUE, 16);
        let mut s = source();
        s.watch(&root, tx).unwrap();
        s
    };
    // Faster than one thread reads 16 events at a time, with a margin:
    // creates alone (~25 µs each) let a reader on the other core keep up
    // now and then, so mostly mode changes (a `chmod` is a microsecond or
    // two), alternating between two files since the kernel merges an event
    // equal to the last one queued.
    let pair = [root.join("a"), root.join("b")];
    for f in &pair {
        fs::write(f, b"x").unwrap();
    }
    for round in 0..20 {
        for i in 0..2000 {
            fs::write(root.join(format!("f{round}-{i}")), b"x").unwrap();
        }
        for i in 0..20_000u32 {
            let mode = if (i / 2) % 2 == 0 { 0o600 } else { 0o644 };
            fs::set_permissions(&pair[(i % 2) as usize], fs::Permissions::from_mode(mode)).unwrap();
        }
        let seen = wait_for(&rx, Duration::from_millis(200), |e| {
            e.kind == FsEventKind::RescanNeeded
        });
        if let Some(e) = seen.iter().find(|e| e.kind == FsEventKind::RescanNeeded) {
            assert_eq!(e.path, root, "{e:?}");
            let detail = e.detail.as_deref().unwrap_or("");
            assert!(detail.contains("max_queued_events"), "{detail}");
            s.stop().unwrap();
            return;
        }
    }
    panic!(
        "no overflow reported with a queue of 16 events, 40,000 creates and 400,000 mode changes"
    );
}

fn out_of_watches_names_the_sysctl() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let sub = dirs(&root, 40);
    // Room for the root and a few more, not for 40 directories.
    let _limit = Sysctl::set(WATCHES, watches_in_use() + 5);

    let err = source().watch(&root, channel().0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.to_string().contains("out of inotify watches"), "{err}");
    let hint = format!("{err:#}");
    assert!(hint.contains("fs.inotify.max_user_watches"), "{hint}");

    let (tx, rx) = channel();
    let mut s = source();
    let hook = s
        .watch_as_walked(&root, tx)
        .unwrap()
        .expect("inotify watches as walked");
    for d in &sub {
        hook.call(d);
    }
    let seen = wait_for(&rx, Duration::from_secs(5), |e| {
        e.kind == FsEventKind::Unwatched
    });
    let unwatched: Vec<&FsEvent> = seen
        .iter()
        .filter(|e| e.kind == FsEventKind::Unwatched)
        .collect();
    assert_eq!(unwatched.len(), 1, "{seen:#?}");
    let e = unwatched[0];
    assert!(sub.contains(&e.path), "{e:?}");
    let detail = e.detail.as_deref().unwrap_or("");
    assert!(detail.contains("fs.inotify.max_user_watches"), "{detail}");
    s.stop().unwrap();
}
