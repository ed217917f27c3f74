//! HTTP building blocks shared by the proxy and the built-in handlers: own responses, the
//! common header set, request ids.

mod common_headers;
pub mod request_id;
mod response;

pub use common_headers::CommonHeaders;
pub use response::{OwnResponse, JSON};
