//! Link-time plugin registries.
//!
//! Each implementation submits a const descriptor with a `register_*!` macro.
//! Lookups go through [`Registry`], which rejects duplicate names.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use crate::error::{Error, ErrorKind, Result};
use crate::events::EventSource;
use crate::index::{IndexOptions, LiveIndex};
use crate::report::{ReportKind, Reporter};
use crate::settings::{PluginSettings, SettingSpec};
use crate::store::{SnapshotStore, StoreOptions};
use crate::walker::Walker;

/// The five kinds of plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PluginKind {
    /// [`Walker`].
    Walker,
    /// [`SnapshotStore`].
    Store,
    /// [`LiveIndex`].
    Index,
    /// [`EventSource`].
    Events,
    /// [`Reporter`].
    Reporter,
}

impl PluginKind {
    /// Lower-case name, as shown by `disktracker plugins`.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Walker => "walker",
            PluginKind::Store => "store",
            PluginKind::Index => "index",
            PluginKind::Events => "events",
            PluginKind::Reporter => "reporter",
        }
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A registered plugin, for listing.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PluginInfo {
    /// Its kind.
    pub kind: PluginKind,
    /// Its unique name within the kind.
    pub name: &'static str,
    /// One line on what it is.
    pub summary: &'static str,
}

/// Registration of a [`Walker`]. Build it with [`WalkerPlugin::new`] and
/// submit it with [`register_walker!`](crate::register_walker).
#[non_exhaustive]
pub struct WalkerPlugin {
    /// Unique name (`--walker NAME`).
    pub name: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// Keys of its `[plugins.NAME]` table.
    pub settings: &'static [SettingSpec],
    /// Creates the walker.
    pub create: fn(&PluginSettings) -> Result<Box<dyn Walker>>,
}

impl WalkerPlugin {
    /// A walker called `name`, created by `create`, taking no settings.
    pub const fn new(
        name: &'static str,
        summary: &'static str,
        create: fn(&PluginSettings) -> Result<Box<dyn Walker>>,
    ) -> Self {
        WalkerPlugin {
            name,
            summary,
            settings: &[],
            create,
        }
    }

    /// Declares the keys of its `[plugins.NAME]` table.
    pub const fn settings(mut self, settings: &'static [SettingSpec]) -> Self {
        self.settings = settings;
        self
    }
}

/// Registration of a [`SnapshotStore`]. Build it with [`StorePlugin::new`]
/// and submit it with [`register_store!`](crate::register_store).
#[non_exhaustive]
pub struct StorePlugin {
    /// Unique name (`--backend NAME`).
    pub name: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// Extension of the store's file when no file is named: the default
    /// database `~/.disktracker/data.db` becomes `data.<extension>`. Empty
    /// for stores that are not files.
    pub extension: &'static str,
    /// The first bytes of every file of this store, by which an existing file
    /// is recognised whatever `--backend` says. Empty for stores that are not files.
    pub magic: &'static [u8],
    /// URL schemes this store opens (`postgres`), for stores that are servers.
    pub url_schemes: &'static [&'static str],
    /// Keys of its `[plugins.NAME]` table.
    pub settings: &'static [SettingSpec],
    /// Opens (creating and migrating unless read-only) the store.
    pub open: fn(&StoreOptions) -> Result<Box<dyn SnapshotStore>>,
    /// Whether a second, read-only handle opens at once in the same process
    /// while the first writes, and reads what was committed before (SQLite
    /// in WAL mode, a server): a warm rescan then reads the previous
    /// snapshot beside the new one's write.
    pub reads_beside_writes: bool,
}

impl StorePlugin {
    /// A file store called `name` whose files end in `.extension` and start
    /// with `magic`, opened by `open`.
    pub const fn new(
        name: &'static str,
        summary: &'static str,
        extension: &'static str,
        magic: &'static [u8],
        open: fn(&StoreOptions) -> Result<Box<dyn SnapshotStore>>,
    ) -> Self {
        StorePlugin {
            name,
            summary,
            extension,
            magic,
            url_schemes: &[],
            settings: &[],
            open,
            reads_beside_writes: false,
        }
    }

    /// Declares that a read-only handle can be opened and read while another
    /// handle of the same process writes ([`StorePlugin::reads_beside_writes`]).
    pub const fn reads_beside_writes(mut self) -> Self {
        self.reads_beside_writes = true;
        self
    }

    /// Declares the URL schemes it serves.
    pub const fn url_schemes(mut self, schemes: &'static [&'static str]) -> Self {
        self.url_schemes = schemes;
        self
    }

    /// Declares the keys of its `[plugins.NAME]` table.
    pub const fn settings(mut self, settings: &'static [SettingSpec]) -> Self {
        self.settings = settings;
        self
    }

    /// Whether `header` (the first bytes of an existing file) is one of this store's.
    pub fn recognizes(&self, header: &[u8]) -> bool {
        !self.magic.is_empty() && header.starts_with(self.magic)
    }
}

/// Source of `(path, recursive bytes)` pairs for building an index, borrowed
/// from the caller so a scan's paths are not copied again.
pub type IndexEntries<'a> = dyn Iterator<Item = (&'a [u8], u64)> + 'a;

/// Creates (or replaces) an index file from entries.
pub type IndexCreateFn = fn(&IndexOptions, &mut IndexEntries<'_>) -> Result<Box<dyn LiveIndex>>;

/// `(path, recursive bytes)` pairs in strictly increasing bytewise path
/// order, which can be read more than once and lend each path only for the
/// call: the host builds a scan's paths one at a time as they are read, so
/// an index written from them never needs them all in memory at once.
pub trait SortedIndexEntries {
    /// Calls `f` with every entry, in order; stops at the first error `f`
    /// returns and returns it. Every call yields the same entries.
    fn visit(&self, f: &mut dyn FnMut(&[u8], u64) -> std::io::Result<()>) -> std::io::Result<()>;
}

/// Creates (or replaces) an index file from entries in path order (see
/// [`IndexPlugin::create_sorted`]).
pub type IndexCreateSortedFn =
    fn(&IndexOptions, &dyn SortedIndexEntries) -> Result<Box<dyn LiveIndex>>;

/// Registration of a [`LiveIndex`]. Build it with [`IndexPlugin::new`] and
/// submit it with [`register_index!`](crate::register_index).
///
/// A whole index — kept in memory, where the first-party `mmap` index keeps
/// a sorted file it maps and replaces atomically — registered and used as
/// the host uses one: built from a snapshot's `(path, recursive bytes)`
/// pairs, changed through its overlay, compacted:
///
/// ```
/// use std::collections::BTreeMap;
/// use std::path::{Path, PathBuf};
///
/// use disktracker::path::is_within;
/// use disktracker::registry::{IndexEntries, IndexPlugin, indexes};
/// use disktracker::{Error, ErrorKind, FileIdentity, IndexOptions, LiveIndex, Result};
///
/// struct MemoryIndex {
///     path: PathBuf,
///     base: BTreeMap<Vec<u8>, u64>,
///     /// `None` is a tombstone: removed since the base was built.
///     overlay: BTreeMap<Vec<u8>, Option<u64>>,
/// }
///
/// impl LiveIndex for MemoryIndex {
///     fn path(&self) -> &Path {
///         &self.path
///     }
///     fn identity(&self) -> FileIdentity {
///         FileIdentity::default() // no file
///     }
///     fn root(&self) -> Option<&[u8]> {
///         self.base.keys().next().map(Vec::as_slice)
///     }
///     fn base_len(&self) -> usize {
///         self.base.len()
///     }
///     fn overlay_len(&self) -> usize {
///         self.overlay.len()
///     }
///     fn lookup(&self, path: &[u8]) -> Result<Option<u64>> {
///         // No allocation: `BTreeMap<Vec<u8>, _>` is searched by `&[u8]`.
///         Ok(match self.overlay.get(path) {
///             Some(entry) => *entry,
///             None => self.base.get(path).copied(),
///         })
///     }
///     fn verify(&self) -> Result<()> {
///         Ok(()) // a map cannot be out of order
///     }
///     fn check_unchanged(&self) -> Result<()> {
///         Ok(()) // nothing outside this process can change it
///     }
///     fn set(&mut self, path: &[u8], total_bytes: u64) {
///         self.overlay.insert(path.to_vec(), Some(total_bytes));
///     }
///     fn remove_subtree(&mut self, path: &[u8]) -> Result<()> {
///         let below = |p: &&Vec<u8>| is_within(p, path);
///         let gone: Vec<Vec<u8>> = self.base.keys().chain(self.overlay.keys()).filter(below).cloned().collect();
///         for p in gone {
///             self.overlay.insert(p, None);
///         }
///         Ok(())
///     }
///     fn compact(&mut self) -> Result<()> {
///         for (path, entry) in std::mem::take(&mut self.overlay) {
///             match entry {
///                 Some(bytes) => self.base.insert(path, bytes),
///                 None => self.base.remove(&path),
///             };
///         }
///         Ok(())
///     }
///     fn rebuild(&mut self, entries: &mut IndexEntries<'_>) -> Result<()> {
///         self.base = entries.map(|(p, bytes)| (p.to_vec(), bytes)).collect();
///         self.overlay.clear();
///         Ok(())
///     }
/// }
///
/// fn open(opts: &IndexOptions) -> Result<Box<dyn LiveIndex>> {
///     Err(Error::new(ErrorKind::NotFound, format!("the memory index keeps nothing at {}", opts.path.display()))
///         .with_hint("build it with `create`"))
/// }
///
/// fn create(opts: &IndexOptions, entries: &mut IndexEntries<'_>) -> Result<Box<dyn LiveIndex>> {
///     let mut ix = MemoryIndex { path: opts.path.clone(), base: BTreeMap::new(), overlay: BTreeMap::new() };
///     ix.rebuild(entries)?;
///     Ok(Box::new(ix))
/// }
///
/// disktracker::register_index!(IndexPlugin::new("memory", "in memory (the API's example)", open, create));
///
/// let plugin = indexes().unwrap().get("memory").unwrap();
/// let snapshot: [(&[u8], u64); 4] = [(b"/data/a", 200), (b"/data", 300), (b"/data/a/x", 50), (b"/data/b", 100)];
/// let mut entries = snapshot.into_iter();
/// let mut ix = (plugin.create)(&IndexOptions::new("/tmp/data.memory"), &mut entries).unwrap();
/// assert_eq!((ix.root(), ix.base_len()), (Some(&b"/data"[..]), 4));
/// assert_eq!(ix.lookup(b"/data/a").unwrap(), Some(200));
/// assert_eq!(ix.lookup(b"/data/ab").unwrap(), None);
///
/// // A watcher's changes: /data/a/x grew, /data/b went away.
/// ix.set(b"/data/a/x", 70);
/// ix.set(b"/data/a", 220);
/// ix.remove_subtree(b"/data/b").unwrap();
/// ix.set(b"/data", 220);
/// assert_eq!((ix.lookup(b"/data/a/x").unwrap(), ix.lookup(b"/data/b").unwrap()), (Some(70), None));
/// ix.compact().unwrap();
/// assert_eq!((ix.base_len(), ix.overlay_len()), (3, 0));
/// assert_eq!(ix.lookup(b"/data").unwrap(), Some(220));
/// assert!((plugin.open)(&IndexOptions::new("/tmp/data.memory")).is_err());
/// ```
#[non_exhaustive]
pub struct IndexPlugin {
    /// Unique name.
    pub name: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// Keys of its `[plugins.NAME]` table.
    pub settings: &'static [SettingSpec],
    /// Opens an existing index file, validating it.
    pub open: fn(&IndexOptions) -> Result<Box<dyn LiveIndex>>,
    /// Creates (or replaces) the index file with `entries`.
    pub create: IndexCreateFn,
    /// Creates (or replaces) the index file from entries in path order,
    /// read as often as it needs. `None`: the host collects the entries
    /// for [`IndexPlugin::create`] instead (every path in memory at once).
    pub create_sorted: Option<IndexCreateSortedFn>,
}

impl IndexPlugin {
    /// An index called `name`.
    pub const fn new(
        name: &'static str,
        summary: &'static str,
        open: fn(&IndexOptions) -> Result<Box<dyn LiveIndex>>,
        create: IndexCreateFn,
    ) -> Self {
        IndexPlugin {
            name,
            summary,
            settings: &[],
            open,
            create,
            create_sorted: None,
        }
    }

    /// Declares the keys of its `[plugins.NAME]` table.
    pub const fn settings(mut self, settings: &'static [SettingSpec]) -> Self {
        self.settings = settings;
        self
    }

    /// Declares that it can write an index from entries in path order,
    /// lent one at a time (what the host uses after a scan).
    pub const fn create_sorted(mut self, create_sorted: IndexCreateSortedFn) -> Self {
        self.create_sorted = Some(create_sorted);
        self
    }
}

/// Registration of an [`EventSource`]. Build it with
/// [`EventSourcePlugin::new`] and submit it with
/// [`register_event_source!`](crate::register_event_source).
#[non_exhaustive]
pub struct EventSourcePlugin {
    /// Unique name.
    pub name: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// Keys of its `[plugins.NAME]` table.
    pub settings: &'static [SettingSpec],
    /// Creates the source.
    pub create: fn(&PluginSettings) -> Result<Box<dyn EventSource>>,
}

impl EventSourcePlugin {
    /// An event source called `name`.
    pub const fn new(
        name: &'static str,
        summary: &'static str,
        create: fn(&PluginSettings) -> Result<Box<dyn EventSource>>,
    ) -> Self {
        EventSourcePlugin {
            name,
            summary,
            settings: &[],
            create,
        }
    }

    /// Declares the keys of its `[plugins.NAME]` table.
    pub const fn settings(mut self, settings: &'static [SettingSpec]) -> Self {
        self.settings = settings;
        self
    }
}

/// Registration of a [`Reporter`]. Build it with [`ReporterPlugin::new`] and
/// submit it with [`register_reporter!`](crate::register_reporter).
#[non_exhaustive]
pub struct ReporterPlugin {
    /// Unique name (`--format NAME`).
    pub name: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// The report kinds it renders. The host checks this before a command
    /// does anything, so a command never changes data and then fails to report.
    pub renders: &'static [ReportKind],
    /// Keys of its `[plugins.NAME]` table.
    pub settings: &'static [SettingSpec],
    /// Creates the reporter from its settings.
    pub create: fn(&PluginSettings) -> Result<Box<dyn Reporter>>,
    /// Whether it draws trees: the host then attaches the folded tree of
    /// the snapshot to `show` ([`TopReport::tree`](crate::report::TopReport::tree))
    /// and of both snapshots to `diff`, which costs a read of the whole
    /// subtree that a listing does not need.
    pub draws_trees: bool,
}

impl ReporterPlugin {
    /// A reporter called `name` that renders the kinds in `renders`
    /// ([`ReportKind::ALL`] for every kind this API version knows).
    pub const fn new(
        name: &'static str,
        summary: &'static str,
        renders: &'static [ReportKind],
        create: fn(&PluginSettings) -> Result<Box<dyn Reporter>>,
    ) -> Self {
        ReporterPlugin {
            name,
            summary,
            renders,
            settings: &[],
            create,
            draws_trees: false,
        }
    }

    /// Declares that it draws trees (see [`ReporterPlugin::draws_trees`]).
    pub const fn draws_trees(mut self) -> Self {
        self.draws_trees = true;
        self
    }

    /// Declares the keys of its `[plugins.NAME]` table.
    pub const fn settings(mut self, settings: &'static [SettingSpec]) -> Self {
        self.settings = settings;
        self
    }

    /// Whether it renders `kind`.
    pub fn renders(&self, kind: ReportKind) -> bool {
        self.renders.contains(&kind)
    }
}

inventory::collect!(WalkerPlugin);
inventory::collect!(StorePlugin);
inventory::collect!(IndexPlugin);
inventory::collect!(EventSourcePlugin);
inventory::collect!(ReporterPlugin);

/// Common access to plugin descriptors.
pub trait Plugin: Sync + 'static {
    /// The kind.
    const KIND: PluginKind;
    /// Unique name.
    fn name(&self) -> &'static str;
    /// One-line summary.
    fn summary(&self) -> &'static str;
    /// Keys of its `[plugins.NAME]` table.
    fn settings(&self) -> &'static [SettingSpec];

    /// Its settings, every key at its default.
    fn default_settings(&self) -> Result<PluginSettings> {
        PluginSettings::defaults(self.name(), self.settings())
    }
}

macro_rules! impl_plugin {
    ($t:ty, $kind:expr) => {
        impl Plugin for $t {
            const KIND: PluginKind = $kind;
            fn name(&self) -> &'static str {
                self.name
            }
            fn summary(&self) -> &'static str {
                self.summary
            }
            fn settings(&self) -> &'static [SettingSpec] {
                self.settings
            }
        }
    };
}
impl_plugin!(WalkerPlugin, PluginKind::Walker);
impl_plugin!(StorePlugin, PluginKind::Store);
impl_plugin!(IndexPlugin, PluginKind::Index);
impl_plugin!(EventSourcePlugin, PluginKind::Events);
impl_plugin!(ReporterPlugin, PluginKind::Reporter);

/// The validated, name-sorted set of registered plugins of one kind.
pub struct Registry<T: 'static> {
    by_name: BTreeMap<&'static str, &'static T>,
}

impl<T: Plugin> Registry<T> {
    /// Builds a registry from descriptors, rejecting duplicate names.
    pub(crate) fn build(items: impl IntoIterator<Item = &'static T>) -> Result<Self> {
        let mut by_name = BTreeMap::new();
        for p in items {
            if by_name.insert(p.name(), p).is_some() {
                return Err(Error::new(
                    ErrorKind::Plugin,
                    format!("two {} plugins are registered as {:?}", T::KIND, p.name()),
                )
                .with_hint("rename one of them; names must be unique per kind"));
            }
        }
        Ok(Registry { by_name })
    }

    /// The plugin called `name`, or a usage error listing the known names.
    pub fn get(&self, name: &str) -> Result<&'static T> {
        self.by_name.get(name).copied().ok_or_else(|| {
            let known: Vec<_> = self.by_name.keys().copied().collect();
            Error::new(ErrorKind::Usage, format!("unknown {} {name:?}", T::KIND))
                .with_hint(format!("available: {}", known.join(", ")))
        })
    }

    /// All plugins, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &'static T> + '_ {
        self.by_name.values().copied()
    }

    /// Names, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        self.by_name.keys().copied().collect()
    }

    /// Listing entries.
    pub(crate) fn infos(&self) -> Vec<PluginInfo> {
        self.iter()
            .map(|p| PluginInfo {
                kind: T::KIND,
                name: p.name(),
                summary: p.summary(),
            })
            .collect()
    }
}

fn cached<T: Plugin>(
    cell: &'static OnceLock<Result<Registry<T>, String>>,
    items: impl FnOnce() -> Vec<&'static T>,
) -> Result<&'static Registry<T>> {
    cell.get_or_init(|| Registry::build(items()).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|msg| Error::new(ErrorKind::Plugin, msg.clone()))
}

macro_rules! registry_fn {
    ($fn:ident, $t:ty) => {
        #[doc = concat!("The registered [`", stringify!($t), "`]s.")]
        pub fn $fn() -> Result<&'static Registry<$t>> {
            static CELL: OnceLock<Result<Registry<$t>, String>> = OnceLock::new();
            cached(&CELL, || inventory::iter::<$t>.into_iter().collect())
        }
    };
}
registry_fn!(walkers, WalkerPlugin);
registry_fn!(stores, StorePlugin);
registry_fn!(indexes, IndexPlugin);
registry_fn!(event_sources, EventSourcePlugin);
registry_fn!(reporters, ReporterPlugin);

/// Every registered plugin of every kind, by kind then name; fails on duplicates.
pub fn all_plugins() -> Result<Vec<PluginInfo>> {
    let mut v = walkers()?.infos();
    v.extend(stores()?.infos());
    v.extend(indexes()?.infos());
    v.extend(event_sources()?.infos());
    v.extend(reporters()?.infos());
    Ok(v)
}

/// Registers a [`Walker`]:
/// `register_walker!(WalkerPlugin::new("name", "summary", |_settings| Ok(Box::new(MyWalker))));`
#[macro_export]
macro_rules! register_walker {
    ($plugin:expr $(,)?) => {
        $crate::inventory::submit! { $plugin }
    };
}

/// Registers a [`SnapshotStore`]:
/// `register_store!(StorePlugin::new("name", "summary", "ext", b"MAGIC", open_fn));`
#[macro_export]
macro_rules! register_store {
    ($plugin:expr $(,)?) => {
        $crate::inventory::submit! { $plugin }
    };
}

/// Registers a [`LiveIndex`]: `register_index!(IndexPlugin::new("name", "summary", open_fn, create_fn));`
#[macro_export]
macro_rules! register_index {
    ($plugin:expr $(,)?) => {
        $crate::inventory::submit! { $plugin }
    };
}

/// Registers an [`EventSource`]:
/// `register_event_source!(EventSourcePlugin::new("name", "summary", create_fn));`
#[macro_export]
macro_rules! register_event_source {
    ($plugin:expr $(,)?) => {
        $crate::inventory::submit! { $plugin }
    };
}

/// Registers a [`Reporter`]; see the [`Reporter`] documentation for a whole example.
#[macro_export]
macro_rules! register_reporter {
    ($plugin:expr $(,)?) => {
        $crate::inventory::submit! { $plugin }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(_: &PluginSettings) -> Result<Box<dyn Walker>> {
        Err(Error::new(ErrorKind::Plugin, "never created in this test"))
    }
    static A: WalkerPlugin = WalkerPlugin::new("a", "", w);
    static A2: WalkerPlugin = WalkerPlugin::new("a", "", w);
    static B: WalkerPlugin = WalkerPlugin::new("b", "", w);

    #[test]
    fn rejects_duplicates_and_names_unknowns() {
        let err = Registry::build([&A, &A2])
            .err()
            .expect("duplicate rejected");
        assert_eq!(err.kind(), ErrorKind::Plugin);
        assert!(err.to_string().contains("\"a\""));
        let reg = Registry::build([&B, &A]).unwrap();
        assert_eq!(reg.names(), ["a", "b"]);
        let err = reg.get("zz").err().unwrap();
        assert_eq!(err.kind(), ErrorKind::Usage);
        assert!(err.to_string().contains("available: a, b"), "{err}");
    }
}
