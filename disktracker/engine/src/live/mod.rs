//! The live half: a model of each watched root kept current from file-system
//! events, the mutations it logs, and their fold into the store.

pub mod dispatch;
pub mod fold;
pub(crate) mod heap;
pub mod reconcile;
pub mod socket;
pub mod tree;
pub mod watch;

pub use dispatch::{Dispatched, apply_events};
pub use fold::{Folded, apply, fold};
pub use reconcile::reconcile_root;
pub use tree::{BatchChanges, LiveTree, Reread, TreeOptions};
pub use watch::{Booting, Control, WatchHost, WatchTimings, Watcher};
