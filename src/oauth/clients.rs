//! The client registry (from config) and client authentication: the secret is checked by
//! `client_secret`, guesses are throttled by `lockout`.

use super::client_secret::ClientSecret;
use super::lockout::Lockout;
use crate::config::{ClientConfig, ClientSecretConfig, GrantType};
use crate::http::ApiError;
use crate::users::passwords::PasswordHasher;
use std::collections::HashMap;
use std::net::IpAddr;

pub struct Client {
    pub config: ClientConfig,
    secret: ClientSecret,
}

impl Client {
    pub fn new(config: ClientConfig) -> Client {
        Client {
            secret: ClientSecret::new(config.secret.clone()),
            config,
        }
    }
    pub fn id(&self) -> &str {
        &self.config.id
    }
    pub fn is_public(&self) -> bool {
        matches!(self.config.secret, ClientSecretConfig::Public)
    }
    pub fn allows(&self, grant: GrantType) -> bool {
        self.config.grant_types.contains(&grant)
    }
    /// Exact string match (RFC 9700 §4.1.3): no prefixes, no wildcards, no normalization.
    /// RP-initiated logout: `uri` is registered byte for byte.
    pub fn has_post_logout_redirect_uri(&self, uri: &str) -> bool {
        self.config
            .post_logout_redirect_uris
            .iter()
            .any(|r| r == uri)
    }

    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.config.redirect_uris.iter().any(|r| r == uri)
    }

    /// Where an authorization request may send the browser back: the URI asked for when it is
    /// registered, or the only registered one when none was asked for.
    pub fn redirect_uri_for<'a>(
        &'a self,
        asked: Option<&'a str>,
    ) -> Result<&'a str, RedirectRefusal> {
        match asked {
            Some(uri) if self.has_redirect_uri(uri) => Ok(uri),
            Some(_) => Err(RedirectRefusal::NotRegistered),
            None => match self.config.redirect_uris.as_slice() {
                [only] => Ok(only),
                _ => Err(RedirectRefusal::Missing),
            },
        }
    }
}

/// Why an authorization request has no redirect URI; each is answered with an error page,
/// never a redirect (RFC 6749 §4.1.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectRefusal {
    NotRegistered,
    Missing,
}

pub struct ClientRegistry {
    clients: HashMap<String, Client>,
}

impl ClientRegistry {
    pub fn new(configs: &[ClientConfig]) -> Self {
        ClientRegistry {
            clients: configs
                .iter()
                .map(|c| (c.id.clone(), Client::new(c.clone())))
                .collect(),
        }
    }

    pub fn configs(&self) -> Vec<&ClientConfig> {
        self.clients.values().map(|c| &c.config).collect()
    }

    pub fn get(&self, id: &str) -> Option<&Client> {
        self.clients.get(id)
    }

    /// Checks `secret` against the client's. Unknown clients and public clients fail. Only
    /// wrong secrets are counted, per (client, address): see `Lockout::client_allowed`.
    pub async fn authenticate(
        &self,
        id: &str,
        secret: &str,
        hasher: &PasswordHasher,
        lockout: &Lockout,
        ip: Option<IpAddr>,
    ) -> Result<&Client, ApiError> {
        lockout.client_allowed(id, ip).await?;
        let client = self.get(id);
        let ok = match client {
            Some(c) => c.secret.verify(secret, hasher).await?,
            None => false,
        };
        match (ok, client) {
            (true, Some(c)) => Ok(c),
            _ => Err(lockout.client_failed(id, ip).await),
        }
    }
}
