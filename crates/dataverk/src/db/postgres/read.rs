//! Running a query and streaming its rows into Arrow record batches.

use std::borrow::Cow;

use super::connect::sql_error;
use super::decode::{CopyBinaryDecoder, RowsBuilder};
use super::types::{plan_for, ColumnPlan, PgKind};
use crate::error::{Error, Result};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use futures_util::{pin_mut, StreamExt};
use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::SimpleQueryMessage;

/// Any value's raw binary form, for the normal-protocol path.
struct Raw<'a>(Option<&'a [u8]>);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(
        _: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(Some(raw)))
    }

    fn from_sql_null(
        _: &Type,
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// The statement without surrounding blanks and trailing semicolons.
pub fn trim_statement(sql: &str) -> &str {
    sql.trim()
        .trim_end_matches(|c: char| c == ';' || c.is_whitespace())
}

/// The first keyword of a statement, lower-cased, skipping comments and opening parentheses.
fn first_keyword(sql: &str) -> String {
    let mut rest = sql;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '(');
        if let Some(r) = rest.strip_prefix("--") {
            rest = r.split_once('\n').map(|(_, r)| r).unwrap_or("");
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map(|(_, r)| r).unwrap_or("");
        } else {
            break;
        }
    }
    rest.chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Whether `COPY (statement) TO STDOUT` can run it: queries, and data-modifying statements
/// with RETURNING. SHOW, EXPLAIN, FETCH and the like cannot be wrapped.
fn copyable(sql: &str) -> bool {
    matches!(
        first_keyword(sql).as_str(),
        "select" | "with" | "values" | "table" | "insert" | "update" | "delete" | "merge"
    )
}

/// The query with each column that has a cast in its plan cast in SQL. The casts need the
/// query as a CTE with positional column aliases, which also keeps duplicate column names
/// working (the Arrow schema takes the original names from the description).
fn select_sql<'q>(query: &'q str, plans: &[ColumnPlan]) -> Cow<'q, str> {
    if plans.iter().all(|p| p.cast.is_none()) {
        return Cow::Borrowed(query);
    }
    let aliases: Vec<String> = (0..plans.len()).map(|i| format!("c{i}")).collect();
    let select: Vec<String> = plans
        .iter()
        .zip(&aliases)
        .map(|(plan, alias)| match plan.cast {
            None => alias.clone(),
            Some(cast) => format!("{alias}::{cast}"),
        })
        .collect();
    Cow::Owned(format!(
        "WITH dataverk_q({}) AS (\n{query}\n) SELECT {} FROM dataverk_q",
        aliases.join(", "),
        select.join(", ")
    ))
}

/// The COPY statement that sends `select` (from [`select_sql`]) in binary.
fn copy_sql(select: &str) -> String {
    format!("COPY (\n{select}\n) TO STDOUT (FORMAT binary)")
}

fn decode_error(e: super::decode::DecodeError) -> Error {
    Error::Decode(e.to_string())
}

/// Which protocol carries a query's rows. Both give the same schema and values, except where
/// [`ReadPath::Query`] says otherwise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReadPath {
    /// COPY when the statement allows it, else the normal protocol.
    #[default]
    Auto,
    /// `COPY (…) TO STDOUT (FORMAT binary)`: the fastest, but only for queries (SELECT,
    /// VALUES, TABLE, WITH, and INSERT/UPDATE/DELETE/MERGE … RETURNING).
    Copy,
    /// The normal (extended) protocol with binary results, for any statement that returns
    /// rows. A statement COPY cannot run (SHOW, EXPLAIN, FETCH, EXECUTE, CALL) cannot have
    /// casts put around it either: when one of its columns has a type without a binary
    /// decoder, it runs through the simple protocol and every column comes back as Postgres'
    /// text (Utf8).
    Query,
}

/// Runs `query` and hands its rows to `sink` in record batches of up to `batch_rows` rows, as
/// they arrive. Returns the schema, which is known even when there are no rows.
pub async fn query_batches(
    client: &tokio_postgres::Client,
    query: &str,
    batch_rows: usize,
    sink: &mut (dyn FnMut(RecordBatch) -> Result<()> + Send),
) -> Result<SchemaRef> {
    query_batches_via(client, query, batch_rows, ReadPath::Auto, sink).await
}

/// [`query_batches`] over a chosen protocol; for tests and benchmarks that compare the two.
pub async fn query_batches_via(
    client: &tokio_postgres::Client,
    query: &str,
    batch_rows: usize,
    path: ReadPath,
    sink: &mut (dyn FnMut(RecordBatch) -> Result<()> + Send),
) -> Result<SchemaRef> {
    let query = trim_statement(query);
    let statement = client.prepare(query).await.map_err(sql_error)?;
    let columns = statement.columns();
    if columns.is_empty() {
        return Err(Error::Usage(
            "the statement returns no rows; run it with `execute` instead of `read-sql`".into(),
        ));
    }
    let names: Vec<String> = columns.iter().map(|c| c.name().to_string()).collect();
    let plans: Vec<ColumnPlan> = columns
        .iter()
        .map(|c| plan_for(c.type_(), c.type_modifier()))
        .collect();
    let batch_rows = batch_rows.max(1);
    let copyable = copyable(query);
    let path = match path {
        ReadPath::Auto if copyable => ReadPath::Copy,
        ReadPath::Auto => ReadPath::Query,
        chosen => chosen,
    };
    let select = select_sql(query, &plans);
    if path == ReadPath::Query && !copyable && matches!(select, Cow::Owned(_)) {
        if let Some((name, ty)) = columns
            .iter()
            .zip(&plans)
            .find_map(|(c, p)| p.cast.map(|_| (c.name(), c.type_())))
        {
            tracing::debug!(column = name, r#type = %ty, "no binary decoder and no way to cast; reading every column as text");
        }
        return read_as_text(client, query, &names, batch_rows, sink).await;
    }

    let kinds: Vec<PgKind> = plans.into_iter().map(|p| p.kind).collect();
    let mut rows = RowsBuilder::new(&names, &kinds, batch_rows.min(8192));
    let schema = rows.schema();
    if path == ReadPath::Copy {
        let stream = client
            .copy_out(copy_sql(&select).as_str())
            .await
            .map_err(sql_error)?;
        pin_mut!(stream);
        let mut decoder = CopyBinaryDecoder::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(sql_error)?;
            decoder.decode(&chunk, &mut rows).map_err(decode_error)?;
            if rows.len() >= batch_rows {
                sink(rows.finish())?;
            }
        }
        decoder.finish().map_err(decode_error)?;
    } else {
        let statement = match &select {
            // Already prepared: no second round trip.
            Cow::Borrowed(_) => statement,
            Cow::Owned(sql) => client.prepare(sql).await.map_err(sql_error)?,
        };
        let stream = client
            .query_raw(&statement, std::iter::empty::<i32>())
            .await
            .map_err(sql_error)?;
        pin_mut!(stream);
        while let Some(row) = stream.next().await {
            let row = row.map_err(sql_error)?;
            for i in 0..kinds.len() {
                let Raw(value) = row.try_get::<_, Raw>(i).map_err(sql_error)?;
                rows.append(i, value).map_err(decode_error)?;
            }
            if rows.len() >= batch_rows {
                sink(rows.finish())?;
            }
        }
    }
    if !rows.is_empty() {
        sink(rows.finish())?;
    }
    Ok(schema)
}

/// Runs `query` through the simple protocol, whose values are always Postgres' text, and
/// hands every column over as Utf8.
async fn read_as_text(
    client: &tokio_postgres::Client,
    query: &str,
    names: &[String],
    batch_rows: usize,
    sink: &mut (dyn FnMut(RecordBatch) -> Result<()> + Send),
) -> Result<SchemaRef> {
    let kinds = vec![PgKind::Text; names.len()];
    let mut rows = RowsBuilder::new(names, &kinds, batch_rows.min(8192));
    let schema = rows.schema();
    let stream = client.simple_query_raw(query).await.map_err(sql_error)?;
    pin_mut!(stream);
    while let Some(message) = stream.next().await {
        let SimpleQueryMessage::Row(row) = message.map_err(sql_error)? else {
            continue;
        };
        for i in 0..kinds.len() {
            let value = row.try_get(i).map_err(sql_error)?;
            rows.append(i, value.map(str::as_bytes))
                .map_err(decode_error)?;
        }
        if rows.len() >= batch_rows {
            sink(rows.finish())?;
        }
    }
    if !rows.is_empty() {
        sink(rows.finish())?;
    }
    Ok(schema)
}

/// Runs one statement that returns no rows; the number of rows it affected.
pub async fn execute(client: &tokio_postgres::Client, sql: &str) -> Result<u64> {
    client
        .execute(trim_statement(sql), &[])
        .await
        .map_err(sql_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_skip_comments_and_parens() {
        assert_eq!(first_keyword("  -- hi\n /* x */ (SELECT 1)"), "select");
        assert!(copyable("WITH a AS (SELECT 1) SELECT * FROM a"));
        assert!(copyable("insert into t values (1) returning *"));
        assert!(!copyable("SHOW server_version"));
        assert!(!copyable("EXPLAIN SELECT 1"));
    }

    #[test]
    fn only_columns_without_a_binary_decoder_are_cast() {
        let int4 = plan_for(&Type::INT4, -1);
        assert_eq!(
            copy_sql(&select_sql("SELECT 1 -- c", std::slice::from_ref(&int4))),
            "COPY (\nSELECT 1 -- c\n) TO STDOUT (FORMAT binary)"
        );
        assert!(matches!(
            select_sql("SELECT 1", std::slice::from_ref(&int4)),
            Cow::Borrowed(_)
        ));
        let plans = [
            int4,
            plan_for(&Type::POINT, -1),
            plan_for(&Type::MONEY_ARRAY, -1),
        ];
        assert_eq!(
            copy_sql(&select_sql("SELECT 1, x, y", &plans)),
            "COPY (\nWITH dataverk_q(c0, c1, c2) AS (\nSELECT 1, x, y\n) \
             SELECT c0, c1::text, c2::numeric[] FROM dataverk_q\n) TO STDOUT (FORMAT binary)"
        );
    }

    #[test]
    fn trims() {
        assert_eq!(trim_statement(" SELECT 1 ;\n; "), "SELECT 1");
    }
}
