//! The OAuth 2.0 authorization server: endpoints on `/oauth`, one file per grant under
//! `grants/`, protocol rules (PKCE, redirect matching, scopes) as pure functions.

pub mod pages;
