//! `[plugins.redb]`: the declared keys and defaults, and bad values as
//! configuration errors that name the key and where the value came from.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use disktracker::settings::{PluginSettings, SettingSpec, Value};
use disktracker::{ErrorKind, SnapshotStore, StoreOptions};
use disktracker_store_redb::{CACHE_SIZE, LOCK_TIMEOUT, RedbStore, SETTINGS};

#[test]
fn the_plugin_declares_cache_size_and_lock_timeout_with_their_defaults() {
    let plugin = disktracker::registry::stores()
        .unwrap()
        .get("redb")
        .unwrap();
    assert_eq!(plugin.settings, SETTINGS);
    let defaults = PluginSettings::defaults("redb", SETTINGS).unwrap();
    assert_eq!(defaults.size("cache_size").unwrap(), CACHE_SIZE as u64);
    assert_eq!(defaults.size("cache_size").unwrap(), 16 << 20);
    assert_eq!(defaults.duration("lock_timeout").unwrap(), LOCK_TIMEOUT);
    assert_eq!(LOCK_TIMEOUT.as_secs(), 5);
}

#[test]
fn empty_settings_mean_every_default_and_set_values_are_used() {
    let (_dir, path) = temp_store();
    // StoreOptions::file carries empty settings.
    let store = RedbStore::open(&StoreOptions::file(&path)).unwrap();
    assert!(store.snapshots().unwrap().is_empty());
    drop(store);
    let store = try_open_with(
        &path,
        false,
        &[
            ("cache_size", Value::Integer(1 << 20)),
            ("lock_timeout", toml_str("250ms")),
        ],
    )
    .unwrap();
    // The timeout is the one set: a second open gives up after about 250 ms.
    let started = std::time::Instant::now();
    let err = try_open_with(&path, true, &[("lock_timeout", toml_str("250ms"))]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Locked, "{err}");
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(250) && waited.as_secs() < 3,
        "{waited:?}"
    );
    drop(store);
}

#[test]
fn bad_values_are_config_errors_naming_the_key_and_origin() {
    let (dir, path) = temp_store();
    for (key, value) in [
        ("cache_size", toml_str("lots")),
        ("cache_size", Value::Integer(-1)),
        ("cache_size", Value::Boolean(true)),
        ("lock_timeout", Value::Integer(5)),
        ("lock_timeout", toml_str("soon")),
    ] {
        let shown = value.to_string();
        for read_only in [false, true] {
            let err = try_open_with(&path, read_only, &[(key, value.clone())]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{key} = {shown}: {err}");
            let msg = err.to_string();
            assert!(msg.contains(&format!("plugins.redb.{key}")), "{msg}");
            assert!(msg.contains("test.toml"), "{msg}");
            assert!(!msg.contains('\n'), "{msg}");
        }
    }
    // Nothing was created by a refused configuration.
    assert!(!path.exists());
    drop(dir);
}

#[test]
fn a_key_redb_does_not_declare_is_refused_by_name() {
    let (_dir, path) = temp_store();
    const ODD: &[SettingSpec] = &[SettingSpec::new("colour", "true", "not a redb setting")];
    let mut settings = PluginSettings::defaults("redb", ODD).unwrap();
    settings
        .set("colour", Value::Boolean(false), "/etc/disktracker.toml")
        .unwrap();
    let err = RedbStore::open(&StoreOptions::file(&path).with_settings(settings)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("plugins.redb.colour"), "{msg}");
    assert!(msg.contains("/etc/disktracker.toml"), "{msg}");
    assert!(msg.contains("cache_size, lock_timeout"), "{msg}");
}
