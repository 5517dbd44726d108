//! The index written after a scan from the fresh tree's paths as they are
//! built (`provenance::index_source`, for `IndexPlugin::create_sorted`) holds
//! exactly what the collected entries (`provenance::entries`, for
//! `IndexPlugin::create`) hold: with other roots, a root inside the fresh
//! one, and the fresh one inside another. The mmap index writes the same
//! bytes either way.
// A failed unwrap in a test is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;

use disktracker::registry::{self, Plugin as _, SortedIndexEntries};
use disktracker::{IndexOptions, SnapshotStore, StoreOptions, WalkContext, WalkOptions};
use disktracker_engine::provenance::{Roots, entries, index_source};
use disktracker_engine::{ScanBy, ScanOutcome, ScanRetention, run_scan};
use disktracker_index_mmap::MmapIndex;
use disktracker_store_sqlite as _;
use disktracker_testkit::fixtures::tempdir;
use disktracker_walker_steal as _;

const HOST: &str = "test";

fn open(db: &Path) -> Box<dyn SnapshotStore> {
    let p = registry::stores().unwrap().get("sqlite").unwrap();
    (p.open)(&StoreOptions::file(db).with_settings(p.default_settings().unwrap())).unwrap()
}

fn scan(store: &mut dyn SnapshotStore, root: &Path) -> ScanOutcome {
    let p = registry::walkers().unwrap().get("steal").unwrap();
    let walker = (p.create)(&p.default_settings().unwrap()).unwrap();
    let by = ScanBy {
        walker: "steal",
        host: HOST,
    };
    let opts = WalkOptions::with_threads(2);
    let ctx = WalkContext::default();
    run_scan(
        &*walker,
        by,
        store,
        root,
        &opts,
        &ctx,
        ScanRetention::default(),
    )
    .unwrap()
}

fn visited(source: &dyn SortedIndexEntries) -> Vec<(Vec<u8>, u64)> {
    let mut out = Vec::new();
    source
        .visit(&mut |path, size| {
            out.push((path.to_vec(), size));
            Ok(())
        })
        .unwrap();
    out
}

#[test]
fn the_streamed_index_holds_what_the_collected_one_holds() {
    let (_dir, base) = tempdir();
    let (a, b) = (base.join("a"), base.join("b"));
    // Names that part path order from name order ("x-1" and "x.2" sort
    // between "x" and "x/y").
    for d in ["a/x/y", "a/x-1", "a/x.2/z", "a/w", "b/z/q", "b/z-0"] {
        fs::create_dir_all(base.join(d)).unwrap();
    }
    for (f, len) in [("a/x/y/f", 10_000), ("a/x-1/g", 3000), ("b/z/q/h", 7000)] {
        fs::write(base.join(f), vec![1u8; len]).unwrap();
    }
    let mut store = open(&base.join("data.db"));
    let steps: [(&Path, Option<&str>); 5] = [
        (&a, None),
        (&b, None),
        // A root inside a: its newer snapshot owns a/x and below.
        (&a.join("x"), Some("a/x/y/more")),
        // a again: it owns all of itself again, and b stays b's.
        (&a, Some("a/w/more")),
        (&b.join("z"), Some("b/z/q/more")),
    ];
    for (k, (root, grow)) in steps.into_iter().enumerate() {
        if let Some(f) = grow {
            fs::write(base.join(f), vec![1u8; 50_000]).unwrap();
        }
        let outcome = scan(&mut *store, root);
        let roots = Roots::of(&*store, HOST).unwrap();
        let fresh = Some((outcome.snapshot.id, &outcome.tree));

        // What `create` makes of the collected entries: sorted, the last
        // of equal paths kept.
        let collected = entries(&*store, &roots, fresh).unwrap();
        let mut want: Vec<(Vec<u8>, u64)> =
            collected.iter().map(|(p, n)| (p.to_vec(), n)).collect();
        want.sort_by(|x, y| x.0.cmp(&y.0));
        want.reverse();
        want.dedup_by(|later, kept| later.0 == kept.0);
        want.reverse();

        let source = index_source(&*store, &roots, fresh).unwrap();
        assert_eq!(visited(&source), want, "step {k}: {}", root.display());

        let (one, two) = (
            base.join(format!("{k}.collected")),
            base.join(format!("{k}.streamed")),
        );
        MmapIndex::create(&IndexOptions::new(&one), collected.iter()).unwrap();
        MmapIndex::create_sorted(&IndexOptions::new(&two), &source).unwrap();
        assert_eq!(fs::read(&one).unwrap(), fs::read(&two).unwrap(), "step {k}");
    }
}
