//! Database connectors. A connection URL's scheme picks the connector; each turns query
//! results into Arrow record batches.

pub mod partition;
pub mod postgres;
pub mod url;

pub use self::url::Scheme;
