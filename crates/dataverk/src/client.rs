//! The facade: a source name in, Arrow record batches out.
//!
//! [`AsyncClient`] does the work on the caller's tokio runtime; [`Client`] wraps it with a
//! runtime of its own for blocking code (scripts, notebooks, the CLI).

use crate::credentials::{CredentialCache, Lease, RefreshPolicy};
use crate::db::partition;
use crate::db::postgres::{self, ConnectFailure, PgConnection};
use crate::db::url::{self as dburl, Scheme};
use crate::db::{sqlite, IfExists, OnRows};
use crate::error::{Error, Result};
use crate::pool::{Pool, PoolStats, Pooled};
use crate::secrets::SecretSources;
use crate::settings::{settings_path, RawSettings, Settings};
use crate::vault::{RetryPolicy, VaultClient, VaultConfig};
use crate::Secret;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How a client is set up; `Default` reads everything from the environment.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// The settings file (else `$DATAVERK_SETTINGS`, else `./settings.json`).
    pub settings_path: Option<PathBuf>,
    /// The dotenv file consulted last for placeholders.
    pub env_file: Option<PathBuf>,
    /// Vault configuration (else read from the environment).
    pub vault: Option<VaultConfig>,
    /// Lease renewal and replacement.
    pub refresh: RefreshPolicy,
    /// Retries of transient Vault failures.
    pub retry: RetryPolicy,
    /// Rows per record batch.
    pub batch_rows: usize,
    /// Idle connections kept per source for reuse (0 disables pooling).
    pub max_idle_connections: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            settings_path: None,
            env_file: Some(PathBuf::from(".env")),
            vault: None,
            refresh: RefreshPolicy::default(),
            retry: RetryPolicy::default(),
            batch_rows: 65_536,
            max_idle_connections: 8,
        }
    }
}

/// A query result: one schema, any number of record batches.
#[derive(Clone, Debug)]
pub struct Table {
    /// The columns, known even when there are no rows.
    pub schema: SchemaRef,
    /// The rows, in order.
    pub batches: Vec<RecordBatch>,
}

impl Table {
    /// The number of rows.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// All rows as one batch.
    pub fn concat(&self) -> Result<RecordBatch> {
        Ok(arrow::compute::concat_batches(&self.schema, &self.batches)?)
    }
}

/// The query text: `query` itself, or the contents of the file it names when it ends in `.sql`.
pub fn load_query(query: &str) -> Result<String> {
    let q = query.trim();
    if q.ends_with(".sql") && !q.contains(char::is_whitespace) {
        return std::fs::read_to_string(q)
            .map_err(|e| Error::io("cannot read the query file", q, e));
    }
    Ok(query.to_string())
}

/// `name` as a quoted SQL identifier: a hostile role name cannot break out of the quotes.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The asynchronous client.
pub struct AsyncClient {
    settings: Settings,
    vault: Option<Arc<VaultClient>>,
    credentials: Option<Arc<CredentialCache>>,
    batch_rows: usize,
    pool: Pool,
    pool_stats: std::sync::Mutex<PoolStats>,
    refresher: Option<tokio::task::JoinHandle<()>>,
}

impl AsyncClient {
    /// Loads the settings, fills placeholders, and prepares Vault when it is configured.
    pub async fn new(options: ClientOptions) -> Result<AsyncClient> {
        let path = settings_path(options.settings_path.as_deref());
        let raw = RawSettings::read(&path)?;
        let vault_config = match options.vault {
            Some(v) => Some(v),
            None => VaultConfig::from_env()?,
        };
        let vault = match vault_config {
            Some(cfg) => Some(Arc::new(VaultClient::with_retry(cfg, options.retry)?)),
            None => None,
        };
        let sources = SecretSources {
            vault_kv: vault
                .as_ref()
                .and_then(|v| v.config().kv_path.clone().map(|p| (v.clone(), p))),
            files: raw.secret_path.clone(),
            env: true,
            dotenv: options.env_file,
        };
        let settings = raw.resolve(&sources).await?;
        let background = options.refresh.background;
        let credentials = vault
            .as_ref()
            .map(|v| Arc::new(CredentialCache::new(v.clone(), options.refresh)));
        let refresher = match (&credentials, background) {
            (Some(cache), true) => Some(tokio::spawn(refresh_loop(Arc::downgrade(cache)))),
            _ => None,
        };
        Ok(AsyncClient {
            settings,
            vault,
            credentials,
            batch_rows: options.batch_rows,
            pool: Pool::new(options.max_idle_connections),
            pool_stats: Default::default(),
            refresher,
        })
    }

    /// What the connection pool has done so far.
    pub fn pool_stats(&self) -> PoolStats {
        *self.pool_stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection for `source`: a pooled one whose lease still holds, else a new one. The
    /// lease is looked at first, so a lease that is due is renewed (or replaced) even when only
    /// pooled connections are used and background refresh is off.
    async fn checkout(&self, source: &str) -> Result<Pooled> {
        self.lease(source).await?;
        if let Some(p) = self.pool.take(source, &self.pool_stats) {
            return Ok(p);
        }
        let (conn, lease) = self.connect_postgres(source).await?;
        Ok(Pooled {
            conn,
            lease,
            reused: false,
        })
    }

    /// The resolved settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The Vault client, when Vault is configured.
    pub fn vault(&self) -> Option<&Arc<VaultClient>> {
        self.vault.as_ref()
    }

    /// The credential cache, when Vault is configured.
    pub fn credentials(&self) -> Option<&Arc<CredentialCache>> {
        self.credentials.as_ref()
    }

    fn scheme(&self, source: &str) -> Result<(Scheme, &Secret)> {
        let url = self.settings.connection_string(source)?;
        let scheme = dburl::scheme(url.expose()).map_err(|message| Error::Url {
            source_name: source.to_string(),
            message,
        })?;
        Ok((scheme, url))
    }

    /// Credentials for `source`, if it has a Vault path.
    async fn lease(&self, source: &str) -> Result<Option<Arc<Lease>>> {
        let Some(path) = self.settings.vault_path(source) else {
            return Ok(None);
        };
        let cache = self.credentials.as_ref().ok_or_else(|| {
            Error::VaultConfig(format!(
                "source {source:?} has db_vault_path {path:?}, but Vault is not configured; set \
                 VKS_VAULT_ADDR and VKS_AUTH_PATH (Kubernetes), or VAULT_ADDR and VAULT_TOKEN"
            ))
        })?;
        cache.get(path).await.map(Some)
    }

    fn url_with(&self, source: &str, url: &Secret, lease: Option<&Lease>) -> Result<Secret> {
        match lease {
            None => Ok(url.clone()),
            Some(lease) => dburl::with_credentials(
                url.expose(),
                lease.username.expose(),
                lease.password.expose(),
            )
            .map(Secret::new)
            .map_err(|message| Error::Url {
                source_name: source.to_string(),
                message,
            }),
        }
    }

    /// The database file of a `sqlite://` source (relative paths resolve against the settings
    /// file's folder), or `None` for any other scheme. SQLite has no logins, so a Vault path
    /// for such a source is a mistake in the settings, not something to ignore.
    fn sqlite_path(&self, source: &str) -> Result<Option<PathBuf>> {
        let (scheme, url) = self.scheme(source)?;
        if scheme != Scheme::Sqlite {
            return Ok(None);
        }
        let url_error = |message| Error::Url {
            source_name: source.to_string(),
            message,
        };
        if let Some(path) = self.settings.vault_path(source) {
            return Err(url_error(format!(
                "a SQLite database has no logins, but db_vault_path has {path:?} for it; \
                 remove the source's db_vault_path entry"
            )));
        }
        let base = self.settings.path.parent().unwrap_or(Path::new(""));
        sqlite::database_path(url.expose(), base)
            .map(Some)
            .map_err(url_error)
    }

    /// A Postgres connection for `source` with current credentials. A refused login gets new
    /// credentials and one more try; no other connect error is retried here.
    pub async fn connect_postgres(
        &self,
        source: &str,
    ) -> Result<(PgConnection, Option<Arc<Lease>>)> {
        let (scheme, url) = self.scheme(source)?;
        if scheme != Scheme::Postgres {
            return Err(Error::Usage(format!(
                "source {source:?} is not a PostgreSQL source"
            )));
        }
        let lease = self.lease(source).await?;
        let full = self.url_with(source, url, lease.as_deref())?;
        match postgres::connect(&full, source).await {
            Ok(conn) => Ok((conn, lease)),
            Err(ConnectFailure::Refused(e)) => {
                let (Some(lease), Some(cache)) = (lease, &self.credentials) else {
                    return Err(e);
                };
                tracing::info!(%source, "database refused the login; fetching new credentials and retrying once");
                let fresh = cache.replace(&lease.path, lease.generation).await?;
                let full = self.url_with(source, url, Some(&fresh))?;
                let conn = postgres::connect(&full, source)
                    .await
                    .map_err(ConnectFailure::into_error)?;
                Ok((conn, Some(fresh)))
            }
            Err(ConnectFailure::Other(e)) => Err(e),
        }
    }

    /// Whether a statement that failed with `e` on a connection opened with `lease` may run
    /// again with new credentials: only for insufficient privilege (42501), or the session's
    /// role no longer existing (42704, "invalid role OID"), and only when Vault says the lease
    /// is gone. Both are raised before the statement does anything.
    async fn lost_privileges(&self, e: &Error, lease: Option<&Arc<Lease>>) -> bool {
        let (
            Error::Sql {
                code: Some(code), ..
            },
            Some(lease),
        ) = (e, lease)
        else {
            return false;
        };
        if !matches!(code.as_str(), "42501" | "42704") || lease.lease_id.is_empty() {
            return false;
        }
        let gone = match (lease.is_expired(), &self.vault) {
            (true, _) => true,
            (false, Some(vault)) => matches!(vault.lease_exists(&lease.lease_id).await, Ok(false)),
            (false, None) => false,
        };
        if gone {
            lease.mark_ended();
        }
        gone
    }

    /// Runs `query` (or the `.sql` file it names) on `source` and hands each record batch to
    /// `sink` as it arrives; returns the schema.
    pub async fn read_sql_each(
        &self,
        source: &str,
        query: &str,
        sink: &mut (dyn FnMut(RecordBatch) -> Result<()> + Send),
    ) -> Result<SchemaRef> {
        let query = load_query(query)?;
        if let Some(path) = self.sqlite_path(source)? {
            return sqlite::query_batches(path, query, self.batch_rows, sink).await;
        }
        let pooled = self.checkout(source).await?;
        let mut delivered = false;
        let mut counting = |b: RecordBatch| {
            delivered = true;
            sink(b)
        };
        let result =
            postgres::query_batches(&pooled.conn.client, &query, self.batch_rows, &mut counting)
                .await;
        let retry = match &result {
            Ok(_) => {
                self.pool.put(source, pooled);
                return result;
            }
            Err(_) if delivered => false,
            Err(e) => self.may_retry(source, &pooled, e).await,
        };
        if !retry {
            return result;
        }
        drop(pooled);
        self.query_fresh(source, &query, sink).await
    }

    /// Whether a read that failed with `e` on `pooled`, before any row was delivered, may run
    /// once more on a new connection: when the server had closed the pooled connection while
    /// it sat idle (e.g. a restart), or the lease's privileges are gone. Nothing ran in either case.
    async fn may_retry(&self, source: &str, pooled: &Pooled, e: &Error) -> bool {
        if pooled.reused && pooled.conn.is_closed() {
            tracing::info!(%source, "pooled connection was closed by the server; retrying once on a new one");
            return true;
        }
        let lost = self.lost_privileges(e, pooled.lease.as_ref()).await;
        if lost {
            tracing::info!(%source, "privileges lost with a revoked lease; retrying once with new credentials");
        }
        lost
    }

    /// Runs `query` on a new connection with current credentials, then pools the connection.
    async fn query_fresh(
        &self,
        source: &str,
        query: &str,
        sink: &mut (dyn FnMut(RecordBatch) -> Result<()> + Send),
    ) -> Result<SchemaRef> {
        let (conn, lease) = self.connect_postgres(source).await?;
        let schema = postgres::query_batches(&conn.client, query, self.batch_rows, sink).await?;
        let reused = false;
        self.pool.put(
            source,
            Pooled {
                conn,
                lease,
                reused,
            },
        );
        Ok(schema)
    }

    /// Runs `query` split into up to `partitions` ranges of the column `partition_on` (a
    /// numeric, date or timestamp column of its result, named as the result names it), each
    /// read on its own connection at the same time with the source's managed credentials.
    /// Returns all rows as one table, partition by partition in the order of the ranges.
    /// One statement more runs first: the column's `min` and `max` over the query. See
    /// [`crate::db::partition`] for how rows are assigned (NULLs included).
    pub async fn read_sql_partitioned(
        &self,
        source: &str,
        query: &str,
        partition_on: &str,
        partitions: usize,
    ) -> Result<Table> {
        let ignore: OnRows = Arc::new(|_| {});
        self.read_sql_partitioned_with_progress(source, query, partition_on, partitions, ignore)
            .await
    }

    /// [`read_sql_partitioned`](Self::read_sql_partitioned) that calls `on_rows` with the row
    /// count of each batch as a partition decodes it (from several tasks at once; for a
    /// progress report).
    pub async fn read_sql_partitioned_with_progress(
        &self,
        source: &str,
        query: &str,
        partition_on: &str,
        partitions: usize,
        on_rows: OnRows,
    ) -> Result<Table> {
        let query = load_query(query)?;
        let query = postgres::trim_statement(&query);
        if self.scheme(source)?.0 != Scheme::Postgres {
            return Err(Error::Usage(format!(
                "partitioned reads are not supported for SQLite: they need a PostgreSQL \
                 source; read {source:?} without partitions"
            )));
        }
        let bounds = self
            .read_sql(source, &partition::bounds_query(query, partition_on))
            .await?
            .concat()?;
        let queries = partition::partition_queries(
            query,
            partition_on,
            bounds.column(0),
            bounds.column(1),
            partitions,
        )?;
        if queries.len() == 1 {
            return self
                .read_sql_with_progress(source, &queries[0], on_rows)
                .await;
        }
        let pooled =
            futures_util::future::try_join_all(queries.iter().map(|_| self.checkout(source)))
                .await?;
        // Each partition decodes on a task of its own, so they use every worker thread.
        let batch_rows = self.batch_rows;
        let tasks: Vec<_> = queries
            .iter()
            .cloned()
            .zip(pooled)
            .map(|(q, p)| {
                let on_rows = on_rows.clone();
                tokio::spawn(async move {
                    let mut batches = Vec::new();
                    let result =
                        postgres::query_batches(&p.conn.client, &q, batch_rows, &mut |b| {
                            on_rows(b.num_rows());
                            batches.push(b);
                            Ok(())
                        })
                        .await;
                    (p, result.map(|schema| (schema, batches)))
                })
            })
            .collect();
        let aborts: Vec<_> = tasks.iter().map(|t| t.abort_handle()).collect();
        let _abort_on_return = AbortOnDrop(aborts);
        let mut schema = None;
        let mut batches = Vec::new();
        for (task, q) in tasks.into_iter().zip(&queries) {
            let (p, result) = task
                .await
                .map_err(|e| Error::Usage(format!("a partition's read task failed: {e}")))?;
            let (part_schema, part) = match result {
                Ok(done) => {
                    self.pool.put(source, p);
                    done
                }
                Err(e) if self.may_retry(source, &p, &e).await => {
                    drop(p);
                    let mut part = Vec::new();
                    let s = self
                        .query_fresh(source, q, &mut |b| {
                            on_rows(b.num_rows());
                            part.push(b);
                            Ok(())
                        })
                        .await?;
                    (s, part)
                }
                Err(e) => return Err(e),
            };
            schema.get_or_insert(part_schema);
            batches.extend(part);
        }
        let schema = schema.expect("at least two partitions");
        Ok(Table { schema, batches })
    }

    /// Runs `query` (or the `.sql` file it names) on `source` and returns all rows.
    pub async fn read_sql(&self, source: &str, query: &str) -> Result<Table> {
        self.read_sql_with_progress(source, query, Arc::new(|_| {}))
            .await
    }

    /// [`read_sql`](Self::read_sql) that calls `on_rows` with the row count of each batch as it
    /// is decoded (for a progress report).
    pub async fn read_sql_with_progress(
        &self,
        source: &str,
        query: &str,
        on_rows: OnRows,
    ) -> Result<Table> {
        let mut batches = Vec::new();
        let schema = self
            .read_sql_each(source, query, &mut |b| {
                on_rows(b.num_rows());
                batches.push(b);
                Ok(())
            })
            .await?;
        Ok(Table { schema, batches })
    }

    /// Runs a statement that returns no rows; the number of rows it affected. On a source with
    /// a Vault path (or a `db_role`), it first runs `SET ROLE` to the stable group role, so that
    /// objects it creates belong to that role and outlive the temporary user Vault drops.
    pub async fn execute_sql(&self, source: &str, sql: &str) -> Result<u64> {
        let sql = load_query(sql)?;
        if let Some(path) = self.sqlite_path(source)? {
            return sqlite::execute(path, sql).await;
        }
        let sql = &sql;
        self.with_write_role(source, |conn| async move {
            postgres::execute(&conn.client, sql).await
        })
        .await
    }

    /// Writes `batches` (all of `schema`) into `table` (`name` or `schema.name`) of the
    /// database `sink`, in one transaction: either every row is written or the table is left as
    /// it was. `if_exists` says what happens when the table exists (see [`IfExists`]; with
    /// `Append` a missing table is created). Runs as the source's group role (`SET ROLE`, as
    /// [`execute_sql`](Self::execute_sql)), so a created table belongs to that role. Returns the
    /// number of rows written.
    pub async fn write_table(
        &self,
        sink: &str,
        table: &str,
        schema: SchemaRef,
        batches: &[RecordBatch],
        if_exists: IfExists,
    ) -> Result<u64> {
        let ignore: OnRows = Arc::new(|_| {});
        self.write_table_with_progress(sink, table, schema, batches, if_exists, ignore)
            .await
    }

    /// [`write_table`](Self::write_table), calling `on_rows` with each batch's row count as it
    /// is sent (for a progress report; a write retried after lost privileges counts again).
    pub async fn write_table_with_progress(
        &self,
        sink: &str,
        table: &str,
        schema: SchemaRef,
        batches: &[RecordBatch],
        if_exists: IfExists,
        on_rows: OnRows,
    ) -> Result<u64> {
        if let Some(path) = self.sqlite_path(sink)? {
            let (table, batches) = (table.to_string(), batches.to_vec());
            return sqlite::write_table(path, table, schema, batches, if_exists, on_rows).await;
        }
        // Retrying is safe: a failed write rolled back, so nothing of it is in the table.
        let (schema, on_rows) = (&schema, &on_rows);
        self.with_write_role(sink, |mut conn| async move {
            postgres::write_table(&mut conn.client, table, schema, batches, if_exists, on_rows)
                .await
        })
        .await
    }

    /// Runs `op` on a new connection to `source` after `SET ROLE` to its write role (quoted),
    /// so that objects it creates belong to that role and outlive the temporary user Vault
    /// drops. A statement refused because the lease was revoked (see `lost_privileges`) runs
    /// once more on a new connection with new credentials.
    async fn with_write_role<T, F, Fut>(&self, source: &str, op: F) -> Result<T>
    where
        F: Fn(PgConnection) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let set_role = self
            .settings
            .write_role(source)
            .map(|role| format!("SET ROLE {}", quote_ident(&role)));
        let attempt = |conn: PgConnection| {
            let (set_role, op) = (&set_role, &op);
            async move {
                if let Some(set_role) = set_role {
                    postgres::execute(&conn.client, set_role).await?;
                }
                op(conn).await
            }
        };
        let (conn, lease) = self.connect_postgres(source).await?;
        match attempt(conn).await {
            Err(e) if self.lost_privileges(&e, lease.as_ref()).await => {
                tracing::info!(%source, "privileges lost with a revoked lease; retrying once with new credentials");
                let (conn, _) = self.connect_postgres(source).await?;
                attempt(conn).await
            }
            other => other,
        }
    }

    /// Revokes the leases this client created (unless configured not to).
    pub async fn close(&self) {
        if let Some(task) = &self.refresher {
            task.abort();
        }
        self.pool.clear();
        if let Some(cache) = &self.credentials {
            cache.close().await;
        }
    }
}

/// Aborts the tasks when dropped: a partitioned read that fails or is cancelled stops the rest.
struct AbortOnDrop(Vec<tokio::task::AbortHandle>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

impl Drop for AsyncClient {
    fn drop(&mut self) {
        if let Some(task) = &self.refresher {
            task.abort();
        }
    }
}

/// Keeps leases and the Vault token fresh while the client lives (it holds only a weak
/// reference, so dropping the client ends the loop).
async fn refresh_loop(cache: std::sync::Weak<CredentialCache>) {
    let mut wait = std::time::Duration::from_millis(500);
    loop {
        tokio::time::sleep(wait).await;
        let Some(cache) = cache.upgrade() else { return };
        if let Err(e) = cache.vault().keep_token_alive().await {
            tracing::warn!(error = %e, "background Vault token renewal failed; will retry");
        }
        wait = cache.refresh_due().await;
        if let Some(token_due) = cache.vault().token_refresh_in().await {
            wait = wait.min(token_due.max(std::time::Duration::from_millis(100)));
        }
    }
}

/// The blocking client: the same API as [`AsyncClient`] on a runtime of its own.
pub struct Client {
    runtime: tokio::runtime::Runtime,
    inner: Arc<AsyncClient>,
    closed: bool,
}

impl Client {
    /// A client configured from the environment and `./settings.json` (or `$DATAVERK_SETTINGS`).
    pub fn new() -> Result<Client> {
        Self::with_options(ClientOptions::default())
    }

    /// A client reading the given settings file.
    pub fn from_settings(path: impl AsRef<Path>) -> Result<Client> {
        Self::with_options(ClientOptions {
            settings_path: Some(path.as_ref().to_path_buf()),
            ..Default::default()
        })
    }

    /// A client with explicit options.
    pub fn with_options(options: ClientOptions) -> Result<Client> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(worker_threads())
            .thread_name("dataverk")
            .enable_all()
            .build()
            .map_err(|e| Error::Usage(format!("cannot start the I/O runtime: {e}")))?;
        let inner = Arc::new(runtime.block_on(AsyncClient::new(options))?);
        Ok(Client {
            runtime,
            inner,
            closed: false,
        })
    }

    /// The asynchronous client inside.
    pub fn inner(&self) -> &AsyncClient {
        &self.inner
    }

    /// Runs a future on the client's runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// See [`AsyncClient::read_sql`].
    pub fn read_sql(&self, source: &str, query: &str) -> Result<Table> {
        let (source, query) = (source.to_string(), query.to_string());
        self.on_worker(|c| async move { c.read_sql(&source, &query).await })
    }

    /// Runs `work` as a task on the runtime's workers and waits for it. Reads run there, not
    /// on the calling thread, because tokio-postgres hands every row of a COPY to the reading
    /// task through a channel: on a worker, the connection task wakes the reader on the same
    /// thread, where from the caller's thread each row cost a cross-thread wake-up.
    fn on_worker<T, F>(&self, work: impl FnOnce(Arc<AsyncClient>) -> F) -> Result<T>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<T>> + Send + 'static,
    {
        let task = self.runtime.spawn(work(self.inner.clone()));
        self.runtime.block_on(task).map_err(join_error)?
    }

    /// See [`AsyncClient::read_sql_each`].
    pub fn read_sql_each(
        &self,
        source: &str,
        query: &str,
        sink: &mut (dyn FnMut(RecordBatch) -> Result<()> + Send),
    ) -> Result<SchemaRef> {
        // The read runs on a worker (see `on_worker`) and hands each batch to this thread
        // through a channel of one: the sink runs here, and a slow sink holds the read back, so
        // memory stays bounded by a couple of batches.
        let (tx, rx) = std::sync::mpsc::sync_channel::<RecordBatch>(1);
        let (source, query) = (source.to_string(), query.to_string());
        let task = self.runtime.spawn({
            let inner = self.inner.clone();
            async move {
                let mut send = |batch| {
                    tokio::task::block_in_place(|| tx.send(batch))
                        .map_err(|_| Error::Usage("the batch consumer stopped".into()))
                };
                inner.read_sql_each(&source, &query, &mut send).await
            }
        });
        let mut failed = None;
        for batch in rx.iter() {
            if let Err(e) = sink(batch) {
                failed = Some(e);
                break;
            }
        }
        drop(rx);
        let result = self.runtime.block_on(task).map_err(join_error)?;
        match failed {
            Some(e) => Err(e),
            None => result,
        }
    }

    /// See [`AsyncClient::read_sql_partitioned`].
    pub fn read_sql_partitioned(
        &self,
        source: &str,
        query: &str,
        partition_on: &str,
        partitions: usize,
    ) -> Result<Table> {
        let (source, query, column) = (
            source.to_string(),
            query.to_string(),
            partition_on.to_string(),
        );
        self.on_worker(move |c| async move {
            c.read_sql_partitioned(&source, &query, &column, partitions)
                .await
        })
    }

    /// See [`AsyncClient::execute_sql`].
    pub fn execute_sql(&self, source: &str, sql: &str) -> Result<u64> {
        self.runtime.block_on(self.inner.execute_sql(source, sql))
    }

    /// See [`AsyncClient::write_table`].
    pub fn write_table(
        &self,
        sink: &str,
        table: &str,
        schema: SchemaRef,
        batches: &[RecordBatch],
        if_exists: IfExists,
    ) -> Result<u64> {
        self.runtime.block_on(
            self.inner
                .write_table(sink, table, schema, batches, if_exists),
        )
    }

    /// [`write_table`](Self::write_table) with a progress callback; see
    /// [`AsyncClient::write_table_with_progress`].
    pub fn write_table_with_progress(
        &self,
        sink: &str,
        table: &str,
        schema: SchemaRef,
        batches: &[RecordBatch],
        if_exists: IfExists,
        on_rows: OnRows,
    ) -> Result<u64> {
        self.runtime.block_on(
            self.inner
                .write_table_with_progress(sink, table, schema, batches, if_exists, on_rows),
        )
    }

    /// Revokes the leases this client created; also done when the client is dropped.
    pub fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            self.runtime.block_on(self.inner.close());
        }
    }
}

/// A task that did not finish: its panic goes on in the caller; a cancel is an error.
fn join_error(e: tokio::task::JoinError) -> Error {
    if e.is_panic() {
        std::panic::resume_unwind(e.into_panic())
    }
    Error::Usage(format!("the read was cancelled: {e}"))
}

/// Threads of a client's runtime: one per core (at least two), so partitioned reads decode in
/// parallel while the Vault refresh keeps running.
fn worker_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().max(2))
}

impl Drop for Client {
    fn drop(&mut self) {
        self.close();
    }
}
