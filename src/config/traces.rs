//! The `[tracing]` section: where OpenTelemetry spans go (OTLP/HTTP), how many traces are kept,
//! and the service name they carry. Absent, nothing of tracing runs.

use super::raw::RawTracing;
use super::Problems;
use url::Url;

#[derive(Debug, Clone)]
pub struct TracingConfig {
    /// The full OTLP/HTTP traces URL (`…/v1/traces`).
    pub otlp_endpoint: Url,
    /// The share of new traces kept; a trusted caller's sampling decision is followed.
    pub sample_ratio: f64,
    pub service_name: String,
}

/// `None` when the endpoint is unusable (a problem is pushed for it).
pub(super) fn validate_tracing(p: &mut Problems, raw: RawTracing) -> Option<TracingConfig> {
    let otlp_endpoint = match Url::parse(&raw.otlp_endpoint) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            Some(traces_url(u))
        }
        Ok(_) => {
            p.push(format!(
                "tracing.otlp_endpoint: `{}` must be an absolute http(s) URL",
                raw.otlp_endpoint
            ));
            None
        }
        Err(e) => {
            p.push(format!(
                "tracing.otlp_endpoint: `{}` {e}",
                raw.otlp_endpoint
            ));
            None
        }
    };
    let sample_ratio = raw.sample_ratio.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&sample_ratio) {
        p.push(format!(
            "tracing.sample_ratio: {sample_ratio} is out of range (0..=1)"
        ));
    }
    let service_name = raw.service_name.unwrap_or_else(|| "gatehouse".into());
    if service_name.trim().is_empty() {
        p.push("tracing.service_name: must not be empty".into());
    }
    Some(TracingConfig {
        otlp_endpoint: otlp_endpoint?,
        sample_ratio,
        service_name,
    })
}

/// A collector's base URL (`http://collector:4318`) gets the OTLP traces path, as the
/// `OTEL_EXPORTER_OTLP_ENDPOINT` convention has it; a URL with a path is taken as written.
fn traces_url(mut url: Url) -> Url {
    if url.path() == "/" {
        url.set_path("/v1/traces");
    }
    url
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const BASE: &str = r#"
[server]
listen = "127.0.0.1:0"
public_url = "http://localhost:8080"
admin_listen = "127.0.0.1:0"
"#;

    #[test]
    fn a_base_url_gets_the_traces_path_and_defaults_apply() {
        let c = Config::from_toml(
            &format!("{BASE}[tracing]\notlp_endpoint = \"http://collector:4318\"\n"),
            "t.toml",
        )
        .unwrap();
        let t = c.tracing.unwrap();
        assert_eq!(t.otlp_endpoint.as_str(), "http://collector:4318/v1/traces");
        assert_eq!(t.sample_ratio, 1.0);
        assert_eq!(t.service_name, "gatehouse");
        let c = Config::from_toml(BASE, "t.toml").unwrap();
        assert!(c.tracing.is_none(), "off unless the section is written");
    }

    #[test]
    fn bad_values_are_named() {
        let text = format!(
            "{BASE}[tracing]\notlp_endpoint = \"collector:4318/x\"\nsample_ratio = 1.5\nservice_name = \" \"\n"
        );
        let e = Config::from_toml(&text, "t.toml").unwrap_err().to_string();
        for want in [
            "tracing.otlp_endpoint: `collector:4318/x` must be an absolute http(s) URL",
            "tracing.sample_ratio: 1.5 is out of range (0..=1)",
            "tracing.service_name: must not be empty",
        ] {
            assert!(e.contains(want), "{want} in {e}");
        }
        let unknown = format!("{BASE}[tracing]\notlp_endpoint = \"http://c\"\nheaders = 1\n");
        assert!(Config::from_toml(&unknown, "t.toml").is_err());
    }
}
