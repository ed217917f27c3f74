//! TLS in and out (issue 13): the TLS listener (HTTP/1.1 and h2 by ALPN, mTLS clients, HSTS
//! only over TLS, certificate reload), TLS upstreams (SNI, roots, client certificate) and gRPC
//! through h2c. Every certificate comes from a test CA made here with rcgen.

use crate::support;

use bytes::Bytes;
use gatehouse::Config;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{free_port, route, upstream_at, upstream_section, EchoUpstream, TestGatehouse};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A certificate authority made for one test.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A certificate and its key, as PEM.
struct Issued {
    cert: String,
    key: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("CA certificate");
        Ca { cert, key }
    }

    fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A leaf for `names` (DNS names or IP addresses).
    fn issue(&self, names: &[&str]) -> Issued {
        let key = KeyPair::generate().expect("leaf key");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let params = CertificateParams::new(names).expect("leaf params");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("leaf certificate");
        Issued {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write PEM");
    path
}

/// `[server.tls]` lines for the harness's `[server]` section (they come last in it).
fn tls_server(port: u16, cert: &Path, key: &Path, extra: &str) -> String {
    format!(
        "[server.tls]\nlisten = \"127.0.0.1:{port}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n{extra}\n",
        cert.display(),
        key.display()
    )
}

/// A client that trusts `ca` and finds `localhost` at `addr`.
/// Every exchange here is bounded: a connection that neither answers nor closes must fail
/// the test that made it, naming the step, rather than hang the suite.
const EXCHANGE: std::time::Duration = std::time::Duration::from_secs(30);

fn https_client(ca: &Ca, addr: SocketAddr) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(EXCHANGE)
        .connect_timeout(EXCHANGE)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).expect("CA"))
        .resolve("localhost", addr)
        .use_rustls_tls()
}

fn app_sections(up: &EchoUpstream) -> String {
    format!(
        "{}{}",
        upstream_section("app", up, ""),
        route("/", "app", "required", "")
    )
}

/// Gatehouse with a TLS listener serving `leaf` on a free port (beside the plain one), in
/// front of an echo upstream at `/` with the given `auth`. The certificate and key files stay
/// writable in `pki` for reload tests; `http` goes before the sections, `tls_extra` (given the
/// PKI dir) into `[server.tls]`.
struct TlsGatehouse {
    gh: TestGatehouse,
    up: Arc<EchoUpstream>,
    addr: SocketAddr,
    pki: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
}

async fn start_tls(
    leaf: &Issued,
    auth: &str,
    http: &str,
    tls_extra: impl FnOnce(&Path) -> String,
) -> TlsGatehouse {
    let pki = tempfile::tempdir().unwrap();
    let cert = write(pki.path(), "cert.pem", &leaf.cert);
    let key = write(pki.path(), "key.pem", &leaf.key);
    let extra = tls_extra(pki.path());
    let up = EchoUpstream::start("app").await;
    let port = free_port();
    let sections = format!(
        "{http}{}{}",
        upstream_section("app", &up, ""),
        route("/", "app", auth, "")
    );
    let gh = TestGatehouse::start_with_server(&tls_server(port, &cert, &key, &extra), &sections);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    TlsGatehouse {
        gh,
        up,
        addr,
        pki,
        cert,
        key,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_listener_speaks_http1_and_h2_and_only_tls_gets_hsts() {
    let ca = Ca::new("test CA");
    let leaf = ca.issue(&["localhost"]);
    let TlsGatehouse {
        gh,
        up,
        addr: tls_addr,
        ..
    } = start_tls(&leaf, "required", "", |_| String::new()).await;
    let token = gh.issue("42", &["read"]).await;
    let url = format!("https://localhost:{}/thing", tls_addr.port());

    for (client, version) in [
        (
            https_client(&ca, tls_addr).http1_only().build().unwrap(),
            http::Version::HTTP_11,
        ),
        (
            https_client(&ca, tls_addr).build().unwrap(),
            http::Version::HTTP_2,
        ),
    ] {
        let r = client
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .expect("TLS request");
        assert_eq!(r.status(), 200, "{version:?}");
        assert_eq!(r.version(), version);
        assert_eq!(
            r.headers()
                .get("strict-transport-security")
                .map(|v| v.to_str().unwrap()),
            Some("max-age=31536000"),
            "proxied response over TLS ({version:?})"
        );
        let seen = up.last();
        assert_eq!(seen.header("x-auth-user-id"), Some("42"));
        assert_eq!(seen.header("x-forwarded-proto"), Some("https"));

        let refused = client.get(&url).send().await.expect("TLS request");
        assert_eq!(refused.status(), 401);
        assert!(
            refused.headers().contains_key("strict-transport-security"),
            "Gatehouse's own answer over TLS ({version:?})"
        );
    }

    // The plain listener runs beside it, without HSTS (RFC 6797 §7.2).
    let plain = gh.get("/thing", Some(&token)).await;
    assert_eq!(plain.status(), 200);
    assert!(!plain.headers().contains_key("strict-transport-security"));
    assert_eq!(up.last().header("x-forwarded-proto"), Some("http"));
    let refused = gh.get("/thing", None).await;
    assert_eq!(refused.status(), 401);
    assert!(!refused.headers().contains_key("strict-transport-security"));
}

#[tokio::test(flavor = "multi_thread")]
async fn mtls_listener_refuses_clients_without_a_trusted_certificate() {
    let pki = tempfile::tempdir().unwrap();
    let ca = Ca::new("server CA");
    let clients = Ca::new("client CA");
    let strangers = Ca::new("another CA");
    let leaf = ca.issue(&["localhost"]);
    let cert = write(pki.path(), "cert.pem", &leaf.cert);
    let key = write(pki.path(), "key.pem", &leaf.key);
    let client_ca = write(pki.path(), "clients.pem", &clients.pem());
    let up = EchoUpstream::start("app").await;
    let port = free_port();
    let extra = format!("client_ca_file = \"{}\"", client_ca.display());
    let gh = TestGatehouse::start_with_server(
        &tls_server(port, &cert, &key, &extra),
        &app_sections(&up),
    );
    let token = gh.issue("7", &[]).await;
    let tls_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let url = format!("https://localhost:{port}/thing");
    let identity = |issued: &Issued| {
        reqwest::Identity::from_pem(format!("{}{}", issued.cert, issued.key).as_bytes())
            .expect("identity")
    };

    let anonymous = https_client(&ca, tls_addr).build().unwrap();
    assert!(
        anonymous
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .is_err(),
        "a client without a certificate must not get through the handshake"
    );
    let stranger = https_client(&ca, tls_addr)
        .identity(identity(&strangers.issue(&["stranger"])))
        .build()
        .unwrap();
    assert!(stranger.get(&url).bearer_auth(&token).send().await.is_err());
    assert_eq!(up.count(), 0);

    let known = https_client(&ca, tls_addr)
        .identity(identity(&clients.issue(&["client"])))
        .build()
        .unwrap();
    let r = known
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("mTLS request");
    assert_eq!(r.status(), 200);
    // The certificate opens the connection; the request is still authenticated.
    let r = known.get(&url).send().await.expect("mTLS request");
    assert_eq!(r.status(), 401);
}

/// A TLS connection to the listener that trusts only `ca`.
async fn connect(
    ca: &Ca,
    addr: SocketAddr,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    connect_as(ca, addr, None).await
}

/// A TLS connection to the listener that trusts only `ca`, presenting `identity` if any.
async fn connect_as(
    ca: &Ca,
    addr: SocketAddr,
    identity: Option<&Issued>,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    install_provider();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert.der().clone()).expect("root");
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let config = match identity {
        Some(issued) => {
            let chain = rustls::pki_types::CertificateDer::pem_slice_iter(issued.cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .expect("client certificate");
            let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(issued.key.as_bytes())
                .expect("client key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client identity")
        }
        None => builder.with_no_client_auth(),
    };
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let handshake = async {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
    };
    tokio::time::timeout(EXCHANGE, handshake)
        .await
        .unwrap_or_else(|_| Err(std::io::Error::other("TLS handshake timed out")))
}

/// One HTTP/1.1 request on `stream`; the status code of its answer (the body is read off).
async fn exchange<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(stream: &mut S) -> u16 {
    stream
        .write_all(b"GET /thing HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(EXCHANGE, stream.read(&mut buf))
            .await
            .expect("no answer within the exchange deadline")
            .expect("read");
        assert!(
            n > 0,
            "connection closed: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .expect("content-length");
            if got.len() >= end + 4 + length {
                return text[9..12].parse().expect("status");
            }
        }
    }
}

/// A TLS connection takes its place under `server.max_connections` from accept: one that
/// never finishes (or fails) its handshake is counted until it ends, and one past the cap is
/// closed before any handshake work (SECURITY F4 on the TLS listener).
#[tokio::test(flavor = "multi_thread")]
async fn connections_still_in_their_handshake_count_toward_max_connections() {
    let ca = Ca::new("limits CA");
    let leaf = ca.issue(&["localhost"]);
    let pki = tempfile::tempdir().unwrap();
    let cert = write(pki.path(), "cert.pem", &leaf.cert);
    let key = write(pki.path(), "key.pem", &leaf.key);
    let up = EchoUpstream::start("app").await;
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = format!("max_connections = 2\n{}", tls_server(port, &cert, &key, ""));
    let gh = TestGatehouse::start_with_server(
        &server,
        &format!(
            "{}{}",
            upstream_section("app", &up, ""),
            route("/", "app", "public", "")
        ),
    );
    let refused = || gh.metric("gatehouse_connections_refused_total");

    // Two clients that connect and never say hello hold both places.
    let mut silent = Vec::new();
    for _ in 0..2 {
        silent.push(tokio::net::TcpStream::connect(addr).await.expect("connect"));
    }
    // A third is closed before its handshake. (Retried while the two may not yet have been
    // accepted; a third that gets through is dropped at once, giving its place back.)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while connect(&ca, addr).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a third connection got a TLS handshake while two unfinished ones held both places"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused().await >= 1.0, "the refusal is counted");

    // One gives up; one sends garbage, which fails its handshake: both places come back.
    drop(silent.pop());
    let mut garbage = silent.pop().expect("second connection");
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut first = loop {
        match connect(&ca, addr).await {
            Ok(s) => break s,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "no place came back after a client left and a handshake failed: {e}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let mut second = connect(&ca, addr)
        .await
        .expect("the second place is free too");
    assert_eq!(exchange(&mut first).await, 200);
    assert_eq!(exchange(&mut second).await, 200);
    drop(garbage);
}

#[tokio::test(flavor = "multi_thread")]
async fn certificate_reload_serves_new_connections_and_keeps_open_ones() {
    let old_ca = Ca::new("old CA");
    let new_ca = Ca::new("new CA");
    let old = old_ca.issue(&["localhost"]);
    let TlsGatehouse {
        gh,
        up,
        addr,
        pki: _pki,
        cert,
        key,
    } = start_tls(&old, "public", "", |_| String::new()).await;
    let certificates = gh.running.certificates().expect("TLS listener").clone();

    let mut open = connect(&old_ca, addr)
        .await
        .expect("handshake with the old certificate");
    assert_eq!(exchange(&mut open).await, 200);
    assert!(connect(&new_ca, addr).await.is_err(), "not renewed yet");

    // A half-written renewal is refused and the certificate in use stays.
    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\nnot a key\n").unwrap();
    assert!(certificates.reload().is_err());
    assert!(connect(&old_ca, addr).await.is_ok());

    let new = new_ca.issue(&["localhost"]);
    std::fs::write(&cert, &new.cert).unwrap();
    std::fs::write(&key, &new.key).unwrap();
    certificates.reload().expect("reload");

    let mut renewed = connect(&new_ca, addr)
        .await
        .expect("handshake with the new certificate");
    assert_eq!(exchange(&mut renewed).await, 200);
    assert!(
        connect(&old_ca, addr).await.is_err(),
        "the old certificate is gone"
    );
    // The connection opened before the reload goes on.
    assert_eq!(exchange(&mut open).await, 200);
    assert_eq!(up.count(), 3);
}

/// A TLS 1.3 server checks the client's certificate after the handshake completes on the
/// client's side: a refused client sees it on its first exchange, not at `connect`.
async fn admitted(ca: &Ca, addr: SocketAddr, identity: &Issued) -> bool {
    let Ok(mut stream) = connect_as(ca, addr, Some(identity)).await else {
        return false;
    };
    let request = b"GET /thing HTTP/1.1\r\nHost: localhost\r\n\r\n";
    if stream.write_all(request).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 12];
    let read = tokio::time::timeout(EXCHANGE, stream.read_exact(&mut buf)).await;
    matches!(read, Ok(Ok(_))) && &buf[9..12] == b"200"
}

#[tokio::test(flavor = "multi_thread")]
async fn client_ca_reload_trusts_the_new_roots_for_new_handshakes() {
    let ca = Ca::new("server CA");
    let old_clients = Ca::new("old client CA");
    let new_clients = Ca::new("new client CA");
    let leaf = ca.issue(&["localhost"]);
    let TlsGatehouse { gh, addr, pki, .. } = start_tls(&leaf, "public", "", |pki| {
        let client_ca = write(pki, "clients.pem", &old_clients.pem());
        format!("client_ca_file = \"{}\"", client_ca.display())
    })
    .await;
    let client_ca = pki.path().join("clients.pem");
    let certificates = gh.running.certificates().expect("TLS listener").clone();
    let old_client = old_clients.issue(&["old-client"]);
    let new_client = new_clients.issue(&["new-client"]);

    let mut open = connect_as(&ca, addr, Some(&old_client))
        .await
        .expect("handshake with the old roots");
    assert_eq!(exchange(&mut open).await, 200);
    assert!(!admitted(&ca, addr, &new_client).await, "not trusted yet");

    // A CA file that cannot be used is refused, and the roots in use stay, along with the
    // server certificate (the two are renewed together or not at all).
    std::fs::write(
        &client_ca,
        "-----BEGIN CERTIFICATE-----\nnot a certificate\n",
    )
    .unwrap();
    let e = certificates.reload().expect_err("a broken CA file");
    assert!(e.to_string().contains("server.tls.client_ca_file"), "{e}");
    assert!(admitted(&ca, addr, &old_client).await);

    std::fs::write(&client_ca, new_clients.pem()).unwrap();
    certificates.reload().expect("reload");
    assert!(admitted(&ca, addr, &new_client).await, "the new roots");
    assert!(
        !admitted(&ca, addr, &old_client).await,
        "the old roots are gone"
    );
    // The connection opened before the reload goes on.
    assert_eq!(exchange(&mut open).await, 200);
}

/// A TLS connection to the listener that trusts `ca` and asks for HTTP/2 by ALPN.
async fn connect_h2(
    ca: &Ca,
    addr: SocketAddr,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    install_provider();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert.der().clone()).expect("root");
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("handshake");
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    stream
}

/// An HTTP/2 frame on stream `id`.
fn h2_frame(kind: u8, flags: u8, id: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let mut f = vec![0, (len >> 8) as u8, len as u8, kind, flags, 0, 0, 0, id];
    f.extend_from_slice(payload);
    f
}

/// The client preface and an empty SETTINGS frame.
fn h2_open() -> Vec<u8> {
    let mut open = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    open.extend(h2_frame(0x4, 0, 0, &[]));
    open
}

/// Writes `chunk` over and over, 200 ms apart, for at most `within`; true once the server
/// has closed the connection (EOF or an error), reading whatever it sent meanwhile.
async fn trickle_until_closed(
    stream: &mut tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    chunk: &[u8],
    within: std::time::Duration,
) -> bool {
    let start = std::time::Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        if start.elapsed() > within {
            return false;
        }
        if stream.write_all(chunk).await.is_err() {
            return true;
        }
        let pause = std::time::Duration::from_millis(200);
        if let Ok(read) = tokio::time::timeout(pause, stream.read(&mut buf)).await {
            if matches!(read, Ok(0) | Err(_)) {
                return true;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_h2_head_trickling_in_is_cut_off_at_the_header_deadline() {
    let ca = Ca::new("test CA");
    let leaf = ca.issue(&["localhost"]);
    // The idle timeout is far off: only the head deadline can cut the connection in time.
    let http = "[http]\nheader_timeout = \"1s\"\nkeepalive_timeout = \"60s\"\n";
    let TlsGatehouse { gh, up, addr, .. } =
        start_tls(&leaf, "public", http, |_| String::new()).await;
    let within = std::time::Duration::from_secs(8);

    // A HEADERS frame announcing 200 bytes of header block, sent one byte at a time.
    let mut slow = connect_h2(&ca, addr).await;
    slow.write_all(&h2_open()).await.unwrap();
    slow.write_all(&[0, 0, 200, 0x1, 0x1, 0, 0, 0, 1])
        .await
        .unwrap();
    assert!(
        trickle_until_closed(&mut slow, b"a", within).await,
        "an h2 head still arriving after 8 s was never cut off"
    );

    // A head that ended (POST / to localhost, HPACK static table) and a body trickling in
    // past the deadline: the body is not a head, and the answer comes.
    let mut body = connect_h2(&ca, addr).await;
    body.write_all(&h2_open()).await.unwrap();
    let block = [&[0x83, 0x87, 0x84, 0x41, 9][..], b"localhost"].concat();
    body.write_all(&h2_frame(0x1, 0x4, 1, &block))
        .await
        .unwrap();
    let data = h2_frame(0x0, 0, 1, b"x");
    assert!(
        !trickle_until_closed(&mut body, &data, std::time::Duration::from_secs(2)).await,
        "a slow h2 body was cut off"
    );
    body.write_all(&h2_frame(0x0, 0x1, 1, b"end"))
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let answered = loop {
        let read = tokio::time::timeout(within, body.read(&mut buf)).await;
        let Ok(Ok(n)) = read else { break false };
        if n == 0 {
            break false;
        }
        got.extend_from_slice(&buf[..n]);
        // A HEADERS frame on stream 1 among the frames read so far: the response head.
        let mut at = 0;
        let mut found = false;
        while got.len() >= at + 9 {
            let len = usize::from(got[at]) << 16
                | usize::from(got[at + 1]) << 8
                | usize::from(got[at + 2]);
            if got[at + 3] == 0x1 && got[at + 8] == 1 {
                found = true;
            }
            at += 9 + len;
        }
        if found {
            break true;
        }
    };
    assert!(answered, "no response to the slow-bodied request: {got:?}");
    assert_eq!(up.count(), 1);
    drop(gh);
}

/// What the TLS test upstream saw of one connection.
#[derive(Debug, Clone)]
struct TlsSeen {
    sni: Option<String>,
    client_cert: bool,
    user: Option<String>,
}

/// An HTTPS upstream with a certificate for `backend.internal` that requires a client
/// certificate from `clients`; records the SNI and identity header of each request.
async fn tls_upstream(server: &Issued, clients: &Ca) -> (SocketAddr, Arc<Mutex<Vec<TlsSeen>>>) {
    install_provider();
    let certs =
        vec![rustls::pki_types::CertificateDer::from_pem_slice(server.cert.as_bytes()).unwrap()];
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(server.key.as_bytes()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(clients.cert.der().clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
        .build()
        .unwrap();
    let config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Arc<Mutex<Vec<TlsSeen>>> = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, record) = (acceptor.clone(), record.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let conn = tls.get_ref().1;
                let sni = conn.server_name().map(str::to_string);
                let client_cert = conn.peer_certificates().is_some_and(|c| !c.is_empty());
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let user = req
                        .headers()
                        .get("x-auth-user-id")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    record.lock().unwrap().push(TlsSeen {
                        sni: sni.clone(),
                        client_cert,
                        user,
                    });
                    async {
                        Ok::<_, hyper::Error>(hyper::Response::new(Full::new(Bytes::from_static(
                            b"secure",
                        ))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    (addr, seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_upstream_gets_sni_and_client_certificate_and_is_verified() {
    let pki = tempfile::tempdir().unwrap();
    let upstream_ca = Ca::new("upstream CA");
    let clients = Ca::new("gatehouse client CA");
    let (addr, seen) = tls_upstream(&upstream_ca.issue(&["backend.internal"]), &clients).await;
    let ca_file = write(pki.path(), "upstream-ca.pem", &upstream_ca.pem());
    let me = clients.issue(&["gatehouse"]);
    let client_cert = write(pki.path(), "client.pem", &me.cert);
    let client_key = write(pki.path(), "client-key.pem", &me.key);
    let tls = |sni: &str, with_cert: bool| {
        let mut s = format!(
            "tls = true\nsni = \"{sni}\"\nca_file = \"{}\"\n",
            ca_file.display()
        );
        if with_cert {
            s += &format!(
                "client_cert_file = \"{}\"\nclient_key_file = \"{}\"\n",
                client_cert.display(),
                client_key.display()
            );
        }
        s
    };
    let sections = [
        upstream_at("secure", addr, &tls("backend.internal", true)),
        upstream_at("nocert", addr, &tls("backend.internal", false)),
        upstream_at("wrongname", addr, &tls("elsewhere.internal", true)),
        route("/secure", "secure", "required", ""),
        route("/nocert", "nocert", "required", ""),
        route("/wrongname", "wrongname", "required", ""),
    ]
    .concat();
    let gh = TestGatehouse::start(&sections);
    let token = gh.issue("99", &[]).await;

    let r = gh.get("/secure/x", Some(&token)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "secure");
    let first = seen
        .lock()
        .unwrap()
        .first()
        .cloned()
        .expect("upstream saw the request");
    assert_eq!(first.sni.as_deref(), Some("backend.internal"));
    assert!(first.client_cert);
    assert_eq!(first.user.as_deref(), Some("99"));

    // The upstream refuses Gatehouse without its certificate; Gatehouse refuses an upstream
    // whose certificate is not for the configured name.
    assert_eq!(gh.get("/nocert/x", Some(&token)).await.status(), 502);
    assert_eq!(gh.get("/wrongname/x", Some(&token)).await.status(), 502);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

/// The gRPC health service as a test upstream: records the metadata of each call.
#[derive(Default, Clone)]
struct RecordingHealth {
    users: Arc<Mutex<Vec<Option<String>>>>,
}

impl RecordingHealth {
    fn record(&self, req: &tonic::Request<HealthCheckRequest>) {
        let user = req
            .metadata()
            .get("x-auth-user-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        self.users.lock().unwrap().push(user);
    }
}

type WatchStream = Pin<
    Box<
        dyn tonic::codegen::tokio_stream::Stream<Item = Result<HealthCheckResponse, tonic::Status>>
            + Send,
    >,
>;

#[tonic::async_trait]
impl Health for RecordingHealth {
    async fn check(
        &self,
        req: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<HealthCheckResponse>, tonic::Status> {
        self.record(&req);
        match req.get_ref().service.as_str() {
            "" => Ok(tonic::Response::new(HealthCheckResponse {
                status: ServingStatus::Serving as i32,
            })),
            other => Err(tonic::Status::not_found(format!("no service {other}"))),
        }
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        req: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<WatchStream>, tonic::Status> {
        self.record(&req);
        let serving = || {
            Ok(HealthCheckResponse {
                status: ServingStatus::Serving as i32,
            })
        };
        // Three messages, then a status with trailing metadata: the trailers must come through.
        let mut end = tonic::Status::unavailable("draining");
        end.metadata_mut()
            .insert("x-detail", "shutting-down".parse().unwrap());
        let items = vec![serving(), serving(), serving(), Err(end)];
        let stream: WatchStream = Box::pin(tonic::codegen::tokio_stream::iter(items));
        Ok(tonic::Response::new(stream))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_unary_and_server_streaming_pass_through_h2c_with_identity() {
    let health = RecordingHealth::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc_addr = listener.local_addr().unwrap();
    let service = HealthServer::new(health.clone());
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(
                tonic::codegen::tokio_stream::wrappers::TcpListenerStream::new(listener),
            )
            .await
    });
    let sections = format!(
        "{}{}",
        upstream_at("grpc", grpc_addr, "h2c = true"),
        route("/", "grpc", "required", "")
    );
    let gh = TestGatehouse::start_with_server("h2c = true", &sections);
    let token = gh.issue("grpc-user", &[]).await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", gh.addr))
        .unwrap()
        .connect()
        .await
        .expect("h2c connection to Gatehouse");
    let bearer: tonic::metadata::AsciiMetadataValue = format!("Bearer {token}").parse().unwrap();
    let authed = |service: &str| {
        let mut req = tonic::Request::new(HealthCheckRequest {
            service: service.into(),
        });
        req.metadata_mut().insert("authorization", bearer.clone());
        req
    };
    let mut client = HealthClient::new(channel);

    let ok = client.check(authed("")).await.expect("unary call");
    assert_eq!(ok.get_ref().status, ServingStatus::Serving as i32);
    let missing = client
        .check(authed("nope"))
        .await
        .expect_err("unknown service");
    assert_eq!(missing.code(), tonic::Code::NotFound);
    assert_eq!(missing.message(), "no service nope");

    let mut stream = client
        .watch(authed(""))
        .await
        .expect("streaming call")
        .into_inner();
    let mut messages = 0;
    let end = loop {
        match stream.message().await {
            Ok(Some(m)) => {
                assert_eq!(m.status, ServingStatus::Serving as i32);
                messages += 1;
            }
            Ok(None) => panic!("the stream ended without its status"),
            Err(status) => break status,
        }
    };
    assert_eq!(messages, 3);
    assert_eq!(end.code(), tonic::Code::Unavailable);
    assert_eq!(end.message(), "draining");
    assert_eq!(
        end.metadata().get("x-detail").and_then(|v| v.to_str().ok()),
        Some("shutting-down")
    );
    assert_eq!(
        health.users.lock().unwrap().clone(),
        vec![Some("grpc-user".to_string()); 3]
    );

    // Without a token: Gatehouse's 401 comes as a trailers-only gRPC answer (grpc-status 16),
    // and the upstream never hears of the call.
    let refused = client
        .check(tonic::Request::new(HealthCheckRequest {
            service: String::new(),
        }))
        .await
        .expect_err("unauthenticated call");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    assert_eq!(refused.message(), "gatehouse: 401 Unauthorized");
    assert_eq!(health.users.lock().unwrap().len(), 3);
}

#[test]
fn tls_settings_are_checked_at_load() {
    let base = |server: &str, upstream: &str| {
        format!(
            "[server]\npublic_url = \"http://localhost\"\nadmin_listen = \"127.0.0.1:1\"\n{server}\n\
             [[upstreams]]\nname = \"a\"\naddrs = [\"127.0.0.1:2\"]\n{upstream}\n\
             [[routes]]\npath_prefix = \"/\"\nupstream = \"a\"\n"
        )
    };
    let problems = |text: String| match Config::from_toml(&text, "test") {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    };
    let p = problems(base("", ""));
    assert!(
        p.contains("server.listen: needed unless [server.tls] listens"),
        "{p}"
    );
    let p = problems(base("listen = \"127.0.0.1:3\"", "h2c = true\ntls = true"));
    assert!(p.contains("upstreams[0].h2c"), "{p}");
    let p = problems(base("listen = \"127.0.0.1:3\"", "sni = \"x\""));
    assert!(
        p.contains("upstreams[0].sni: only used with tls = true"),
        "{p}"
    );
    let p = problems(base(
        "listen = \"127.0.0.1:3\"",
        "tls = true\nclient_cert_file = \"c.pem\"",
    ));
    assert!(
        p.contains("upstreams[0].client_key_file: needed with client_cert_file"),
        "{p}"
    );
    let only_tls = "[server.tls]\nlisten = \"127.0.0.1:4\"\ncert_file = \"c\"\nkey_file = \"k\"\nhsts = \"lots\"";
    let p = problems(base(only_tls, ""));
    assert!(p.contains("server.tls.hsts"), "{p}");
    assert!(!p.contains("server.listen"), "{p}");
}

/// The spawned process, killed however the test ends.
struct Process(std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_the_certificate_of_a_running_process() {
    let dir = tempfile::tempdir().unwrap();
    let old_ca = Ca::new("old CA");
    let new_ca = Ca::new("new CA");
    let old = old_ca.issue(&["localhost"]);
    let cert = write(dir.path(), "cert.pem", &old.cert);
    let key = write(dir.path(), "key.pem", &old.key);
    let up = EchoUpstream::start("app").await;
    let sections = format!(
        "{}{}",
        upstream_section("app", &up, ""),
        route("/", "app", "public", "")
    );
    let tls_port = free_port();
    let db = dir.path().join("g.db").display().to_string();
    let text = TestGatehouse::config_text(free_port(), free_port(), &db, &sections).replace(
        "shutdown_grace = \"1s\"\n",
        &format!(
            "shutdown_grace = \"1s\"\n{}",
            tls_server(tls_port, &cert, &key, "")
        ),
    );
    let config = write(dir.path(), "gatehouse.toml", &text);
    let log = std::fs::File::create(dir.path().join("gatehouse.log")).unwrap();
    let process = Process(
        std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .arg("--config")
            .arg(&config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start gatehouse"),
    );
    let addr: SocketAddr = format!("127.0.0.1:{tls_port}").parse().unwrap();
    let started = support::eventually(std::time::Duration::from_secs(10), || async move {
        tokio::net::TcpStream::connect(addr).await.is_ok()
    })
    .await;
    assert!(started, "gatehouse did not listen on {addr}");

    let mut open = connect(&old_ca, addr).await.expect("old certificate");
    assert_eq!(exchange(&mut open).await, 200);
    let new = new_ca.issue(&["localhost"]);
    std::fs::write(&cert, &new.cert).unwrap();
    std::fs::write(&key, &new.key).unwrap();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &process.0.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());

    let new_ca = &new_ca;
    let renewed = support::eventually(std::time::Duration::from_secs(10), || async move {
        connect(new_ca, addr).await.is_ok()
    })
    .await;
    assert!(
        renewed,
        "SIGHUP did not bring in the new certificate: {}",
        std::fs::read_to_string(dir.path().join("gatehouse.log")).unwrap_or_default()
    );
    // The process lives on, and the connection from before the reload still works.
    assert_eq!(exchange(&mut open).await, 200);
    drop(process);
}

#[test]
fn unusable_tls_files_stop_the_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("CA");
    let leaf = ca.issue(&["localhost"]);
    let other = ca.issue(&["localhost"]);
    let cert = write(dir.path(), "cert.pem", &leaf.cert);
    let wrong_key = write(dir.path(), "other-key.pem", &other.key);
    let missing = dir.path().join("missing.pem");
    let db = dir.path().join("g.db").display().to_string();
    let start = |server_tls: String| {
        let text = TestGatehouse::config_text(free_port(), free_port(), &db, "").replace(
            "shutdown_grace = \"1s\"\n",
            &format!("shutdown_grace = \"1s\"\n{server_tls}"),
        );
        let config = Config::from_toml(&text, "test").expect("config");
        match gatehouse::Gatehouse::build(config) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    };
    let e = start(tls_server(free_port(), &missing, &wrong_key, ""));
    assert!(
        e.contains("server.tls.cert_file") && e.contains("missing.pem"),
        "{e}"
    );
    let e = start(tls_server(free_port(), &cert, &wrong_key, ""));
    assert!(
        e.contains("server.tls.key_file") && e.contains("does not fit"),
        "{e}"
    );
    let extra = format!("client_ca_file = \"{}\"", missing.display());
    let e = start(tls_server(
        free_port(),
        &cert,
        &write(dir.path(), "key.pem", &leaf.key),
        &extra,
    ));
    assert!(e.contains("server.tls.client_ca_file"), "{e}");
}
