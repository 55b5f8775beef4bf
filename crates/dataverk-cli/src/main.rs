//! The `dataverk` command line: glue between flags and the dataverk library.
//!
//! All behaviour lives in the library; this file parses arguments, sets up logging, prints
//! results and turns errors into a message on stderr and a non-zero exit code.

mod access;
mod inspect;
mod progress;

use clap::{Parser, Subcommand};
use dataverk::output::FileWriter;
use dataverk::{Client, ClientOptions};
use std::path::PathBuf;
use std::process::ExitCode;

/// Read from and write to databases by source name, with credentials from Vault.
#[derive(Parser)]
#[command(name = "dataverk", version, about, long_about = None)]
struct Cli {
    /// The settings file (default: $DATAVERK_SETTINGS, else ./settings.json).
    #[arg(long, global = true, value_name = "FILE")]
    settings: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a query on a source and print the result or write it to a file.
    ReadSql {
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
    },
    /// Run a statement that returns no rows (DDL, INSERT, UPDATE, ...) and print the row count.
    Execute {
        /// The source name from db_connection_strings.
        source: String,
        /// The statement, or a file ending in .sql that holds it.
        sql: String,
    },
    /// Write the rows of a Parquet or CSV file into a table, all or nothing.
    Write {
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
    },
    /// Check every link from settings to database, one line per step with the fix for failures.
    Doctor {
        /// Only this source (default: every source in the settings).
        source: Option<String>,
    },
    /// Show the resolved settings, with secrets masked.
    Settings {
        #[command(subcommand)]
        command: inspect::SettingsCommand,
    },
    /// Talk to Vault directly.
    Vault {
        #[command(subcommand)]
        command: inspect::VaultCommand,
    },
    /// Write and check vault-iac access files (seed step 1).
    Access {
        #[command(subcommand)]
        command: access::AccessCommand,
    },
}

fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

/// Runs a command; `Ok(false)` when it ran but found problems (exit code 1, nothing more to say).
fn run(cli: Cli) -> dataverk::Result<bool> {
    let options = ClientOptions {
        settings_path: cli.settings.clone(),
        ..Default::default()
    };
    let command = match cli.command {
        Command::Access { command } => return access::run(command),
        Command::Doctor { source } => return inspect::doctor(options, source.as_deref()),
        Command::Settings { command } => return inspect::settings(options, command),
        Command::Vault { command } => return inspect::vault(command),
        other => other,
    };
    let client = Client::with_options(options)?;
    let mut progress = progress::Progress::new("read", cli.quiet);
    match command {
        Command::ReadSql {
            source,
            query,
            output: Some(path),
            partition_on: Some(column),
            partitions: Some(n),
            ..
        } => {
            let table = client.read_sql_partitioned(&source, &query, &column, n.into())?;
            let mut writer = FileWriter::create(&path, table.schema.clone())?;
            for batch in &table.batches {
                writer.write(batch)?;
            }
            let rows = writer.finish()?;
            eprintln!("wrote {rows} rows to {}", path.display());
        }
        Command::ReadSql {
            source,
            query,
            output: Some(path),
            ..
        } => {
            let mut writer: Option<FileWriter> = None;
            let schema = client.read_sql_each(&source, &query, &mut |batch| {
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
        Command::ReadSql {
            source,
            query,
            output: None,
            max_rows,
            partition_on,
            partitions,
        } => {
            // Only the rows shown are kept; the rest are counted as they stream past.
            let mut shown = Vec::new();
            let mut total = 0;
            let mut keep = |batch: arrow::record_batch::RecordBatch| {
                let take = max_rows.saturating_sub(total).min(batch.num_rows());
                if take > 0 {
                    shown.push(batch.slice(0, take));
                }
                total += batch.num_rows();
            };
            let schema = match (partition_on, partitions) {
                (Some(column), Some(n)) => {
                    let table = client.read_sql_partitioned(&source, &query, &column, n.into())?;
                    table.batches.into_iter().for_each(&mut keep);
                    table.schema
                }
                _ => client.read_sql_each(&source, &query, &mut |batch| {
                    progress.add(batch.num_rows());
                    keep(batch);
                    Ok(())
                })?,
            };
            progress.finish();
            if shown.is_empty() {
                shown.push(arrow::record_batch::RecordBatch::new_empty(schema));
            }
            println!("{}", arrow::util::pretty::pretty_format_batches(&shown)?);
            if total > max_rows {
                println!("({total} rows, first {max_rows} shown)");
            } else {
                println!("({total} rows)");
            }
        }
        Command::Execute { source, sql } => {
            let n = client.execute_sql(&source, &sql)?;
            println!("{n} rows affected");
        }
        Command::Write {
            sink,
            table,
            input,
            if_exists,
        } => {
            let (schema, batches) = read_input(&input)?;
            let n = client.write_table(&sink, &table, schema, &batches, if_exists.parse()?)?;
            eprintln!("wrote {n} rows to {table}");
        }
        Command::Doctor { .. }
        | Command::Settings { .. }
        | Command::Vault { .. }
        | Command::Access { .. } => unreachable!("handled before the client is made"),
    }
    Ok(true)
}

/// All rows of a `.parquet` or `.csv` file (CSV: header row, column types inferred).
fn read_input(
    path: &std::path::Path,
) -> dataverk::Result<(
    arrow::datatypes::SchemaRef,
    Vec<arrow::record_batch::RecordBatch>,
)> {
    let open = || {
        std::fs::File::open(path)
            .map_err(|e| dataverk::Error::io("cannot read the input file", path, e))
    };
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
            return Err(dataverk::Error::Usage(format!(
                "cannot tell the format of {}: name a .parquet or .csv file",
                path.display()
            )))
        }
    };
    let batches = reader.collect::<Result<Vec<_>, arrow::error::ArrowError>>()?;
    Ok((schema, batches))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(hint) = inspect::access_hint(&e) {
                eprintln!("{hint}");
            }
            ExitCode::FAILURE
        }
    }
}
