//! Writers from record batches to files: CSV, Parquet, JSON (array) and JSON lines.
//!
//! Each writer streams batch by batch into a temporary file beside the target and renames it
//! into place only when everything was written, so a failed or interrupted run never leaves a
//! half-written file under the name the user asked for.
//!
//! Columns a format cannot hold are written as their text form (Arrow's display format, NULL
//! kept as NULL): in Parquet, intervals (arrow-rs writes no MonthDayNano); in CSV, lists,
//! structs and maps. All other columns keep their types.

use crate::error::{Error, Result};
use arrow::array::{Array, ArrayRef, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Rows per Parquet row group.
const ROW_GROUP_ROWS: usize = 122_880;

/// An output file format, chosen by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `.csv`, with a header row.
    Csv,
    /// `.parquet`, Snappy-compressed.
    Parquet,
    /// `.json`: one JSON array of row objects.
    Json,
    /// `.jsonl` / `.ndjson`: one JSON object per line.
    JsonLines,
}

impl Format {
    /// The format for `path`'s extension.
    pub fn from_path(path: &Path) -> Result<Format> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Ok(Format::Csv),
            "parquet" | "pq" => Ok(Format::Parquet),
            "json" => Ok(Format::Json),
            "jsonl" | "ndjson" => Ok(Format::JsonLines),
            _ => Err(Error::Usage(format!(
                "cannot tell the output format of {}: use a .csv, .parquet, .json or .jsonl file name",
                path.display()
            ))),
        }
    }
}

enum Inner {
    Csv(arrow::csv::Writer<BufWriter<File>>),
    Parquet(parquet::arrow::ArrowWriter<File>),
    Json(arrow::json::ArrayWriter<BufWriter<File>>),
    JsonLines(arrow::json::LineDelimitedWriter<BufWriter<File>>),
}

/// Whether `format` can hold a column of `data_type` as it is.
fn holds(format: Format, data_type: &DataType) -> bool {
    match (format, data_type) {
        (Format::Parquet, DataType::Interval(_)) => false,
        (Format::Parquet, DataType::List(f) | DataType::LargeList(f)) => {
            holds(format, f.data_type())
        }
        (
            Format::Csv,
            DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(..)
            | DataType::Struct(_)
            | DataType::Map(..),
        ) => false,
        _ => true,
    }
}

/// `array` as text, one string per value, NULLs kept.
fn as_text(array: &dyn Array) -> Result<ArrayRef> {
    let formatter = ArrayFormatter::try_new(array, &FormatOptions::default())?;
    let mut out = StringBuilder::with_capacity(array.len(), array.len() * 16);
    for i in 0..array.len() {
        if array.is_null(i) {
            out.append_null();
        } else {
            out.append_value(formatter.value(i).to_string());
        }
    }
    Ok(Arc::new(out.finish()))
}

/// A file being written; nothing appears under the target name until [`FileWriter::finish`].
pub struct FileWriter {
    inner: Option<Inner>,
    schema: SchemaRef,
    /// The columns written as text (see the module comment).
    as_text: Vec<usize>,
    /// The schema as written: `schema` with those columns as Utf8.
    written: SchemaRef,
    target: PathBuf,
    temp: PathBuf,
    rows: u64,
    batches: u64,
}

impl FileWriter {
    /// Starts writing `schema`-shaped batches to `path` in the format its extension names.
    pub fn create(path: &Path, schema: SchemaRef) -> Result<FileWriter> {
        let format = Format::from_path(path)?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::Usage(format!("{} is not a file name", path.display())))?;
        let as_text: Vec<usize> = (0..schema.fields().len())
            .filter(|&i| !holds(format, schema.field(i).data_type()))
            .collect();
        let written = if as_text.is_empty() {
            schema.clone()
        } else {
            let fields: Vec<Field> = schema
                .fields()
                .iter()
                .enumerate()
                .map(|(i, f)| match as_text.contains(&i) {
                    true => Field::new(f.name(), DataType::Utf8, true),
                    false => f.as_ref().clone(),
                })
                .collect();
            Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
        };
        let temp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        let file = File::create(&temp).map_err(|e| Error::io("cannot create", &temp, e))?;
        let inner = match format {
            Format::Csv => Inner::Csv(
                arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(BufWriter::new(file)),
            ),
            Format::Parquet => {
                let props = parquet::file::properties::WriterProperties::builder()
                    .set_compression(parquet::basic::Compression::SNAPPY)
                    // A row group is buffered whole before it is written: 122,880 rows (DuckDB's
                    // choice) instead of the crate's 1 M, and at most 64 MiB encoded, keep a
                    // streaming export's memory small whatever the width of a row.
                    .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
                    .set_max_row_group_bytes(Some(64 << 20))
                    .build();
                Inner::Parquet(parquet::arrow::ArrowWriter::try_new(
                    file,
                    written.clone(),
                    Some(props),
                )?)
            }
            Format::Json => Inner::Json(arrow::json::ArrayWriter::new(BufWriter::new(file))),
            Format::JsonLines => {
                Inner::JsonLines(arrow::json::LineDelimitedWriter::new(BufWriter::new(file)))
            }
        };
        Ok(FileWriter {
            inner: Some(inner),
            schema,
            as_text,
            written,
            target: path.to_path_buf(),
            temp,
            rows: 0,
            batches: 0,
        })
    }

    /// Appends one batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let converted;
        let batch = if self.as_text.is_empty() {
            batch
        } else {
            let mut columns = batch.columns().to_vec();
            for &i in &self.as_text {
                columns[i] = as_text(columns[i].as_ref())?;
            }
            converted = RecordBatch::try_new(self.written.clone(), columns)?;
            &converted
        };
        let inner = self
            .inner
            .as_mut()
            .ok_or_else(|| Error::Usage("writer already finished".into()))?;
        match inner {
            Inner::Csv(w) => w.write(batch)?,
            Inner::Parquet(w) => w.write(batch)?,
            Inner::Json(w) => w.write(batch)?,
            Inner::JsonLines(w) => w.write(batch)?,
        }
        self.rows += batch.num_rows() as u64;
        self.batches += 1;
        Ok(())
    }

    /// Flushes, syncs and renames the file into place; returns the number of rows written.
    pub fn finish(mut self) -> Result<u64> {
        if self.batches == 0 {
            // Still write the header / schema of an empty result.
            let empty = RecordBatch::new_empty(self.schema.clone());
            self.write(&empty)?;
        }
        let io = |e: std::io::Error, p: &Path| Error::io("cannot write", p, e);
        let file = match self.inner.take().expect("finish runs once") {
            Inner::Csv(w) => w
                .into_inner()
                .into_inner()
                .map_err(|e| io(e.into_error(), &self.temp))?,
            Inner::Parquet(w) => w.into_inner()?,
            Inner::Json(mut w) => {
                w.finish()?;
                w.into_inner()
                    .into_inner()
                    .map_err(|e| io(e.into_error(), &self.temp))?
            }
            Inner::JsonLines(mut w) => {
                w.finish()?;
                w.into_inner()
                    .into_inner()
                    .map_err(|e| io(e.into_error(), &self.temp))?
            }
        };
        file.sync_all().map_err(|e| io(e, &self.temp))?;
        std::fs::rename(&self.temp, &self.target)
            .map_err(|e| Error::io("cannot move the finished file to", &self.target, e))?;
        Ok(self.rows)
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        if self.inner.is_some() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int32Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int32, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int32Array::from(vec![Some(1), None])),
                Arc::new(StringArray::from(vec![Some("a,\"b\""), Some("c")])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn csv_json_and_jsonl() {
        let dir = tempfile::tempdir().unwrap();
        for (name, expected) in [
            ("o.csv", "n,s\n1,\"a,\"\"b\"\"\"\n,c\n"),
            ("o.json", "[{\"n\":1,\"s\":\"a,\\\"b\\\"\"},{\"s\":\"c\"}]"),
            (
                "o.jsonl",
                "{\"n\":1,\"s\":\"a,\\\"b\\\"\"}\n{\"s\":\"c\"}\n",
            ),
        ] {
            let path = dir.path().join(name);
            let b = batch();
            let mut w = FileWriter::create(&path, b.schema()).unwrap();
            w.write(&b).unwrap();
            assert!(
                !path.exists(),
                "nothing under the target name before finish"
            );
            assert_eq!(w.finish().unwrap(), 2);
            assert_eq!(std::fs::read_to_string(&path).unwrap(), expected, "{name}");
        }
    }

    #[test]
    fn parquet_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.parquet");
        let b = batch();
        let mut w = FileWriter::create(&path, b.schema()).unwrap();
        w.write(&b).unwrap();
        w.finish().unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            File::open(&path).unwrap(),
        )
        .unwrap()
        .build()
        .unwrap();
        let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0], b);
    }

    #[test]
    fn abandoned_writer_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.csv");
        let b = batch();
        let mut w = FileWriter::create(&path, b.schema()).unwrap();
        w.write(&b).unwrap();
        drop(w);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn intervals_in_parquet_and_lists_in_csv_are_written_as_text() {
        use arrow::array::{IntervalMonthDayNanoArray, ListArray};
        use arrow::datatypes::{Int32Type, IntervalMonthDayNano};
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), None, Some(3)]),
            None,
        ]);
        let span = IntervalMonthDayNanoArray::from(vec![
            Some(IntervalMonthDayNano::new(1, 2, 3_000_000_000)),
            None,
        ]);
        let schema = Arc::new(Schema::new(vec![
            Field::new("l", list.data_type().clone(), true),
            Field::new("i", span.data_type().clone(), true),
        ]));
        let b = RecordBatch::try_new(schema, vec![Arc::new(list), Arc::new(span)]).unwrap();
        let dir = tempfile::tempdir().unwrap();

        let csv = dir.path().join("o.csv");
        let mut w = FileWriter::create(&csv, b.schema()).unwrap();
        w.write(&b).unwrap();
        w.finish().unwrap();
        let text = std::fs::read_to_string(&csv).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("l,i"));
        let first = lines.next().unwrap();
        assert!(first.starts_with("\"[1, , 3]\","), "{first}");
        assert!(first.contains("1 mons 2 days"), "{first}");
        assert_eq!(lines.next(), Some(","));

        let pq = dir.path().join("o.parquet");
        let mut w = FileWriter::create(&pq, b.schema()).unwrap();
        w.write(&b).unwrap();
        w.finish().unwrap();
        let got: Vec<_> = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            File::open(&pq).unwrap(),
        )
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect();
        assert_eq!(got[0].column(0), b.column(0), "lists stay lists in Parquet");
        assert_eq!(got[0].schema().field(1).data_type(), &DataType::Utf8);
        let spans = got[0]
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert!(
            spans.value(0).starts_with("1 mons 2 days"),
            "{}",
            spans.value(0)
        );
        assert!(spans.is_null(1));
    }

    #[test]
    fn parquet_row_groups_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.parquet");
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int32, false)]));
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int32Array::from_iter_values(0..100_000))],
        )
        .unwrap();
        let mut w = FileWriter::create(&path, schema).unwrap();
        for _ in 0..3 {
            w.write(&b).unwrap();
        }
        assert_eq!(w.finish().unwrap(), 300_000);
        let reader =
            parquet::file::reader::SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        use parquet::file::reader::FileReader;
        let groups: Vec<i64> = reader
            .metadata()
            .row_groups()
            .iter()
            .map(|g| g.num_rows())
            .collect();
        assert_eq!(groups, [122_880, 122_880, 54_240]);
    }

    #[test]
    fn unknown_extension() {
        let err = Format::from_path(Path::new("x.xlsx"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(".csv, .parquet"), "{err}");
    }
}
