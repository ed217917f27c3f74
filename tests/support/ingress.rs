//! Real ingresses in front of Gatehouse's decision endpoint: nginx (`auth_request`) and Caddy
//! (`forward_auth`), each run as a child process on a free port with its config, logs, pid
//! and state in a temp dir. A missing binary fails the test and names the package.

use super::free_port;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The identity headers copied from the decision to the upstream request (harness defaults),
/// as README's examples copy them: the issuer too, without which an upstream cannot tell an
/// external `sub` from a local user id.
pub const IDENTITY_HEADERS: [&str; 6] = [
    "X-Auth-User-Id",
    "X-Auth-User-Name",
    "X-Auth-Scopes",
    "X-Auth-Client-Id",
    "X-Auth-Groups",
    "X-Auth-Issuer",
];

pub struct Ingress {
    pub addr: SocketAddr,
    pub name: &'static str,
    child: Child,
    log: PathBuf,
    _dir: TempDir,
}

impl Ingress {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// What the ingress wrote to its log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// nginx with `auth_request` on every location, asking `gatehouse` at its decision path
    /// and forwarding allowed requests to `upstream`.
    pub fn nginx(gatehouse: SocketAddr, upstream: SocketAddr) -> Ingress {
        let set_identity = nginx_identity_directives();
        Self::start_nginx(|port| {
            format!(
                r#"
    server {{
        listen 127.0.0.1:{port};
        location / {{
            auth_request /_gatehouse_auth;
{set_identity}            proxy_pass http://{upstream};
        }}
        location = /_gatehouse_auth {{
            internal;
            proxy_pass http://{gatehouse}/_gatehouse/auth;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
"#
            )
        })
    }

    /// nginx as README's "Browser sessions" section sets it up: `auth_request` as in `nginx`,
    /// a 401 carrying `X-Gatehouse-Sign-In` turned into the browser's redirect, the decision's
    /// `X-Gatehouse-Cookie` sent upstream as `Cookie`, and `/oauth/` (the sign-in pages,
    /// logout) passed to Gatehouse on the app's own host.
    pub fn nginx_sessions(gatehouse: SocketAddr, upstream: SocketAddr) -> Ingress {
        let set_identity = nginx_identity_directives();
        Self::start_nginx(|port| {
            format!(
                r#"
    server {{
        listen 127.0.0.1:{port};
        location / {{
            auth_request /_gatehouse_auth;
            auth_request_set $gatehouse_sign_in $upstream_http_x_gatehouse_sign_in;
            auth_request_set $gatehouse_challenge $upstream_http_www_authenticate;
            auth_request_set $gatehouse_cookie $upstream_http_x_gatehouse_cookie;
            error_page 401 = @gatehouse_401;
{set_identity}            proxy_set_header Cookie $gatehouse_cookie;
            proxy_pass http://{upstream};
        }}
        location @gatehouse_401 {{
            if ($gatehouse_sign_in) {{
                return 302 $gatehouse_sign_in;
            }}
            add_header WWW-Authenticate $gatehouse_challenge always;
            return 401;
        }}
        location /oauth/ {{
            proxy_pass http://{gatehouse};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
        location = /_gatehouse_auth {{
            internal;
            proxy_pass http://{gatehouse}/_gatehouse/auth;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
"#
            )
        })
    }

    /// Starts nginx on a free port with `server` (given that port) as its one server block,
    /// everything it writes kept in a temporary directory.
    fn start_nginx(server: impl FnOnce(u16) -> String) -> Ingress {
        let binary = find_binary(
            &["nginx"],
            &["/usr/sbin/nginx"],
            "nginx (Debian package nginx-light; see scripts/install-deps.sh)",
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let d = dir.path().display();
        let server = server(port);
        let conf = format!(
            r#"
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
{server}}}
"#
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("write nginx.conf");
        let log = dir.path().join("error.log");
        // No master process: one process, the test's user, nothing to drop privileges to.
        let child = Command::new(binary)
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(&log)
            .arg("-c")
            .arg(&conf_path)
            .args(["-g", "daemon off; master_process off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        Self::running("nginx", child, port, log, dir)
    }

    /// Caddy with `forward_auth` to `gatehouse` on every request, forwarding allowed requests
    /// to `upstream`. Client-sent identity headers are deleted first: before 2.10 Caddy's
    /// `copy_headers` only overwrites the ones the decision carries.
    pub fn caddy(gatehouse: SocketAddr, upstream: SocketAddr) -> Ingress {
        Self::start_caddy(gatehouse, upstream, "", "")
    }

    /// Caddy as README's "Browser sessions" section sets it up: `/oauth/*` passed to
    /// Gatehouse on the app's host, `forward_auth` (whose 302 Caddy hands to the browser as
    /// it is) copying the identity headers and `X-Gatehouse-Cookie` as `Cookie`.
    pub fn caddy_sessions(gatehouse: SocketAddr, upstream: SocketAddr) -> Ingress {
        let oauth = format!("        reverse_proxy /oauth/* {gatehouse}\n");
        Self::start_caddy(gatehouse, upstream, &oauth, " X-Gatehouse-Cookie>Cookie")
    }

    /// Caddy on a free port: `before` goes first in the route, `copy_more` after the identity
    /// headers in `copy_headers`.
    fn start_caddy(
        gatehouse: SocketAddr,
        upstream: SocketAddr,
        before: &str,
        copy_more: &str,
    ) -> Ingress {
        let binary = find_binary(
            &["caddy"],
            &["/usr/bin/caddy"],
            "caddy (Debian package caddy; see scripts/install-deps.sh)",
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let strip: String = IDENTITY_HEADERS
            .iter()
            .map(|h| format!("        request_header -{h}\n"))
            .collect();
        let copy = IDENTITY_HEADERS.join(" ");
        let caddyfile = format!(
            r#"
{{
    admin off
    auto_https off
}}
:{port} {{
    bind 127.0.0.1
    route {{
{before}{strip}        forward_auth {gatehouse} {{
            uri /_gatehouse/auth
            copy_headers {copy}{copy_more}
        }}
        reverse_proxy {upstream}
    }}
}}
"#
        );
        let conf_path = dir.path().join("Caddyfile");
        std::fs::write(&conf_path, caddyfile).expect("write Caddyfile");
        let log = dir.path().join("caddy.log");
        let log_file = std::fs::File::create(&log).expect("caddy log");
        let home = dir.path().join("home");
        let child = Command::new(binary)
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&conf_path)
            .env("HOME", &home)
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("start caddy");
        Self::running("caddy", child, port, log, dir)
    }

    /// Waits until the child accepts connections on `port`; fails with its log if it exits.
    fn running(
        name: &'static str,
        mut child: Child,
        port: u16,
        log: PathBuf,
        dir: TempDir,
    ) -> Ingress {
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "{name} exited at start ({status}):\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "{name} did not listen on {addr}:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ingress {
            addr,
            name,
            child,
            log,
            _dir: dir,
        }
    }
}

impl Drop for Ingress {
    fn drop(&mut self) {
        // Only this child, by its own handle.
        if let Err(e) = self.child.kill() {
            eprintln!("stopping {}: {e}", self.name);
        }
        let _ = self.child.wait();
    }
}

/// The binary on PATH or at one of the usual places (`/usr/sbin` is often off a user's PATH);
/// otherwise the test fails naming what to install.
fn find_binary(names: &[&str], usual: &[&str], install: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    names
        .iter()
        .flat_map(|n| on_path.iter().map(move |d| d.join(n)))
        .chain(usual.iter().map(PathBuf::from))
        .find(|p| Path::new(p).is_file())
        .unwrap_or_else(|| panic!("{} is not installed: install {install}", names[0]))
}

/// `auth_request_set` + `proxy_set_header` for each identity header: what the decision
/// answered goes upstream, replacing whatever the client sent.
fn nginx_identity_directives() -> String {
    IDENTITY_HEADERS
        .iter()
        .map(|h| {
            let var = h.to_ascii_lowercase().replace('-', "_");
            format!(
                "            auth_request_set ${var} $upstream_http_{var};\n            proxy_set_header {h} ${var};\n"
            )
        })
        .collect()
}
