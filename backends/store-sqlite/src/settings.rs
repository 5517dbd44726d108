//! The `[plugins.sqlite]` settings: the connection tunables, with the
//! values of the specification (seed `001`) as defaults.

use std::time::Duration;

use disktracker::settings::{PluginSettings, SettingSpec};
use disktracker::{Error, ErrorKind, Result};

/// The keys of `[plugins.sqlite]`.
pub(crate) const SETTINGS: &[SettingSpec] = &[
    SettingSpec::new(
        "busy_timeout",
        "\"5s\"",
        "How long a write waits for another process's lock before the database counts as locked.",
    ),
    SettingSpec::new(
        "cache_size",
        "\"64MiB\"",
        "Page cache of each connection (PRAGMA cache_size).",
    ),
    SettingSpec::new(
        "mmap_size",
        "\"256MiB\"",
        "How much of the file is read through a memory map; 0 reads with read() only (PRAGMA mmap_size).",
    ),
];

/// The connection settings in effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tuning {
    /// `busy_timeout`.
    pub busy_timeout: Duration,
    /// `cache_size` in KiB, as `PRAGMA cache_size = -KiB` takes it.
    pub cache_kib: i64,
    /// `mmap_size` in bytes.
    pub mmap_bytes: i64,
}

impl Tuning {
    /// Reads the settings: every declared key at its default, overridden by
    /// the keys `given` carries (empty settings, as `StoreOptions::file`
    /// makes, mean every default). A bad value is a [`ErrorKind::Config`]
    /// error naming the key and where the value came from.
    pub(crate) fn from_settings(given: &PluginSettings) -> Result<Self> {
        let mut s = PluginSettings::defaults("sqlite", SETTINGS)?;
        for (key, setting) in given.iter() {
            s.set(key, setting.value.clone(), &setting.origin)?;
        }
        let busy_timeout = s.duration("busy_timeout")?;
        // SQLite takes milliseconds as a C int.
        if i32::try_from(busy_timeout.as_millis()).is_err() {
            return Err(out_of_range(&s, "busy_timeout", "at most 24 days"));
        }
        let cache = s.size("cache_size")?;
        if cache < 1024 {
            return Err(out_of_range(&s, "cache_size", "at least 1KiB"));
        }
        let mmap_bytes = i64::try_from(s.size("mmap_size")?)
            .map_err(|_| out_of_range(&s, "mmap_size", "at most 8EiB"))?;
        Ok(Tuning {
            busy_timeout,
            cache_kib: i64::try_from(cache / 1024).unwrap_or(i64::MAX),
            mmap_bytes,
        })
    }
}

impl Default for Tuning {
    /// The defaults of [`SETTINGS`].
    fn default() -> Self {
        Tuning {
            busy_timeout: Duration::from_secs(5),
            cache_kib: 65536,
            mmap_bytes: 256 << 20,
        }
    }
}

fn out_of_range(s: &PluginSettings, key: &str, want: &str) -> Error {
    let (value, origin) = s
        .get(key)
        .map(|v| (v.value.to_string(), v.origin.as_str()))
        .unwrap_or_default();
    Error::new(
        ErrorKind::Config,
        format!(
            "plugins.sqlite.{key} = {value} (from {origin}) is out of range: it must be {want}"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use disktracker::settings::Value;

    fn with(key: &str, value: Value) -> Result<Tuning> {
        let mut s = PluginSettings::defaults("sqlite", SETTINGS).unwrap();
        s.set(key, value, "/etc/dt.toml").unwrap();
        Tuning::from_settings(&s)
    }

    #[test]
    fn the_declared_defaults_are_the_seed_values() {
        let declared =
            Tuning::from_settings(&PluginSettings::defaults("sqlite", SETTINGS).unwrap()).unwrap();
        assert_eq!(declared, Tuning::default());
        assert_eq!(declared.cache_kib, 65536, "the seed's cache_size = -65536");
        assert_eq!(declared.mmap_bytes, 268_435_456, "the seed's mmap_size");
        let empty = Tuning::from_settings(&PluginSettings::default()).unwrap();
        assert_eq!(empty, declared, "no settings: every default");
    }

    #[test]
    fn values_are_parsed_and_bad_ones_name_key_and_origin() {
        let t = with("busy_timeout", Value::String("250ms".into())).unwrap();
        assert_eq!(t.busy_timeout, Duration::from_millis(250));
        assert_eq!(
            with("cache_size", Value::Integer(8 << 20))
                .unwrap()
                .cache_kib,
            8192
        );
        assert_eq!(
            with("mmap_size", Value::String("0".into()))
                .unwrap()
                .mmap_bytes,
            0
        );
        for (key, value, words) in [
            (
                "busy_timeout",
                Value::String("soon".into()),
                "is not a duration",
            ),
            ("busy_timeout", Value::String("100d".into()), "out of range"),
            ("busy_timeout", Value::Integer(5), "is not a duration"),
            ("cache_size", Value::Integer(-1), "is not a size"),
            ("cache_size", Value::String("512".into()), "at least 1KiB"),
            ("mmap_size", Value::String("9EiB".into()), "at most 8EiB"),
            ("mmap_size", Value::Boolean(true), "is not a size"),
        ] {
            let err = with(key, value.clone()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{key} = {value}: {err}");
            let msg = err.to_string();
            assert!(
                msg.contains(&format!("plugins.sqlite.{key} = "))
                    && msg.contains("/etc/dt.toml")
                    && msg.contains(words),
                "{key} = {value}: {msg}"
            );
        }
        // Settings carrying a key this plugin does not declare.
        let mut other =
            PluginSettings::defaults("sqlite", &[SettingSpec::new("page_size", "1", "")]).unwrap();
        other
            .set("page_size", Value::Integer(2), "my.toml")
            .unwrap();
        let err = Tuning::from_settings(&other).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert!(
            err.to_string()
                .contains("plugins.sqlite.page_size in my.toml"),
            "{err}"
        );
    }
}
