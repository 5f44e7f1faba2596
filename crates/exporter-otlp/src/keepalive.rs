//! confighttp's `keepalive` client section (otelcol v0.160): the replacement of the flat
//! `idle_conn_timeout`, `max_idle_conns`, `max_idle_conns_per_host` and `disable_keep_alives`
//! keys, which stay accepted. As in otelcol, the section's keys override the flat ones, its
//! presence enables keep-alives unless `enabled: false`, and mixing it with a flat key that is
//! set away from its zero value is an error.

use kakehashi_config::Duration;
use serde::Deserialize;

/// The `keepalive` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeepaliveSettings {
    pub enabled: bool,
    pub idle_conn_timeout: Option<Duration>,
    pub max_idle_conns: Option<usize>,
    pub max_idle_conns_per_host: Option<usize>,
}

impl Default for KeepaliveSettings {
    fn default() -> Self {
        KeepaliveSettings {
            enabled: true,
            idle_conn_timeout: None,
            max_idle_conns: None,
            max_idle_conns_per_host: None,
        }
    }
}

/// The flat (deprecated) keys and the section of one client config.
pub struct KeepaliveKeys<'a> {
    pub section: Option<&'a KeepaliveSettings>,
    pub idle_conn_timeout: Option<Duration>,
    pub max_idle_conns: Option<usize>,
    pub max_idle_conns_per_host: Option<usize>,
    pub disable_keep_alives: bool,
}

/// What the client does with connections between requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    pub enabled: bool,
    pub idle_conn_timeout: Option<Duration>,
    pub max_idle_conns: Option<usize>,
    pub max_idle_conns_per_host: Option<usize>,
}

impl KeepaliveKeys<'_> {
    /// otelcol's error when the section is mixed with flat keys set away from zero.
    pub fn validate(&self, errs: &mut Vec<String>) {
        let flat_set = self.idle_conn_timeout.is_some_and(|d| !d.is_zero())
            || self.max_idle_conns.is_some_and(|n| n != 0)
            || self.max_idle_conns_per_host.is_some_and(|n| n != 0)
            || self.disable_keep_alives;
        if self.section.is_some() && flat_set {
            errs.push("confighttp.ClientConfig: cannot use deprecated keepalive fields (idle_conn_timeout, max_idle_conns, max_idle_conns_per_host, disable_keep_alives) alongside the 'keepalive' section; migrate to the 'keepalive' section".into());
        }
    }

    /// The section folded into the flat keys, as otelcol's `ClientConfig.Unmarshal`.
    pub fn effective(&self) -> Keepalive {
        match self.section {
            Some(k) => Keepalive {
                enabled: k.enabled,
                idle_conn_timeout: k.idle_conn_timeout.or(self.idle_conn_timeout),
                max_idle_conns: k.max_idle_conns.or(self.max_idle_conns),
                max_idle_conns_per_host: k.max_idle_conns_per_host.or(self.max_idle_conns_per_host),
            },
            None => Keepalive {
                enabled: !self.disable_keep_alives,
                idle_conn_timeout: self.idle_conn_timeout,
                max_idle_conns: self.max_idle_conns,
                max_idle_conns_per_host: self.max_idle_conns_per_host,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(
        section: Option<&KeepaliveSettings>,
        disable: bool,
        idle: Option<u64>,
    ) -> KeepaliveKeys<'_> {
        KeepaliveKeys {
            section,
            idle_conn_timeout: idle.map(Duration::from_secs),
            max_idle_conns: None,
            max_idle_conns_per_host: None,
            disable_keep_alives: disable,
        }
    }

    #[test]
    fn the_section_folds_into_the_flat_keys() {
        let off = KeepaliveSettings {
            enabled: false,
            ..KeepaliveSettings::default()
        };
        assert!(!keys(Some(&off), false, None).effective().enabled);
        let on = KeepaliveSettings {
            idle_conn_timeout: Some(Duration::from_secs(5)),
            ..KeepaliveSettings::default()
        };
        let e = keys(Some(&on), false, None).effective();
        assert!(e.enabled);
        assert_eq!(e.idle_conn_timeout, Some(Duration::from_secs(5)));
        assert!(
            !keys(None, true, None).effective().enabled,
            "the flat key alone still works"
        );
    }

    #[test]
    fn mixing_the_section_with_set_flat_keys_is_an_error() {
        let section = KeepaliveSettings::default();
        let mut errs = Vec::new();
        keys(Some(&section), true, None).validate(&mut errs);
        keys(Some(&section), false, Some(30)).validate(&mut errs);
        assert_eq!(errs.len(), 2);
        assert!(errs[0].contains("alongside the 'keepalive' section"));
        let mut errs = Vec::new();
        // Zero values are no-ops and do not conflict.
        keys(Some(&section), false, Some(0)).validate(&mut errs);
        keys(None, true, Some(30)).validate(&mut errs);
        assert!(errs.is_empty(), "{errs:?}");
    }
}
