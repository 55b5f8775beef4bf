//! The commands that move data: `read-sql`, `execute` and `write`.

use crate::progress::Progress;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use clap::Args;
use dataverk::output::FileWriter;
use dataverk::{Client, ClientOptions, Error, Result};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// `dataverk read-sql`.
#[derive(Args)]
pub struct ReadSql {
    /// The source name from db_connection_strings.
    source: String,
    /// The query, or a file ending in .sql that holds it.
    query: String,
    /// Write all rows to this file (.csv, .parquet, .json, .jsonl) instead of printing.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Rows to print when not writing to a file.
    #[arg(long, default_value_t = 20, value_name = "N")]
    max_rows: usize,
    /// Split the query into ranges of this numeric, date or timestamp column of its result
    /// and read them on parallel connections (the whole result is then held in memory).
    #[arg(long, value_name = "COLUMN", requires = "partitions")]
    partition_on: Option<String>,
    /// How many ranges and connections for --partition-on.
    #[arg(long, value_name = "N", requires = "partition_on", value_parser = clap::value_parser!(u16).range(1..=256))]
    partitions: Option<u16>,
}

/// `dataverk execute`.
#[derive(Args)]
pub struct Execute {
    /// The source name from db_connection_strings.
    source: String,
    /// The statement, or a file ending in .sql that holds it.
    sql: String,
}

/// `dataverk write`.
#[derive(Args)]
pub struct Write {
    /// The source name from db_connection_strings.
    sink: String,
    /// The table: TABLE or SCHEMA.TABLE (created from the file's columns when missing).
    table: String,
    /// The rows: a .parquet file, or a .csv file with a header (column types inferred).
    #[arg(short, long, value_name = "FILE")]
    input: PathBuf,
    /// When the table exists: fail, replace it, or append to it (its columns must match).
    #[arg(long, default_value = "fail", value_name = "MODE", value_parser = ["fail", "replace", "append"])]
    if_exists: String,
}

/// Runs a query and prints its first rows, or streams all of them into a file.
pub fn read_sql(options: ClientOptions, args: ReadSql, quiet: bool) -> Result<bool> {
    let client = Client::with_options(options)?;
    let mut progress = Progress::new("read", quiet);
    let partitioned = args.partition_on.zip(args.partitions);
    match (args.output, partitioned) {
        (Some(path), Some((column, n))) => {
            let table =
                client.read_sql_partitioned(&args.source, &args.query, &column, n.into())?;
            let mut writer = FileWriter::create(&path, table.schema.clone())?;
            for batch in &table.batches {
                writer.write(batch)?;
            }
            let rows = writer.finish()?;
            eprintln!("wrote {rows} rows to {}", path.display());
        }
        (Some(path), None) => {
            let mut writer: Option<FileWriter> = None;
            let schema = client.read_sql_each(&args.source, &args.query, &mut |batch| {
                let w = match &mut writer {
                    Some(w) => w,
                    None => writer.insert(FileWriter::create(&path, batch.schema())?),
                };
                w.write(&batch)?;
                progress.add(batch.num_rows());
                Ok(())
            })?;
            progress.finish();
            let writer = match writer {
                Some(w) => w,
                None => FileWriter::create(&path, schema)?,
            };
            let rows = writer.finish()?;
            eprintln!("wrote {rows} rows to {}", path.display());
        }
        (None, partitioned) => {
            // Only the rows shown are kept; the rest are counted as they stream past.
            let max_rows = args.max_rows;
            let mut shown = Vec::new();
            let mut total = 0;
            let mut keep = |batch: RecordBatch| {
                let take = max_rows.saturating_sub(total).min(batch.num_rows());
                if take > 0 {
                    shown.push(batch.slice(0, take));
                }
                total += batch.num_rows();
            };
            let schema = match partitioned {
                Some((column, n)) => {
                    let table = client.read_sql_partitioned(
                        &args.source,
                        &args.query,
                        &column,
                        n.into(),
                    )?;
                    table.batches.into_iter().for_each(&mut keep);
                    table.schema
                }
                None => client.read_sql_each(&args.source, &args.query, &mut |batch| {
                    progress.add(batch.num_rows());
                    keep(batch);
                    Ok(())
                })?,
            };
            progress.finish();
            if shown.is_empty() {
                shown.push(RecordBatch::new_empty(schema));
            }
            println!("{}", arrow::util::pretty::pretty_format_batches(&shown)?);
            if total > max_rows {
                println!("({total} rows, first {max_rows} shown)");
            } else {
                println!("({total} rows)");
            }
        }
    }
    Ok(true)
}

/// Runs a statement and prints the number of rows it affected.
pub fn execute(options: ClientOptions, args: Execute) -> Result<bool> {
    let client = Client::with_options(options)?;
    let n = client.execute_sql(&args.source, &args.sql)?;
    println!("{n} rows affected");
    Ok(true)
}

/// Writes a Parquet or CSV file into a table.
pub fn write(options: ClientOptions, args: Write, quiet: bool) -> Result<bool> {
    let client = Client::with_options(options)?;
    let (schema, batches) = read_input(&args.input)?;
    let progress = Arc::new(Mutex::new(Progress::new("wrote", quiet)));
    let report = progress.clone();
    let n = client.write_table_with_progress(
        &args.sink,
        &args.table,
        schema,
        &batches,
        args.if_exists.parse()?,
        Arc::new(move |rows| report.lock().unwrap_or_else(|p| p.into_inner()).add(rows)),
    )?;
    progress.lock().unwrap_or_else(|p| p.into_inner()).finish();
    eprintln!("wrote {n} rows to {}", args.table);
    Ok(true)
}

/// All rows of a `.parquet` or `.csv` file (CSV: header row, column types inferred).
fn read_input(path: &Path) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let open =
        || std::fs::File::open(path).map_err(|e| Error::io("cannot read the input file", path, e));
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let (schema, reader): (_, Box<dyn Iterator<Item = _>>) = match ext.to_ascii_lowercase().as_str()
    {
        "parquet" | "pq" => {
            let builder =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(open()?)?;
            (builder.schema().clone(), Box::new(builder.build()?))
        }
        "csv" => {
            let format = arrow::csv::reader::Format::default().with_header(true);
            let (schema, _) = format.infer_schema(open()?, None)?;
            let schema = std::sync::Arc::new(schema);
            let reader = arrow::csv::ReaderBuilder::new(schema.clone())
                .with_format(format)
                .build(open()?)?;
            (schema, Box::new(reader))
        }
        _ => {
            return Err(Error::Usage(format!(
                "cannot tell the format of {}: name a .parquet or .csv file",
                path.display()
            )))
        }
    };
    let batches = reader.collect::<std::result::Result<Vec<_>, arrow::error::ArrowError>>()?;
    Ok((schema, batches))
}
