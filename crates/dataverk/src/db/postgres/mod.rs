//! PostgreSQL: connecting with managed credentials, reading results into Arrow, and writing
//! Arrow record batches into tables ([`write`], binary COPY the other way).
//!
//! Results are read with `COPY (query) TO STDOUT (FORMAT binary)` and decoded straight into
//! Arrow builders ([`decode`]); the column types come from the statement's description
//! (prepare), never from running the query twice. Statements COPY cannot wrap (SHOW, EXPLAIN,
//! ...) use the normal protocol, decoded by the same value decoders.

mod connect;
pub mod decode;
mod read;
pub mod tls;
pub mod types;
pub mod write;

pub use connect::{connect, ConnectFailure, PgConnection};
pub use read::{execute, query_batches, query_batches_via, trim_statement, ReadPath};
pub use write::{write_table, IfExists};
