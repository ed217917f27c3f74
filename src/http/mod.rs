//! The HTTP layer shared by the proxy and Gatehouse's own services: the endpoint table and
//! the `Request`/`Reply` a handler works with, `ApiError` and its one renderer, the HTML page
//! shell, typed request parameters, cookies, the common and identity header sets, request ids.

pub mod assertion;
pub mod client_address;
mod common_headers;
pub mod cookies;
pub mod endpoint;
pub mod error;
pub mod head_edit;
mod identity_headers;
pub mod page;
pub mod params;
pub mod render;
pub mod request_id;
mod response;
pub mod same_origin;

pub use assertion::Assertions;
pub use common_headers::CommonHeaders;
pub use endpoint::{Auth, Endpoint, EndpointTable, Reply, Request, Resolved, Verb};
pub use error::{ApiError, Contract, Dependency, BAD_CREDENTIALS};
pub use head_edit::HeadEdit;
pub use identity_headers::IdentityHeaders;
pub use params::Params;
pub use render::{no_store, Renderer};
pub use response::{OwnResponse, JSON};
