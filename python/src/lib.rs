//! The `dataverk` Python module: the seed's `Client().read_sql(...)` on the Rust library.
//!
//! Glue only. Settings, secrets, Vault, credentials and queries are the library's
//! [`dataverk::Client`]; this module turns arguments into its calls, results into pyarrow
//! objects (through the Arrow C data interface, without copying), and its errors into Python
//! exceptions. Every call that talks to Vault or a database releases the GIL.

mod progress;

use arrow::pyarrow::{FromPyArrow, IntoPyArrow};
use progress::Progress;
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyImportError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

create_exception!(
    dataverk,
    DataverkError,
    PyException,
    "Base class of every error dataverk raises."
);
create_exception!(
    dataverk,
    SettingsError,
    DataverkError,
    "The settings file, a placeholder in it, a source name or a connection URL is wrong."
);
create_exception!(
    dataverk,
    VaultError,
    DataverkError,
    "Vault is not configured, cannot be reached, or refused a request."
);
create_exception!(
    dataverk,
    DatabaseError,
    DataverkError,
    "The database refused the login, cannot be reached, or failed a statement."
);

/// The library's error as the Python exception of its kind, with the library's message (which
/// never holds a secret value).
fn to_py_err(e: dataverk::Error) -> PyErr {
    use dataverk::Error as E;
    let message = match dataverk::access::hint_for_error(&e) {
        Some(hint) => format!("{e}\n{hint}"),
        None => e.to_string(),
    };
    match e {
        E::SettingsRead { .. }
        | E::SettingsParse { .. }
        | E::Settings(_)
        | E::MissingPlaceholder { .. }
        | E::UnknownSource { .. }
        | E::Url { .. } => SettingsError::new_err(message),
        E::VaultConfig(_)
        | E::VaultUnreachable { .. }
        | E::Vault { .. }
        | E::VaultResponse { .. } => VaultError::new_err(message),
        E::LoginRefused { .. } | E::Connect { .. } | E::Sql { .. } | E::Decode(_) => {
            DatabaseError::new_err(message)
        }
        _ => DataverkError::new_err(message),
    }
}

/// What `read_sql` hands back.
#[derive(Clone, Copy)]
enum ReturnType {
    Pandas,
    Polars,
    Arrow,
}

impl ReturnType {
    fn parse(name: &str) -> PyResult<ReturnType> {
        match name {
            "pandas" => Ok(ReturnType::Pandas),
            "polars" => Ok(ReturnType::Polars),
            "arrow" => Ok(ReturnType::Arrow),
            other => Err(PyValueError::new_err(format!(
                "return_type must be \"pandas\", \"polars\" or \"arrow\", not {other:?}"
            ))),
        }
    }

    /// The Python package the result is built with.
    fn package(self) -> &'static str {
        match self {
            ReturnType::Pandas => "pandas",
            ReturnType::Polars => "polars",
            ReturnType::Arrow => "pyarrow",
        }
    }
}

/// Imports `package`, or says which install the `return_type` needs.
fn import_for<'py>(py: Python<'py>, package: &str) -> PyResult<Bound<'py, PyModule>> {
    py.import(package).map_err(|e| {
        PyImportError::new_err(format!(
            "dataverk needs the {package} package for this: pip install {package} ({e})"
        ))
    })
}

/// `data` as a `pyarrow.Table`: a pandas DataFrame (without its index), a polars DataFrame,
/// or anything `pyarrow.table()` takes (a RecordBatch, an object with `__arrow_c_stream__`, ...).
fn to_pyarrow_table<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let pyarrow = import_for(py, "pyarrow")?;
    let table_type = pyarrow.getattr("Table")?;
    if data.is_instance(&table_type)? {
        return Ok(data.clone());
    }
    let module: String = data.get_type().getattr("__module__")?.extract()?;
    if module.starts_with("pandas") {
        let kwargs = PyDict::new(py);
        kwargs.set_item("preserve_index", false)?;
        return table_type.call_method("from_pandas", (data,), Some(&kwargs));
    }
    if module.starts_with("polars") {
        return data.call_method0("to_arrow");
    }
    pyarrow.call_method1("table", (data,))
}

/// Runs `work` as a task on the client's runtime without the GIL, and every 100 ms, with the
/// GIL, brings `progress` up to date and stops the task when Python has a signal to deliver
/// (Ctrl-C: `KeyboardInterrupt`). Stopping drops the task with its connection: a read ends, a
/// write's transaction is rolled back by the server. The task runs on a runtime worker, as
/// `dataverk::Client::read_sql` does it, for the same reason (see there).
fn interruptible<T, F>(
    py: Python<'_>,
    client: Arc<dataverk::Client>,
    progress: &mut Progress,
    work: impl FnOnce(Arc<dataverk::Client>) -> F + Send,
) -> PyResult<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = dataverk::Result<T>> + Send + 'static,
{
    let result = py.detach(|| {
        // The task holds a reference of its own, but never the last one: `client` lives until
        // the task has ended or been dropped, so the client is never dropped on a worker.
        let task = work(client.clone());
        client.block_on(async {
            let mut task = tokio::spawn(task);
            loop {
                tokio::select! {
                    done = &mut task => {
                        return match done {
                            Ok(result) => result.map_err(to_py_err),
                            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                            Err(e) => Err(DataverkError::new_err(format!("the call was cancelled: {e}"))),
                        };
                    }
                    _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => {
                        let signal = Python::attach(|py| {
                            progress.tick(py);
                            py.check_signals()
                        });
                        if let Err(signal) = signal {
                            task.abort();
                            let _ = task.await;
                            return Err(signal);
                        }
                    }
                }
            }
        })
    });
    progress.finish(py);
    result
}

/// A connection to the sources of one settings file, with secrets and database credentials
/// from Vault.
///
/// Client(settings_file=None, env_file=".env")
///
/// settings_file: the settings JSON (else $DATAVERK_SETTINGS, else ./settings.json).
/// env_file: the dotenv file consulted last for placeholders (None: none).
///
/// Settings, secrets and Vault are resolved as the Rust library and the `dataverk` CLI do:
/// the same files, environment variables and precedence. Use it as a context manager, or call
/// close(), to revoke the database credentials it obtained.
#[pyclass(name = "Client", module = "dataverk")]
struct PyClient {
    /// `None` once closed. An `Arc`, so a read in progress on another thread keeps the client
    /// alive while `close()` lets go of it; the last one out revokes the leases.
    inner: Mutex<Option<Arc<dataverk::Client>>>,
    settings_file: Option<PathBuf>,
}

impl PyClient {
    fn client(&self) -> PyResult<Arc<dataverk::Client>> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| DataverkError::new_err("the client is closed"))
    }
}

/// A client dropped without close() revokes its leases here, a Vault request, so the GIL is
/// released for it as close() releases it: other threads run while Vault answers.
impl Drop for PyClient {
    fn drop(&mut self) {
        let client = self
            .inner
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if client.is_some() {
            Python::attach(|py| py.detach(move || drop(client)));
        }
    }
}

#[pymethods]
impl PyClient {
    #[new]
    #[pyo3(
        signature = (settings_file=None, env_file=Some(PathBuf::from(".env"))),
        text_signature = "(settings_file=None, env_file='.env')"
    )]
    fn new(
        py: Python<'_>,
        settings_file: Option<PathBuf>,
        env_file: Option<PathBuf>,
    ) -> PyResult<PyClient> {
        let options = dataverk::ClientOptions {
            settings_path: settings_file.clone(),
            env_file,
            ..Default::default()
        };
        let client = py
            .detach(|| dataverk::Client::with_options(options))
            .map_err(to_py_err)?;
        Ok(PyClient {
            inner: Mutex::new(Some(Arc::new(client))),
            settings_file,
        })
    }

    /// Runs a query on a source and returns all its rows.
    ///
    /// source: a source name from the settings' db_connection_strings.
    /// sql: the query, or the path of a .sql file holding it.
    /// return_type: "pandas" (a pandas.DataFrame), "polars" (a polars.DataFrame) or "arrow"
    ///     (a pyarrow.Table). All are built from the same Arrow data, without a row-by-row copy.
    /// partition_on, partitions: read in `partitions` ranges of the numeric, date or timestamp
    ///     column `partition_on` of the result, on that many connections at once.
    /// progress: a progress bar (rows, rows/s) for a read that takes more than 2 seconds.
    ///     None (the default): only in a notebook or when stderr is a terminal; True: always;
    ///     False: never.
    ///
    /// Ctrl-C (KeyboardInterrupt) stops the read. Raises SettingsError, VaultError or
    /// DatabaseError (all DataverkError).
    #[pyo3(signature = (source, sql, return_type="pandas", partition_on=None, partitions=None, progress=None))]
    #[allow(clippy::too_many_arguments)]
    fn read_sql<'py>(
        &self,
        py: Python<'py>,
        source: String,
        sql: String,
        return_type: &str,
        partition_on: Option<String>,
        partitions: Option<usize>,
        progress: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let return_type = ReturnType::parse(return_type)?;
        let partitioned = match (partition_on, partitions) {
            (None, None) => None,
            (Some(column), Some(n)) if n >= 1 => Some((column, n)),
            (Some(_), Some(_)) => {
                return Err(PyValueError::new_err("partitions must be at least 1"));
            }
            (Some(_), None) => {
                return Err(PyValueError::new_err(
                    "partition_on needs partitions (the number of ranges to read at once)",
                ));
            }
            (None, Some(_)) => {
                return Err(PyValueError::new_err(
                    "partitions needs partition_on (the column to split the ranges on)",
                ));
            }
        };
        // Fail before the read, not after it, when the result cannot be built.
        import_for(py, "pyarrow")?;
        let package = import_for(py, return_type.package())?;
        let client = self.client()?;
        let mut progress = Progress::new(py, source.clone(), progress);
        let on_rows = progress.counter();
        let table = interruptible(py, client, &mut progress, move |c| async move {
            match &partitioned {
                None => {
                    c.inner()
                        .read_sql_with_progress(&source, &sql, on_rows)
                        .await
                }
                Some((column, n)) => {
                    c.inner()
                        .read_sql_partitioned_with_progress(&source, &sql, column, *n, on_rows)
                        .await
                }
            }
        })?;
        let table = arrow::pyarrow::Table::try_new(table.batches, table.schema)
            .map_err(|e| DataverkError::new_err(e.to_string()))?
            .into_pyarrow(py)?;
        match return_type {
            ReturnType::Arrow => Ok(table),
            // Plain to_pandas. Not self_destruct: the columns of an imported batch share one
            // release callback, so nothing is freed before the whole table is (measured: the
            // same peak RSS). Not split_blocks: its zero-copy columns are read-only, and
            // `df.loc[i, c] = v` would fail on them.
            ReturnType::Pandas => table.call_method0("to_pandas"),
            ReturnType::Polars => package.call_method1("from_arrow", (table,)),
        }
    }

    /// Runs a statement that returns no rows (or the .sql file it names); the number of rows it
    /// affected. On a source with a Vault path it first runs SET ROLE to the stable group role,
    /// so that the objects it creates outlive the temporary database user.
    ///
    /// Raises SettingsError, VaultError or DatabaseError (all DataverkError).
    fn execute_sql(&self, py: Python<'_>, source: String, sql: String) -> PyResult<u64> {
        let client = self.client()?;
        py.detach(|| client.execute_sql(&source, &sql))
            .map_err(to_py_err)
    }

    /// Writes a DataFrame into a table of a database, in one transaction: either every row is
    /// written or the table is left as it was. Returns the number of rows written.
    ///
    /// df: a pandas DataFrame (its index is not written), a polars DataFrame or a pyarrow
    ///     Table (or anything pyarrow.table() accepts).
    /// table: "name" or "schema.name".
    /// sink: a source name from the settings' db_connection_strings.
    /// if_exists: "append" (add the rows; a missing table is created), "replace" (drop and
    ///     create it anew) or "fail" (raise when the table exists).
    ///
    /// progress: a progress bar (rows, rows/s) for a write that takes more than 2 seconds;
    ///     None, True, False as for read_sql.
    ///
    /// Runs as the source's group role (SET ROLE), so a created table outlives the temporary
    /// database user. Ctrl-C (KeyboardInterrupt) stops the write and leaves the table as it
    /// was. Raises SettingsError, VaultError or DatabaseError (all DataverkError).
    #[pyo3(signature = (df, table, sink, if_exists="append", progress=None))]
    fn to_sql(
        &self,
        py: Python<'_>,
        df: &Bound<'_, PyAny>,
        table: String,
        sink: String,
        if_exists: &str,
        progress: Option<bool>,
    ) -> PyResult<u64> {
        let if_exists: dataverk::IfExists = if_exists.parse().map_err(|_| {
            PyValueError::new_err(format!(
                "if_exists must be \"append\", \"replace\" or \"fail\", not {if_exists:?}"
            ))
        })?;
        let data = to_pyarrow_table(py, df)?;
        let (batches, schema) = arrow::pyarrow::Table::from_pyarrow_bound(&data)?.into_inner();
        let client = self.client()?;
        let mut progress = Progress::new(py, table.clone(), progress);
        let on_rows = progress.counter();
        interruptible(py, client, &mut progress, move |c| async move {
            c.inner()
                .write_table_with_progress(&sink, &table, schema, &batches, if_exists, on_rows)
                .await
        })
    }

    /// Revokes the database credentials this client obtained and closes its connections.
    /// Calling it again does nothing; the client cannot be used afterwards.
    fn close(&self, py: Python<'_>) {
        let client = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
        // Dropping the last reference revokes the leases: a Vault request, so without the GIL.
        py.detach(move || drop(client));
    }

    /// Whether close() was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close(py);
        false
    }

    fn __repr__(&self) -> String {
        let state = if self.closed() { ", closed" } else { "" };
        match &self.settings_file {
            Some(path) => format!("dataverk.Client(settings_file={:?}{state})", path.display()),
            None => format!("dataverk.Client({})", state.trim_start_matches(", ")),
        }
    }
}

/// Read from and write to databases by source name, with secrets and self-renewing database
/// credentials from Vault (the Rust library dataverk, from Python).
#[pymodule]
#[pyo3(name = "dataverk")]
fn dataverk_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<PyClient>()?;
    m.add("DataverkError", py.get_type::<DataverkError>())?;
    m.add("SettingsError", py.get_type::<SettingsError>())?;
    m.add("VaultError", py.get_type::<VaultError>())?;
    m.add("DatabaseError", py.get_type::<DatabaseError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
