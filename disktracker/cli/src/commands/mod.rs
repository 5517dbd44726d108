//! One module per command.

pub mod config;
pub mod diff;
pub mod scan;
pub mod show;
pub mod size;
pub mod snapshots;
