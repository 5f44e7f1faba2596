//! What the exporter's metrics side does to the Datadog connector's APM stats before it sends
//! them. The Go exporter does not post the connector's `StatsPayload` as it arrives: it hands
//! each `ClientStatsPayload` to its embedded trace-agent as client-computed stats
//! (`Agent.ProcessStats(p, "", "<command><version>")`), and the agent's client-stats aggregator
//! and stats writer send them under the exporter's own name. What that changes on the wire:
//!
//! * each payload: an empty `Env` becomes the agent's default (`none`), then the env is
//!   normalised as a tag value; an empty `TracerVersion` becomes the collector's command and
//!   version; `Lang` stays as it is (the exporter passes no language);
//! * each group (`normalizeStatsGroup`): name and service normalised, an empty resource becomes
//!   the name, the resource truncated to 5000 bytes; then a group whose resource matches the
//!   exporter's `traces::ignore_resources` is dropped (the agent's blocklist);
//! * the envelope (the aggregator's `StatsPayload`): `AgentHostname` is the exporter's
//!   hostname, `AgentEnv` `none`, `AgentVersion` the exporter's, `ClientComputed` true. Datadog
//!   files a payload without a hostname of its own under `AgentHostname`, so stats of spans
//!   whose resource names no host are attributed to the collector's host, as the Go
//!   collector's are.
//!
//! Not repeated here: the agent obfuscates SQL and Redis resources of stats groups, which the
//! connector has already done to the spans (the same functions); and its client-stats
//! aggregator re-files payloads into 2 s buckets, splitting counts from distributions when two
//! payloads share one, which Datadog sums back to the same numbers.

use kakehashi_datadog_translate::{
    normalize_name, normalize_service, normalize_tag_value, pb, truncate_utf8, MAX_RESOURCE_LEN,
};
use regex::Regex;

/// The trace-agent's default env (`config.New()`'s `DefaultEnv`).
const AGENT_ENV: &str = "none";

pub(crate) struct ConnectorStats {
    pub hostname: String,
    pub agent_version: String,
    /// `ClientStatsPayload.tracerVersion` where the connector left it empty.
    pub tracer_version: String,
    /// The exporter's `traces::ignore_resources`.
    pub ignore_resources: Vec<Regex>,
}

impl ConnectorStats {
    /// Prepares `p` for `/api/v0.2/stats` as the Go exporter's agent would; answers how many
    /// groups `ignore_resources` dropped.
    pub fn process(&self, p: &mut pb::StatsPayload) -> usize {
        p.agent_hostname = self.hostname.clone();
        p.agent_env = AGENT_ENV.to_string();
        p.agent_version = self.agent_version.clone();
        p.client_computed = true;
        let mut dropped = 0;
        for c in &mut p.stats {
            if c.env.is_empty() {
                c.env = AGENT_ENV.to_string();
            }
            c.env = normalize_tag_value(&c.env);
            if c.tracer_version.is_empty() {
                c.tracer_version = self.tracer_version.clone();
            }
            for bucket in &mut c.stats {
                let before = bucket.stats.len();
                bucket.stats.retain_mut(|g| {
                    normalize_group(g);
                    !self.ignored(&g.resource)
                });
                dropped += before - bucket.stats.len();
            }
        }
        dropped
    }

    fn ignored(&self, resource: &str) -> bool {
        self.ignore_resources.iter().any(|re| re.is_match(resource))
    }
}

/// The agent's `normalizeStatsGroup`, with the exporter's empty language.
fn normalize_group(g: &mut pb::ClientGroupedStats) {
    g.name = normalize_name(&g.name);
    g.service = normalize_service(&g.service, "");
    if g.resource.is_empty() {
        g.resource = g.name.clone();
    }
    if g.resource.len() > MAX_RESOURCE_LEN {
        g.resource = truncate_utf8(&g.resource, MAX_RESOURCE_LEN).to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(service: &str, name: &str, resource: &str) -> pb::ClientGroupedStats {
        pb::ClientGroupedStats {
            service: service.into(),
            name: name.into(),
            resource: resource.into(),
            hits: 3,
            ..Default::default()
        }
    }

    fn payload(env: &str, groups: Vec<pb::ClientGroupedStats>) -> pb::StatsPayload {
        pb::StatsPayload {
            stats: vec![pb::ClientStatsPayload {
                env: env.into(),
                stats: vec![pb::ClientStatsBucket {
                    start: 1_700_000_000_000_000_000,
                    duration: 10_000_000_000,
                    stats: groups,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn processor(ignore: &[&str]) -> ConnectorStats {
        ConnectorStats {
            hostname: "collector-1".into(),
            agent_version: "datadogexporter-kakehashi-0.1.0".into(),
            tracer_version: "kakehashi0.1.0".into(),
            ignore_resources: ignore.iter().map(|r| Regex::new(r).unwrap()).collect(),
        }
    }

    #[test]
    fn the_envelope_is_the_exporters_and_marked_client_computed() {
        let mut p = payload("prod", vec![group("web", "http.request", "GET /")]);
        p.agent_hostname = String::new();
        assert_eq!(processor(&[]).process(&mut p), 0);
        assert_eq!(
            (
                p.agent_hostname.as_str(),
                p.agent_env.as_str(),
                p.agent_version.as_str(),
                p.client_computed
            ),
            (
                "collector-1",
                "none",
                "datadogexporter-kakehashi-0.1.0",
                true
            )
        );
        let c = &p.stats[0];
        assert_eq!(
            (c.env.as_str(), c.tracer_version.as_str(), c.lang.as_str()),
            ("prod", "kakehashi0.1.0", "")
        );
    }

    #[test]
    fn env_defaults_to_none_and_is_normalised_and_a_tracer_version_is_kept() {
        let mut p = payload("", vec![]);
        p.stats.push(pb::ClientStatsPayload {
            env: "Staging Env".into(),
            tracer_version: "1.2.3".into(),
            ..Default::default()
        });
        processor(&[]).process(&mut p);
        assert_eq!(p.stats[0].env, "none");
        assert_eq!(p.stats[1].env, "staging_env");
        assert_eq!(p.stats[1].tracer_version, "1.2.3");
    }

    #[test]
    fn groups_are_normalised_as_the_agent_normalises_client_stats() {
        let long = "x".repeat(MAX_RESOURCE_LEN + 10);
        let mut p = payload(
            "prod",
            vec![
                group("", "", ""),
                group("My Service", "Http Request!", &long),
            ],
        );
        processor(&[]).process(&mut p);
        let g = &p.stats[0].stats[0].stats;
        assert_eq!(
            (
                g[0].service.as_str(),
                g[0].name.as_str(),
                g[0].resource.as_str()
            ),
            ("unnamed-service", "unnamed_operation", "unnamed_operation")
        );
        assert_eq!(
            (g[1].service.as_str(), g[1].name.as_str()),
            ("my_service", "Http_Request")
        );
        assert_eq!(g[1].resource.len(), MAX_RESOURCE_LEN);
    }

    #[test]
    fn groups_of_ignored_resources_are_dropped_and_counted() {
        let mut p = payload(
            "prod",
            vec![
                group("web", "http.request", "GET /health"),
                group("web", "http.request", "GET /users"),
                group("web", "http.request", "GET /healthz"),
            ],
        );
        assert_eq!(processor(&["^GET /health"]).process(&mut p), 2);
        let kept: Vec<&str> = p.stats[0].stats[0]
            .stats
            .iter()
            .map(|g| g.resource.as_str())
            .collect();
        assert_eq!(kept, ["GET /users"]);
    }
}
