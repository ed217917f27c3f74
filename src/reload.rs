//! Hot reload (SIGHUP, `gatehouse reload`). The config file is read again; when it validates,
//! the next generation is built by start-up's own constructor (`AppState::generation`) on the
//! lasting parts and made current: requests in flight finish on the generation they started
//! on, new ones get the new one, and no listener is touched. When it does not validate, the
//! running generation stays and the reason is logged. Restart-only settings that differ are
//! named in a warning and keep their running values. Other reloadable things with a state of
//! their own (TLS certificates) register a step (`Reloader::add_step`).

use crate::app::{live_series, AppState, Live};
use crate::config::{Config, ConfigError};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A reload step beyond the config generation: given the new config, it applies its part or
/// says why it cannot (and then keeps its running state).
pub type StepFn = Box<dyn Fn(&Config) -> Result<(), String> + Send + Sync>;

pub struct Reloader {
    path: Option<PathBuf>,
    live: Arc<Live>,
    steps: Vec<(&'static str, StepFn)>,
    /// One reload at a time: two at once would both build on the same previous generation.
    busy: Mutex<()>,
}

/// What an applied reload did.
#[derive(Debug)]
pub struct ReloadReport {
    pub generation: u64,
    /// Restart-only keys whose new value was not applied (the running one was kept).
    pub needs_restart: Vec<&'static str>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("no config file to read again (this Gatehouse was started from a config in memory)")]
    NoFile,
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The file validates but its generation cannot be built (a route shadowing a built-in
    /// endpoint, an unusable upstream), or a listener was added or removed.
    #[error("config file `{path}`: {message}")]
    Build { path: String, message: String },
    #[error("{step}: {message}")]
    Step { step: &'static str, message: String },
}

impl Reloader {
    /// `path`: the file the running config came from (`None`: reloads are refused).
    pub fn new(live: Arc<Live>, path: Option<PathBuf>) -> Self {
        Reloader {
            path,
            live,
            steps: Vec::new(),
            busy: Mutex::new(()),
        }
    }

    pub fn set_file(&mut self, path: PathBuf) {
        self.path = Some(path);
    }

    /// Runs `step` on every reload whose config validates, before the new generation is made
    /// current; a step that fails refuses the reload (steps before it have applied theirs).
    pub fn add_step(&mut self, name: &'static str, step: StepFn) {
        self.steps.push((name, step));
    }

    /// Reads the file and applies it; logged and counted either way. Blocking (it reads
    /// files and builds the generation): call it off the proxy's runtimes.
    pub fn reload(&self) -> Result<ReloadReport, ReloadError> {
        let _one = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        let metrics = self.live.current().metrics.clone();
        let result = self
            .path
            .as_deref()
            .ok_or(ReloadError::NoFile)
            .and_then(|p| self.apply(p));
        // Applied or refused (a refused one may have made series for names it brought), only
        // the names of the config now running keep their series.
        metrics.retain(&live_series(&self.live.current().config));
        match &result {
            Ok(report) => {
                metrics.reloads_ok.inc();
                metrics.config_generation.set(report.generation as i64);
                if !report.needs_restart.is_empty() {
                    tracing::warn!(
                        keys = %report.needs_restart.join(", "),
                        "config reloaded, but these settings change only on restart; their running values are kept"
                    );
                }
                tracing::info!(generation = report.generation, "config reloaded");
            }
            Err(e) => {
                metrics.reloads_error.inc();
                tracing::error!(error = %e, "config reload refused; the running config stays");
            }
        }
        result
    }

    fn apply(&self, path: &Path) -> Result<ReloadReport, ReloadError> {
        let mut config = Config::load(path)?;
        let running = self.live.current();
        let build_error = |message: String| ReloadError::Build {
            path: path.display().to_string(),
            message,
        };
        let needs_restart = keep_restart_only(&running.config, &mut config).map_err(build_error)?;
        // Cached identities carry the claims the running config keeps and were verified with
        // its JWT keys: either changing voids them. Opaque-token entries stay otherwise.
        let void_cache = running.config.claims != config.claims
            || running.config.jwt.is_some()
            || config.jwt.is_some()
            || running.config.tokens.signing.is_some()
            || config.tokens.signing.is_some();
        let next = AppState::generation(config, running.lasting.clone(), Some(&running))
            .map_err(build_error)?;
        for (step, run) in &self.steps {
            run(&next.config).map_err(|message| ReloadError::Step { step, message })?;
        }
        let report = ReloadReport {
            generation: next.generation,
            needs_restart,
        };
        self.live.replace(Arc::new(next));
        if void_cache {
            running.lasting.validator.invalidate_all();
        }
        Ok(report)
    }
}

/// Copies into `next` the running values of the settings a reload cannot change (listeners,
/// the store, the lasting caches and sessions, logging, the token checksum keys) and names
/// those that differed. A listener added or removed cannot be kept: that is an error.
fn keep_restart_only(running: &Config, next: &mut Config) -> Result<Vec<&'static str>, String> {
    let mut changed = Vec::new();
    let mut note = |key: &'static str, differs: bool| {
        if differs {
            changed.push(key);
        }
    };
    macro_rules! keep {
        ($key:literal, $($field:tt)+) => {
            note($key, running.$($field)+ != next.$($field)+);
            next.$($field)+ = running.$($field)+.clone();
        };
    }
    keep!("server.listen", server.listen);
    keep!("server.admin_listen", server.admin_listen);
    keep!("server.threads", server.threads);
    keep!("server.shutdown_grace", server.shutdown_grace);
    keep!("server.max_connections", server.max_connections);
    keep!("server.pid_file", server.pid_file);
    // The TLS listener's files re-read on every reload (the certificate step); where it
    // listens, its client CA and h2c are set when the listener is made.
    keep!("server.tls", server.tls);
    keep!("server.h2c", server.h2c);
    keep!("store", store);
    keep!("log.level", log.level);
    keep!("log.format", log.format);
    keep!("cache", cache);
    keep!("sessions", sessions);
    keep!("http.header_timeout", http.header_timeout);
    keep!("http.keepalive_timeout", http.keepalive_timeout);
    keep!("tokens.checksum_key", tokens.checksum_key);
    // The checksum screen holding it is built once (`Lasting`), like its keys.
    keep!("tokens.accept_unstructured", tokens.accept_unstructured);
    keep!(
        "tokens.previous_checksum_keys",
        tokens.previous_checksum_keys
    );
    let listeners = |c: &Config| {
        c.forward_auth
            .as_ref()
            .map_or((None, None), |f| (f.listen, f.grpc_listen))
    };
    let (was, now) = (listeners(running), listeners(next));
    match &mut next.forward_auth {
        Some(new) if running.forward_auth.is_some() => {
            note("forward_auth.listen", was != now);
            (new.listen, new.grpc_listen) = was;
        }
        _ if was != now => {
            return Err(
                "forward_auth: a listener (listen, grpc_listen) comes or goes with the section; that needs a restart".into(),
            );
        }
        _ => {}
    }
    Ok(changed)
}

/// The pid file of a running `gatehouse run` (`server.pid_file`); removed when it exits.
pub struct PidFile(PathBuf);

impl PidFile {
    pub fn write(path: &Path) -> Result<PidFile, String> {
        std::fs::write(path, format!("{}\n", std::process::id()))
            .map_err(|e| format!("server.pid_file: cannot write `{}`: {e}", path.display()))?;
        Ok(PidFile(path.to_path_buf()))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // A newer process may have written its own since: only ours is removed.
        if read_pid(&self.0).ok() == Some(std::process::id() as i32) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn read_pid(path: &Path) -> Result<i32, String> {
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "no pid file at `{}`: is gatehouse running, with server.pid_file set to it?",
            path.display()
        ),
        _ => format!("cannot read the pid file `{}`: {e}", path.display()),
    })?;
    text.trim()
        .parse::<i32>()
        .ok()
        .filter(|pid| *pid > 0)
        .ok_or_else(|| format!("`{}` does not hold a process id", path.display()))
}

/// `gatehouse reload`: SIGHUP to the Gatehouse named in `pid_file`; its process id.
pub fn signal_reload(pid_file: &Path) -> Result<i32, String> {
    let pid = read_pid(pid_file)?;
    let stale = || {
        format!(
            "stale pid file `{}`: process {pid} is not a running gatehouse",
            pid_file.display()
        )
    };
    // Where /proc tells the command, a reused pid must not get a SIGHUP meant for us: the
    // default action of SIGHUP ends a process.
    if let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) {
        if !comm.trim_end().starts_with("gatehouse") {
            return Err(stale());
        }
    }
    // SAFETY: kill(2) takes two integers and touches no memory of this process.
    let sent = unsafe { libc::kill(pid, libc::SIGHUP) };
    if sent != 0 {
        let err = std::io::Error::last_os_error();
        return Err(match err.raw_os_error() {
            Some(libc::ESRCH) => stale(),
            _ => format!("cannot signal process {pid}: {err}"),
        });
    }
    Ok(pid)
}
