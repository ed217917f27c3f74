//! TLS material, read from the files the config names: the TLS listener's certificate (held
//! behind a resolver so a reload swaps it for new handshakes while the listener and open
//! connections stay up), its client-certificate verifier (mTLS), and the roots and client
//! certificates of TLS upstream groups.
//!
//! One TLS stack for the whole binary: rustls with the ring provider, through pingora's
//! `rustls` feature. reqwest (JWKS, Facebook) already used the same rustls and ring, so no
//! second stack (OpenSSL/BoringSSL) is linked, built or patched.

use crate::config::{ServerTlsConfig, UpstreamTlsConfig};
use pingora::listeners::tls::TlsSettings;
use pingora::protocols::tls::CaType;
use pingora::tls::sign::CertifiedKey;
use pingora::tls::{
    install_default_crypto_provider, CertificateDer, ClientHello, CryptoProvider, PrivateKeyDer,
    ResolvesServerCert, RootCertStore, WebPkiClientVerifier,
};
use pingora::utils::tls::{parse_x509, CertKey, WrappedX509};
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

/// The TLS listener's certificate and key, re-read by `reload`.
pub struct TlsCertificates {
    cert_file: String,
    key_file: String,
    current: RwLock<Arc<CertifiedKey>>,
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
        Ok(Arc::new(TlsCertificates {
            cert_file: config.cert_file.clone(),
            key_file: config.key_file.clone(),
            current: RwLock::new(current),
        }))
    }

    /// Reads the files again; handshakes from now on use them. On an error the certificate in
    /// use stays, so a half-written renewal never takes the listener down.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = Self::read(&self.cert_file, &self.key_file)?;
        let mut current = self
            .current
            .write()
            .map_err(|_| TlsError("the certificate lock was poisoned".into()))?;
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
    pub fn listener_settings(
        self: &Arc<Self>,
        config: &ServerTlsConfig,
    ) -> Result<TlsSettings, TlsError> {
        // The paths are not read: the resolver below takes their place.
        let mut settings =
            TlsSettings::intermediate("", "").map_err(|e| TlsError(format!("server.tls: {e}")))?;
        settings.enable_h2();
        settings.set_cert_resolver(self.clone());
        if let Some(file) = &config.client_ca_file {
            let (roots, _) = read_roots("server.tls.client_ca_file", file)?;
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider()?.clone())
                    .build()
                    .map_err(|e| TlsError(format!("server.tls.client_ca_file: `{file}`: {e}")))?;
            settings.set_client_cert_verifier(verifier);
        }
        Ok(settings)
    }
}

impl ResolvesServerCert for TlsCertificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| c.clone())
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
