//! The watch loop with real plugins — SQLite store, notify events, mmap
//! index, steal walker — on a real tree: after changes and a quiet period
//! the live sizes equal a fresh scan, offline changes are caught up at boot,
//! and a reconcile stores a snapshot equal to a fresh scan.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use disktracker::registry::{self, Plugin as _};
use disktracker::{
    CancelToken, DirHook, DirRecord, EventSource, FsEvent, FsEventKind, LiveIndex, Result,
    SnapshotId, SnapshotQuery, SnapshotStore, StoreOptions, WalkContext, WalkOptions, WalkOutput,
};
use disktracker_engine::live::tree::TreeOptions;
use disktracker_engine::live::{Control, LiveTree, WatchHost, WatchTimings, Watcher};
use disktracker_engine::{ScanTree, run_scan};
use disktracker_events_inotify as _;
use disktracker_index_mmap as _;
use disktracker_store_sqlite as _;
use disktracker_testkit::fixtures::tempdir;
use disktracker_walker_steal as _;

/// Stops the watcher when a test's scope unwinds, so a failed assertion
/// fails the test instead of leaving `thread::scope` waiting on the loop.
struct StopOnDrop(Sender<Control>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(Control::Stop);
    }
}

struct Host {
    db: PathBuf,
    index: PathBuf,
    log: Mutex<Vec<String>>,
    /// Events under these paths are dropped, as a source that lost them would.
    deaf: Arc<Mutex<Vec<PathBuf>>>,
    /// The sink of the last event source started, for injected events.
    sink: Arc<Mutex<Option<Sender<FsEvent>>>>,
}

impl Host {
    fn new(base: &Path) -> Self {
        Host {
            db: base.join("data.db"),
            index: base.join("data.mmap"),
            log: Mutex::new(Vec::new()),
            deaf: Arc::default(),
            sink: Arc::default(),
        }
    }

    fn inject(&self, e: FsEvent) {
        if let Some(tx) = self.sink.lock().unwrap().as_ref() {
            tx.send(e).unwrap();
        }
    }

    fn first_scan(&self, root: &Path) -> Result<SnapshotId> {
        let mut store = self.open_store()?;
        let by = disktracker_engine::ScanBy {
            walker: "steal",
            host: "test",
        };
        let out = run_scan(
            &*Host::walker(),
            by,
            &mut *store,
            root,
            &WalkOptions::with_threads(2),
            &WalkContext::default(),
            disktracker_engine::ScanRetention::default(),
        )?;
        Ok(out.snapshot.id)
    }

    fn logged(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

/// The notify source, with events under "deaf" paths dropped, as a source
/// that lost them would.
struct Lossy {
    inner: Box<dyn EventSource>,
    deaf: Arc<Mutex<Vec<PathBuf>>>,
    sink: Arc<Mutex<Option<Sender<FsEvent>>>>,
}

impl Lossy {
    /// A sink for the inner source that drops the deaf paths' events.
    fn filtered(&self, sink: Sender<FsEvent>) -> Sender<FsEvent> {
        *self.sink.lock().unwrap() = Some(sink.clone());
        let (tx, rx) = std::sync::mpsc::channel::<FsEvent>();
        let deaf = self.deaf.clone();
        std::thread::spawn(move || {
            for e in rx {
                let lost = deaf.lock().unwrap().iter().any(|d| e.path.starts_with(d));
                if !lost && sink.send(e).is_err() {
                    break;
                }
            }
        });
        tx
    }
}

impl EventSource for Lossy {
    fn watch(&mut self, root: &Path, sink: Sender<FsEvent>) -> Result<()> {
        let tx = self.filtered(sink);
        self.inner.watch(root, tx)
    }

    fn watch_as_walked(&mut self, root: &Path, sink: Sender<FsEvent>) -> Result<Option<DirHook>> {
        let tx = self.filtered(sink);
        self.inner.watch_as_walked(root, tx)
    }

    fn stop(&mut self) -> Result<()> {
        self.inner.stop()
    }
}

impl Host {
    fn walker() -> Box<dyn disktracker::Walker> {
        let p = registry::walkers().unwrap().get("steal").unwrap();
        (p.create)(&p.default_settings().unwrap()).unwrap()
    }
}

impl WatchHost for Host {
    fn open_store(&self) -> Result<Box<dyn SnapshotStore>> {
        let p = registry::stores()?.get("sqlite")?;
        (p.open)(&StoreOptions::file(&self.db).with_settings(p.default_settings()?))
    }

    fn walk(
        &self,
        root: &Path,
        cancel: &CancelToken,
        before_dir: Option<DirHook>,
    ) -> Result<WalkOutput> {
        let ctx = WalkContext {
            cancel: cancel.clone(),
            before_dir,
            ..WalkContext::default()
        };
        Host::walker().walk(root, &WalkOptions::with_threads(2), &ctx)
    }

    fn walk_calls_before_dir(&self) -> bool {
        Host::walker().calls_before_dir()
    }

    fn event_source(&self) -> Result<Box<dyn EventSource>> {
        let p = registry::event_sources()?.get("inotify")?;
        Ok(Box::new(Lossy {
            inner: (p.create)(&p.default_settings()?)?,
            deaf: self.deaf.clone(),
            sink: self.sink.clone(),
        }))
    }

    fn publish_index(
        &self,
        live: &[(&[u8], SnapshotId, &LiveTree)],
        _cursor: i64,
    ) -> Result<Box<dyn LiveIndex>> {
        let p = registry::indexes()?.get("mmap")?;
        let mut entries = live.iter().flat_map(|(_, _, t)| t.totals());
        (p.create)(&disktracker::IndexOptions::new(&self.index), &mut entries)
    }

    fn tree_options(&self, _root: &Path) -> Result<TreeOptions> {
        Ok(TreeOptions::default())
    }

    fn log(&self, line: &str) {
        self.log.lock().unwrap().push(line.to_owned());
    }

    fn host_name(&self) -> String {
        "test".into()
    }
}

fn scan(root: &Path) -> Vec<DirRecord> {
    let out = Host::walker()
        .walk(root, &WalkOptions::with_threads(2), &WalkContext::default())
        .unwrap();
    let tree = ScanTree::from_walk(out).unwrap();
    tree.sorted_ids().iter().map(|&i| tree.record(i)).collect()
}

fn tree(root: &Path) {
    for d in ["a/b", "c"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::write(root.join("a/b/f"), vec![1u8; 10_000]).unwrap();
    fs::write(root.join("c/g"), vec![1u8; 3000]).unwrap();
}

/// Waits until every directory's live size equals a fresh scan's.
fn converge(w_size: &dyn Fn(&[u8]) -> Option<u64>, root: &Path) -> std::result::Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let want = scan(root);
        let wrong: Vec<String> = want
            .iter()
            .filter(|r| w_size(&r.path) != Some(r.stats.total_bytes))
            .map(|r| {
                format!(
                    "{}: live {:?}, scan {}",
                    String::from_utf8_lossy(&r.path),
                    w_size(&r.path),
                    r.stats.total_bytes
                )
            })
            .collect();
        if wrong.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(wrong.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn live_sizes_follow_changes_and_reconcile_stores_a_fresh_scan() {
    let (_t, base) = tempdir();
    let root = base.join("root");
    fs::create_dir(&root).unwrap();
    tree(&root);
    let host = Host::new(&base);
    let first = host.first_scan(&root).unwrap();
    // Offline changes, before any watcher runs: caught up at boot.
    fs::write(root.join("c/offline"), vec![2u8; 50_000]).unwrap();
    let sock = base.join("data.sock");
    std::thread::scope(|s| {
        let mut w = Watcher::boot(
            &host,
            std::slice::from_ref(&root),
            None,
            Some(&sock),
            WatchTimings::default(),
            CancelToken::new(),
        )
        .unwrap();
        let size = |p: &[u8]| match disktracker_engine::live::socket::ask(
            &sock,
            &disktracker_engine::live::socket::Request::Size(vec![
                disktracker::path::escape_bytes(p).into_owned(),
            ]),
        ) {
            Some(disktracker_engine::live::socket::Response::Sizes(a)) => a[0].bytes,
            _ => None,
        };
        let control = w.control();
        let _stop = StopOnDrop(control.clone());
        let runner = s.spawn(move || w.run());
        converge(&size, &root).expect("caught up after boot");
        // Live changes.
        fs::write(root.join("a/new"), vec![3u8; 70_000]).unwrap();
        fs::create_dir_all(root.join("n/m")).unwrap();
        fs::write(root.join("n/m/x"), vec![4u8; 9000]).unwrap();
        fs::rename(root.join("a/b"), root.join("c/b2")).unwrap();
        fs::remove_file(root.join("c/g")).unwrap();
        fs::hard_link(root.join("c/offline"), root.join("n/link")).unwrap();
        converge(&size, &root).expect("live after changes");
        let (tx, rx) = std::sync::mpsc::channel();
        control.send(Control::Reconcile(tx)).unwrap();
        let lines = rx.recv().unwrap().unwrap();
        assert_eq!(lines.len(), 1);
        let new = lines[0].snapshot.expect("a snapshot was derived");
        assert!(new > first);
        let store = host.open_store().unwrap();
        let stored = store.read_tree(new, None).unwrap();
        assert_eq!(
            stored,
            scan(&root),
            "the reconciled snapshot equals a fresh scan"
        );
        // Reconcile again: nothing new, nothing written.
        let (tx, rx) = std::sync::mpsc::channel();
        control.send(Control::Reconcile(tx)).unwrap();
        let again = rx.recv().unwrap().unwrap();
        assert_eq!(again[0].snapshot, None);
        let latest = store
            .latest(SnapshotQuery::of_root(disktracker::path::path_bytes(&root)))
            .unwrap()
            .unwrap();
        assert_eq!(latest.id, new);
        drop(store);
        control.send(Control::Stop).unwrap();
        runner.join().unwrap().unwrap();
    });
    let log = host.logged();
    assert!(log.contains("caught up"), "{log}");
    assert!(log.contains("stopped"), "{log}");
    assert!(!sock.exists(), "the socket is gone after the stop");
}

fn ask_size(sock: &Path, p: &[u8]) -> Option<u64> {
    use disktracker_engine::live::socket::{Request, Response, ask};
    match ask(
        sock,
        &Request::Size(vec![disktracker::path::escape_bytes(p).into_owned()]),
    ) {
        Some(Response::Sizes(a)) => a[0].bytes,
        _ => None,
    }
}

fn ask_state(sock: &Path) -> String {
    use disktracker_engine::live::socket::{Request, Response, ask};
    match ask(sock, &Request::Status) {
        Some(Response::Status { roots, .. }) => roots[0].state.clone(),
        other => format!("{other:?}"),
    }
}

#[test]
fn lost_events_lead_to_a_rescan_and_then_equality() {
    let (_t, base) = tempdir();
    let root = base.join("root");
    fs::create_dir(&root).unwrap();
    tree(&root);
    let host = Host::new(&base);
    host.first_scan(&root).unwrap();
    let sock = base.join("data.sock");
    std::thread::scope(|s| {
        let mut w = Watcher::boot(
            &host,
            std::slice::from_ref(&root),
            None,
            Some(&sock),
            WatchTimings::default(),
            CancelToken::new(),
        )
        .unwrap();
        let control = w.control();
        let _stop = StopOnDrop(control.clone());
        let runner = s.spawn(move || w.run());
        let size = |p: &[u8]| ask_size(&sock, p);
        converge(&size, &root).expect("live after boot");
        // The source loses every event for a while, then says so.
        host.deaf.lock().unwrap().push(root.clone());
        fs::write(root.join("a/lost"), vec![5u8; 40_000]).unwrap();
        fs::remove_dir_all(root.join("c")).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            converge_quick(&size, &root).is_err(),
            "nothing was reported"
        );
        host.deaf.lock().unwrap().clear();
        host.inject(FsEvent::new(FsEventKind::RescanNeeded, &root, None));
        converge(&size, &root).expect("equal after the rescan");
        assert_eq!(ask_state(&sock), "live");
        control.send(Control::Stop).unwrap();
        runner.join().unwrap().unwrap();
    });
    assert!(
        host.logged().contains("events were lost"),
        "{}",
        host.logged()
    );
}

#[test]
fn an_unwatchable_subtree_is_degraded_and_rescanned_periodically() {
    let (_t, base) = tempdir();
    let root = base.join("root");
    fs::create_dir(&root).unwrap();
    tree(&root);
    let host = Host::new(&base);
    host.first_scan(&root).unwrap();
    let sock = base.join("data.sock");
    let timings = WatchTimings {
        degraded_rescan: Duration::from_millis(400),
        ..WatchTimings::default()
    };
    std::thread::scope(|s| {
        let mut w = Watcher::boot(
            &host,
            std::slice::from_ref(&root),
            None,
            Some(&sock),
            timings,
            CancelToken::new(),
        )
        .unwrap();
        let control = w.control();
        let _stop = StopOnDrop(control.clone());
        let runner = s.spawn(move || w.run());
        let size = |p: &[u8]| ask_size(&sock, p);
        converge(&size, &root).expect("live after boot");
        let blind = root.join("a");
        host.deaf.lock().unwrap().push(blind.clone());
        host.inject(
            FsEvent::new(FsEventKind::Unwatched, &blind, Some(true)).with_detail(
                "out of inotify watches (raise fs.inotify.max_user_watches: sysctl -w …)",
            ),
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        while ask_state(&sock) != "degraded" {
            assert!(Instant::now() < deadline, "state: {}", ask_state(&sock));
            std::thread::sleep(Duration::from_millis(20));
        }
        // Changes nobody reports are found by the periodic rescans.
        fs::write(blind.join("b/unseen"), vec![6u8; 33_000]).unwrap();
        fs::create_dir(blind.join("new")).unwrap();
        converge(&size, &root).expect("equal after a periodic rescan");
        assert_eq!(
            ask_state(&sock),
            "degraded",
            "still degraded: the watch is still missing"
        );
        control.send(Control::Stop).unwrap();
        runner.join().unwrap().unwrap();
    });
    let log = host.logged();
    assert!(
        log.contains("degraded") && log.contains("max_user_watches"),
        "{log}"
    );
}

/// One comparison, no waiting.
fn converge_quick(
    w_size: &dyn Fn(&[u8]) -> Option<u64>,
    root: &Path,
) -> std::result::Result<(), String> {
    let wrong = scan(root)
        .iter()
        .filter(|r| w_size(&r.path) != Some(r.stats.total_bytes))
        .count();
    if wrong == 0 {
        Ok(())
    } else {
        Err(format!("{wrong} differ"))
    }
}
