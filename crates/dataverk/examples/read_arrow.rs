//! Reads one query into an Arrow [`dataverk::Table`] and prints a JSON line about it: rows,
//! columns, seconds, and the Arrow memory it holds. `make bench` (bench/run.sh) runs it to
//! measure dataverk as a library, one process per measurement.
//!
//! ```text
//! read_arrow SETTINGS SOURCE QUERY [--partition-on COLUMN --partitions N]
//! ```

use dataverk::{Client, ClientOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

fn run(args: &[String]) -> dataverk::Result<String> {
    let usage = || {
        dataverk::Error::Usage(
            "usage: read_arrow SETTINGS SOURCE QUERY [--partition-on COLUMN --partitions N]".into(),
        )
    };
    let (settings, source, query, partitions) = match args {
        [settings, source, query] => (settings, source, query, None),
        [settings, source, query, flag_on, column, flag_n, n]
            if flag_on == "--partition-on" && flag_n == "--partitions" =>
        {
            let n: usize = n.parse().map_err(|_| usage())?;
            (settings, source, query, Some((column, n)))
        }
        _ => return Err(usage()),
    };
    let started = Instant::now();
    let client = Client::with_options(ClientOptions {
        settings_path: Some(PathBuf::from(settings)),
        env_file: None,
        ..Default::default()
    })?;
    let table = match partitions {
        None => client.read_sql(source, query)?,
        Some((column, n)) => client.read_sql_partitioned(source, query, column, n)?,
    };
    let seconds = started.elapsed().as_secs_f64();

    // Allocated bytes (what the process holds) and the bytes the values need (what pyarrow's
    // `Table.nbytes` reports), to compare peak RSS with the size of the result.
    let mut allocated = 0;
    let mut data = 0;
    for batch in &table.batches {
        allocated += batch.get_array_memory_size();
        for column in batch.columns() {
            data += column.to_data().get_slice_memory_size()?;
        }
    }
    Ok(format!(
        "{{\"rows\": {}, \"columns\": {}, \"batches\": {}, \"read_s\": {seconds:.6}, \
         \"arrow_allocated_bytes\": {allocated}, \"arrow_data_bytes\": {data}}}",
        table.num_rows(),
        table.schema.fields().len(),
        table.batches.len(),
    ))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
