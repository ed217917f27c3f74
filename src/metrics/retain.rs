//! Series named after config entries (routes, upstreams, policy rules, rate limits, JWT
//! issuers) outlive the entry unless removed: after a reload that drops a route, `/metrics`
//! would go on reporting it, frozen at its last values, to dashboards and alerts. After every
//! reload, applied or refused, `Metrics::retain` keeps only the series whose names the running
//! config still has.

use super::{Metrics, UNMATCHED_ROUTE};
use prometheus::core::{Collector, MetricVec, MetricVecBuilder};
use std::collections::{HashMap, HashSet};

/// The config names the series may carry; built from the running config (`app::live_series`).
#[derive(Debug, Default)]
pub struct LiveSeries {
    pub routes: HashSet<String>,
    pub upstreams: HashSet<String>,
    /// `(route, rule, result)` of every policy counter.
    pub policy_decisions: HashSet<(String, String, String)>,
    pub rate_limits: HashSet<String>,
    pub issuers: HashSet<String>,
}

impl LiveSeries {
    fn route(&self, name: &str) -> bool {
        name == UNMATCHED_ROUTE || self.routes.contains(name)
    }
}

impl Metrics {
    /// Removes every config-named series whose name `live` does not have.
    pub fn retain(&self, live: &LiveSeries) {
        retain_in(&self.requests, |l| live.route(label(l, "route")));
        retain_in(&self.durations, |l| live.route(label(l, "route")));
        retain_in(&self.upstream_errors, |l| {
            live.upstreams.contains(label(l, "upstream"))
        });
        retain_in(&self.policy_decisions, |l| {
            let [route, rule, result] = ["route", "rule", "result"].map(|n| label(l, n).to_owned());
            live.policy_decisions.contains(&(route, rule, result))
        });
        retain_in(&self.rate_limited, |l| {
            live.route(label(l, "route")) && live.rate_limits.contains(label(l, "limit"))
        });
        retain_in(&self.rate_limit_backend_errors, |l| {
            live.rate_limits.contains(label(l, "limit"))
        });
        retain_in(&self.jwks_fetches, |l| {
            live.issuers.contains(label(l, "issuer"))
        });
    }
}

/// A series' value of label `name` ("" if it has none).
fn label<'a>(labels: &HashMap<&str, &'a str>, name: &str) -> &'a str {
    labels.get(name).copied().unwrap_or("")
}

/// Removes the series of `vec` whose labels (name → value) `keep` refuses.
fn retain_in<T: MetricVecBuilder>(vec: &MetricVec<T>, keep: impl Fn(&HashMap<&str, &str>) -> bool) {
    for family in vec.collect() {
        for metric in family.get_metric() {
            let labels: HashMap<&str, &str> = metric
                .get_label()
                .iter()
                .map(|p| (p.name(), p.value()))
                .collect();
            if !keep(&labels) {
                // Absent already (removed by a concurrent retain) is as good as removed.
                let _ = vec.remove(&labels);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(m: &Metrics) -> String {
        String::from_utf8(m.render()).unwrap()
    }

    #[test]
    fn keeps_only_what_the_config_names() {
        let m = Metrics::new().unwrap();
        m.route("kept").observe(200, 0.1);
        m.route("gone").observe(500, 0.1);
        m.route(UNMATCHED_ROUTE).observe(404, 0.1);
        m.upstream_errors("old-app").inc();
        m.upstream_errors("app").inc();
        m.policy_decision("kept", "editors#1", "allow").inc();
        m.policy_decision("kept", "renamed#1", "allow").inc();
        m.rate_limited("kept", "per-ip").inc();
        m.rate_limited("kept", "dropped").inc();
        m.rate_limit_backend_error("dropped", "open").inc();
        m.jwks_fetch("https://old.example/", "ok");
        let live = LiveSeries {
            routes: ["kept".to_string()].into(),
            upstreams: ["app".to_string()].into(),
            policy_decisions: [("kept".into(), "editors#1".into(), "allow".into())].into(),
            rate_limits: ["per-ip".to_string()].into(),
            issuers: HashSet::new(),
        };
        m.retain(&live);
        let text = names(&m);
        for present in [
            "route=\"kept\"",
            "route=\"unmatched\"",
            "upstream=\"app\"",
            "rule=\"editors#1\"",
            "limit=\"per-ip\"",
        ] {
            assert!(text.contains(present), "{present} missing:\n{text}");
        }
        for gone in [
            "route=\"gone\"",
            "old-app",
            "renamed#1",
            "limit=\"dropped\"",
            "old.example",
        ] {
            assert!(!text.contains(gone), "{gone} still there:\n{text}");
        }
        // A handle taken again after its series was removed counts from zero, exported again.
        m.route("gone").observe(200, 0.1);
        assert!(names(&m).contains("route=\"gone\""));
    }
}
