//! An in-memory search structure over a sample of the base file's keys (a
//! "fence"): a lookup resolves its whole search from this array, down to
//! the one entry that can equal the query, and touches the mapped file only
//! to read that entry and its path (one round trip), plus ~0.3 key reads.
//!
//! Built lazily by `MmapIndex` (see its `lookup` docs for the policy), never
//! on open. Building reads every entry and path of the file once, in order
//! (~50 ms for 1M entries); the result is 128 bytes per sample, one sample
//! every [`STRIDE`] to `2 × STRIDE` entries (8 MB for 1M entries).
//!
//! # Why not fixed-width key prefixes
//!
//! Neighbouring paths in a real index share long prefixes: on the benchmark's
//! 1M-path tree, keys 8 entries apart share a median of 105 bytes after the
//! root, and 99.85% of them still tie on their first 56 bytes. A fence of
//! fixed-width prefixes narrows nothing. Instead each node stores the two
//! longest-common-prefix (LCP) values that a string binary search needs
//! (Manber and Myers' LCP-LR search) and a window of its key's bytes exactly
//! where the search compares them, so nearly every node is decided without
//! reading the key (0.3 key reads per lookup on the benchmark).
//!
//! # Search
//!
//! The samples form a perfect binary search tree in Eytzinger (BFS) order,
//! one 64-byte node each. While descending, the search knows
//! `l = lcp(q, lower bound)` and `r = lcp(q, upper bound)`. Node `v` stores
//! `llcp = lcp(v, its lower bound)` and `rlcp = lcp(v, its upper bound)`;
//! with `l ≥ r`:
//!
//! * `llcp > l`: `v` agrees with the lower bound where `q` leaves it, so `q > v`;
//! * `llcp < l`: `v` leaves the lower bound before `q` does, so `q < v`, and
//!   `lcp(q, v) = llcp`;
//! * equal: compare `q` and `v` from byte `l`. If `l < rlcp`, they differ
//!   right there (`q` cannot agree with the upper bound further than `l`),
//!   and the node keeps that one byte (`fork`). Otherwise `l` is
//!   `max(llcp, rlcp)`, where the node's 52-byte window starts; only if `q`
//!   agrees with the whole window is the key read from the file (the node
//!   holds its pool offset: one cache miss).
//!
//! (Mirrored for `r > l`.) The search ends in a gap between two consecutive
//! samples: under `2 × STRIDE` entries. Each gap has a one-line [`Leaf`]
//! (prefetched two levels above the bottom of the tree) from which a blind
//! search picks the only entry that can equal `q`; its entry line and path
//! are then fetched together and compared in full. (A gap whose leaf could
//! not be built, e.g. on a corrupt file, is binary-searched after
//! prefetching all its entries and paths, whose place in the pool the nodes
//! hold.) Answers always come from a full comparison with a path in the
//! file: the fence only narrows.
//!
//! The leaves replaced that gap search as the normal path: it fetched ~36
//! lines (every entry and path of the gap) where a leaf needs one line plus
//! ~4 from the file. On 1M entries (random queries, same machine, same
//! session) that took a plain timing loop from 570–594 ns to 494–497 ns and
//! the hot 1k set from ~190–250 to 176 ns, for 4 MB more memory and a
//! build that reads the whole file (21 → 45–53 ms). What remains is mostly
//! the descent: ~16 levels, the lowest of which miss the CPU caches.
//!
//! On a corrupt (unsorted) file, like the plain search, the fence can miss
//! but never report a path that is not there, and it never faults.

use crate::format::IndexView;

/// Samples are `STRIDE × LEAF_LINES` to twice that many entries apart.
pub(crate) const STRIDE: usize = 8;
/// Below this many entries no fence is built: the index is small enough that
/// a plain binary search mostly hits the CPU caches.
pub(crate) const MIN_ENTRIES: usize = 1 << 16;
/// Bytes of a sample's key kept in its node.
const WINDOW: usize = NODE_LEN - WIN_AT;
/// `Node::wlen` flag: the key ends inside the window.
const ENDS: u8 = 0x80;

/// Node layout (64 bytes, one cache line), all little-endian:
///
/// ```text
///  0 llcp u16   LCP with the node's lower bound in the tree (0 for none)
///  2 rlcp u16   LCP with the node's upper bound (0 for none)
///  4 len  u16   the key's length, saturated at u16::MAX
///  6 off  u32   the key's offset in the pool
/// 10 wlen u8    valid window bytes, | ENDS when the key ends inside the window
/// 11 fork u8    the key's byte at min(llcp, rlcp), when that is below the max
/// 12 win  [u8; 52]  the key's bytes from max(llcp, rlcp)
/// ```
const NODE_LEN: usize = 64;
const WIN_AT: usize = 12;

/// A node's fields, read from its bytes.
#[derive(Clone, Copy)]
struct Node<'a>(&'a [u8; NODE_LEN]);

impl<'a> Node<'a> {
    #[inline(always)]
    fn u16_at(self, at: usize) -> usize {
        usize::from(u16::from_le_bytes([self.0[at], self.0[at + 1]]))
    }
    #[inline(always)]
    fn llcp(self) -> usize {
        self.u16_at(0)
    }
    #[inline(always)]
    fn rlcp(self) -> usize {
        self.u16_at(2)
    }
    #[inline(always)]
    fn len(self) -> usize {
        self.u16_at(4)
    }
    #[inline(always)]
    fn off(self) -> usize {
        u32::from_le_bytes([self.0[6], self.0[7], self.0[8], self.0[9]]) as usize
    }
    #[inline(always)]
    fn wlen(self) -> u8 {
        self.0[10]
    }
    #[inline(always)]
    fn fork(self) -> u8 {
        self.0[11]
    }
    #[inline(always)]
    fn win(self) -> &'a [u8] {
        &self.0[WIN_AT..]
    }
}

/// A cache line, for the heap fallback of [`Store`].
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; NODE_LEN]);

/// The nodes, cache-line aligned. (An anonymous mapping advised to use
/// transparent huge pages measured no faster: 557–573 ns against 563–589 ns.)
struct Store(Box<[Line]>);

impl Store {
    /// Zeroed room for `count` nodes.
    fn new(count: usize) -> Store {
        Store(vec![Line([0; NODE_LEN]); count].into_boxed_slice())
    }

    #[inline(always)]
    fn node(&self, k: usize) -> Option<Node<'_>> {
        self.0.get(k).map(|l| Node(&l.0))
    }

    fn node_mut(&mut self, k: usize) -> Option<&mut [u8; NODE_LEN]> {
        self.0.get_mut(k).map(|l| &mut l.0)
    }

    fn len_bytes(&self) -> usize {
        self.0.len() * NODE_LEN
    }
}

/// A gap's entries (at most [`MAX_GAP`]), summarised in one cache line so
/// that a lookup can pick the one entry that may equal `q` without reading
/// any of them: a blind search, as down a Patricia trie.
///
/// For each entry `i > 0` of the gap the line keeps `h_i`, the LCP of keys
/// `i - 1` and `i`, and `c_i`, key `i`'s byte at `h_i` (where it leaves its
/// predecessor). If `q` is key `t`, scanning `i = 1, 2, …` and stepping to
/// `i` exactly when `q[h_i] = c_i` — skipping the keys that branch deeper
/// than the last failed step, which all lie in the subtree `q` left — ends
/// on `t`. If `q` is no key the scan ends somewhere; either way the final
/// full comparison with that one path in the file decides. So a lookup
/// reads one entry line and one path, fetched together (the line also
/// holds each path's place in the pool, as a prefetch hint only).
///
/// ```text
///  0 hbase u16       the smallest h_i; h_i = hbase + dh_i
///  2 count u8        entries in the gap; 0: no summary (search the gap)
///  3 c     [u8; 14]  c_1 ..= c_14
/// 17 dh    [u8; 14]  dh_1 ..= dh_14
/// 31 rel   [u16; 15] each path's pool offset minus the gap region's start
/// ```
#[derive(Clone, Copy)]
struct Leaf<'a>(&'a [u8; LEAF_LEN]);

/// Leaf lines, cache-line aligned.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct LeafLines([u8; LEAF_LEN]);

/// Most entries a gap holds: samples are `n / 2^height < 16 × LEAF_LINES`
/// entries apart.
/// The leaves are prefetched this many levels above the bottom of the tree
/// (3 measured the same).
const LEAF_AHEAD: u32 = 2;
/// Cache lines per leaf. One leaf line per ~8–15 entries measured best: 2
/// (one tree level fewer, a 31-entry scan) and 4 lost more in the leaf than
/// they saved in the tree (random median ~490–520 and ~520 ns against
/// ~470–500 ns).
const LEAF_LINES: usize = 1;
const LEAF_LEN: usize = NODE_LEN * LEAF_LINES;
const MAX_GAP: usize = 16 * LEAF_LINES - 1;
const LEAF_C: usize = 3;
const LEAF_DH: usize = LEAF_C + MAX_GAP - 1;
const LEAF_REL: usize = LEAF_DH + MAX_GAP - 1;
const _: () = assert!(LEAF_REL + 2 * MAX_GAP <= LEAF_LEN);

impl Leaf<'_> {
    /// Summarises entries `start..end` into `line`, whose paths should
    /// start at pool offset `region_start`; leaves `count` 0 (no summary)
    /// when the gap is too long, unsorted, corrupt, or its LCPs or offsets
    /// do not fit.
    fn build(
        line: &mut [u8; LEAF_LEN],
        base: IndexView<'_>,
        start: usize,
        end: usize,
        region_start: usize,
    ) {
        let count = end.saturating_sub(start);
        if count == 0 || count > MAX_GAP {
            return;
        }
        let mut keys: [&[u8]; MAX_GAP] = [&[]; MAX_GAP];
        let mut rel = [0u16; MAX_GAP];
        for j in 0..count {
            let (Some(p), Some((off, _, _))) = (base.path(start + j), base.raw(start + j)) else {
                return;
            };
            let Some(Ok(r)) = (off as usize).checked_sub(region_start).map(u16::try_from) else {
                return;
            };
            if j > 0 && keys[j - 1] >= p {
                return;
            }
            keys[j] = p;
            rel[j] = r;
        }
        let mut h = [0usize; MAX_GAP];
        for j in 1..count {
            h[j] = lcp(keys[j - 1], keys[j]);
        }
        let hbase = h[1..count].iter().copied().min().unwrap_or(0);
        let Ok(hbase16) = u16::try_from(hbase) else {
            return;
        };
        let mut out = [0u8; LEAF_LEN];
        out[0..2].copy_from_slice(&hbase16.to_le_bytes());
        out[2] = count as u8;
        for j in 1..count {
            let Ok(dh) = u8::try_from(h[j] - hbase) else {
                return;
            };
            // Key j is longer than h_j: it sorts after key j - 1, which it
            // shares h_j bytes with.
            let Some(&c) = keys[j].get(h[j]) else {
                return;
            };
            out[LEAF_C + j - 1] = c;
            out[LEAF_DH + j - 1] = dh;
        }
        for (j, r) in rel.iter().enumerate().take(count) {
            out[LEAF_REL + 2 * j..LEAF_REL + 2 * j + 2].copy_from_slice(&r.to_le_bytes());
        }
        *line = out;
    }

    /// The only entry of the gap (0-based) that can be `q`, by the blind
    /// search; `None` when the line has no summary.
    #[inline]
    fn candidate(self, q: &[u8]) -> Option<usize> {
        let count = usize::from(self.0[2]);
        if count == 0 {
            return None;
        }
        let hbase = usize::from(u16::from_le_bytes([self.0[0], self.0[1]]));
        let (mut j, mut skip) = (0usize, usize::MAX);
        for i in 1..count.min(MAX_GAP) {
            let h = hbase + usize::from(self.0[LEAF_DH + i - 1]);
            let live = h <= skip;
            let step = live && q.get(h) == Some(&self.0[LEAF_C + i - 1]);
            j = if step { i } else { j };
            skip = if step {
                usize::MAX
            } else if live {
                h
            } else {
                skip
            };
        }
        Some(j)
    }

    /// Entry `j`'s path offset minus the gap region's start (a hint).
    #[inline]
    fn rel(self, j: usize) -> usize {
        let at = LEAF_REL + 2 * j.min(MAX_GAP - 1);
        usize::from(u16::from_le_bytes([self.0[at], self.0[at + 1]]))
    }
}

/// The fence over one base file. Holds no reference to it: it is valid for
/// exactly the bytes it was built from (`MmapIndex` drops it when the base
/// changes).
pub(crate) struct Fence {
    /// Eytzinger order, 1-based: node 0 is unused, `2^height` of them.
    nodes: Store,
    /// One [`Leaf`] per gap, in gap order (`2^height` of them).
    leaves: Box<[LeafLines]>,
    height: u32,
    /// Entry count of the base it was built from.
    n: usize,
}

/// Length of the longest common prefix, 8 bytes at a time.
#[inline]
fn lcp(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut i = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let (Ok(x), Ok(y)) = (<[u8; 8]>::try_from(x), <[u8; 8]>::try_from(y)) else {
            break;
        };
        let d = u64::from_le_bytes(x) ^ u64::from_le_bytes(y);
        if d != 0 {
            return i + (d.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + a[i..]
        .iter()
        .zip(&b[i..])
        .take_while(|(x, y)| x == y)
        .count()
}

impl std::fmt::Debug for Fence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fence")
            .field("samples", &((1usize << self.height) - 1))
            .field("bytes", &self.heap_bytes())
            .finish()
    }
}

impl Fence {
    /// Entry index of sample `rank` (0-based, sorted): spread evenly.
    #[inline]
    fn sample_pos(&self, rank: usize) -> usize {
        (((rank as u128 + 1) * self.n as u128) >> self.height) as usize
    }

    /// Entries `start..end` of gap `t`, between samples `t - 1` and `t`.
    #[inline]
    fn gap(&self, t: usize) -> (usize, usize) {
        let start = if t == 0 {
            0
        } else {
            self.sample_pos(t - 1) + 1
        };
        (start, self.sample_pos(t).min(self.n))
    }

    /// Heap bytes used.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.nodes.len_bytes() + self.leaves.len() * LEAF_LEN
    }

    /// Builds the fence over `base`, or `None` when it would not help (a
    /// small index) or cannot be built exactly (a corrupt sampled entry, an
    /// LCP beyond 16 bits, samples out of order).
    pub(crate) fn build(base: IndexView<'_>) -> Option<Fence> {
        let n = base.len();
        if n < MIN_ENTRIES {
            return None;
        }
        // 2^height gaps of at least STRIDE entries.
        let height = (n / (STRIDE * LEAF_LINES)).ilog2();
        const _: () = assert!(2 * STRIDE * LEAF_LINES - 1 <= MAX_GAP);
        let m = (1usize << height) - 1;
        let mut fence = Fence {
            nodes: Store(Box::new([])),
            leaves: Box::new([]),
            height,
            n,
        };
        let mut keys: Vec<&[u8]> = Vec::with_capacity(m);
        let mut offs: Vec<u32> = Vec::with_capacity(m);
        for rank in 0..m {
            let i = fence.sample_pos(rank);
            let p = base.path(i)?;
            offs.push(base.raw(i)?.0);
            if keys.last().is_some_and(|last| *last >= p) {
                return None;
            }
            keys.push(p);
        }
        let mut nodes = Store::new(m + 1);
        /// (node, lo rank, hi rank exclusive, lower bound rank, upper bound rank)
        type Todo = (usize, usize, usize, Option<usize>, Option<usize>);
        let mut stack: Vec<Todo> = vec![(1, 0, m, None, None)];
        while let Some((k, lo, hi, lower, upper)) = stack.pop() {
            if lo >= hi {
                continue;
            }
            let mid = lo + (hi - lo) / 2;
            let key = keys[mid];
            let llcp = lower.map_or(0, |b| lcp(keys[b], key));
            let rlcp = upper.map_or(0, |b| lcp(keys[b], key));
            let (Ok(l16), Ok(r16)) = (u16::try_from(llcp), u16::try_from(rlcp)) else {
                return None;
            };
            let start = llcp.max(rlcp);
            let fork = key.get(llcp.min(rlcp)).copied().unwrap_or(0);
            let rest = &key[start..];
            let take = rest.len().min(WINDOW);
            let b = nodes.node_mut(k)?;
            b[0..2].copy_from_slice(&l16.to_le_bytes());
            b[2..4].copy_from_slice(&r16.to_le_bytes());
            let len16 = u16::try_from(key.len()).unwrap_or(u16::MAX);
            b[4..6].copy_from_slice(&len16.to_le_bytes());
            b[6..10].copy_from_slice(&offs[mid].to_le_bytes());
            b[10] = take as u8 | if rest.len() <= WINDOW { ENDS } else { 0 };
            b[11] = fork;
            b[WIN_AT..WIN_AT + take].copy_from_slice(&rest[..take]);
            stack.push((2 * k, lo, mid, lower, Some(mid)));
            stack.push((2 * k + 1, mid + 1, hi, Some(mid), upper));
        }
        fence.nodes = nodes;
        let mut leaves = vec![LeafLines([0; LEAF_LEN]); 1 << height].into_boxed_slice();
        for t in 0..1usize << height {
            let (start, end) = fence.gap(t);
            let region_start = match t.checked_sub(1) {
                None => 0,
                Some(lower) => offs[lower] as usize + keys[lower].len(),
            };
            if let Some(line) = leaves.get_mut(t) {
                Leaf::build(&mut line.0, base, start, end, region_start);
            }
        }
        fence.leaves = leaves;
        Some(fence)
    }

    /// Compares `q` with the sample at node `k` (depth `depth`) from byte
    /// `from`, where both are known to agree before it: the ordering and
    /// their LCP. Uses the node's window, else the key in the file.
    #[inline]
    fn compare_at(
        &self,
        base: IndexView<'_>,
        node: Node<'_>,
        k: usize,
        depth: u32,
        q: &[u8],
        from: usize,
    ) -> Option<(std::cmp::Ordering, usize)> {
        let start = node.llcp().max(node.rlcp());
        let wlen = usize::from(node.wlen() & !ENDS);
        let qrest = q.get(from..).unwrap_or_default();
        if from < start {
            // `from` is the smaller LCP, say `llcp < rlcp`: then `q` agrees
            // with the upper bound up to `llcp` (as the key does, further)
            // but not at `llcp` (else r > l), so `q` and the key differ at
            // exactly `from`, where the key has `fork`.
            match qrest.first() {
                None => return Some((std::cmp::Ordering::Less, from)),
                Some(&b) if b != node.fork() => return Some((b.cmp(&node.fork()), from)),
                Some(_) => {} // not a sorted index: ask the key
            }
        } else if let Some(w) = node.win().get(from - start..wlen) {
            let c = lcp(qrest, w);
            if c < w.len() {
                // They differ inside the window (or `q` ends first).
                let ord = match qrest.get(c) {
                    Some(b) => b.cmp(&w[c]),
                    None => std::cmp::Ordering::Less,
                };
                return Some((ord, from + c));
            }
            if node.wlen() & ENDS != 0 {
                // The key ends here and `q` agrees with all of it.
                return Some((qrest.len().cmp(&w.len()), from + c));
            }
        }
        // The window does not settle it: read the key.
        // The node has the key's place in the pool (one cache miss); a
        // saturated length sends us through the entry (two).
        let key = match node.len() {
            0xFFFF => base.path(self.sample_pos(self.rank_of(k, depth)))?,
            len => base.pool_bytes(node.off(), len)?,
        };
        let krest = key.get(from..)?;
        let c = lcp(qrest, krest);
        Some((qrest.get(c).cmp(&krest.get(c)), from + c))
    }

    /// The index of the entry whose path is `q`, as [`IndexView::find`].
    /// `base` must be the view the fence was built from.
    #[inline]
    pub(crate) fn find(&self, base: IndexView<'_>, q: &[u8]) -> Option<usize> {
        use std::cmp::Ordering::{Equal, Greater, Less};
        if base.len() != self.n {
            return base.find(q);
        }
        let mut k = 1usize;
        let (mut l, mut r) = (0usize, 0usize);
        // Pool region of the gap: from the end of the lower bound's path to
        // the start of the upper bound's.
        let (mut region_start, mut region_end) = (0usize, base.pool_len());
        for depth in 0..self.height {
            // Fetch the four grandchildren (4k..4k+3, four adjacent lines)
            // while this level is decided; none below the tree's bottom.
            for g in 4 * k..4 * k + 4 {
                if let Some(g) = self.nodes.node(g) {
                    crate::map::prefetch_ref(g.0);
                }
            }
            // And, LEAF_AHEAD levels above the bottom, the leaves of the
            // gaps below (adjacent lines).
            if depth + LEAF_AHEAD == self.height {
                let first = (k << LEAF_AHEAD) - (1usize << self.height);
                for t in first..first + (1 << LEAF_AHEAD) {
                    if let Some(leaf) = self.leaves.get(t) {
                        for at in (0..LEAF_LEN).step_by(NODE_LEN) {
                            crate::map::prefetch(&leaf.0, at);
                        }
                    }
                }
            }
            let node = self.nodes.node(k)?;
            let (llcp, rlcp) = (node.llcp(), node.rlcp());
            // The side whose match with the query is longer decides: if the
            // node shares more with that side than the query does, the query
            // lies beyond it; if less, the node bounds it; if as much, compare.
            let (left_side, lcp, known) = if l >= r {
                (true, llcp, l)
            } else {
                (false, rlcp, r)
            };
            let go_right = match lcp.cmp(&known) {
                Greater => left_side,
                Less if left_side => {
                    r = lcp;
                    false
                }
                Less => {
                    l = lcp;
                    true
                }
                Equal => match self.compare_at(base, node, k, depth, q, known)? {
                    (Greater, c) => {
                        l = c;
                        true
                    }
                    (Less, c) => {
                        r = c;
                        false
                    }
                    (Equal, _) => return self.confirm(base, q, k, depth),
                },
            };
            if go_right {
                region_start = node.off() + node.len();
            } else {
                region_end = node.off();
            }
            k = 2 * k + usize::from(go_right);
        }

        // Gap t lies between samples t-1 and t.
        let t = k - (1 << self.height);
        let (start, end) = self.gap(t);
        if let Some(leaf) = self.leaves.get(t).map(|n| Leaf(&n.0))
            && let Some(j) = leaf.candidate(q)
        {
            // The only entry of the gap that can equal `q`: fetch its entry
            // line and its path together (the leaf has the path's place),
            // then compare the whole path.
            let i = start + j;
            base.prefetch_entry(i);
            let mut at = region_start + leaf.rel(j);
            let stop = at + q.len();
            while at < stop {
                base.prefetch_pool(at);
                at += 64;
            }
            base.prefetch_pool(stop.saturating_sub(1));
            return (i < end && base.path(i)? == q).then_some(i);
        }
        self.find_in_gap(base, q, start, end, l.min(r), region_start..region_end)
    }

    /// The sample at node `k` compared equal to `q` from some byte on:
    /// its entry, if its whole path is `q` (on a corrupt file the bytes
    /// before may differ).
    fn confirm(&self, base: IndexView<'_>, q: &[u8], k: usize, depth: u32) -> Option<usize> {
        let i = self.sample_pos(self.rank_of(k, depth));
        (base.path(i)? == q).then_some(i)
    }

    #[inline]
    fn rank_of(&self, k: usize, depth: u32) -> usize {
        ((2 * (k - (1 << depth)) + 1) << (self.height - 1 - depth)) - 1
    }

    /// Binary search of entries `start..end`, all of which share the first
    /// `shared` bytes with `q`.
    #[inline]
    fn find_in_gap(
        &self,
        base: IndexView<'_>,
        q: &[u8],
        start: usize,
        end: usize,
        shared: usize,
        region: std::ops::Range<usize>,
    ) -> Option<usize> {
        if start >= end {
            return None;
        }
        // The run's entry lines, all at once.
        let mut i = start;
        while i < end {
            base.prefetch_entry(i);
            i += 4;
        }
        base.prefetch_entry(end - 1);
        // And the run's paths (contiguous in the pool), in the same round trip.
        let mut at = region.start;
        while at < region.end {
            base.prefetch_pool(at);
            at += 64;
        }
        let qrest = q.get(shared..)?;
        let (mut base_i, mut size) = (start, end - start);
        while size > 1 {
            let half = size / 2;
            let mid = base_i + half;
            if base.path(mid)?.get(shared..)? <= qrest {
                base_i = mid;
            }
            size -= half;
        }
        // The whole path, not just the part after `shared`: that the run
        // shares those bytes with `q` holds only for a sorted file.
        (base.path(base_i)? == q).then_some(base_i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The blind search finds every key of a gap, prefixes and bytes around
    /// `/` included; whatever it picks for a non-key is left to the caller's
    /// full comparison.
    #[test]
    fn the_leaf_finds_each_key_of_its_gap() {
        let gap: [&[u8]; 9] = [
            b"/a", b"/a-", b"/a.b", b"/a/", b"/a/b", b"/a/b/c", b"/a/bc", b"/a0", b"/b\xff",
        ];
        let bytes = crate::format::encode(gap.iter().map(|p| (*p, 1u64))).unwrap();
        let base = IndexView::parse(&bytes).unwrap();
        let mut line = [0u8; LEAF_LEN];
        Leaf::build(&mut line, base, 0, gap.len(), 0);
        let leaf = Leaf(&line);
        for (j, key) in gap.iter().enumerate() {
            assert_eq!(leaf.candidate(key), Some(j), "{key:?}");
            assert_eq!(leaf.rel(j), base.raw(j).unwrap().0 as usize);
        }
        for q in [&b""[..], b"/", b"/a/c", b"/a/b/", b"/b", b"\xff"] {
            assert!(leaf.candidate(q).is_some_and(|j| j < gap.len()));
        }
        // Unsorted or too long: no summary.
        let mut line = [0u8; LEAF_LEN];
        Leaf::build(&mut line, base, 0, MAX_GAP + 1, 0);
        assert_eq!(Leaf(&line).candidate(b"/a"), None);
    }
}
