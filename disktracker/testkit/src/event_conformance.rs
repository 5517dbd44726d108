//! The conformance suite every [`EventSource`](disktracker::EventSource)
//! must pass: real changes in a real temporary tree, each of which must be
//! reported, with its path, within [`WAIT`].
//!
//! Events are hints ("where to look"), so the checks ask for what a consumer
//! needs and no more: the path of what changed and the kind of change. A
//! source may send more (e.g. a `Modify` of the parent directory).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use disktracker::registry::Plugin as _;
use disktracker::registry::{self, EventSourcePlugin};
use disktracker::{ErrorKind, EventSource, FsEvent, FsEventKind};

/// How long a change may take to be reported (generous: CI machines are busy).
pub const WAIT: Duration = Duration::from_secs(10);

/// Every check, by name.
pub const CHECKS: &[crate::Check<EventSourcePlugin>] = &[
    ("created_files_are_reported", created_files_are_reported),
    ("appends_are_reported", appends_are_reported),
    ("new_directories_are_watched", new_directories_are_watched),
    ("renames_name_both_sides", renames_name_both_sides),
    (
        "renamed_directories_report_their_new_paths",
        renamed_directories_report_their_new_paths,
    ),
    (
        "directories_moved_in_are_watched",
        directories_moved_in_are_watched,
    ),
    (
        "watching_as_walked_covers_the_walked_tree",
        watching_as_walked_covers_the_walked_tree,
    ),
    (
        "watching_as_walked_through_descriptors_covers_the_walked_tree",
        watching_as_walked_through_descriptors_covers_the_walked_tree,
    ),
    (
        "moves_out_of_the_root_are_reported",
        moves_out_of_the_root_are_reported,
    ),
    ("removals_are_reported", removals_are_reported),
    ("symlinks_are_not_followed", symlinks_are_not_followed),
    (
        "stopping_disconnects_the_sink",
        stopping_disconnects_the_sink,
    ),
    ("a_missing_root_is_not_found", a_missing_root_is_not_found),
    ("a_file_root_is_refused", a_file_root_is_refused),
];

/// Runs every check against `plugin` (see [`crate::run_checks`]).
pub fn run_all(plugin: &'static EventSourcePlugin) {
    crate::run_checks(plugin, CHECKS);
}

/// The registered event source called `name` (see [`crate::registered`]).
pub fn plugin(name: &str) -> &'static EventSourcePlugin {
    crate::registered(registry::event_sources(), name)
}

/// A source watching a fresh directory, and what it has sent so far.
pub struct Watched {
    _dir: tempfile::TempDir,
    /// The watched root (canonical).
    pub root: PathBuf,
    /// A directory beside the root, not watched.
    pub outside: PathBuf,
    source: Box<dyn EventSource>,
    rx: Receiver<FsEvent>,
    seen: Vec<FsEvent>,
}

impl Watched {
    /// Creates the tree with `setup` (before watching, so it sends nothing),
    /// then starts watching it.
    pub fn start(plugin: &'static EventSourcePlugin, setup: impl FnOnce(&Path)) -> Watched {
        let dir = tempfile::tempdir().expect("temp dir");
        let base = dir.path().canonicalize().expect("canonical temp dir");
        let (root, outside) = (base.join("root"), base.join("outside"));
        fs::create_dir(&root).expect("root");
        fs::create_dir(&outside).expect("outside");
        setup(&root);
        let mut source =
            (plugin.create)(&plugin.default_settings().expect("valid default settings"))
                .expect("the source is created");
        let (tx, rx) = channel();
        source.watch(&root, tx).expect("watching starts");
        Watched {
            _dir: dir,
            root,
            outside,
            source,
            rx,
            seen: Vec::new(),
        }
    }

    /// Waits until an event of `kind` for `path` arrives; panics after
    /// [`WAIT`], listing what did arrive.
    pub fn expect(&mut self, kind: FsEventKind, path: &Path) -> FsEvent {
        if self.wait_for(kind, path, WAIT)
            && let Some(e) = self.seen.iter().find(|e| e.kind == kind && e.path == path)
        {
            return e.clone();
        }
        panic!(
            "no {kind:?} event for {} within {WAIT:?}; got {:#?}",
            path.display(),
            self.seen
        )
    }

    /// Whether an event of `kind` for `path` has arrived or arrives within `wait`.
    pub fn wait_for(&mut self, kind: FsEventKind, path: &Path, wait: Duration) -> bool {
        let wanted = |e: &FsEvent| e.kind == kind && e.path == path;
        if self.seen.iter().any(wanted) {
            return true;
        }
        let deadline = Instant::now() + wait;
        while let Ok(e) = self
            .rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            let hit = wanted(&e);
            self.seen.push(e);
            if hit {
                return true;
            }
        }
        false
    }

    /// Everything received until `quiet` passes without an event.
    pub fn drain(&mut self, quiet: Duration) -> &[FsEvent] {
        while let Ok(e) = self.rx.recv_timeout(quiet) {
            self.seen.push(e);
        }
        &self.seen
    }
}

/// A new file is reported as created, and not as a directory.
pub fn created_files_are_reported(plugin: &'static EventSourcePlugin) {
    let mut w = Watched::start(plugin, |_| {});
    let f = w.root.join("new.bin");
    fs::write(&f, b"hello").unwrap();
    let e = w.expect(FsEventKind::Create, &f);
    assert_ne!(e.is_dir, Some(true), "{e:?}");
}

/// Growing a file in place is reported as a modification of that file.
pub fn appends_are_reported(plugin: &'static EventSourcePlugin) {
    let mut w = Watched::start(plugin, |root| {
        fs::create_dir(root.join("d")).unwrap();
        fs::write(root.join("d/log"), b"one\n").unwrap();
    });
    let f = w.root.join("d/log");
    let mut file = fs::OpenOptions::new().append(true).open(&f).unwrap();
    file.write_all(&[b'x'; 8192]).unwrap();
    file.sync_all().unwrap();
    w.expect(FsEventKind::Modify, &f);
}

/// A directory created after watching started is watched too: a file
/// created in it later is reported. (Files created in it before its watch
/// exists may be missed; consumers scan new directories once.)
pub fn new_directories_are_watched(plugin: &'static EventSourcePlugin) {
    let mut w = Watched::start(plugin, |_| {});
    let d = w.root.join("fresh");
    fs::create_dir(&d).unwrap();
    let e = w.expect(FsEventKind::Create, &d);
    assert_ne!(e.is_dir, Some(false), "{e:?}");
    // The source adds the new directory's watch after it sees the create;
    // a file created before that is legitimately missed.
    create_until_reported(&mut w, &d, "new directory");
}

/// A rename inside the root names the old path and the new one.
pub fn renames_name_both_sides(plugin: &'static EventSourcePlugin) {
    let mut w = Watched::start(plugin, |root| {
        fs::create_dir(root.join("a")).unwrap();
        fs::create_dir(root.join("b")).unwrap();
        fs::write(root.join("a/f"), b"data").unwrap();
    });
    let (from, to) = (w.root.join("a/f"), w.root.join("b/g"));
    fs::rename(&from, &to).unwrap();
    w.expect(FsEventKind::RenameFrom, &from);
    w.expect(FsEventKind::RenameTo, &to);
}

/// Creates files in `dir` until the creation of one is reported (a source
/// may legitimately miss files created before its watch of a new directory
/// exists); panics after [`WAIT`].
fn create_until_reported(w: &mut Watched, dir: &Path, what: &str) {
    let deadline = Instant::now() + WAIT;
    for k in 0.. {
        let f = dir.join(format!("probe-{k}.bin"));
        fs::write(&f, b"x").unwrap();
        if w.wait_for(FsEventKind::Create, &f, Duration::from_millis(500)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: no file created in {} was reported within {WAIT:?}; got {:#?}",
            dir.display(),
            w.seen
        );
    }
}

/// After a directory is renamed inside the root, changes in it and below it
/// are reported under the new path, never the old one.
pub fn renamed_directories_report_their_new_paths(plugin: &'static EventSourcePlugin) {
    let mut w = Watched::start(plugin, |root| {
        fs::create_dir_all(root.join("old/sub")).unwrap();
    });
    let (old, new) = (w.root.join("old"), w.root.join("new"));
    fs::rename(&old, &new).unwrap();
    w.expect(FsEventKind::RenameTo, &new);
    create_until_reported(&mut w, &new.join("sub"), "renamed directory");
    let stale: Vec<&FsEvent> = w
        .drain(Duration::from_millis(300))
        .iter()
        .filter(|e| e.path.starts_with(&old) && e.path != old)
        .collect();
    assert!(stale.is_empty(), "events under the old name: {stale:#?}");
}

/// A directory tree moved in from outside the root is watched: a change
/// deep inside it is reported.
pub fn directories_moved_in_are_watched(plugin: &'static EventSourcePlugin) {
    let mut w = Watched::start(plugin, |_| {});
    let arriving = w.outside.join("arriving");
    fs::create_dir_all(arriving.join("deep/deeper")).unwrap();
    let arrived = w.root.join("arrived");
    fs::rename(&arriving, &arrived).unwrap();
    w.expect(FsEventKind::RenameTo, &arrived);
    create_until_reported(&mut w, &arrived.join("deep/deeper"), "moved-in directory");
}

/// [`EventSource::watch_as_walked`]: once the returned hook (if any) has
/// been called for every directory, as a walk would, a change anywhere in
/// the tree is reported.
pub fn watching_as_walked_covers_the_walked_tree(plugin: &'static EventSourcePlugin) {
    watch_as_walked(plugin, false);
}

/// The same, with the hook given each directory open (as walkers that open
/// a directory before reading it call it, possibly from a thread of their
/// own): a change anywhere is reported, and neither the process's working
/// directory nor the calling thread's is left inside the tree.
pub fn watching_as_walked_through_descriptors_covers_the_walked_tree(
    plugin: &'static EventSourcePlugin,
) {
    watch_as_walked(plugin, true);
}

fn watch_as_walked(plugin: &'static EventSourcePlugin, with_fd: bool) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().canonicalize().expect("canonical temp dir");
    fs::create_dir_all(root.join("a/b/c")).unwrap();
    fs::create_dir_all(root.join("d")).unwrap();
    let mut source = (plugin.create)(&plugin.default_settings().expect("valid default settings"))
        .expect("the source is created");
    let (tx, rx) = channel();
    let hook = source.watch_as_walked(&root, tx).expect("watching starts");
    let cwd = std::env::current_dir().expect("working directory");
    if let Some(hook) = &hook {
        let walk = || {
            let mut stack = vec![root.clone()];
            while let Some(d) = stack.pop() {
                if with_fd {
                    let fd = fs::File::open(&d).expect("directory opens");
                    hook.call_with_fd(&d, std::os::fd::AsFd::as_fd(&fd));
                } else {
                    hook.call(&d);
                }
                for e in fs::read_dir(&d).unwrap() {
                    let e = e.unwrap();
                    if e.file_type().unwrap().is_dir() {
                        stack.push(e.path());
                    }
                }
            }
            fs::read_link("/proc/thread-self/cwd").expect("the thread's working directory")
        };
        let thread_cwd = std::thread::scope(|s| s.spawn(walk).join().expect("walk thread"));
        assert!(
            !thread_cwd.starts_with(&root),
            "the walking thread was left in {}",
            thread_cwd.display()
        );
    }
    assert_eq!(std::env::current_dir().expect("working directory"), cwd);
    let mut w = Watched {
        _dir: dir,
        outside: root.join("d"),
        root: root.clone(),
        source,
        rx,
        seen: Vec::new(),
    };
    let f = root.join("a/b/c/f");
    fs::write(&f, b"x").unwrap();
    w.expect(FsEventKind::Create, &f);
    let g = root.join("d/g");
    fs::write(&g, b"x").unwrap();
    w.expect(FsEventKind::Create, &g);
}

/// Symbolic links are entries, not directories to watch: with a link to an
/// ancestor inside the tree — present at the start, and arriving inside a
/// directory moved in — changes are reported under their real paths only,
/// never under a name through the link.
pub fn symlinks_are_not_followed(plugin: &'static EventSourcePlugin) {
    let mut w = Watched::start(plugin, |root| {
        fs::create_dir_all(root.join("a/b")).unwrap();
        std::os::unix::fs::symlink("../..", root.join("a/b/up")).unwrap();
    });
    let arriving = w.outside.join("arriving");
    fs::create_dir(&arriving).unwrap();
    std::os::unix::fs::symlink(&w.root, arriving.join("to-root")).unwrap();
    let arrived = w.root.join("arrived");
    fs::rename(&arriving, &arrived).unwrap();
    w.expect(FsEventKind::RenameTo, &arrived);
    // Changes after the move: real paths, however the source rewatched.
    let ab = w.root.join("a/b");
    create_until_reported(&mut w, &ab, "directory with a link to an ancestor");
    let (up, to_root) = (w.root.join("a/b/up"), arrived.join("to-root"));
    let through_links: Vec<&FsEvent> = w
        .drain(Duration::from_millis(300))
        .iter()
        .filter(|e| {
            e.path.components().any(|c| {
                let c = c.as_os_str();
                c == "up" || c == "to-root"
            }) && e.path != up
                && e.path != to_root
        })
        .collect();
    assert!(
        through_links.is_empty(),
        "events named paths through a symlink: {through_links:#?}"
    );
}

/// A directory moved out of the root is reported under its old path, and
/// nothing is reported under its new path (which is not watched).
pub fn moves_out_of_the_root_are_reported(plugin: &'static EventSourcePlugin) {
    let mut w = Watched::start(plugin, |root| {
        fs::create_dir_all(root.join("leaving/sub")).unwrap();
    });
    let from = w.root.join("leaving");
    let to = w.outside.join("left");
    fs::rename(&from, &to).unwrap();
    w.expect(FsEventKind::RenameFrom, &from);
    let outside = w.outside.clone();
    let leaked: Vec<FsEvent> = w
        .drain(Duration::from_millis(300))
        .iter()
        .filter(|e| e.path.starts_with(&outside))
        .cloned()
        .collect();
    assert!(leaked.is_empty(), "events outside the root: {leaked:?}");
}

/// Removing a file and then its (now empty) directory reports both.
pub fn removals_are_reported(plugin: &'static EventSourcePlugin) {
    let mut w = Watched::start(plugin, |root| {
        fs::create_dir(root.join("gone")).unwrap();
        fs::write(root.join("gone/f"), b"bye").unwrap();
    });
    let (d, f) = (w.root.join("gone"), w.root.join("gone/f"));
    fs::remove_file(&f).unwrap();
    w.expect(FsEventKind::Remove, &f);
    fs::remove_dir(&d).unwrap();
    let e = w.expect(FsEventKind::Remove, &d);
    assert_ne!(e.is_dir, Some(false), "{e:?}");
}

/// After `stop`, the source lets go of the sink: the receiver disconnects.
pub fn stopping_disconnects_the_sink(plugin: &'static EventSourcePlugin) {
    let mut w = Watched::start(plugin, |_| {});
    w.source.stop().expect("stop");
    fs::write(w.root.join("after-stop"), b"x").unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        match w
            .rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            Ok(_) => continue, // in flight before the stop
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => panic!("the sink was still held {WAIT:?} after stop"),
        }
    }
}

/// Watching a path that does not exist is a `NotFound` error naming it.
pub fn a_missing_root_is_not_found(plugin: &'static EventSourcePlugin) {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let mut source =
        (plugin.create)(&plugin.default_settings().expect("valid default settings")).unwrap();
    let err = source.watch(&missing, channel().0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("nope"), "{err}");
}

/// Watching a regular file is refused with an error naming it.
pub fn a_file_root_is_refused(plugin: &'static EventSourcePlugin) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain.txt");
    fs::write(&file, b"x").unwrap();
    let mut source =
        (plugin.create)(&plugin.default_settings().expect("valid default settings")).unwrap();
    let err = source.watch(&file, channel().0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Usage, "{err}");
    assert!(err.to_string().contains("plain.txt"), "{err}");
}
