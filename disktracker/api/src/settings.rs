//! Plugin settings: the `[plugins.NAME]` table of the configuration.
//!
//! A plugin declares the keys it takes, each with a default and one line of
//! documentation, in its registration ([`SettingSpec`]). The host then
//! rejects any other key under `[plugins.NAME]` (naming the key and the file
//! it is in), shows every key with its value and origin in `disktracker
//! config`, and hands the plugin the effective values as [`PluginSettings`].
//! The plugin reads them with the typed getters, whose errors name the key and
//! where its value came from, so a bad value reads like any other
//! configuration error (exit code 6).
//!
//! ```
//! use disktracker::settings::{PluginSettings, SettingSpec};
//!
//! const SETTINGS: &[SettingSpec] = &[
//!     SettingSpec::new("heading", "\"Disk usage\"", "Title printed above every table."),
//!     SettingSpec::new("max_rows", "50", "Rows printed at most."),
//! ];
//!
//! let mut settings = PluginSettings::defaults("markdown", SETTINGS).unwrap();
//! settings.set("max_rows", toml::Value::Integer(10), "/etc/disktracker.toml").unwrap();
//! assert_eq!(settings.string("heading").unwrap(), "Disk usage");
//! assert_eq!(settings.u64("max_rows").unwrap(), 10);
//! let err = settings.set("colour", toml::Value::Boolean(true), "my.toml").unwrap_err();
//! assert!(err.to_string().contains("plugins.markdown.colour"));
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

pub use toml::Value;

use crate::error::{Error, ErrorKind, Result};

/// One key a plugin takes under `[plugins.NAME]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettingSpec {
    /// The key (`busy_timeout`).
    pub key: &'static str,
    /// The default value, in TOML syntax (`"5s"` with quotes for a string, `64` for a number).
    pub default: &'static str,
    /// One line on what it does.
    pub doc: &'static str,
    /// A secret (a password): never shown by `disktracker config` or in errors.
    pub secret: bool,
}

impl SettingSpec {
    /// A key with its default (TOML syntax) and documentation.
    pub const fn new(key: &'static str, default: &'static str, doc: &'static str) -> Self {
        SettingSpec {
            key,
            default,
            doc,
            secret: false,
        }
    }

    /// Marks the value as secret: shown as `"***"` wherever it would be printed.
    pub const fn secret(mut self) -> Self {
        self.secret = true;
        self
    }
}

/// One effective setting.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    /// The value.
    pub value: Value,
    /// Where it came from: `default`, a file path, `env NAME`, or `flag`.
    pub origin: String,
    /// Whether it is secret (see [`SettingSpec::secret`]).
    pub secret: bool,
}

/// The effective `[plugins.NAME]` settings of one plugin.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PluginSettings {
    plugin: String,
    values: BTreeMap<String, Setting>,
}

impl PluginSettings {
    /// Settings with nothing in them (a plugin that takes none).
    pub fn empty(plugin: &str) -> Self {
        PluginSettings {
            plugin: plugin.to_owned(),
            values: BTreeMap::new(),
        }
    }

    /// Every key of `specs` at its default. A default that is not valid TOML
    /// is a plugin bug, reported as [`ErrorKind::Plugin`].
    pub fn defaults(plugin: &str, specs: &[SettingSpec]) -> Result<Self> {
        let mut s = PluginSettings::empty(plugin);
        for spec in specs {
            let value = parse_literal(spec.default).map_err(|e| {
                Error::new(
                    ErrorKind::Plugin,
                    format!(
                        "plugin {plugin:?} declares an invalid default for {:?}: {e}",
                        spec.key
                    ),
                )
            })?;
            s.values.insert(
                spec.key.to_owned(),
                Setting {
                    value,
                    origin: "default".to_owned(),
                    secret: spec.secret,
                },
            );
        }
        Ok(s)
    }

    /// The plugin these settings belong to.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// Overrides a declared key with a value from `origin`. An undeclared key
    /// is a [`ErrorKind::Config`] error naming it and `origin`.
    pub fn set(&mut self, key: &str, value: Value, origin: &str) -> Result<()> {
        let plugin = self.plugin.clone();
        let Some(slot) = self.values.get_mut(key) else {
            let known: Vec<&str> = self.values.keys().map(String::as_str).collect();
            let hint = if known.is_empty() {
                format!("plugin {plugin:?} takes no settings")
            } else {
                format!("plugin {plugin:?} takes: {}", known.join(", "))
            };
            return Err(Error::new(
                ErrorKind::Config,
                format!("unknown key plugins.{plugin}.{key} in {origin}"),
            )
            .with_hint(hint));
        };
        slot.value = value;
        slot.origin = origin.to_owned();
        Ok(())
    }

    /// Every key with its effective setting, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Setting)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The setting of `key`, if declared.
    pub fn get(&self, key: &str) -> Option<&Setting> {
        self.values.get(key)
    }

    fn typed<T>(
        &self,
        key: &str,
        want: &str,
        convert: impl FnOnce(&Value) -> Option<T>,
    ) -> Result<T> {
        let Some(s) = self.values.get(key) else {
            return Err(Error::new(
                ErrorKind::Plugin,
                format!(
                    "plugin {:?} reads the undeclared setting {key:?}",
                    self.plugin
                ),
            ));
        };
        convert(&s.value).ok_or_else(|| {
            let shown = if s.secret {
                "(secret)".to_owned()
            } else {
                s.value.to_string()
            };
            Error::new(
                ErrorKind::Config,
                format!(
                    "plugins.{}.{key} = {shown} (from {}) is not {want}",
                    self.plugin, s.origin
                ),
            )
        })
    }

    /// A string value.
    pub fn string(&self, key: &str) -> Result<String> {
        self.typed(key, "a string", |v| v.as_str().map(str::to_owned))
    }

    /// A boolean value.
    pub fn bool(&self, key: &str) -> Result<bool> {
        self.typed(key, "true or false", Value::as_bool)
    }

    /// A non-negative integer.
    pub fn u64(&self, key: &str) -> Result<u64> {
        self.typed(key, "a non-negative integer", |v| {
            v.as_integer().and_then(|i| u64::try_from(i).ok())
        })
    }

    /// A size: an integer number of bytes, or a string such as `"64MiB"`.
    pub fn size(&self, key: &str) -> Result<u64> {
        self.typed(key, "a size like 4096 or \"64MiB\"", |v| match v {
            Value::Integer(i) => u64::try_from(*i).ok(),
            Value::String(s) => parse_size(s).ok(),
            _ => None,
        })
    }

    /// A duration: a string such as `"5s"` or `"250ms"`.
    pub fn duration(&self, key: &str) -> Result<Duration> {
        self.typed(key, "a duration like \"5s\" or \"250ms\"", |v| {
            v.as_str().and_then(|s| parse_duration(s).ok())
        })
    }
}

fn parse_literal(text: &str) -> std::result::Result<Value, String> {
    let doc: toml::Table = format!("v = {text}").parse().map_err(|e| format!("{e}"))?;
    doc.get("v").cloned().ok_or_else(|| "no value".to_owned())
}

/// Parses a size: a byte count with an optional decimal or binary unit
/// (`4096`, `10MiB`, `1.5GB`, `2 KiB`). The one size syntax of every flag,
/// config key and plugin setting.
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let s = text.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = (&s[..split], s[split..].trim());
    let bad = || format!("{text:?} is not a size like 4096, 10MiB or 1.5GB");
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return Err(bad());
    }
    let mult: u128 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "p" | "pb" => 1_000_000_000_000_000,
        "e" | "eb" => 1_000_000_000_000_000_000,
        "ki" | "kib" => 1 << 10,
        "mi" | "mib" => 1 << 20,
        "gi" | "gib" => 1 << 30,
        "ti" | "tib" => 1 << 40,
        "pi" | "pib" => 1 << 50,
        "ei" | "eib" => 1 << 60,
        _ => return Err(bad()),
    };
    let too_big = || format!("{text:?} is larger than the largest size, 16 EiB");
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if frac.contains('.') {
        return Err(bad());
    }
    // Exact integer arithmetic: digits beyond what u128 holds are too big anyway.
    let int: u128 = if int.len() > 30 {
        return Err(too_big());
    } else {
        int.parse().map_err(|_| bad())?
    };
    let frac_digits = &frac[..frac.len().min(18)];
    let frac_val: u128 = if frac_digits.is_empty() {
        0
    } else {
        frac_digits.parse().map_err(|_| bad())?
    };
    let scale = 10u128.pow(frac_digits.len() as u32);
    let total = int
        .checked_mul(mult)
        .and_then(|v| v.checked_add(frac_val * mult / scale))
        .ok_or_else(too_big)?;
    u64::try_from(total).map_err(|_| too_big())
}

/// Parses a duration (`30d`, `12h`, `250ms`, `1y 2d`). The one duration
/// syntax of every flag, config key and plugin setting.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("{text:?} is not a duration like 30d, 12h or 250ms ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_units_and_refuse_garbage_in_one_line() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_size("1.5GB"), Ok(1_500_000_000));
        assert_eq!(parse_size(" 2 KiB "), Ok(2048));
        assert_eq!(parse_size("0.5k"), Ok(500));
        assert_eq!(
            parse_size("16EiB").unwrap_err(),
            "\"16EiB\" is larger than the largest size, 16 EiB"
        );
        let huge = parse_size("99999999999999999999999").unwrap_err();
        assert_eq!(
            huge,
            "\"99999999999999999999999\" is larger than the largest size, 16 EiB"
        );
        let long = "9".repeat(400);
        assert!(parse_size(&long).unwrap_err().contains("larger than"));
        for bad in ["", "MiB", "1.2.3", "-5", "5 parsecs", ".5", "5."] {
            let e = parse_size(bad).unwrap_err();
            assert!(e.contains("is not a size"), "{bad}: {e}");
        }
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
        assert!(parse_size("18446744073709551616").is_err());
    }

    #[test]
    fn settings_are_typed_and_name_their_origin() {
        const SPECS: &[SettingSpec] = &[
            SettingSpec::new("timeout", "\"5s\"", "wait"),
            SettingSpec::new("cache", "\"64MiB\"", "cache"),
            SettingSpec::new("password", "\"\"", "pw").secret(),
        ];
        let mut s = PluginSettings::defaults("sqlite", SPECS).unwrap();
        assert_eq!(s.duration("timeout").unwrap(), Duration::from_secs(5));
        assert_eq!(s.size("cache").unwrap(), 64 << 20);
        s.set("cache", Value::Integer(-1), "/etc/x.toml").unwrap();
        let e = s.size("cache").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(
            e.to_string()
                .contains("plugins.sqlite.cache = -1 (from /etc/x.toml)"),
            "{e}"
        );
        s.set("password", Value::Integer(3), "env X").unwrap();
        let e = s.string("password").unwrap_err().to_string();
        assert!(!e.contains('3') || e.contains("(secret)"), "{e}");
        let e = s.set("nope", Value::Boolean(true), "a.toml").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(
            e.to_string().contains("plugins.sqlite.nope in a.toml"),
            "{e}"
        );
        assert!(e.to_string().contains("cache, password, timeout"), "{e}");
        let bad = [SettingSpec::new("x", "not toml", "")];
        assert_eq!(
            PluginSettings::defaults("p", &bad).unwrap_err().kind(),
            ErrorKind::Plugin
        );
    }
}
