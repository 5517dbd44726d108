//! The live model against the scan, on real trees: seeded random sequences of
//! file-system changes, each reported with the events inotify reports for it
//! (no more: linking a file reports nothing in the original's directory, a
//! new directory's first files come before any event for them), applied in
//! random batches. After every batch the model must equal a fresh scan,
//! directory by directory and field by field; and the logged mutations,
//! folded over the first scan, must give the last one.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use disktracker::registry::Plugin as _;
use disktracker::{
    DirRecord, FsEvent, FsEventKind, WalkContext, WalkOptions, WalkOutput, registry,
};
use disktracker::{LoggedMutation, Mutation};
use disktracker_engine::ScanTree;
use disktracker_engine::live::{LiveTree, TreeOptions, apply, apply_events, fold};
use disktracker_testkit::fixtures::tempdir;
use disktracker_testkit::rng::Rng;
use disktracker_walker_steal as _;

fn walk(root: &Path) -> WalkOutput {
    let plugin = registry::walkers().unwrap().get("steal").unwrap();
    let walker = (plugin.create)(&plugin.default_settings().unwrap()).unwrap();
    walker
        .walk(root, &WalkOptions::with_threads(2), &WalkContext::default())
        .unwrap()
}

fn scan(root: &Path) -> Vec<DirRecord> {
    let tree = ScanTree::from_walk(walk(root)).unwrap();
    tree.sorted_ids().iter().map(|&i| tree.record(i)).collect()
}

fn model(root: &Path) -> LiveTree {
    LiveTree::from_walk(&walk(root), TreeOptions::default()).unwrap()
}

/// `mutations` as the store logs them, numbered from 1.
fn logged(mutations: Vec<Mutation>) -> Vec<LoggedMutation> {
    mutations
        .into_iter()
        .enumerate()
        .map(|(i, m)| LoggedMutation {
            id: i as i64 + 1,
            mutation: m,
        })
        .collect()
}

fn show(r: &DirRecord) -> String {
    format!("{} {:?}", String::from_utf8_lossy(&r.path), r.stats)
}

fn assert_same(got: &[DirRecord], want: &[DirRecord], what: &str) {
    if got == want {
        return;
    }
    let g: Vec<String> = got.iter().map(show).collect();
    let w: Vec<String> = want.iter().map(show).collect();
    let only_got: Vec<&String> = g.iter().filter(|x| !w.contains(x)).collect();
    let only_want: Vec<&String> = w.iter().filter(|x| !g.contains(x)).collect();
    panic!(
        "{what}: model differs from a fresh scan\nmodel only: {only_got:#?}\nscan only: {only_want:#?}"
    );
}

/// The world the changes happen in: the watched root and a directory
/// outside it (for moves in and out).
struct World {
    root: PathBuf,
    outside: PathBuf,
    rng: Rng,
    n: u64,
}

fn ev(kind: FsEventKind, p: &Path, is_dir: Option<bool>) -> FsEvent {
    FsEvent::new(kind, p, is_dir)
}

impl World {
    fn name(&mut self, what: &str) -> String {
        self.n += 1;
        format!("{what}{}", self.n)
    }

    fn dirs(&self) -> Vec<PathBuf> {
        let mut out = vec![self.root.clone()];
        let mut i = 0;
        while i < out.len() {
            if let Ok(rd) = fs::read_dir(&out[i]) {
                let mut subs: Vec<PathBuf> = rd
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path())
                    .collect();
                subs.sort();
                out.extend(subs);
            }
            i += 1;
        }
        out
    }

    fn files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for d in self.dirs() {
            if let Ok(rd) = fs::read_dir(&d) {
                let mut f: Vec<PathBuf> = rd
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                    .map(|e| e.path())
                    .collect();
                f.sort();
                out.extend(f);
            }
        }
        out
    }

    fn pick<T: Clone>(&mut self, v: &[T]) -> Option<T> {
        (!v.is_empty()).then(|| v[self.rng.below(v.len())].clone())
    }

    fn write_file(&mut self, path: &Path) {
        let len = match self.rng.below(10) {
            0 => 0,
            1 => 300_000 + self.rng.below(100_000),
            _ => self.rng.below(20_000),
        };
        if len >= 300_000 {
            // Sparse: a little data, then a hole to the end.
            fs::write(path, vec![b'x'; 4096]).unwrap();
            fs::OpenOptions::new()
                .write(true)
                .open(path)
                .unwrap()
                .set_len(len as u64)
                .unwrap();
        } else {
            fs::write(path, vec![b'y'; len]).unwrap();
        }
    }

    /// One random change; returns the events an inotify source reports for it.
    fn change(&mut self) -> Vec<FsEvent> {
        use FsEventKind::*;
        let dirs = self.dirs();
        let files = self.files();
        match self.rng.below(14) {
            0 | 1 => {
                let d = self.pick(&dirs).unwrap();
                let p = d.join(self.name("f"));
                self.write_file(&p);
                vec![ev(Create, &p, Some(false)), ev(Modify, &p, None)]
            }
            2 => {
                let Some(f) = self.pick(&files) else {
                    return vec![];
                };
                let n = self.rng.below(50_000);
                let mut h = fs::OpenOptions::new().append(true).open(&f).unwrap();
                std::io::Write::write_all(&mut h, &vec![b'a'; n]).unwrap();
                vec![ev(Modify, &f, None)]
            }
            3 => {
                let Some(f) = self.pick(&files) else {
                    return vec![];
                };
                let len = fs::metadata(&f).unwrap().len();
                let new = if self.rng.below(2) == 0 {
                    len / 2
                } else {
                    len + 1_000_000
                };
                fs::OpenOptions::new()
                    .write(true)
                    .open(&f)
                    .unwrap()
                    .set_len(new)
                    .unwrap();
                vec![ev(Modify, &f, None)]
            }
            4 => {
                let Some(f) = self.pick(&files) else {
                    return vec![];
                };
                fs::remove_file(&f).unwrap();
                vec![ev(Remove, &f, Some(false))]
            }
            5 => {
                // A new directory with files written at once: they land
                // before any watch on it exists, so only the directory's
                // creation is reported.
                let d = self.pick(&dirs).unwrap();
                let nd = d.join(self.name("d"));
                fs::create_dir(&nd).unwrap();
                for _ in 0..self.rng.below(4) {
                    let p = nd.join(self.name("f"));
                    self.write_file(&p);
                }
                if self.rng.below(2) == 0 {
                    let sub = nd.join(self.name("s"));
                    fs::create_dir(&sub).unwrap();
                    let p = sub.join(self.name("f"));
                    self.write_file(&p);
                }
                vec![ev(Create, &nd, Some(true))]
            }
            6 => {
                // A file renamed, maybe to another directory.
                let Some(f) = self.pick(&files) else {
                    return vec![];
                };
                let d = self.pick(&dirs).unwrap();
                let to = d.join(self.name("r"));
                fs::rename(&f, &to).unwrap();
                vec![
                    ev(RenameFrom, &f, None),
                    ev(RenameTo, &to, None),
                    FsEvent::renamed(&f, &to, None),
                ]
            }
            7 => {
                // A directory renamed inside the root (never into itself).
                let cands: Vec<PathBuf> = dirs[1..].to_vec();
                let Some(from) = self.pick(&cands) else {
                    return vec![];
                };
                let targets: Vec<PathBuf> = dirs
                    .iter()
                    .filter(|d| !d.starts_with(&from))
                    .cloned()
                    .collect();
                let to = self.pick(&targets).unwrap().join(self.name("m"));
                fs::rename(&from, &to).unwrap();
                let mut v = vec![
                    ev(RenameFrom, &from, Some(true)),
                    ev(RenameTo, &to, Some(true)),
                ];
                if self.rng.below(3) != 0 {
                    v.push(FsEvent::renamed(&from, &to, Some(true)));
                }
                v
            }
            8 => {
                // A directory moved out of the root.
                let cands: Vec<PathBuf> = dirs[1..].to_vec();
                let Some(from) = self.pick(&cands) else {
                    return vec![];
                };
                let name = self.name("out");
                let to = self.outside.join(name);
                fs::rename(&from, &to).unwrap();
                vec![ev(RenameFrom, &from, Some(true))]
            }
            9 => {
                // A directory with contents moved into the root.
                let name = self.name("in");
                let src = self.outside.join(name);
                fs::create_dir_all(src.join("deep/er")).unwrap();
                for rel in ["a", "deep/b", "deep/er/c"] {
                    let p = src.join(rel);
                    self.write_file(&p);
                }
                let d = self.pick(&dirs).unwrap();
                let to = d.join(self.name("came"));
                fs::rename(&src, &to).unwrap();
                vec![ev(RenameTo, &to, Some(true))]
            }
            10 => {
                // A directory deleted with everything in it: inotify reports
                // each entry from its own directory's watch, deepest first.
                let cands: Vec<PathBuf> = dirs[1..].to_vec();
                let Some(victim) = self.pick(&cands) else {
                    return vec![];
                };
                let mut events = Vec::new();
                let mut stack = vec![victim.clone()];
                let mut order = Vec::new();
                while let Some(d) = stack.pop() {
                    order.push(d.clone());
                    for e in fs::read_dir(&d).unwrap().flatten() {
                        if e.file_type().unwrap().is_dir() {
                            stack.push(e.path());
                        } else {
                            events.push(ev(Remove, &e.path(), Some(false)));
                        }
                    }
                }
                for d in order.iter().rev() {
                    events.push(ev(Remove, d, Some(true)));
                }
                fs::remove_dir_all(&victim).unwrap();
                events
            }
            11 => {
                // A hard link in another directory: inotify reports the new
                // name only, nothing where the original is.
                let Some(f) = self.pick(&files) else {
                    return vec![];
                };
                let d = self.pick(&dirs).unwrap();
                let to = d.join(self.name("hl"));
                fs::hard_link(&f, &to).unwrap();
                vec![ev(Create, &to, Some(false))]
            }
            12 => {
                let d = self.pick(&dirs).unwrap();
                let p = d.join(self.name("sl"));
                let target = self
                    .pick(&files)
                    .unwrap_or_else(|| PathBuf::from("nowhere"));
                symlink(target, &p).unwrap();
                vec![ev(Create, &p, Some(false))]
            }
            _ => {
                let d = self.pick(&dirs).unwrap();
                let p = d.join(self.name("e"));
                fs::create_dir(&p).unwrap();
                vec![ev(Create, &p, Some(true))]
            }
        }
    }
}

fn initial_tree(root: &Path) {
    for d in ["a/b/c", "a/b-x", "a-x", "w/1", "w/2/3"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    for (i, f) in ["a/f", "a/b/g", "a/b/c/h", "a-x/i", "w/j", "w/2/3/k"]
        .iter()
        .enumerate()
    {
        fs::write(root.join(f), vec![b'z'; 1000 * (i + 1)]).unwrap();
    }
    fs::write(
        root.join(b"w/caf\xe9".iter().map(|&b| b as char).collect::<String>()),
        b"",
    )
    .ok();
    fs::hard_link(root.join("a/f"), root.join("w/1/f-link")).unwrap();
}

/// A fresh root (in a temporary directory, kept while the guard lives)
/// holding [`initial_tree`].
fn initial_root() -> (tempfile::TempDir, PathBuf) {
    let (t, base) = tempdir();
    let root = base.join("r");
    fs::create_dir(&root).unwrap();
    initial_tree(&root);
    (t, root)
}

fn run(seed: u64, steps: usize) {
    let (_t, base) = tempdir();
    let root = base.join("root");
    let outside = base.join("outside");
    fs::create_dir_all(&root).unwrap();
    fs::create_dir_all(&outside).unwrap();
    initial_tree(&root);
    let first = scan(&root);
    let mut tree = model(&root);
    assert_same(
        &tree.records().collect::<Vec<_>>(),
        &first,
        "after the first walk",
    );
    let mut w = World {
        root: root.clone(),
        outside,
        rng: Rng::new(seed),
        n: 0,
    };
    let mut log: Vec<LoggedMutation> = Vec::new();
    let mut batches = 0;
    let mut step = 0;
    while step < steps {
        let ops = 1 + w.rng.below(5);
        let mut events = Vec::new();
        for _ in 0..ops {
            events.extend(w.change());
        }
        step += ops;
        batches += 1;
        tree.begin_batch();
        let d = apply_events(&mut tree, &events);
        assert!(!d.rescan && !d.root_gone, "{d:?}");
        let mut changes = tree.end_batch(step as i64);
        if tree.needs_validation() {
            let fresh = model(&root);
            let more = tree.replace_with(fresh, step as i64, None);
            changes.mutations.extend(more.mutations);
        }
        for m in changes.mutations {
            let id = log.len() as i64 + 1;
            log.push(LoggedMutation { id, mutation: m });
        }
        let want = scan(&root);
        assert_same(
            &tree.records().collect::<Vec<_>>(),
            &want,
            &format!("seed {seed}, batch {batches}, after {step} changes, events {events:#?}"),
        );
    }
    let folded = fold(&log, 0);
    assert_same(
        &apply(first, &folded),
        &scan(&root),
        &format!("seed {seed}: folded log"),
    );
}

#[test]
fn random_change_sequences_keep_the_model_equal_to_a_scan() {
    for seed in 1..=12u64 {
        run(seed * 7919, 120);
    }
}

#[test]
fn a_rescan_after_lost_events_replaces_the_model_exactly() {
    let (_t, root) = initial_root();
    let mut tree = model(&root);
    // Changes nobody reported.
    fs::remove_dir_all(root.join("a/b")).unwrap();
    fs::create_dir_all(root.join("new/deeper")).unwrap();
    fs::write(root.join("new/deeper/x"), vec![1u8; 5000]).unwrap();
    fs::write(root.join("w/j"), vec![1u8; 9000]).unwrap();
    let before: Vec<DirRecord> = tree.records().collect();
    let changes = tree.replace_with(model(&root), 1, None);
    assert_same(
        &tree.records().collect::<Vec<_>>(),
        &scan(&root),
        "after the rescan",
    );
    // The mutations, folded over the old model, give the new one.
    let log = logged(changes.mutations);
    assert_same(
        &apply(before, &fold(&log, 0)),
        &scan(&root),
        "folded rescan",
    );
    assert!(
        changes
            .journal
            .iter()
            .any(|j| j.kind == disktracker::JournalKind::Rescanned)
    );
}

/// A batch whose journal entries wait for a rescan (a hard link's other
/// names to place) is journaled by that rescan, from the root's total
/// before the batch, even when the rescan itself finds nothing more.
#[test]
fn a_rescan_journals_the_batch_it_settles() {
    let (_t, root) = initial_root();
    let total = |root: &Path| scan(root)[0].stats.total_bytes;
    let before = total(&root);
    fs::write(root.join("w/grown"), vec![1u8; 70_000]).unwrap();
    // The model already holds the batch's changes; the rescan agrees.
    let mut tree = model(&root);
    let changes = tree.replace_with(model(&root), 1, Some(before));
    assert!(changes.mutations.is_empty(), "{:?}", changes.mutations);
    let rescanned: Vec<_> = changes
        .journal
        .iter()
        .filter(|j| j.kind == disktracker::JournalKind::Rescanned)
        .collect();
    assert_eq!(rescanned.len(), 1, "{:?}", changes.journal);
    let grown = i64::try_from(total(&root)).unwrap() - i64::try_from(before).unwrap();
    assert!(grown >= 70_000, "{grown}");
    assert_eq!(rescanned[0].delta_bytes, Some(grown));
    // Without a base, a rescan that finds nothing journals nothing.
    let quiet = tree.replace_with(model(&root), 2, None);
    assert!(quiet.is_empty());
}

/// A re-read costs the directories the events name, not the hard-link
/// graph: in a tree where a chain of files links 40 directories together,
/// an append in one of them re-reads that directory (and its parent), and
/// the model still equals a scan.
#[test]
fn a_reread_after_a_walk_does_not_cascade_through_hard_links() {
    let (_dir, root) = tempdir();
    let dirs: Vec<PathBuf> = (0..40).map(|i| root.join(format!("d{i:02}"))).collect();
    for d in &dirs {
        fs::create_dir(d).unwrap();
    }
    // File k lives in d_k and d_{k+1}: one connected link graph.
    for k in 0..dirs.len() - 1 {
        let f = dirs[k].join(format!("shared{k}"));
        fs::write(&f, vec![1u8; 5000]).unwrap();
        fs::hard_link(&f, dirs[k + 1].join(format!("shared{k}"))).unwrap();
    }
    fs::write(dirs[20].join("plain"), b"x").unwrap();
    let mut tree = model(&root);
    fs::write(dirs[20].join("plain"), vec![2u8; 9000]).unwrap();
    tree.begin_batch();
    let d = apply_events(
        &mut tree,
        &[ev(
            FsEventKind::Modify,
            &dirs[20].join("plain"),
            Some(false),
        )],
    );
    tree.end_batch(0);
    assert!(
        d.reread <= 2,
        "{} directories re-read for one append",
        d.reread
    );
    assert_same(
        &tree.records().collect::<Vec<_>>(),
        &scan(&root),
        "after the append",
    );
}

/// A catch-up at boot compares its walk with the stored records without
/// building a model of them: the changes are those of replacing a model
/// built from the same records, in whatever order the records come, and
/// the result equals a fresh scan.
#[test]
fn a_catch_up_against_stored_records_equals_replacing_their_model() {
    let (_t, root) = initial_root();
    let stored = scan(&root);
    // Changes made while no watcher ran.
    fs::remove_dir_all(root.join("a/b")).unwrap();
    fs::create_dir_all(root.join("new/deeper")).unwrap();
    fs::write(root.join("new/deeper/x"), vec![1u8; 5000]).unwrap();
    fs::write(root.join("w/j"), vec![1u8; 9000]).unwrap();
    fs::hard_link(root.join("w/j"), root.join("new/j-again")).unwrap();
    let rb = root.as_os_str().as_encoded_bytes();

    let mut old = LiveTree::from_records(rb, stored.clone(), TreeOptions::default()).unwrap();
    let want = old.replace_with(model(&root), 1, None);
    assert!(!want.mutations.is_empty());
    let mut reversed = stored.clone();
    reversed.reverse();
    for (records, what) in [(stored.clone(), "in path order"), (reversed, "reversed")] {
        let (tree, got) = LiveTree::validated_from_stored(model(&root), records, 1);
        assert_eq!(got, want, "changes against the records {what}");
        assert_same(&tree.records().collect::<Vec<_>>(), &scan(&root), what);
    }
    let log = logged(want.mutations);
    assert_same(
        &apply(stored, &fold(&log, 0)),
        &scan(&root),
        "folded catch-up",
    );
}
