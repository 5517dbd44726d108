//! What the store examples share: a synthetic directory tree.

use disktracker_testkit::rng::Rng;

/// `n` distinct directory paths below a 36-byte root, sorted bytewise, each
/// with a parent in the set; most paths are 60-120 bytes long.
pub fn tree(n: usize, rng: &mut Rng) -> Vec<Vec<u8>> {
    const WORDS: &[&str] = &[
        "src",
        "target",
        "node_modules",
        "build",
        "assets",
        "docs",
        "tests",
        "vendor",
        "release",
        "debug",
        "include",
        "lib",
        "share",
        "cache",
        "packages",
        "components",
        "deps",
        "incremental",
        "fixtures",
        "images",
        "locale",
        "modules",
        "internal",
        "examples",
    ];
    let root = b"/home/someone/projects/workspace-main".to_vec();
    let mut all = vec![root.clone()];
    let mut frontier = vec![root];
    let mut i = 0;
    while all.len() < n {
        let parent = frontier[i % frontier.len()].clone();
        i += 1;
        // Most paths end up 60-120 bytes long.
        if parent.len() > 95 {
            continue;
        }
        let kids = 2 + rng.below_u64(7);
        for _ in 0..kids {
            if all.len() >= n {
                break;
            }
            let word = WORDS[rng.below_u64(WORDS.len() as u64) as usize];
            let mut p = parent.clone();
            p.push(b'/');
            p.extend_from_slice(word.as_bytes());
            p.extend_from_slice(format!("-{:x}", rng.below_u64(1 << 12)).as_bytes());
            all.push(p.clone());
            frontier.push(p);
        }
    }
    all.sort_unstable();
    all.dedup();
    all
}
