//! Running a query and streaming its rows into Arrow record batches.

use super::connect::sql_error;
use super::decode::{CopyBinaryDecoder, RowsBuilder};
use super::types::{kind_for, PgKind};
use crate::error::{Error, Result};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use futures_util::{pin_mut, StreamExt};
use tokio_postgres::types::{FromSql, Type};

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
fn trim_statement(sql: &str) -> &str {
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

/// The COPY statement for `query`. Columns without a binary decoder are cast to text in SQL;
/// that needs the query as a CTE with positional column aliases, which also keeps duplicate
/// column names working (the Arrow schema takes the original names from the description).
fn copy_sql(query: &str, kinds: &[Option<PgKind>]) -> String {
    if kinds.iter().all(Option::is_some) {
        return format!("COPY (\n{query}\n) TO STDOUT (FORMAT binary)");
    }
    let aliases: Vec<String> = (0..kinds.len()).map(|i| format!("c{i}")).collect();
    let select: Vec<String> = kinds
        .iter()
        .zip(&aliases)
        .map(|(k, a)| match k {
            Some(_) => a.clone(),
            None => format!("{a}::text"),
        })
        .collect();
    format!(
        "COPY (WITH dataverk_q({}) AS (\n{query}\n) SELECT {} FROM dataverk_q) TO STDOUT (FORMAT binary)",
        aliases.join(", "),
        select.join(", ")
    )
}

fn decode_error(e: super::decode::DecodeError) -> Error {
    Error::Decode(e.to_string())
}

/// Runs `query` and hands its rows to `sink` in record batches of up to `batch_rows` rows, as
/// they arrive. Returns the schema, which is known even when there are no rows.
pub async fn query_batches(
    client: &tokio_postgres::Client,
    query: &str,
    batch_rows: usize,
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
    let kinds: Vec<Option<PgKind>> = columns
        .iter()
        .map(|c| kind_for(c.type_(), c.type_modifier()))
        .collect();
    let decode_kinds: Vec<PgKind> = kinds.iter().map(|k| k.unwrap_or(PgKind::Text)).collect();
    let batch_rows = batch_rows.max(1);
    let mut rows = RowsBuilder::new(&names, &decode_kinds, batch_rows.min(8192));
    let schema = rows.schema();

    if copyable(query) {
        let stream = client
            .copy_out(copy_sql(query, &kinds).as_str())
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
        let stream = client
            .query_raw(&statement, std::iter::empty::<i32>())
            .await
            .map_err(sql_error)?;
        pin_mut!(stream);
        let mut hex = String::new();
        while let Some(row) = stream.next().await {
            let row = row.map_err(sql_error)?;
            for (i, kind) in kinds.iter().enumerate() {
                let Raw(value) = row.try_get::<_, Raw>(i).map_err(sql_error)?;
                match (kind, value) {
                    // A type without a binary decoder cannot be cast here: keep its bytes as
                    // text when they are UTF-8 (the usual case), else as Postgres' hex form.
                    (None, Some(bytes)) if std::str::from_utf8(bytes).is_err() => {
                        hex.clear();
                        hex.push_str("\\x");
                        for b in bytes {
                            hex.push_str(&format!("{b:02x}"));
                        }
                        rows.append(i, Some(hex.as_bytes())).map_err(decode_error)?
                    }
                    _ => rows.append(i, value).map_err(decode_error)?,
                }
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
    fn copy_statement_casts_only_undecodable_columns() {
        assert_eq!(
            copy_sql("SELECT 1 -- c", &[Some(PgKind::Int4)]),
            "COPY (\nSELECT 1 -- c\n) TO STDOUT (FORMAT binary)"
        );
        assert_eq!(
            copy_sql("SELECT 1, x", &[Some(PgKind::Int4), None]),
            "COPY (WITH dataverk_q(c0, c1) AS (\nSELECT 1, x\n) SELECT c0, c1::text FROM dataverk_q) TO STDOUT (FORMAT binary)"
        );
    }

    #[test]
    fn trims() {
        assert_eq!(trim_statement(" SELECT 1 ;\n; "), "SELECT 1");
    }
}
