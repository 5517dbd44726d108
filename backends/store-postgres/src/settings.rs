//! The `[plugins.postgres]` settings.

use std::time::Duration;

use disktracker::Result;
use disktracker::settings::{PluginSettings, SettingSpec};

/// The keys of `[plugins.postgres]`.
pub(crate) const SETTINGS: &[SettingSpec] = &[
    SettingSpec::new(
        "url",
        "\"\"",
        "Connection string (postgres://USER@HOST:PORT/DB?sslmode=… or libpq key=value pairs) used when --db names none.",
    )
    .secret(),
    SettingSpec::new(
        "connect_timeout",
        "\"10s\"",
        "How long connecting may take before the server counts as unreachable (PGCONNECT_TIMEOUT and the string's connect_timeout win); 0 waits forever.",
    ),
    SettingSpec::new(
        "application_name",
        "\"disktracker\"",
        "Name shown in pg_stat_activity (PGAPPNAME and the string's application_name win).",
    ),
    SettingSpec::new(
        "live_host",
        "\"\"",
        "Whose live tables (mutation log, journal, watch state, index provenance) this host reads and writes; empty: the host snapshots are stored as (the `host` key, else this machine's name).",
    ),
];

/// The settings in effect.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub url: String,
    pub connect_timeout: Duration,
    pub application_name: String,
    pub live_host: String,
}

impl Settings {
    /// Every declared key at its default, overridden by `given`'s keys.
    pub(crate) fn from_settings(given: &PluginSettings) -> Result<Self> {
        let mut s = PluginSettings::defaults("postgres", SETTINGS)?;
        for (key, setting) in given.iter() {
            s.set(key, setting.value.clone(), &setting.origin)?;
        }
        Ok(Settings {
            url: s.string("url")?,
            connect_timeout: s.duration("connect_timeout")?,
            application_name: s.string("application_name")?,
            live_host: s.string("live_host")?,
        })
    }

    /// The host whose live tables are used: the setting, else `stored_as`
    /// (the host snapshots are stored as), else this machine's name.
    pub(crate) fn live_host_for(&self, stored_as: &str) -> String {
        if !self.live_host.is_empty() {
            self.live_host.clone()
        } else if !stored_as.is_empty() {
            stored_as.to_owned()
        } else {
            rustix::system::uname()
                .nodename()
                .to_string_lossy()
                .into_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use disktracker::settings::Value;

    #[test]
    fn defaults_and_a_secret_url() {
        let s = Settings::from_settings(&PluginSettings::default()).unwrap();
        assert_eq!(s.url, "");
        assert_eq!(s.connect_timeout, Duration::from_secs(10));
        assert_eq!(s.application_name, "disktracker");
        assert_eq!(s.live_host, "");
        assert!(!s.live_host_for("").is_empty());
        assert_eq!(s.live_host_for("web-1"), "web-1");
        let mut p = PluginSettings::defaults("postgres", SETTINGS).unwrap();
        assert!(p.get("url").unwrap().secret);
        p.set("url", Value::Integer(5), "my.toml").unwrap();
        let err = Settings::from_settings(&p).unwrap_err();
        assert!(err.to_string().contains("(secret)"), "{err}");
    }
}
