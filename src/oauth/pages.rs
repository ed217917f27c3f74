//! HTML pages of the authorization code flow (sign-in, consent, errors).
