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
use crate::report::Reporter;
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

/// Registration of a [`Walker`].
pub struct WalkerPlugin {
    /// Unique name (`--walker NAME`).
    pub name: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// Creates the walker.
    pub create: fn() -> Box<dyn Walker>,
}

/// Registration of a [`SnapshotStore`].
pub struct StorePlugin {
    /// Unique name (`--backend NAME`).
    pub name: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// Extension of the store's file; it lives beside the `--db` path with
    /// this extension (`db` for `data.db` itself).
    pub extension: &'static str,
    /// Opens (creating and migrating unless read-only) the store.
    pub open: fn(&StoreOptions) -> Result<Box<dyn SnapshotStore>>,
}

/// Source of `(path, recursive bytes)` pairs for building an index, borrowed
/// from the caller so a scan's paths are not copied again.
pub type IndexEntries<'a> = dyn Iterator<Item = (&'a [u8], u64)> + 'a;

/// Creates (or replaces) an index file from entries.
pub type IndexCreateFn = fn(&IndexOptions, &mut IndexEntries<'_>) -> Result<Box<dyn LiveIndex>>;

/// Registration of a [`LiveIndex`].
pub struct IndexPlugin {
    /// Unique name.
    pub name: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// Opens an existing index file, validating it.
    pub open: fn(&IndexOptions) -> Result<Box<dyn LiveIndex>>,
    /// Creates (or replaces) the index file with `entries`.
    pub create: IndexCreateFn,
}

/// Registration of an [`EventSource`].
pub struct EventSourcePlugin {
    /// Unique name.
    pub name: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// Creates the source.
    pub create: fn() -> Result<Box<dyn EventSource>>,
}

/// Registration of a [`Reporter`].
pub struct ReporterPlugin {
    /// Unique name (`--format NAME`).
    pub name: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// Creates the reporter.
    pub create: fn() -> Box<dyn Reporter>,
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
    pub fn build(items: impl IntoIterator<Item = &'static T>) -> Result<Self> {
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
    pub fn infos(&self) -> Vec<PluginInfo> {
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

/// Registers a [`Walker`]: `register_walker!("name", "summary", || Box::new(MyWalker))`.
#[macro_export]
macro_rules! register_walker {
    ($name:expr, $summary:expr, $create:expr $(,)?) => {
        $crate::inventory::submit! {
            $crate::registry::WalkerPlugin { name: $name, summary: $summary, create: $create }
        }
    };
}

/// Registers a [`SnapshotStore`]: `register_store!("name", "summary", "ext", open_fn)`.
#[macro_export]
macro_rules! register_store {
    ($name:expr, $summary:expr, $ext:expr, $open:expr $(,)?) => {
        $crate::inventory::submit! {
            $crate::registry::StorePlugin { name: $name, summary: $summary, extension: $ext, open: $open }
        }
    };
}

/// Registers a [`LiveIndex`]: `register_index!("name", "summary", open_fn, create_fn)`.
#[macro_export]
macro_rules! register_index {
    ($name:expr, $summary:expr, $open:expr, $create:expr $(,)?) => {
        $crate::inventory::submit! {
            $crate::registry::IndexPlugin { name: $name, summary: $summary, open: $open, create: $create }
        }
    };
}

/// Registers an [`EventSource`]: `register_event_source!("name", "summary", create_fn)`.
#[macro_export]
macro_rules! register_event_source {
    ($name:expr, $summary:expr, $create:expr $(,)?) => {
        $crate::inventory::submit! {
            $crate::registry::EventSourcePlugin { name: $name, summary: $summary, create: $create }
        }
    };
}

/// Registers a [`Reporter`]: `register_reporter!("name", "summary", || Box::new(MyReporter))`.
#[macro_export]
macro_rules! register_reporter {
    ($name:expr, $summary:expr, $create:expr $(,)?) => {
        $crate::inventory::submit! {
            $crate::registry::ReporterPlugin { name: $name, summary: $summary, create: $create }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w() -> Box<dyn Walker> {
        unreachable!("never created in this test")
    }
    static A: WalkerPlugin = WalkerPlugin {
        name: "a",
        summary: "",
        create: w,
    };
    static A2: WalkerPlugin = WalkerPlugin {
        name: "a",
        summary: "",
        create: w,
    };
    static B: WalkerPlugin = WalkerPlugin {
        name: "b",
        summary: "",
        create: w,
    };

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
