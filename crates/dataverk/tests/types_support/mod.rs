//! Shared set-up of the type fidelity tests: a throwaway cluster, a static-URL source (no
//! Vault), reads through each read path, and Arrow values in a form comparable with what
//! Postgres prints.
#![allow(dead_code)]

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, Float32Array, Float64Array, IntervalMonthDayNanoArray,
    ListArray,
};
use arrow::datatypes::{DataType, Date32Type, Time64MicrosecondType, TimestampMicrosecondType};
use arrow::record_batch::RecordBatch;
use dataverk::db::postgres::{connect, query_batches_via, ReadPath};
use dataverk::{Client, ClientOptions, Secret, Table};
use serde_json::Value;
use testkit::PgCluster;

/// The database every fixture lives in.
pub const DB: &str = "postgres";
/// The source name in the settings file.
pub const SOURCE: &str = "pg";

/// How a test reads a query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// `Client::read_sql`, as a user calls it (COPY for queries).
    Client,
    /// `query_batches_via` with [`ReadPath::Copy`].
    Copy,
    /// `query_batches_via` with [`ReadPath::Query`], the normal protocol.
    Query,
}

/// Every read path, in the order the tests report them.
pub const PATHS: [Via; 3] = [Via::Client, Via::Copy, Via::Query];

/// A cluster, a client on it, and a runtime for calling the async read functions directly.
pub struct Db {
    pub pg: PgCluster,
    pub client: Client,
    runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl Db {
    /// Starts a cluster and a client whose settings name it as source [`SOURCE`].
    pub fn start() -> Db {
        let pg = PgCluster::start();
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = dir.path().join("settings.json");
        let json = serde_json::json!({"db_connection_strings": {SOURCE: pg.url(DB)}});
        std::fs::write(&settings, json.to_string()).expect("write settings.json");
        let client = Client::with_options(ClientOptions {
            settings_path: Some(settings),
            env_file: None,
            vault: None,
            ..Default::default()
        })
        .expect("client on a static URL");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        Db {
            pg,
            client,
            runtime,
            _dir: dir,
        }
    }

    /// Runs SQL with psql; its unaligned, tuples-only output.
    pub fn psql(&self, sql: &str) -> String {
        self.pg.psql(DB, sql)
    }

    /// `server_version_num`, e.g. 150018.
    pub fn server_version(&self) -> u32 {
        self.psql("SHOW server_version_num").trim().parse().unwrap()
    }

    /// Reads `sql` through `via` in batches of up to `batch_rows` rows.
    pub fn try_read(&self, sql: &str, via: Via, batch_rows: usize) -> dataverk::Result<Table> {
        let path = match via {
            Via::Client => return self.client.read_sql(SOURCE, sql),
            Via::Copy => ReadPath::Copy,
            Via::Query => ReadPath::Query,
        };
        self.runtime.block_on(async {
            let url = Secret::new(self.pg.url(DB));
            let conn = connect(&url, SOURCE).await.map_err(|e| e.into_error())?;
            let mut batches = Vec::new();
            let schema = query_batches_via(&conn.client, sql, batch_rows, path, &mut |b| {
                batches.push(b);
                Ok(())
            })
            .await?;
            Ok(Table { schema, batches })
        })
    }

    /// Reads `sql` through `via` in one batch, failing the test on any error.
    pub fn read(&self, sql: &str, via: Via) -> RecordBatch {
        let table = self
            .try_read(sql, via, 100_000)
            .unwrap_or_else(|e| panic!("{via:?} read of {sql}: {e}"));
        table.concat().unwrap()
    }

    /// Opens a plain connection and runs `f` with it on the test runtime, for statements that
    /// need a session (cursors, prepared statements).
    pub fn with_session<T>(&self, f: impl AsyncFnOnce(&tokio_postgres::Client) -> T) -> T {
        self.runtime.block_on(async {
            let url = Secret::new(self.pg.url(DB));
            let conn = connect(&url, SOURCE)
                .await
                .map_err(|e| e.into_error())
                .unwrap();
            f(&conn.client).await
        })
    }
}

/// One value of `array` in a form that can be compared with a Postgres oracle: `null`, a
/// string, or for a list an array of those. Integers, booleans, decimals and text use Arrow's
/// display; floats their Rust `Debug` form (exact, and it tells -0 from 0); binary lowercase
/// hex; dates, times and timestamps their raw number (days or microseconds since 1970 or
/// midnight); intervals "months days nanoseconds".
pub fn value(array: &dyn Array, row: usize) -> Value {
    if array.is_null(row) {
        return Value::Null;
    }
    let text = match array.data_type() {
        DataType::Float32 => format!(
            "{:?}",
            array
                .as_any()
                .downcast_ref::<Float32Array>()
                .unwrap()
                .value(row)
        ),
        DataType::Float64 => format!(
            "{:?}",
            array
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap()
                .value(row)
        ),
        DataType::Binary => {
            let bytes = array
                .as_any()
                .downcast_ref::<BinaryArray>()
                .unwrap()
                .value(row);
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        }
        DataType::Date32 => array.as_primitive::<Date32Type>().value(row).to_string(),
        DataType::Time64(_) => array
            .as_primitive::<Time64MicrosecondType>()
            .value(row)
            .to_string(),
        DataType::Timestamp(_, _) => array
            .as_primitive::<TimestampMicrosecondType>()
            .value(row)
            .to_string(),
        DataType::Interval(_) => {
            let v = array
                .as_any()
                .downcast_ref::<IntervalMonthDayNanoArray>()
                .unwrap()
                .value(row);
            format!("{} {} {}", v.months, v.days, v.nanoseconds)
        }
        DataType::List(_) => {
            let list = array
                .as_any()
                .downcast_ref::<ListArray>()
                .unwrap()
                .value(row);
            return Value::Array((0..list.len()).map(|i| value(&list, i)).collect());
        }
        _ => arrow::util::display::array_value_to_string(array, row).unwrap(),
    };
    Value::String(text)
}

/// Every value of a column, as [`value`] gives them.
pub fn values(array: &ArrayRef) -> Vec<Value> {
    (0..array.len())
        .map(|row| value(array.as_ref(), row))
        .collect()
}

/// The psql text of a float in the form [`value`] gives Arrow's: parsed, then `Debug`.
pub fn float_text(data_type: &DataType, text: &str) -> String {
    match data_type {
        DataType::Float32 => format!("{:?}", text.parse::<f32>().unwrap()),
        _ => format!("{:?}", text.parse::<f64>().unwrap()),
    }
}

/// Whether Python with pandas, pyarrow and ConnectorX is available.
pub fn python_has_connectorx() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import connectorx, pandas, pyarrow"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}
