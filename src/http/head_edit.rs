//! The header edits the proxy makes on a head passing through, written once for either kind of
//! head. pingora's `RequestHeader`/`ResponseHeader` keep a case map beside the header map and
//! re-parse and copy every name they are given; a plain `HeaderMap` takes a ready `HeaderName`.
//! When header case is not kept (`http.preserve_header_case`, off by default) the proxy edits
//! the plain map (`proxy::header_case`); otherwise the head, which keeps its two maps in step.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use pingora::http::{RequestHeader, ResponseHeader};

pub trait HeadEdit {
    fn headers(&self) -> &HeaderMap;
    /// Replaces every value of `name` with `value`.
    fn set(&mut self, name: &HeaderName, value: HeaderValue);
    /// Adds a value after any `name` already has.
    fn add(&mut self, name: &HeaderName, value: HeaderValue);
    /// Removes every value of `name`.
    fn unset(&mut self, name: &HeaderName);
}

// `try_` forms: a map at `http`'s size cap (32,768 entries) refuses the edit instead of
// panicking; pingora's header limits keep a request far below it.
impl HeadEdit for HeaderMap {
    fn headers(&self) -> &HeaderMap {
        self
    }
    fn set(&mut self, name: &HeaderName, value: HeaderValue) {
        let _ = self.try_insert(name.clone(), value);
    }
    fn add(&mut self, name: &HeaderName, value: HeaderValue) {
        let _ = self.try_append(name.clone(), value);
    }
    fn unset(&mut self, name: &HeaderName) {
        self.remove(name);
    }
}

// pingora's heads refuse only an invalid name or that same size cap; a `HeaderName` is valid.
macro_rules! pingora_head {
    ($head:ty) => {
        impl HeadEdit for $head {
            fn headers(&self) -> &HeaderMap {
                &self.headers
            }
            fn set(&mut self, name: &HeaderName, value: HeaderValue) {
                let _ = self.insert_header(name.clone(), value);
            }
            fn add(&mut self, name: &HeaderName, value: HeaderValue) {
                let _ = self.append_header(name.clone(), value);
            }
            fn unset(&mut self, name: &HeaderName) {
                self.remove_header(name);
            }
        }
    };
}

pingora_head!(RequestHeader);
pingora_head!(ResponseHeader);

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: HeaderName = HeaderName::from_static("x-thing");

    /// The same edits give the same headers whichever head takes them.
    fn edit(h: &mut dyn HeadEdit) {
        h.add(&NAME, HeaderValue::from_static("1"));
        h.add(&NAME, HeaderValue::from_static("2"));
        h.set(&http::header::HOST, HeaderValue::from_static("a.test"));
        h.set(&http::header::HOST, HeaderValue::from_static("b.test"));
        h.add(&http::header::ACCEPT, HeaderValue::from_static("*/*"));
        h.unset(&http::header::ACCEPT);
    }

    fn seen(map: &HeaderMap) -> Vec<(String, String)> {
        map.iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").to_string()))
            .collect()
    }

    #[test]
    fn every_head_takes_the_same_edits() {
        let want = vec![
            ("x-thing".to_string(), "1".to_string()),
            ("x-thing".to_string(), "2".to_string()),
            ("host".to_string(), "b.test".to_string()),
        ];
        let mut map = HeaderMap::new();
        edit(&mut map);
        assert_eq!(seen(&map), want);
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        edit(&mut req);
        assert_eq!(seen(&req.headers), want);
        let mut resp = ResponseHeader::build(200, None).unwrap();
        edit(&mut resp);
        assert_eq!(seen(&resp.headers), want);
        // The head's case map stays in step with its values (pingora panics on a mismatch).
        let mut wire = Vec::new();
        req.header_to_h1_wire(&mut wire);
        assert_eq!(wire, b"x-thing: 1\r\nx-thing: 2\r\nHost: b.test\r\n");
    }
}
