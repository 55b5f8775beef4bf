//! Splitting a query into ranges of one column, read in parallel (like ConnectorX's
//! `partition_on`), as pure functions over SQL text and Arrow values.
//!
//! One extra statement finds the column's range: `SELECT min(c), max(c) FROM (query)`. The
//! range is cut into `n` equal parts at `n - 1` boundaries, and partition `i` reads
//! `SELECT * FROM (query) WHERE <predicate i>`:
//!
//! | partition | predicate |
//! |---|---|
//! | first | `c < b1 OR c IS NULL` |
//! | middle | `c >= bi AND c < bi+1` |
//! | last | `c >= bn-1` |
//!
//! Each boundary is the same SQL expression in the two partitions beside it, so every row falls
//! in exactly one partition whatever the boundaries' exact values: they only decide how even
//! the split is. Rows whose column is NULL are read with the first partition (ConnectorX drops
//! them), and NaN or ±Infinity values with the first or last.

use crate::client::quote_ident;
use crate::error::{Error, Result};
use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, TimeUnit, TimestampMicrosecondType, UInt32Type,
};

/// The statement that finds the partition column's range in `query`'s result.
pub fn bounds_query(query: &str, column: &str) -> String {
    let c = quote_ident(column);
    format!("SELECT min({c}), max({c}) FROM (\n{query}\n) AS dataverk_p")
}

/// The statements of up to `n` partitions of `query` on `column`, given the column's `min`
/// and `max` (one-value arrays, as [`bounds_query`] returns them). Fewer when the range has
/// fewer distinct boundaries (e.g. integers 1 to 3 in 8 partitions); one, the query itself,
/// when the column holds only NULLs or `n` is 1.
pub fn partition_queries(
    query: &str,
    column: &str,
    min: &ArrayRef,
    max: &ArrayRef,
    n: usize,
) -> Result<Vec<String>> {
    if n == 0 {
        return Err(Error::Usage(
            "partitions must be at least 1; give the number of connections to read on".into(),
        ));
    }
    let kind = BoundKind::of(column, min)?;
    let (Some(lo), Some(hi)) = (as_f64(min), as_f64(max)) else {
        return Ok(vec![query.to_string()]);
    };
    let boundaries = boundaries(kind, lo, hi, n);
    if boundaries.is_empty() {
        return Ok(vec![query.to_string()]);
    }
    let c = quote_ident(column);
    let literals: Vec<String> = boundaries.iter().map(|&b| kind.literal(b)).collect();
    let mut predicates = Vec::with_capacity(literals.len() + 1);
    predicates.push(format!("{c} < {} OR {c} IS NULL", literals[0]));
    for pair in literals.windows(2) {
        predicates.push(format!("{c} >= {} AND {c} < {}", pair[0], pair[1]));
    }
    predicates.push(format!("{c} >= {}", literals[literals.len() - 1]));
    Ok(predicates
        .into_iter()
        .map(|p| format!("SELECT * FROM (\n{query}\n) AS dataverk_p WHERE {p}"))
        .collect())
}

/// How a boundary of the column's type is computed and written in SQL.
#[derive(Clone, Copy, Debug, PartialEq)]
enum BoundKind {
    /// Integers: boundaries rounded to whole numbers.
    Integer,
    /// Floats and numerics: boundaries as decimal literals.
    Real,
    /// `date`: days since 1970-01-01.
    Date,
    /// `timestamp`: microseconds since 1970-01-01 00:00.
    Timestamp,
    /// `timestamptz`: microseconds since 1970-01-01 00:00 UTC.
    TimestampTz,
}

impl BoundKind {
    /// The kind for the column whose minimum is `min`.
    fn of(column: &str, min: &ArrayRef) -> Result<BoundKind> {
        Ok(match min.data_type() {
            DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::UInt32 => {
                BoundKind::Integer
            }
            DataType::Float32 | DataType::Float64 | DataType::Decimal128(..) => BoundKind::Real,
            // A numeric's min() and max() read as their text; other text does not parse.
            DataType::Utf8 if min.is_empty() || min.is_null(0) || as_f64(min).is_some() => {
                BoundKind::Real
            }
            DataType::Date32 => BoundKind::Date,
            DataType::Timestamp(TimeUnit::Microsecond, None) => BoundKind::Timestamp,
            DataType::Timestamp(TimeUnit::Microsecond, Some(_)) => BoundKind::TimestampTz,
            other => {
                return Err(Error::Usage(format!(
                    "cannot partition on column {column:?} of Arrow type {other}: choose a \
                     column of a numeric, date or timestamp type (an id or a date is best), or \
                     cast it in the query"
                )))
            }
        })
    }

    fn literal(self, b: f64) -> String {
        match self {
            BoundKind::Integer => format!("{}", b as i64),
            BoundKind::Real => format!("{b:?}"),
            BoundKind::Date => format!("(DATE '1970-01-01' + {})", b as i64),
            BoundKind::Timestamp => {
                format!(
                    "('epoch'::timestamp + {} * INTERVAL '1 microsecond')",
                    b as i64
                )
            }
            BoundKind::TimestampTz => {
                format!(
                    "('epoch'::timestamptz + {} * INTERVAL '1 microsecond')",
                    b as i64
                )
            }
        }
    }
}

/// The `n - 1` interior boundaries between `lo` and `hi`, increasing and without repeats.
fn boundaries(kind: BoundKind, lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if n < 2 || !lo.is_finite() || !hi.is_finite() || hi <= lo {
        return Vec::new();
    }
    let whole = kind != BoundKind::Real;
    let step = (hi - lo) / n as f64;
    let mut out: Vec<f64> = Vec::with_capacity(n - 1);
    for i in 1..n {
        let mut b = lo + step * i as f64;
        if whole {
            b = b.ceil();
        }
        if b > lo && b <= hi && out.last().is_none_or(|&last| b > last) {
            out.push(b);
        }
    }
    out
}

/// The one value of a bounds array as a number in its type's domain (see [`BoundKind`]).
fn as_f64(a: &ArrayRef) -> Option<f64> {
    if a.is_empty() || a.is_null(0) {
        return None;
    }
    Some(match a.data_type() {
        DataType::Int16 => a.as_primitive::<Int16Type>().value(0) as f64,
        DataType::Int32 => a.as_primitive::<Int32Type>().value(0) as f64,
        DataType::Int64 => a.as_primitive::<Int64Type>().value(0) as f64,
        DataType::UInt32 => a.as_primitive::<UInt32Type>().value(0) as f64,
        DataType::Float32 => a.as_primitive::<Float32Type>().value(0) as f64,
        DataType::Float64 => a.as_primitive::<Float64Type>().value(0),
        DataType::Decimal128(_, scale) => {
            a.as_primitive::<Decimal128Type>().value(0) as f64 / 10f64.powi(*scale as i32)
        }
        DataType::Date32 => a.as_primitive::<Date32Type>().value(0) as f64,
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            a.as_primitive::<TimestampMicrosecondType>().value(0) as f64
        }
        // min() and max() of a numeric column are numerics without a declared precision,
        // which read as their exact text.
        DataType::Utf8 => a.as_string::<i32>().value(0).parse().ok()?,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Date32Array, Float64Array, Int32Array, StringArray};
    use std::sync::Arc;

    fn int(v: Option<i32>) -> ArrayRef {
        Arc::new(Int32Array::from(vec![v]))
    }

    #[test]
    fn integers_split_evenly_and_cover_nulls_and_both_ends() {
        let q =
            partition_queries("SELECT * FROM t", "id", &int(Some(1)), &int(Some(100)), 4).unwrap();
        let wheres: Vec<&str> = q
            .iter()
            .map(|s| s.rsplit_once("WHERE ").unwrap().1)
            .collect();
        assert_eq!(
            wheres,
            [
                "\"id\" < 26 OR \"id\" IS NULL",
                "\"id\" >= 26 AND \"id\" < 51",
                "\"id\" >= 51 AND \"id\" < 76",
                "\"id\" >= 76",
            ]
        );
        assert!(q[0].starts_with("SELECT * FROM (\nSELECT * FROM t\n) AS dataverk_p WHERE"));
    }

    #[test]
    fn a_narrow_range_gives_fewer_partitions_and_nulls_give_one() {
        let q = partition_queries("q", "x", &int(Some(1)), &int(Some(3)), 8).unwrap();
        assert_eq!(q.len(), 3, "{q:?}");
        let q = partition_queries("q", "x", &int(Some(5)), &int(Some(5)), 8).unwrap();
        assert_eq!(q, ["q"]);
        let q = partition_queries("q", "x", &int(None), &int(None), 8).unwrap();
        assert_eq!(q, ["q"]);
        let q = partition_queries("q", "x", &int(Some(1)), &int(Some(9)), 1).unwrap();
        assert_eq!(q, ["q"]);
    }

    #[test]
    fn floats_dates_and_hostile_names() {
        let f = |v: f64| -> ArrayRef { Arc::new(Float64Array::from(vec![v])) };
        let q = partition_queries("q", "a\"b", &f(0.0), &f(1.0), 2).unwrap();
        assert!(
            q[0].ends_with("\"a\"\"b\" < 0.5 OR \"a\"\"b\" IS NULL"),
            "{}",
            q[0]
        );
        let q = partition_queries("q", "x", &f(0.0), &f(f64::INFINITY), 2).unwrap();
        assert_eq!(q, ["q"]);
        let d = |v: i32| -> ArrayRef { Arc::new(Date32Array::from(vec![v])) };
        let q = partition_queries("q", "day", &d(0), &d(10), 2).unwrap();
        assert!(
            q[1].ends_with("\"day\" >= (DATE '1970-01-01' + 5)"),
            "{}",
            q[1]
        );
    }

    #[test]
    fn numerics_as_text_work_and_other_types_and_zero_partitions_are_errors() {
        let t = |v: &str| -> ArrayRef { Arc::new(StringArray::from(vec![v])) };
        let q = partition_queries("q", "n", &t("-1.5"), &t("2.5"), 2).unwrap();
        assert!(q[0].ends_with("\"n\" < 0.5 OR \"n\" IS NULL"), "{}", q[0]);
        let s = t("a");
        let e = partition_queries("q", "name", &s, &s, 2).unwrap_err();
        assert!(
            e.to_string()
                .contains("cannot partition on column \"name\""),
            "{e}"
        );
        let e = partition_queries("q", "x", &int(Some(1)), &int(Some(2)), 0).unwrap_err();
        assert!(e.to_string().contains("at least 1"), "{e}");
    }
}
