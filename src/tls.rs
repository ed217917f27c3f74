//! TLS material, read from the files the config names: the TLS listener's certificate and its
//! client-certificate verifier (mTLS), each held behind a swappable handle so a reload changes
//! them for new handshakes while the listener and open connections stay up, and the roots and
//! client certificates of TLS upstream groups.
//!
//! One TLS stack for the whole binary: rustls with the ring provider, through pingora's
//! `rustls` feature. reqwest (JWKS, Facebook) already used the same rustls and ring, so no
//! second stack (OpenSSL/BoringSSL) is linked, built or patched.

use crate::config::{ServerTlsConfig, UpstreamTlsConfig};
use pingora::listeners::tls::TlsSettings;
use pingora::protocols::tls::CaType;
use pingora::tls::sign::CertifiedKey;
use pingora::tls::{
    install_default_crypto_provider, CertificateDer, ClientCertVerified, ClientCertVerifier,
    ClientHello, CryptoProvider, DigitallySignedStruct, HandshakeSignatureValid, PrivateKeyDer,
    ResolvesServerCert, RootCertStore, SignatureScheme, UnixTime, WebPkiClientVerifier,
};
use pingora::utils::tls::{parse_x509, CertKey, WrappedX509};
use rustls::DistinguishedName;
use rustls_pki_types::pem::PemObject;
use std::sync::{Arc, RwLock};

/// A TLS file that cannot be used; the message names the config key and the file, never
/// key material.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(String);

/// The process-wide rustls provider (ring), installed once.
fn provider() -> Result<&'static Arc<CryptoProvider>, TlsError> {
    install_default_crypto_provider();
    CryptoProvider::get_default()
        .ok_or_else(|| TlsError("no TLS crypto provider could be installed".into()))
}

fn read_certs(key: &str, file: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(file)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError(format!("{key}: `{file}`: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError(format!("{key}: no certificate in `{file}`")));
    }
    Ok(certs)
}

/// A PEM certificate chain (leaf first) and the private key it was issued for.
fn read_certified(
    cert_key: &str,
    cert_file: &str,
    key_key: &str,
    key_file: &str,
) -> Result<(CertifiedKey, PrivateKeyDer<'static>), TlsError> {
    let certs = read_certs(cert_key, cert_file)?;
    let private = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| TlsError(format!("{key_key}: `{key_file}`: {e}")))?;
    let certified =
        CertifiedKey::from_der(certs, private.clone_key(), provider()?).map_err(|e| {
            TlsError(format!(
                "{key_key}: `{key_file}` does not fit `{cert_file}`: {e}"
            ))
        })?;
    Ok((certified, private))
}

/// The certificates of a CA file, each one checked by adding it to a root store.
fn read_roots(
    key: &str,
    file: &str,
) -> Result<(RootCertStore, Vec<CertificateDer<'static>>), TlsError> {
    let certs = read_certs(key, file)?;
    let mut roots = RootCertStore::empty();
    for c in &certs {
        roots
            .add(c.clone())
            .map_err(|e| TlsError(format!("{key}: `{file}`: {e}")))?;
    }
    Ok((roots, certs))
}

/// The TLS listener's certificate and key, and its client roots when `client_ca_file` is set,
/// all re-read by `reload`.
pub struct TlsCertificates {
    cert_file: String,
    key_file: String,
    current: RwLock<Arc<CertifiedKey>>,
    clients: Option<Arc<ClientRoots>>,
}

impl std::fmt::Debug for TlsCertificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsCertificates")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}

impl TlsCertificates {
    pub fn load(config: &ServerTlsConfig) -> Result<Arc<TlsCertificates>, TlsError> {
        let current = Self::read(&config.cert_file, &config.key_file)?;
        let clients = match &config.client_ca_file {
            Some(file) => Some(Arc::new(ClientRoots::load(file)?)),
            None => None,
        };
        Ok(Arc::new(TlsCertificates {
            cert_file: config.cert_file.clone(),
            key_file: config.key_file.clone(),
            current: RwLock::new(current),
            clients,
        }))
    }

    /// Reads the files again; handshakes from now on use them. Every file is read before
    /// anything is swapped: on an error the certificate and client roots in use stay, so a
    /// half-written renewal never takes the listener down or leaves it half renewed.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = Self::read(&self.cert_file, &self.key_file)?;
        let fresh_clients = match &self.clients {
            Some(clients) => Some((clients, ClientRoots::read(&clients.file)?)),
            None => None,
        };
        let mut current = self
            .current
            .write()
            .map_err(|_| TlsError("the certificate lock was poisoned".into()))?;
        if let Some((clients, verifier)) = fresh_clients {
            clients.swap(verifier)?;
        }
        *current = fresh;
        Ok(())
    }

    fn read(cert_file: &str, key_file: &str) -> Result<Arc<CertifiedKey>, TlsError> {
        let (certified, _) = read_certified(
            "server.tls.cert_file",
            cert_file,
            "server.tls.key_file",
            key_file,
        )?;
        Ok(Arc::new(certified))
    }

    /// The TLS listener's settings: this certificate, HTTP/2 and HTTP/1.1 by ALPN, and client
    /// certificates required when `client_ca_file` is set.
    pub fn listener_settings(self: &Arc<Self>) -> Result<TlsSettings, TlsError> {
        // The paths are not read: the resolver below takes their place.
        let mut settings =
            TlsSettings::intermediate("", "").map_err(|e| TlsError(format!("server.tls: {e}")))?;
        settings.enable_h2();
        settings.set_cert_resolver(self.clone());
        if let Some(clients) = &self.clients {
            settings.set_client_cert_verifier(clients.clone());
        }
        Ok(settings)
    }
}

impl ResolvesServerCert for TlsCertificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| c.clone())
    }
}

/// The mTLS client verifier built from `client_ca_file`, swapped by `reload`. rustls asks it
/// once per handshake; the answer comes from whichever roots were current then.
struct ClientRoots {
    file: String,
    current: RwLock<ClientVerifier>,
}

#[derive(Clone)]
struct ClientVerifier {
    verifier: Arc<dyn ClientCertVerifier>,
    /// The roots' names, sent to clients so they can pick a certificate. rustls borrows them
    /// from the verifier for as long as the verifier lives, which outlasts any one swap, so
    /// each distinct list is kept for the life of the process: a few hundred bytes per CA
    /// file change, and nothing for a reload that leaves the file as it was.
    hints: &'static [DistinguishedName],
}

impl std::fmt::Debug for ClientRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRoots")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl ClientRoots {
    fn load(file: &str) -> Result<ClientRoots, TlsError> {
        let (verifier, hints) = Self::read(file)?;
        Ok(ClientRoots {
            file: file.to_owned(),
            current: RwLock::new(ClientVerifier {
                verifier,
                hints: Box::leak(hints.into_boxed_slice()),
            }),
        })
    }

    fn read(file: &str) -> Result<(Arc<dyn ClientCertVerifier>, Vec<DistinguishedName>), TlsError> {
        let (roots, _) = read_roots("server.tls.client_ca_file", file)?;
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider()?.clone())
                .build()
                .map_err(|e| TlsError(format!("server.tls.client_ca_file: `{file}`: {e}")))?;
        let hints = verifier.root_hint_subjects().to_vec();
        Ok((verifier, hints))
    }

    fn swap(
        &self,
        (verifier, hints): (Arc<dyn ClientCertVerifier>, Vec<DistinguishedName>),
    ) -> Result<(), TlsError> {
        let mut current = self
            .current
            .write()
            .map_err(|_| TlsError("the client roots lock was poisoned".into()))?;
        let same = current.hints.len() == hints.len()
            && current
                .hints
                .iter()
                .zip(&hints)
                .all(|(a, b)| a.as_ref() == b.as_ref());
        let hints = if same {
            current.hints
        } else {
            Box::leak(hints.into_boxed_slice())
        };
        *current = ClientVerifier { verifier, hints };
        Ok(())
    }

    /// The verifier of the moment; a poisoned lock (a panic while swapping, which cannot
    /// happen between two assignments) still holds a whole verifier.
    fn now(&self) -> ClientVerifier {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

impl ClientCertVerifier for ClientRoots {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.now().hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.now()
            .verifier
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.now()
            .verifier
            .verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.now()
            .verifier
            .verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.now().verifier.supported_verify_schemes()
    }
}

/// What a TLS upstream group's peers carry: the name to verify, the roots, the client
/// certificate.
#[derive(Clone)]
pub struct UpstreamTls {
    pub sni: Option<String>,
    pub ca: Option<Arc<CaType>>,
    pub client_cert: Option<Arc<CertKey>>,
}

impl UpstreamTls {
    /// `key` is the group's config key (`upstreams[2]`).
    pub fn load(key: &str, config: &UpstreamTlsConfig) -> Result<UpstreamTls, TlsError> {
        let ca = match &config.ca_file {
            Some(file) => {
                // The root store parsed each certificate, so pingora's parse (which panics on
                // bad DER) only sees well-formed ones.
                let (_, certs) = read_roots(&format!("{key}.ca_file"), file)?;
                let wrapped: Vec<WrappedX509> = certs
                    .iter()
                    .map(|c| WrappedX509::new(c.as_ref().to_vec(), parse_x509))
                    .collect();
                Some(Arc::<CaType>::from(wrapped.into_boxed_slice()))
            }
            None => None,
        };
        let client_cert = match &config.client_cert {
            Some((cert_file, key_file)) => {
                // Read through rustls first: a key that does not sign for the certificate is
                // refused now, not at the first handshake.
                let (certified, private) = read_certified(
                    &format!("{key}.client_cert_file"),
                    cert_file,
                    &format!("{key}.client_key_file"),
                    key_file,
                )?;
                let chain = certified.cert.iter().map(|c| c.as_ref().to_vec()).collect();
                Some(Arc::new(CertKey::new(chain, private.secret_der().to_vec())))
            }
            None => None,
        };
        Ok(UpstreamTls {
            sni: config.sni.clone(),
            ca,
            client_cert,
        })
    }
}
