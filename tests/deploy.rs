//! The packaging under deploy/ (issue 13, item 6), checked without a Docker engine, a cluster
//! or helm: promtool on the Prometheus config and alert rules (and their unit tests); every
//! metric the dashboard and the rules name exists in a running Gatehouse's `/metrics`, and
//! every `gatehouse_*` family it exposes has a dashboard panel; every YAML and JSON file
//! parses; the compose file, the Kubernetes manifests, the Helm chart's values and the
//! Dockerfile name the ports, probe paths, config path and user of the deploy configs.

use crate::support;

use gatehouse::config::StoreBackend;
use gatehouse::Config;
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::fake_facebook::{FakeFacebook, APP_ID, APP_SECRET};
use support::oauth::oauth_sections;
use support::*;

fn deploy(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(rel)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn yaml(rel: &str) -> Yaml {
    let path = deploy(rel);
    serde_yaml::from_str(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn dashboard() -> Json {
    let path = deploy("grafana/gatehouse.json");
    serde_json::from_str(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs `promtool ARGS` in deploy/prometheus; fails naming promtool when it is missing.
fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(deploy("prometheus"))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run promtool ({e}): install Debian's `prometheus` package \
                 (scripts/install-deps.sh test does)"
            )
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool {}: {}\n{text}",
        args.join(" "),
        out.status
    );
    text
}

#[test]
fn promtool_accepts_the_prometheus_config_and_the_alert_rules_and_their_tests_pass() {
    let checked = promtool(&["check", "rules", "alerts.yml"]);
    assert!(checked.contains("SUCCESS"), "{checked}");
    let tested = promtool(&["test", "rules", "alerts_test.yml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
    let config = promtool(&["check", "config", "prometheus.yml"]);
    assert!(config.contains("1 rule files found"), "{config}");
}

/// Every alert in alerts.yml is shown firing by at least one case of alerts_test.yml.
#[test]
fn every_alert_has_a_firing_unit_test() {
    let rules = yaml("prometheus/alerts.yml");
    let alerts: BTreeSet<String> = seq(&rules["groups"])
        .iter()
        .flat_map(|g| seq(&g["rules"]))
        .filter_map(|r| r["alert"].as_str().map(str::to_string))
        .collect();
    assert!(alerts.len() >= 6, "{alerts:?}");
    let tests = yaml("prometheus/alerts_test.yml");
    let fired: BTreeSet<String> = seq(&tests["tests"])
        .iter()
        .flat_map(|t| seq(&t["alert_rule_test"]))
        .filter(|c| !seq(&c["exp_alerts"]).is_empty())
        .filter_map(|c| c["alertname"].as_str().map(str::to_string))
        .collect();
    let untested: Vec<_> = alerts.difference(&fired).collect();
    assert!(
        untested.is_empty(),
        "alerts never shown firing: {untested:?}"
    );
}

fn seq(v: &Yaml) -> Vec<Yaml> {
    v.as_sequence().cloned().unwrap_or_default()
}

/// Every YAML file under deploy/ parses (Helm templates are not YAML before rendering: only
/// the chart's Chart.yaml and values.yaml are read), and so does the dashboard.
#[test]
fn every_yaml_and_json_file_under_deploy_parses() {
    let mut files = Vec::new();
    collect_files(&deploy(""), &mut files);
    let mut yaml_files = 0;
    for path in &files {
        let name = path.to_string_lossy();
        if name.contains("/helm/") && name.contains("/templates/") {
            continue;
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("yml" | "yaml") => {
                let doc: Yaml = serde_yaml::from_str(&read(path))
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(doc.is_mapping(), "{}: not a mapping", path.display());
                yaml_files += 1;
            }
            Some("json") => {
                serde_json::from_str::<Json>(&read(path))
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
            _ => {}
        }
    }
    // compose, prometheus (3), grafana provisioning (2), kubernetes (3), helm (2).
    assert!(
        yaml_files >= 11,
        "only {yaml_files} YAML files under deploy/"
    );
    let chart = yaml("helm/gatehouse/Chart.yaml");
    assert_eq!(chart["apiVersion"].as_str(), Some("v2"));
    assert_eq!(chart["name"].as_str(), Some("gatehouse"));
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The `gatehouse_*` metric names in a PromQL expression: identifiers (letters, digits, `_`,
/// `:`) starting with `gatehouse_`. Label values are quoted and not identifiers of this shape.
fn promql_metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let chars: Vec<char> = expr.chars().collect();
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut i = 0;
    while i < chars.len() {
        if ident(chars[i]) && (i == 0 || !ident(chars[i - 1])) {
            let start = i;
            while i < chars.len() && ident(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if word.starts_with("gatehouse_") {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn the_promql_tokenizer_finds_metric_names_only() {
    let names = promql_metric_names(
        r#"sum by (le) (rate(gatehouse_request_duration_seconds_bucket{job=~"gatehouse", route="gatehouse_x"}[5m])) / gatehouse_ready"#,
    );
    // The quoted label value is taken too: a label value that looks like a metric name would
    // be reported, never silently skipped.
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        [
            "gatehouse_ready",
            "gatehouse_request_duration_seconds_bucket",
            "gatehouse_x"
        ]
    );
}

/// The PromQL of every dashboard panel, by panel title (rows' nested panels included).
fn panel_queries(dash: &Json) -> Vec<(String, String)> {
    fn walk(panels: &Json, out: &mut Vec<(String, String)>) {
        for p in panels.as_array().into_iter().flatten() {
            let title = p["title"].as_str().unwrap_or("?").to_string();
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = t["expr"].as_str() {
                    out.push((title.clone(), expr.to_string()));
                }
            }
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dash["panels"], &mut out);
    out
}

/// Families (name → type) from the `# TYPE` lines of a Prometheus text exposition.
fn exposed_families(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(name, kind)| (name.to_string(), kind.trim().to_string()))
        .collect()
}

/// The family a series name belongs to: itself, or a histogram's `_bucket`/`_sum`/`_count`.
fn family_of(name: &str, families: &BTreeMap<String, String>) -> Option<String> {
    if families
        .get(name)
        .is_some_and(|kind| kind != "histogram" && kind != "summary")
    {
        return Some(name.to_string());
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let base = name.strip_suffix(suffix)?;
        (families.get(base).map(String::as_str) == Some("histogram")).then(|| base.to_string())
    })
}

const INTEGRATOR: &str = "https://btask.example.net";
const FB_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// Starts Gatehouse with an upstream route, the authorization server and Facebook Login, and
/// sends traffic that touches every metric family: proxied requests with a good, a bad and no
/// token, a sign-up and logins (one failing), and one Facebook login through the fake Graph.
async fn gatehouse_after_traffic() -> (TestGatehouse, std::sync::Arc<FakeFacebook>) {
    let up = EchoUpstream::start("legacy").await;
    let fb = FakeFacebook::start().await;
    let sections = format!(
        "{oauth}\n{upstream}\n{api}\n[facebook]\napp_id = \"{APP_ID}\"\napp_secret = \"{APP_SECRET}\"\n\
         dialog_url = \"{base}\"\ngraph_url = \"{base}\"\nintegrator_origins = [\"{INTEGRATOR}\"]\n\
         token_encryption_key = \"{FB_KEY}\"\ntimeout = \"2s\"\n",
        oauth = oauth_sections(""),
        upstream = upstream_section("legacy", &up, ""),
        // A policy, so its decisions family is exposed like every other.
        api = route(
            "/api",
            "legacy",
            "required",
            "name = \"api\"\npolicy = [ { allow = { scopes = [\"read\"] } } ]"
        ),
        base = fb.base_url,
    );
    let gh = TestGatehouse::start(&sections);
    // Keep the upstream alive as long as the test: leak its handle into the process.
    std::mem::forget(up);

    gh.sign_up("deployuser", "password123").await;
    let token = gh.login("deployuser", "password123").await["access_token"]
        .as_str()
        .expect("access token")
        .to_string();
    let refused = gh
        .post_json(
            "/oauth/authorize",
            &serde_json::json!({"username": "deployuser", "password": "wrong-password",
                "grant_type": "password", "client_id": support::oauth::LEGACY}),
        )
        .await;
    assert_eq!(
        refused.status(),
        400,
        "a wrong password is refused (invalid_grant)"
    );
    for _ in 0..3 {
        assert_eq!(gh.get("/api/items", Some(&token)).await.status(), 200);
    }
    assert_eq!(gh.get("/api/items", None).await.status(), 401);
    assert_eq!(
        gh.get("/api/items", Some("not-a-real-token"))
            .await
            .status(),
        401
    );

    // One Facebook login: Gatehouse's dialog redirect, the fake dialog, the callback.
    let q = format!(
        "redirect_uri={}&oauth_token={token}",
        url::form_urlencoded::byte_serialize(format!("{INTEGRATOR}/done").as_bytes())
            .collect::<String>()
    );
    let r = gh
        .client
        .get(gh.url(&format!("/facebook/oauth_dialog?{q}")))
        .send()
        .await
        .expect("dialog");
    assert_eq!(r.status(), 302, "dialog redirect");
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_string))
        .collect();
    let dialog = location(&r);
    let r = gh.client.get(&dialog).send().await.expect("fake dialog");
    assert_eq!(r.status(), 302, "the fake dialog redirects back");
    let back = location(&r);
    let path = back
        .splitn(4, '/')
        .nth(3)
        .expect("callback path")
        .to_string();
    let r = gh
        .client
        .get(gh.url(&format!("/{path}")))
        .header("Cookie", cookies.join("; "))
        .send()
        .await
        .expect("callback");
    assert_eq!(
        r.status(),
        302,
        "callback: {}",
        r.text().await.unwrap_or_default()
    );
    (gh, fb)
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split('#')
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_and_alerts_name_only_exposed_metrics_and_every_family_has_a_panel() {
    let (gh, _fb) = gatehouse_after_traffic().await;
    let text = gh.metrics_text().await;
    let families = exposed_families(&text);
    let ours: BTreeSet<&String> = families
        .keys()
        .filter(|n| n.starts_with("gatehouse_"))
        .collect();
    // The families of the README's metrics table are all there after this traffic.
    for expected in [
        "gatehouse_requests_total",
        "gatehouse_request_duration_seconds",
        "gatehouse_auth_decisions_total",
        "gatehouse_token_cache_total",
        "gatehouse_token_store_lookups_total",
        "gatehouse_upstream_errors_total",
        "gatehouse_tokens_issued_total",
        "gatehouse_connections_refused_total",
        "gatehouse_login_failures_total",
        "gatehouse_password_checks_total",
        "gatehouse_facebook_requests_total",
        "gatehouse_ready",
        "gatehouse_policy_decisions_total",
        "gatehouse_rate_limited_total",
        "gatehouse_forward_auth_decisions_total",
    ] {
        assert!(
            families.contains_key(expected),
            "{expected} not exposed:\n{text}"
        );
    }

    // Every name the dashboard (panels and variables) and the rules use exists.
    let dash = dashboard();
    let mut used: Vec<(String, String)> = panel_queries(&dash)
        .into_iter()
        .map(|(title, expr)| (format!("dashboard panel {title:?}"), expr))
        .collect();
    for var in dash["templating"]["list"].as_array().into_iter().flatten() {
        for key in ["definition", "query"] {
            let q = match &var[key] {
                Json::String(s) => s.clone(),
                other => other["query"].as_str().unwrap_or_default().to_string(),
            };
            used.push((format!("dashboard variable {}", var["name"]), q));
        }
    }
    let rules = yaml("prometheus/alerts.yml");
    for rule in seq(&rules["groups"]).iter().flat_map(|g| seq(&g["rules"])) {
        let name = rule["alert"].as_str().unwrap_or("?").to_string();
        used.push((
            format!("alert {name}"),
            rule["expr"].as_str().unwrap_or_default().to_string(),
        ));
    }
    let mut missing = Vec::new();
    let mut names_seen = 0;
    for (place, expr) in &used {
        for name in promql_metric_names(expr) {
            names_seen += 1;
            if family_of(&name, &families).is_none() {
                missing.push(format!("{place}: {name}"));
            }
        }
    }
    assert!(names_seen > 20, "too few metric names found: {names_seen}");
    assert!(
        missing.is_empty(),
        "names not in /metrics: {missing:#?}\n{text}"
    );

    // Every exposed family has a panel.
    let paneled: BTreeSet<String> = panel_queries(&dash)
        .iter()
        .flat_map(|(_, expr)| promql_metric_names(expr))
        .filter_map(|n| family_of(&n, &families))
        .collect();
    let without: Vec<_> = ours.iter().filter(|f| !paneled.contains(**f)).collect();
    assert!(without.is_empty(), "families without a panel: {without:?}");

    // The probe paths the Kubernetes manifests name answer 200 on the admin listener.
    for (probe, path) in k8s_probe_paths() {
        let r = gh
            .client
            .get(gh.admin_url(&path))
            .send()
            .await
            .expect("probe");
        assert_eq!(r.status(), 200, "{probe} {path}");
    }
}

/// `gatehouse_ready` follows readiness, so that the GatehouseNotReady alert has a signal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_is_exported_as_gatehouse_ready() {
    let up = EchoUpstream::start("legacy").await;
    let sections = [
        upstream_section(
            "legacy",
            &up,
            "health_check = { path = \"/health\", interval = \"100ms\" }",
        ),
        route("/", "legacy", "public", ""),
    ]
    .concat();
    let gh = TestGatehouse::start(&sections);
    let wait = Duration::from_secs(10);
    assert!(eventually(wait, || async { gh.metric("gatehouse_ready").await == 1.0 }).await);
    up.set_healthy(false);
    assert!(eventually(wait, || async { gh.metric("gatehouse_ready").await == 0.0 }).await);
    assert_eq!(gh.ready_status().await, 503);
    up.set_healthy(true);
    assert!(eventually(wait, || async { gh.metric("gatehouse_ready").await == 1.0 }).await);
    assert_eq!(gh.ready_status().await, 200);
}

/// `(probe, path)` of the gatehouse container in deploy/kubernetes/deployment.yaml.
fn k8s_probe_paths() -> Vec<(String, String)> {
    let container = k8s_gatehouse_container();
    ["startupProbe", "livenessProbe", "readinessProbe"]
        .iter()
        .filter_map(|p| {
            let path = container[*p]["httpGet"]["path"].as_str()?;
            Some((p.to_string(), path.to_string()))
        })
        .collect()
}

fn k8s_deployment() -> Yaml {
    yaml("kubernetes/deployment.yaml")
}

fn k8s_gatehouse_container() -> Yaml {
    seq(&k8s_deployment()["spec"]["template"]["spec"]["containers"])
        .into_iter()
        .find(|c| c["name"].as_str() == Some("gatehouse"))
        .expect("a container named gatehouse in deploy/kubernetes/deployment.yaml")
}

/// The `${VAR}` names a config text reads from the environment (comments skipped: the deploy
/// configs have no `#` inside values).
fn env_refs(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .flat_map(|l| l.split("${").skip(1))
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_string()))
        .collect()
}

/// Validates a deploy config as `gatehouse check-config` would, with placeholder values for
/// its `${VAR}` secrets; returns it.
fn validated_config(text: &str, origin: &str) -> Config {
    for var in env_refs(text) {
        if std::env::var_os(&var).is_none() {
            // Every secret here is ≥ 16 characters (client secrets) and URL-safe.
            let value = if var.contains("STORE_URL") {
                "postgres://gatehouse:placeholder@127.0.0.1:5432/gatehouse".to_string()
            } else {
                "placeholder0123456789".to_string()
            };
            std::env::set_var(&var, value);
        }
    }
    Config::from_toml(text, origin).unwrap_or_else(|e| panic!("{origin}: {e}"))
}

/// What the Dockerfile says about the runtime image.
struct Image {
    user: String,
    exposed: Vec<u16>,
    config_path: String,
    volume: String,
}

fn dockerfile() -> Image {
    let text = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile"));
    // The runtime stage: after the last FROM.
    let runtime = text.rsplit("\nFROM ").next().expect("a FROM line");
    let line = |keyword: &str| {
        runtime
            .lines()
            .find_map(|l| l.strip_prefix(keyword))
            .unwrap_or_else(|| panic!("no {keyword} in the Dockerfile's runtime stage"))
            .trim()
            .to_string()
    };
    let cmd: Vec<String> =
        serde_json::from_str(&line("CMD ")).expect("CMD in exec form (a JSON array)");
    let config_path = cmd
        .windows(2)
        .find(|w| w[0] == "--config")
        .map(|w| w[1].clone())
        .expect("CMD names --config");
    let volume: Vec<String> = serde_json::from_str(&line("VOLUME ")).expect("VOLUME as JSON");
    Image {
        user: line("USER "),
        exposed: line("EXPOSE ")
            .split_whitespace()
            .map(|p| p.parse().expect("EXPOSE port"))
            .collect(),
        config_path,
        volume: volume.first().cloned().expect("a volume"),
    }
}

/// A crate patched in from the tree (`[patch.crates-io]` paths) must be in the image's build
/// stage before its first `cargo build`, and in the build context: without it, `docker build`
/// fails on the manifest.
#[test]
fn the_image_build_copies_every_patched_crate_before_building() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest: toml::Value =
        toml::from_str(&read(&root.join("Cargo.toml"))).expect("Cargo.toml parses");
    let patched: Vec<String> = manifest
        .get("patch")
        .and_then(|p| p.get("crates-io"))
        .and_then(|c| c.as_table())
        .map(|t| {
            t.values()
                .filter_map(|v| Some(v.get("path")?.as_str()?.to_string()))
                .collect()
        })
        .unwrap_or_default();
    let text = read(&root.join("Dockerfile"));
    let before_build = &text[..text
        .find("cargo build")
        .expect("a cargo build in the Dockerfile")];
    let ignored = read(&root.join(".dockerignore"));
    for path in &patched {
        assert!(
            root.join(path).join("Cargo.toml").is_file(),
            "[patch.crates-io] path {path} has no Cargo.toml"
        );
        let top = path.split('/').next().unwrap_or(path);
        let copied = before_build.lines().any(|l| {
            let mut words = l.split_whitespace();
            words.next() == Some("COPY")
                && words
                    .next()
                    .is_some_and(|src| src.trim_end_matches('/') == top || src == path)
        });
        assert!(
            copied,
            "the Dockerfile does not COPY {path} before its first `cargo build`"
        );
        assert!(
            !ignored
                .lines()
                .any(|l| l.trim().trim_end_matches('/') == top),
            ".dockerignore leaves {top} out of the build context"
        );
    }
}

#[test]
fn compose_prometheus_and_grafana_agree_with_the_compose_config_and_the_image() {
    let image = dockerfile();
    let text = read(&deploy("gatehouse.toml"));
    let config = validated_config(&text, "deploy/gatehouse.toml");
    let (proxy, admin) = (
        config.server.listen.expect("plain listener").port(),
        config.server.admin_listen.port(),
    );
    assert!(
        config
            .server
            .listen
            .expect("plain listener")
            .ip()
            .is_unspecified()
            && config.server.admin_listen.ip().is_unspecified(),
        "in a container both listeners bind 0.0.0.0"
    );
    assert_eq!(image.exposed, vec![proxy, admin], "Dockerfile EXPOSE");

    let compose = yaml("docker-compose.yml");
    let services = &compose["services"];
    let gatehouse = &services["gatehouse"];
    // The sidecar shares the app's network namespace, so the app's service publishes its ports.
    let app = gatehouse["network_mode"]
        .as_str()
        .and_then(|m| m.strip_prefix("service:"))
        .expect("gatehouse runs in network_mode service:<app>");
    let published: Vec<u16> = seq(&services[app]["ports"])
        .iter()
        .filter_map(|p| p.as_str()?.rsplit(':').next()?.parse().ok())
        .collect();
    assert!(
        published.contains(&proxy),
        "{app} publishes {proxy}: {published:?}"
    );
    assert!(
        published.contains(&admin),
        "{app} publishes {admin}: {published:?}"
    );
    // The upstream is the app on the shared loopback.
    let upstream_addr = text
        .lines()
        .find_map(|l| l.strip_prefix("addrs = "))
        .expect("an upstream");
    let app_command: Vec<String> = seq(&services[app]["command"])
        .iter()
        .filter_map(|c| c.as_str().map(str::to_string))
        .collect();
    let app_listen = app_command
        .iter()
        .find_map(|c| c.strip_prefix("-listen="))
        .expect("the app's -listen");
    assert!(
        upstream_addr.contains(&format!("\"{app_listen}\"")),
        "the upstream ({upstream_addr}) is the app's listen address ({app_listen})"
    );

    // Config mounted where the image's command reads it; the command agrees.
    let volumes: Vec<String> = seq(&gatehouse["volumes"])
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    assert!(
        volumes.iter().any(|v| v.starts_with("./gatehouse.toml:")
            && v.contains(&format!(":{}:", image.config_path))),
        "{volumes:?} mounts ./gatehouse.toml at {}",
        image.config_path
    );
    let command: Vec<&str> = seq(&gatehouse["command"])
        .iter()
        .filter_map(|c| c.as_str())
        .map(|s| s.to_owned().leak() as &str)
        .collect();
    assert_eq!(command, ["--config", image.config_path.as_str()]);
    assert_eq!(gatehouse["user"].as_str(), Some(image.user.as_str()));
    assert_eq!(gatehouse["read_only"].as_bool(), Some(true));
    assert_eq!(seq(&gatehouse["cap_drop"]), [Yaml::from("ALL")]);
    // Every secret the config reads is passed in from the environment, not written down.
    for var in env_refs(&text) {
        let value = gatehouse["environment"][var.as_str()]
            .as_str()
            .unwrap_or_else(|| panic!("compose passes {var} to gatehouse"));
        assert!(value.starts_with(&format!("${{{var}:?")), "{var}: {value}");
    }
    assert_eq!(
        compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"].as_str(),
        gatehouse["environment"]["GATEHOUSE_DB_PASSWORD"].as_str()
    );
    match &config.store.backend {
        StoreBackend::Postgres { url, .. } => assert!(
            url.expose().starts_with("postgres://gatehouse:")
                && url.expose().ends_with("@postgres:5432/gatehouse"),
            "store.url names the postgres service and its user"
        ),
        other => panic!("the compose store is PostgreSQL, not {other:?}"),
    }

    // Prometheus scrapes the admin port through the app's service name.
    let prom = yaml("prometheus/prometheus.yml");
    let job = seq(&prom["scrape_configs"])
        .into_iter()
        .find(|j| j["job_name"].as_str() == Some("gatehouse"))
        .expect("a gatehouse scrape job");
    assert_eq!(job["metrics_path"].as_str(), Some("/metrics"));
    let targets: Vec<String> = seq(&job["static_configs"])
        .iter()
        .flat_map(|s| seq(&s["targets"]))
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect();
    assert_eq!(targets, [format!("{app}:{admin}")]);
    let prom_volumes = format!("{:?}", services["prometheus"]["volumes"]);
    assert!(
        prom_volumes.contains("./prometheus:/etc/prometheus"),
        "{prom_volumes}"
    );

    // Grafana: the dashboard file is mounted where the provider reads, from Prometheus.
    let provider = yaml("grafana/provisioning/dashboards/gatehouse.yml");
    let dir = seq(&provider["providers"])[0]["options"]["path"]
        .as_str()
        .expect("provider path")
        .to_string();
    let grafana_volumes: Vec<String> = seq(&services["grafana"]["volumes"])
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    assert!(
        grafana_volumes
            .iter()
            .any(|v| v.starts_with("./grafana/gatehouse.json:")
                && v.contains(&format!("{dir}/gatehouse.json"))),
        "{grafana_volumes:?}"
    );
    assert!(grafana_volumes
        .iter()
        .any(|v| v.starts_with("./grafana/provisioning:/etc/grafana/provisioning")));
    let datasource = yaml("grafana/provisioning/datasources/prometheus.yml");
    assert_eq!(
        seq(&datasource["datasources"])[0]["url"].as_str(),
        Some("http://prometheus:9090")
    );
    assert!(services["prometheus"].is_mapping() && services["postgres"].is_mapping());
}

#[test]
fn kubernetes_manifests_and_helm_values_agree_with_their_config_and_the_image() {
    let image = dockerfile();
    let configmap = yaml("kubernetes/configmap.yaml");
    let text = configmap["data"]["gatehouse.toml"]
        .as_str()
        .expect("ConfigMap data gatehouse.toml")
        .to_string();
    let config = validated_config(&text, "deploy/kubernetes/configmap.yaml");
    assert!(
        matches!(config.store.backend, StoreBackend::Postgres { .. }),
        "replicas share a PostgreSQL store"
    );
    let (proxy, admin) = (
        config.server.listen.expect("plain listener").port(),
        config.server.admin_listen.port(),
    );
    assert_eq!(image.exposed, vec![proxy, admin], "Dockerfile EXPOSE");

    let deployment = k8s_deployment();
    let pod = &deployment["spec"]["template"]["spec"];
    let c = k8s_gatehouse_container();
    let port = |name: &str| {
        seq(&c["ports"])
            .iter()
            .find(|p| p["name"].as_str() == Some(name))
            .and_then(|p| p["containerPort"].as_u64())
            .unwrap_or_else(|| panic!("container port {name}"))
    };
    assert_eq!(port("http"), u64::from(proxy));
    assert_eq!(port("admin"), u64::from(admin));
    for (probe, path) in [
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
        ("startupProbe", "/healthz"),
    ] {
        assert_eq!(c[probe]["httpGet"]["path"].as_str(), Some(path), "{probe}");
        assert_eq!(
            c[probe]["httpGet"]["port"].as_str(),
            Some("admin"),
            "{probe}"
        );
    }
    let annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(
        annotations["prometheus.io/port"].as_str(),
        Some(admin.to_string().as_str())
    );

    // Config from the ConfigMap, at the path the image reads.
    let args: Vec<String> = seq(&c["args"])
        .iter()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    assert_eq!(args, ["--config".to_string(), image.config_path.clone()]);
    let mount = |name: &str| {
        seq(&c["volumeMounts"])
            .into_iter()
            .find(|m| m["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("volumeMount {name}"))
    };
    let config_dir = Path::new(&image.config_path).parent().expect("config dir");
    assert_eq!(
        mount("config")["mountPath"].as_str(),
        config_dir.to_str(),
        "config mount"
    );
    let volume = |name: &str| {
        seq(&pod["volumes"])
            .into_iter()
            .find(|v| v["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("volume {name}"))
    };
    assert_eq!(
        volume("config")["configMap"]["name"].as_str(),
        configmap["metadata"]["name"].as_str()
    );
    // Read-only root filesystem, with emptyDirs where files may be written.
    assert_eq!(
        mount("data")["mountPath"].as_str(),
        Some(image.volume.as_str())
    );
    assert!(
        volume("data")["emptyDir"].is_mapping(),
        "data is an emptyDir"
    );
    assert_eq!(mount("tmp")["mountPath"].as_str(), Some("/tmp"));
    assert!(volume("tmp")["emptyDir"].is_mapping(), "tmp is an emptyDir");
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(sc["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(seq(&sc["capabilities"]["drop"]), [Yaml::from("ALL")]);
    let uid = image.user.split(':').next().expect("USER uid");
    assert_eq!(
        sc["runAsUser"].as_u64().map(|u| u.to_string()).as_deref(),
        Some(uid)
    );
    assert!(c["resources"]["requests"]["memory"].is_string());
    assert!(c["resources"]["limits"]["memory"].is_string());
    // Each `${VAR}` of the config comes from the Secret.
    for var in env_refs(&text) {
        let env = seq(&c["env"])
            .into_iter()
            .find(|e| e["name"].as_str() == Some(var.as_str()))
            .unwrap_or_else(|| panic!("env {var}"));
        assert!(
            env["valueFrom"]["secretKeyRef"]["name"].is_string(),
            "{var} comes from a Secret"
        );
    }
    // The app container is the upstream, on the pod's loopback.
    let app = seq(&pod["containers"])
        .into_iter()
        .find(|c| c["name"].as_str() == Some("app"))
        .expect("app container");
    let app_listen = seq(&app["args"])
        .iter()
        .find_map(|a| a.as_str()?.strip_prefix("-listen=").map(str::to_string))
        .expect("app -listen");
    assert!(app_listen.starts_with("127.0.0.1:"), "{app_listen}");
    assert!(
        text.contains(&format!("addrs = [\"{app_listen}\"]")),
        "upstream is the app"
    );
    // Shutdown: the grace period covers the preStop sleep and server.shutdown_grace.
    let grace = pod["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("grace");
    assert!(grace >= 20 + 5, "terminationGracePeriodSeconds {grace}");

    // The Service targets the proxy port by name, never the admin one.
    let service = yaml("kubernetes/service.yaml");
    let targets: Vec<&str> = seq(&service["spec"]["ports"])
        .iter()
        .filter_map(|p| p["targetPort"].as_str())
        .map(|s| s.to_owned().leak() as &str)
        .collect();
    assert_eq!(targets, ["http"]);
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["selector"]["matchLabels"]
    );

    // The Helm chart: both modes offered, the same ports, probes and image user.
    let values = yaml("helm/gatehouse/values.yaml");
    assert_eq!(values["mode"].as_str(), Some("sidecar"));
    assert_eq!(values["ports"]["http"].as_u64(), Some(u64::from(proxy)));
    assert_eq!(values["ports"]["admin"].as_u64(), Some(u64::from(admin)));
    assert_eq!(
        values["securityContext"]["runAsUser"]
            .as_u64()
            .map(|u| u.to_string())
            .as_deref(),
        Some(uid)
    );
    assert_eq!(
        values["securityContext"]["readOnlyRootFilesystem"].as_bool(),
        Some(true)
    );
    let templates = deploy("helm/gatehouse/templates");
    let helpers = read(&templates.join("_helpers.tpl"));
    assert!(
        helpers.contains("(list \"sidecar\" \"standalone\")"),
        "both modes validated"
    );
    let chart_deployment = read(&templates.join("deployment.yaml"));
    for needle in [
        "path: /healthz",
        "path: /readyz",
        "port: admin",
        "eq .Values.mode \"sidecar\"",
        &format!("mountPath: {}", image.volume),
        &format!("mountPath: {}", config_dir.display()),
        &format!("\"--config\", \"{}\"", image.config_path),
    ] {
        assert!(
            chart_deployment.contains(needle),
            "chart deployment lacks {needle:?}"
        );
    }
    for file in ["configmap.yaml", "service.yaml", "secret.yaml", "NOTES.txt"] {
        assert!(templates.join(file).is_file(), "chart template {file}");
    }
}
