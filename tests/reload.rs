//! Hot reload: the config file read again while requests are in flight. A reload that adds a
//! route under a steady load fails no request and serves the route at once; a broken file
//! (syntax, unknown key, bad value, a route on an unknown upstream) changes nothing and is
//! counted as an error; restart-only settings keep their running values; a route's new scopes
//! hold for tokens already in the cache; an upstream group added by a reload is health-checked;
//! a route or upstream a reload removes leaves no series in `/metrics`.
//! Then the real binary: `gatehouse reload` (SIGHUP through `server.pid_file`) and its errors.

use crate::support;

use gatehouse::reload::ReloadError;
use gatehouse::{Config, Gatehouse, RunningGatehouse};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

/// A Gatehouse started from a file on disk, so that it can read it again.
struct FromFile {
    running: Arc<RunningGatehouse>,
    path: PathBuf,
    ports: (u16, u16),
    db: String,
    base: String,
    admin: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl FromFile {
    fn start(sections: &str) -> FromFile {
        let dir = tempfile::tempdir().unwrap();
        let ports = (free_port(), free_port());
        let db = dir.path().join("g.db").display().to_string();
        let path = dir.path().join("gatehouse.toml");
        std::fs::write(
            &path,
            TestGatehouse::config_text(ports.0, ports.1, &db, sections),
        )
        .unwrap();
        let config = Config::load(&path).unwrap();
        let file = path.clone();
        let running = std::thread::spawn(move || {
            Gatehouse::build(config).and_then(|g| g.config_file(file).spawn())
        })
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("start gatehouse: {e}"));
        FromFile {
            running: Arc::new(running),
            path,
            base: format!("http://127.0.0.1:{}", ports.0),
            admin: format!("http://127.0.0.1:{}", ports.1),
            ports,
            db,
            client: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// Writes the harness's file with these sections (same ports and store).
    fn rewrite(&self, sections: &str) {
        self.rewrite_text(&TestGatehouse::config_text(
            self.ports.0,
            self.ports.1,
            &self.db,
            sections,
        ));
    }

    fn rewrite_text(&self, text: &str) {
        std::fs::write(&self.path, text).unwrap();
    }

    async fn reload(&self) -> Result<gatehouse::reload::ReloadReport, ReloadError> {
        // Blocking, as it is on the SIGHUP path (`spawn_blocking` there too).
        let running = self.running.clone();
        tokio::task::spawn_blocking(move || running.reload())
            .await
            .unwrap()
    }

    async fn status(&self, path: &str, token: Option<&str>) -> u16 {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap().status().as_u16()
    }

    async fn metrics_text(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.admin))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn metric(&self, series: &str) -> f64 {
        metric_value(&self.metrics_text().await, series)
    }
}

fn base_sections(app: &EchoUpstream) -> String {
    [
        upstream_section("app", app, ""),
        route("/api", "app", "public", ""),
    ]
    .concat()
}

/// The new group comes first: it takes the index `app` had, so a request that was routed on
/// the old generation and looked its upstream up on the new one would reach `fresh`.
fn with_new_route(app: &EchoUpstream, new: &EchoUpstream) -> String {
    [
        upstream_section("fresh", new, ""),
        base_sections(app),
        route("/fresh", "fresh", "public", ""),
    ]
    .concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reload_adds_a_route_under_load_with_no_failed_request() {
    let app = EchoUpstream::start("app").await;
    let fresh = EchoUpstream::start("fresh").await;
    let gh = Arc::new(FromFile::start(&base_sections(&app)));
    assert_eq!(gh.status("/fresh/x", None).await, 404);
    assert_eq!(gh.metric("gatehouse_config_generation").await, 1.0);

    let stop = Arc::new(AtomicBool::new(false));
    let (done, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for worker in 0..8 {
        let (gh, stop, done, failed) = (gh.clone(), stop.clone(), done.clone(), failed.clone());
        let in_flight = in_flight.clone();
        load.push(tokio::spawn(async move {
            // Some requests are in flight across the swap: slow ones, on kept connections.
            let path = if worker % 2 == 0 {
                "/api/slow?ms=40"
            } else {
                "/api/x"
            };
            while !stop.load(Ordering::SeqCst) {
                in_flight.fetch_add(1, Ordering::SeqCst);
                let sent = gh.client.get(format!("{}{path}", gh.base)).send().await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                match sent {
                    Ok(r) if r.status() == 200 => done.fetch_add(1, Ordering::SeqCst),
                    _ => failed.fetch_add(1, Ordering::SeqCst),
                };
            }
        }));
    }
    // One request that starts before the reload and ends well after it.
    let long = {
        let gh = gh.clone();
        tokio::spawn(async move { gh.status("/api/slow?ms=1500", None).await })
    };
    let warm = Instant::now();
    while done.load(Ordering::SeqCst) < 50 {
        assert!(
            warm.elapsed() < Duration::from_secs(20),
            "no load got through"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    gh.rewrite(&with_new_route(&app, &fresh));
    let mut in_flight_at_swap = vec![in_flight.load(Ordering::SeqCst)];
    let report = gh.reload().await.unwrap();
    assert_eq!(report.generation, 2);
    assert!(
        report.needs_restart.is_empty(),
        "{:?}",
        report.needs_restart
    );
    let before = fresh.count();
    assert_eq!(gh.status("/fresh/x", None).await, 200);
    assert_eq!(
        fresh.count(),
        before + 1,
        "the new route reached its upstream"
    );

    // More swaps under the same load, the upstream groups changing places each time.
    let after = done.load(Ordering::SeqCst);
    let reordered = [
        base_sections(&app),
        upstream_section("fresh", &fresh, ""),
        route("/fresh", "fresh", "public", ""),
    ]
    .concat();
    for n in 0..9 {
        let mark = done.load(Ordering::SeqCst);
        while done.load(Ordering::SeqCst) < mark + 20 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        gh.rewrite(&if n % 2 == 0 {
            reordered.clone()
        } else {
            with_new_route(&app, &fresh)
        });
        in_flight_at_swap.push(in_flight.load(Ordering::SeqCst));
        assert_eq!(gh.reload().await.unwrap().generation, n + 3);
        assert_eq!(gh.status("/fresh/x", None).await, 200);
    }
    while done.load(Ordering::SeqCst) < after + 250 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for l in load {
        l.await.unwrap();
    }
    assert_eq!(long.await.unwrap(), 200, "the request in flight finished");
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "failed requests during the reload"
    );
    assert!(
        fresh.seen().iter().all(|s| s.uri.starts_with("/fresh")),
        "an /api request reached the new group"
    );
    eprintln!(
        "{} requests under load, 10 reloads, requests in flight at each: {in_flight_at_swap:?}, 0 failed",
        done.load(Ordering::SeqCst),
    );
    assert_eq!(gh.metric("gatehouse_config_generation").await, 11.0);
    assert_eq!(
        gh.metric("gatehouse_config_reloads_total{result=\"ok\"}")
            .await,
        10.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_reload_changes_nothing() {
    let app = EchoUpstream::start("app").await;
    let fresh = EchoUpstream::start("fresh").await;
    let gh = FromFile::start(&base_sections(&app));
    let with_fresh = TestGatehouse::config_text(
        gh.ports.0,
        gh.ports.1,
        &gh.db,
        &with_new_route(&app, &fresh),
    );
    let broken = [
        // Syntax.
        (
            with_fresh.replace("[[routes]]", "[[routes]"),
            "TOML parse error",
        ),
        // Unknown key.
        (
            with_fresh.replace("[[routes]]", "[[routes]]\npath_prefx = \"/x\""),
            "path_prefx",
        ),
        // A bad value.
        (
            with_fresh.replace("auth = \"public\"", "auth = \"sometimes\""),
            "routes[0].auth",
        ),
        // A route naming an upstream that does not exist.
        (
            with_fresh.replace("upstream = \"fresh\"", "upstream = \"nowhere\""),
            "nowhere",
        ),
        // A listener of its own comes with a new section: only a restart can open it.
        (
            format!(
                "{}\n[forward_auth]\nlisten = \"127.0.0.1:{}\"\n",
                with_fresh.replace(
                    "shutdown_grace = \"1s\"\n",
                    "shutdown_grace = \"1s\"\ntrusted_proxies = [\"127.0.0.1\"]\n"
                ),
                free_port()
            ),
            "needs a restart",
        ),
        // The file is gone.
        (String::new(), "cannot read"),
    ];
    for (n, (text, named)) in broken.iter().enumerate() {
        if text.is_empty() {
            std::fs::remove_file(&gh.path).unwrap();
        } else {
            gh.rewrite_text(text);
        }
        let refused = gh.reload().await.unwrap_err().to_string();
        assert!(refused.contains(named), "case {n}: {refused}");
        assert_eq!(gh.status("/api/x", None).await, 200, "case {n}");
        assert_eq!(gh.status("/fresh/x", None).await, 404, "case {n}");
        assert_eq!(gh.running.state().generation, 1);
        assert_eq!(
            gh.metric("gatehouse_config_reloads_total{result=\"error\"}")
                .await,
            (n + 1) as f64
        );
    }
    assert_eq!(gh.metric("gatehouse_config_generation").await, 1.0);
    assert_eq!(
        gh.metric("gatehouse_config_reloads_total{result=\"ok\"}")
            .await,
        0.0
    );

    // Restart-only settings are named and keep their running values; the rest applies.
    let moved = with_fresh
        .replace(
            &format!("127.0.0.1:{}\"", gh.ports.0),
            &format!("127.0.0.1:{}\"", free_port()),
        )
        .replace(
            "shutdown_grace = \"1s\"",
            "shutdown_grace = \"1s\"\nthreads = 3",
        )
        + "\n[tokens]\naccept_unstructured = false\n";
    assert_ne!(moved, with_fresh);
    gh.rewrite_text(&moved);
    let report = gh.reload().await.unwrap();
    assert_eq!(
        report.needs_restart,
        [
            "server.listen",
            "server.threads",
            "tokens.accept_unstructured"
        ]
    );
    assert_eq!(gh.status("/fresh/x", None).await, 200);
    let state = gh.running.state();
    assert_eq!(
        state.config.server.listen.expect("plain listener").port(),
        gh.ports.0
    );
    assert_eq!(state.config.server.threads, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_removes_a_route_removes_its_series() {
    let app = EchoUpstream::start("app").await;
    let fresh = EchoUpstream::start("fresh").await;
    let gh = FromFile::start(&with_new_route(&app, &fresh));
    assert_eq!(gh.status("/fresh/x", None).await, 200);
    assert_eq!(gh.status("/api/x", None).await, 200);
    let name = |prefix: &str| {
        let state = gh.running.state();
        let route = state.config.routes.iter().find(|r| r.path_prefix == prefix);
        route.expect("route").name.clone()
    };
    let (fresh_route, api_route) = (name("/fresh"), name("/api"));
    let fresh_2xx =
        format!("gatehouse_requests_total{{route=\"{fresh_route}\",status_class=\"2xx\"}}");
    let api_2xx = format!("gatehouse_requests_total{{route=\"{api_route}\",status_class=\"2xx\"}}");
    // Counted as the request ends, which may be just after its answer reached us.
    let counted = eventually(Duration::from_secs(5), || async {
        gh.metric(&fresh_2xx).await == 1.0 && gh.metric(&api_2xx).await == 1.0
    })
    .await;
    assert!(counted, "{}", gh.metrics_text().await);
    let before = gh.metrics_text().await;
    assert!(before.contains("upstream=\"fresh\""), "{before}");

    gh.rewrite(&base_sections(&app));
    gh.reload().await.unwrap();
    let after = gh.metrics_text().await;
    let gone = format!("route=\"{fresh_route}\"");
    assert!(!after.contains(&gone), "{gone} is still exported:\n{after}");
    assert!(!after.contains("upstream=\"fresh\""), "{after}");
    // What the new config still has keeps its series and its count.
    assert_eq!(metric_value(&after, &api_2xx), 1.0);
    assert!(after.contains("upstream=\"app\""), "{after}");
    assert_eq!(gh.status("/api/x", None).await, 200);
    let counted = eventually(Duration::from_secs(5), || async {
        gh.metric(&api_2xx).await == 2.0
    })
    .await;
    assert!(counted, "{}", gh.metrics_text().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_scopes_hold_for_cached_tokens_and_new_upstreams_are_health_checked() {
    let app = EchoUpstream::start("app").await;
    let fresh = EchoUpstream::start("fresh").await;
    let gh = FromFile::start(
        &[
            upstream_section("app", &app, ""),
            route("/api", "app", "required", "scopes = [\"read\"]"),
        ]
        .concat(),
    );
    let token = gh
        .running
        .state()
        .tokens
        .issue(
            gatehouse::auth::NewToken {
                user_id: Some("7".into()),
                user_name: None,
                client_id: None,
                scopes: vec!["read".into()],
                admin: false,
                groups: vec![],
            },
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
    assert_eq!(gh.status("/api/x", Some(&token)).await, 200);
    assert_eq!(
        gh.status("/api/x", Some(&token)).await,
        200,
        "now from the cache"
    );

    let health = "[upstreams.health_check]\npath = \"/health\"\ninterval = \"100ms\"\n";
    gh.rewrite(
        &[
            upstream_section("app", &app, ""),
            route("/api", "app", "required", "scopes = [\"write\"]"),
            upstream_section("fresh", &fresh, health),
            route("/fresh", "fresh", "public", ""),
        ]
        .concat(),
    );
    gh.reload().await.unwrap();
    assert_eq!(
        gh.status("/api/x", Some(&token)).await,
        403,
        "the cached identity met the new route's scopes"
    );
    let ready = || async {
        let r = gh
            .client
            .get(format!("{}/readyz", gh.admin))
            .send()
            .await
            .unwrap();
        r.json::<Value>().await.unwrap()["upstreams"]["fresh"].clone()
    };
    assert_eq!(ready().await, "ok");
    fresh.set_healthy(false);
    assert!(
        eventually(Duration::from_secs(10), || async {
            ready().await == "unhealthy"
        })
        .await,
        "the new group's health checks run"
    );
    assert_eq!(gh.status("/fresh/x", None).await, 502);
}

/// A route-keyed bucket belongs to its route, not to the route's place in the file: a reload
/// that puts a new route first keeps the unchanged limit's buckets, and each must stay with the
/// route that drew from it (they were once indexed by position, so `/b` inherited `/a`'s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_keyed_bucket_stays_with_its_route_when_routes_move() {
    let app = EchoUpstream::start("app").await;
    let limit =
        "[[rate_limits]]\nname = \"per-route\"\nkey = \"route\"\nrate = \"1/h\"\nburst = 2\n";
    let a = route("/a", "app", "public", "rate_limit = [\"per-route\"]");
    let b = route("/b", "app", "public", "rate_limit = [\"per-route\"]");
    let up = upstream_section("app", &app, "");
    let gh = FromFile::start(&[up.as_str(), limit, &a, &b].concat());
    assert_eq!(gh.status("/a/x", None).await, 200);
    assert_eq!(gh.status("/a/x", None).await, 200);
    assert_eq!(
        gh.status("/a/x", None).await,
        429,
        "`/a`'s burst of 2 is spent"
    );

    let first = route("/first", "app", "public", "");
    gh.rewrite(&[up.as_str(), limit, &first, &b, &a].concat());
    gh.reload().await.unwrap();
    assert_eq!(
        gh.status("/a/x", None).await,
        429,
        "`/a` kept its spent bucket through the reload"
    );
    assert_eq!(
        gh.status("/b/x", None).await,
        200,
        "`/b` has a bucket of its own"
    );
    assert_eq!(gh.status("/b/x", None).await, 200);
    assert_eq!(gh.status("/b/x", None).await, 429);
}

fn gatehouse_cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gatehouse"))
}

fn cli(args: &[&str]) -> (bool, String) {
    let out = gatehouse_cli().args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn spawn_binary(config: &Path, log: &Path, pid_file: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    let child = gatehouse_cli()
        .arg("--config")
        .arg(config)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !pid_file.exists() {
        assert!(Instant::now() < deadline, "no pid file");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gatehouse_reload_signals_the_running_binary() {
    let app = EchoUpstream::start("app").await;
    let fresh = EchoUpstream::start("fresh").await;
    let dir = tempfile::tempdir().unwrap();
    let (port, admin) = (free_port(), free_port());
    let db = dir.path().join("g.db").display().to_string();
    let pid_file = dir.path().join("gatehouse.pid");
    let text = |sections: &str| {
        TestGatehouse::config_text(port, admin, &db, sections).replace(
            "shutdown_grace = \"1s\"\n",
            &format!(
                "shutdown_grace = \"1s\"\npid_file = \"{}\"\n",
                pid_file.display()
            ),
        )
    };
    let config = dir.path().join("gatehouse.toml");
    let config_arg = config.display().to_string();
    std::fs::write(&config, text(&base_sections(&app))).unwrap();
    let log = dir.path().join("log");
    let mut child = spawn_binary(&config, &log, &pid_file);
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid, child.id());
    let client = reqwest::Client::new();
    let status = |path: &'static str| {
        let client = client.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match client
                    .get(format!("http://127.0.0.1:{port}{path}"))
                    .send()
                    .await
                {
                    Ok(r) => return r.status().as_u16(),
                    Err(_) if Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(50)).await
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        }
    };
    let metric = |series: &'static str| {
        let client = client.clone();
        async move {
            let text = client
                .get(format!("http://127.0.0.1:{admin}/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            metric_value(&text, series)
        }
    };
    assert_eq!(status("/api/x").await, 200);
    assert_eq!(status("/fresh/x").await, 404);

    // With a restart-only change, which the log names.
    let threads = |t: String| {
        t.replace(
            "shutdown_grace = \"1s\"",
            "shutdown_grace = \"1s\"\nthreads = 3",
        )
    };
    std::fs::write(&config, threads(text(&with_new_route(&app, &fresh)))).unwrap();
    let (ok, out) = cli(&["reload", "--config", &config_arg]);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("pid {pid}")), "{out}");
    assert!(
        eventually(Duration::from_secs(10), || async {
            status("/fresh/x").await == 200
        })
        .await,
        "the new route after SIGHUP"
    );
    assert_eq!(metric("gatehouse_config_generation").await, 2.0);

    // A broken file: `gatehouse reload` says why and sends nothing.
    let broken =
        text(&with_new_route(&app, &fresh)).replace("auth = \"public\"", "auth = \"sometimes\"");
    std::fs::write(&config, &broken).unwrap();
    let (ok, out) = cli(&["reload", "--config", &config_arg]);
    assert!(!ok && out.contains("routes[0].auth"), "{out}");
    // Sent anyway (`--pid-file`): the process refuses it, counts it and keeps serving.
    let pid_arg = pid_file.display().to_string();
    let (ok, out) = cli(&["reload", "--pid-file", &pid_arg]);
    assert!(ok, "{out}");
    assert!(
        eventually(Duration::from_secs(10), || async {
            metric("gatehouse_config_reloads_total{result=\"error\"}").await == 1.0
        })
        .await
    );
    assert_eq!(metric("gatehouse_config_generation").await, 2.0);
    assert_eq!(status("/fresh/x").await, 200);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("config reload refused") && logged.contains("routes[0].auth"),
        "{logged}"
    );
    assert!(
        logged.contains("change only on restart") && logged.contains("server.threads"),
        "{logged}"
    );

    // Stopped: the pid file goes with the process, and `reload` says so.
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "gatehouse did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!pid_file.exists(), "the pid file is removed on exit");
    let (ok, out) = cli(&["reload", "--pid-file", &pid_arg]);
    assert!(!ok && out.contains("no pid file"), "{out}");
    // A pid file left behind names a process that is gone.
    std::fs::write(&pid_file, format!("{pid}\n")).unwrap();
    let (ok, out) = cli(&["reload", "--pid-file", &pid_arg]);
    assert!(!ok && out.contains("stale pid file"), "{out}");
    // No pid file configured.
    std::fs::write(
        &config,
        TestGatehouse::config_text(port, admin, &db, &base_sections(&app)),
    )
    .unwrap();
    let (ok, out) = cli(&["reload", "--config", &config_arg]);
    assert!(!ok && out.contains("server.pid_file is not set"), "{out}");
}
