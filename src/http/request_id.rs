//! `X-Request-Id`: a client's value is kept when it is a plausible id (so traces join across
//! hops), otherwise replaced by a fresh UUID; the same value goes upstream and back.

use http::HeaderValue;

pub const HEADER: &str = "x-request-id";

pub fn request_id(incoming: Option<&HeaderValue>) -> HeaderValue {
    if let Some(v) = incoming {
        let b = v.as_bytes();
        let plausible = !b.is_empty()
            && b.len() <= 128
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b':'));
        if plausible {
            return v.clone();
        }
    }
    let mut buf = uuid::Uuid::encode_buffer();
    let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_plausible_ids_and_replaces_others() {
        let good = HeaderValue::from_static("55501b56-7f1f-4ad9-a1a2-17c54c84ab66");
        assert_eq!(request_id(Some(&good)), good);
        let bad = HeaderValue::from_static("<script>");
        let fresh = request_id(Some(&bad));
        assert_eq!(fresh.len(), 36);
        assert_ne!(fresh, bad);
        assert_eq!(request_id(None).len(), 36);
    }
}
