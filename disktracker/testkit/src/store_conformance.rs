//! Conformance suite for SnapshotStore implementations.
