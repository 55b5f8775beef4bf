//! The `COPY … TO STDOUT (FORMAT binary)` stream format, cut into fields for a [`RowsBuilder`].
//!
//! The stream is an 11-byte signature, a flags word, a header extension (length + bytes), then
//! one tuple per row (a 16-bit field count, then per field a 32-bit length, -1 for NULL, and
//! the bytes), and a trailer: a field count of -1. All integers are big-endian.

use super::{DecodeError, RowsBuilder};

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
/// Signature, flags and header extension length.
const HEADER_FIXED_LEN: usize = 19;
/// Flag bits 16..=31 mark format changes a reader must understand (bit 16: each row carries an
/// OID, which no supported Postgres sends); bits 0..=15 may be ignored.
const CRITICAL_FLAGS: u32 = 0xFFFF_0000;

/// Largest held-back buffer kept for reuse once its item is decoded.
const PENDING_KEEP_CAPACITY: usize = 64 * 1024;

/// Parses a binary COPY stream that arrives in chunks split at arbitrary byte positions.
#[derive(Debug, Default)]
pub struct CopyBinaryDecoder {
    state: State,
    /// The start of an item (header or tuple) whose end has not arrived yet.
    pending: Vec<u8>,
    /// Tuples seen so far, for row numbers in errors.
    tuples: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    #[default]
    Header,
    Tuples,
    Done,
    Failed,
}

/// How much of the input the next item takes.
#[derive(Clone, Copy, Debug)]
enum Extent {
    /// The item is complete and this many bytes long.
    Complete(usize),
    /// The item is incomplete; at least this many bytes are needed to learn more.
    AtLeast(usize),
}

impl CopyBinaryDecoder {
    /// A decoder expecting the start of the stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes every complete tuple in `chunk` (plus bytes held back from earlier chunks) into
    /// `rows`; returns the number of rows added. After an error the decoder stays failed.
    pub fn decode(&mut self, chunk: &[u8], rows: &mut RowsBuilder) -> Result<usize, DecodeError> {
        if self.state == State::Failed {
            return Err(DecodeError::Poisoned);
        }
        let before = self.tuples;
        let result = self.decode_chunk(chunk, rows);
        if result.is_err() {
            self.state = State::Failed;
        }
        result.map(|()| (self.tuples - before) as usize)
    }

    /// Checks the stream ended cleanly with the trailer.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.state {
            State::Done => Ok(()),
            State::Failed => Err(DecodeError::Poisoned),
            State::Header => Err(DecodeError::Truncated("before the end of its header")),
            State::Tuples if self.pending.is_empty() => {
                Err(DecodeError::Truncated("without the end-of-data trailer"))
            }
            State::Tuples => Err(DecodeError::Truncated("inside a row")),
        }
    }

    fn decode_chunk(&mut self, chunk: &[u8], rows: &mut RowsBuilder) -> Result<(), DecodeError> {
        let mut input = chunk;
        if !self.pending.is_empty() {
            // Move over just enough bytes to complete the held-back item, so that everything
            // after it can be decoded in place.
            let len = loop {
                match self.measure(&self.pending, rows.num_columns())? {
                    Extent::Complete(len) => break len,
                    Extent::AtLeast(_) if input.is_empty() => return Ok(()),
                    Extent::AtLeast(needed) => {
                        let take = (needed - self.pending.len()).min(input.len());
                        self.pending.extend_from_slice(&input[..take]);
                        input = &input[take..];
                    }
                }
            };
            debug_assert_eq!(len, self.pending.len());
            let item = std::mem::take(&mut self.pending);
            let result = self.consume(&item, rows);
            // Reuse the buffer for the next incomplete tail, unless one large value grew it.
            if item.capacity() <= PENDING_KEEP_CAPACITY {
                self.pending = item;
                self.pending.clear();
            }
            result?;
        }
        while !input.is_empty() {
            match self.measure(input, rows.num_columns())? {
                Extent::Complete(len) => {
                    self.consume(&input[..len], rows)?;
                    input = &input[len..];
                }
                Extent::AtLeast(_) => {
                    self.pending.extend_from_slice(input);
                    break;
                }
            }
        }
        Ok(())
    }

    /// The extent of the item at the start of `buf`, validating what it reads on the way.
    fn measure(&self, buf: &[u8], columns: usize) -> Result<Extent, DecodeError> {
        match self.state {
            State::Header => measure_header(buf),
            State::Tuples => measure_tuple(buf, columns, self.tuples + 1),
            State::Done => Err(DecodeError::TrailingData(buf.len())),
            State::Failed => Err(DecodeError::Poisoned),
        }
    }

    /// Decodes one complete item, as measured by [`CopyBinaryDecoder::measure`].
    fn consume(&mut self, item: &[u8], rows: &mut RowsBuilder) -> Result<(), DecodeError> {
        match self.state {
            State::Header => {
                let flags = be_i32(item, 11).expect("measured header") as u32;
                if flags & CRITICAL_FLAGS != 0 {
                    return Err(DecodeError::UnsupportedFlags(flags));
                }
                self.state = State::Tuples;
            }
            State::Tuples if item == [0xff, 0xff] => self.state = State::Done,
            State::Tuples => {
                self.tuples += 1;
                if rows.num_columns() == 0 {
                    rows.append_empty_row();
                    return Ok(());
                }
                // measure_tuple has checked the field count and every length.
                let mut rest = &item[2..];
                for col in 0..rows.num_columns() {
                    let (len, tail) = rest.split_first_chunk().expect("measured field length");
                    let value = match usize::try_from(i32::from_be_bytes(*len)) {
                        Ok(len) => {
                            let (value, tail) = tail.split_at(len);
                            rest = tail;
                            Some(value)
                        }
                        Err(_) => {
                            rest = tail;
                            None
                        }
                    };
                    rows.append(col, value)?;
                }
            }
            State::Done | State::Failed => unreachable!("measure accepts no item in this state"),
        }
        Ok(())
    }
}

fn measure_header(buf: &[u8]) -> Result<Extent, DecodeError> {
    // Compare whatever part of the signature has arrived, so a text-format or unrelated stream
    // fails on its first bytes.
    let seen = buf.len().min(SIGNATURE.len());
    if buf[..seen] != SIGNATURE[..seen] {
        return Err(DecodeError::BadSignature);
    }
    if buf.len() < HEADER_FIXED_LEN {
        return Ok(Extent::AtLeast(HEADER_FIXED_LEN));
    }
    let extension = be_i32(buf, 15).expect("length checked above");
    let extension =
        usize::try_from(extension).map_err(|_| DecodeError::BadHeaderExtension(extension))?;
    Ok(complete_or_more(buf, HEADER_FIXED_LEN + extension))
}

/// Walks the field lengths of the tuple at the start of `buf` (row number `row`).
fn measure_tuple(buf: &[u8], columns: usize, row: u64) -> Result<Extent, DecodeError> {
    if buf.len() < 2 {
        return Ok(Extent::AtLeast(2));
    }
    let count = i16::from_be_bytes([buf[0], buf[1]]);
    if count == -1 {
        return Ok(Extent::Complete(2));
    }
    if usize::try_from(count) != Ok(columns) {
        return Err(DecodeError::FieldCount {
            row,
            expected: columns,
            got: count,
        });
    }
    let mut pos = 2;
    for field in 1..=columns {
        let Some(len) = be_i32(buf, pos) else {
            return Ok(Extent::AtLeast(pos + 4));
        };
        pos += 4;
        match usize::try_from(len) {
            Ok(len) => pos += len,
            Err(_) if len == -1 => {}
            Err(_) => return Err(DecodeError::BadFieldLength { row, field, len }),
        }
        if buf.len() < pos {
            return Ok(Extent::AtLeast(pos));
        }
    }
    Ok(Extent::Complete(pos))
}

fn complete_or_more(buf: &[u8], len: usize) -> Extent {
    if buf.len() >= len {
        Extent::Complete(len)
    } else {
        Extent::AtLeast(len)
    }
}

/// The big-endian i32 at `pos`, if all four bytes are there.
#[inline]
fn be_i32(buf: &[u8], pos: usize) -> Option<i32> {
    let bytes = buf.get(pos..)?.first_chunk()?;
    Some(i32::from_be_bytes(*bytes))
}

#[cfg(test)]
mod tests {
    use arrow::record_batch::RecordBatch;

    use super::*;
    use crate::db::postgres::types::PgKind;

    /// A binary COPY header with the given flags and header extension.
    fn header(flags: u32, extension: &[u8]) -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.extend_from_slice(&flags.to_be_bytes());
        out.extend_from_slice(&(extension.len() as i32).to_be_bytes());
        out.extend_from_slice(extension);
        out
    }

    fn tuple(out: &mut Vec<u8>, fields: &[Option<&[u8]>]) {
        out.extend_from_slice(&(fields.len() as i16).to_be_bytes());
        for field in fields {
            match field {
                Some(bytes) => {
                    out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                    out.extend_from_slice(bytes);
                }
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
    }

    const TRAILER: [u8; 2] = [0xff, 0xff];

    /// Three rows of (int4, text, bytea), with NULLs and an empty string, and a header extension.
    fn stream() -> Vec<u8> {
        let mut out = header(0, b"ext");
        tuple(
            &mut out,
            &[Some(&1i32.to_be_bytes()), Some(b"one"), Some(&[1, 2])],
        );
        tuple(&mut out, &[None, Some(b""), None]);
        tuple(
            &mut out,
            &[Some(&(-3i32).to_be_bytes()), None, Some(&[0xff; 40])],
        );
        out.extend_from_slice(&TRAILER);
        out
    }

    fn rows() -> RowsBuilder {
        let names = ["id".to_string(), "name".to_string(), "blob".to_string()];
        RowsBuilder::new(&names, &[PgKind::Int4, PgKind::Text, PgKind::Bytea], 8)
    }

    /// Decodes `chunks` in order and returns the batch, or the first error.
    fn decode_chunks<'a>(
        chunks: impl IntoIterator<Item = &'a [u8]>,
        rows: &mut RowsBuilder,
    ) -> Result<RecordBatch, DecodeError> {
        let mut decoder = CopyBinaryDecoder::new();
        let mut added = 0;
        for chunk in chunks {
            added += decoder.decode(chunk, rows)?;
        }
        decoder.finish()?;
        assert_eq!(added, rows.len());
        Ok(rows.finish())
    }

    #[test]
    fn whole_stream_decodes_in_place() {
        let bytes = stream();
        let mut rows = rows();
        let mut decoder = CopyBinaryDecoder::new();
        assert_eq!(decoder.decode(&bytes, &mut rows).unwrap(), 3);
        decoder.finish().unwrap();
        // Nothing was copied aside when every item was complete.
        assert_eq!(decoder.pending.capacity(), 0);
        let batch = rows.finish();
        assert_eq!(batch.num_rows(), 3);
        let text = arrow::util::pretty::pretty_format_batches(&[batch])
            .unwrap()
            .to_string();
        let expected = "\
+----+------+----------------------------------------------------------------------------------+
| id | name | blob                                                                             |
+----+------+----------------------------------------------------------------------------------+
| 1  | one  | 0102                                                                             |
|    |      |                                                                                  |
| -3 |      | ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff |
+----+------+----------------------------------------------------------------------------------+";
        assert_eq!(text, expected);
    }

    #[test]
    fn any_split_gives_the_same_rows() {
        let bytes = stream();
        let whole = decode_chunks([&bytes[..]], &mut rows()).unwrap();
        for at in 0..=bytes.len() {
            let (a, b) = bytes.split_at(at);
            let split = decode_chunks([a, b], &mut rows()).unwrap();
            assert_eq!(split, whole, "split at {at}");
        }
        for (at, width) in [(0, 1), (5, 2), (17, 3), (30, 7)] {
            let (head, tail) = bytes.split_at(at);
            let chunks = std::iter::once(head).chain(tail.chunks(width));
            assert_eq!(decode_chunks(chunks, &mut rows()).unwrap(), whole);
        }
        let bytewise = decode_chunks(bytes.chunks(1), &mut rows()).unwrap();
        assert_eq!(bytewise, whole);
    }

    #[test]
    fn a_large_split_value_does_not_stay_buffered() {
        let mut bytes = header(0, b"");
        tuple(&mut bytes, &[None, None, Some(&vec![1; 200_000])]);
        tuple(&mut bytes, &[None, None, Some(&[2])]);
        bytes.extend_from_slice(&TRAILER);
        let mut rows = rows();
        let mut decoder = CopyBinaryDecoder::new();
        let (head, tail) = bytes.split_at(1000);
        decoder.decode(head, &mut rows).unwrap();
        assert_eq!(decoder.decode(tail, &mut rows).unwrap(), 2);
        decoder.finish().unwrap();
        assert_eq!(decoder.pending.capacity(), 0);
        assert_eq!(rows.finish().num_rows(), 2);
    }

    #[test]
    fn rows_are_reported_as_they_complete() {
        let bytes = stream();
        let mut rows = rows();
        let mut decoder = CopyBinaryDecoder::new();
        let header_len = HEADER_FIXED_LEN + 3;
        let first_row_end = header_len + 2 + (4 + 4) + (4 + 3) + (4 + 2);
        assert_eq!(
            decoder
                .decode(&bytes[..first_row_end - 1], &mut rows)
                .unwrap(),
            0
        );
        assert_eq!(
            decoder
                .decode(&bytes[first_row_end - 1..first_row_end], &mut rows)
                .unwrap(),
            1
        );
        assert_eq!(
            decoder.decode(&bytes[first_row_end..], &mut rows).unwrap(),
            2
        );
        decoder.finish().unwrap();
        assert_eq!(rows.len(), 3);
    }

    #[test]
    fn every_strict_prefix_is_truncated() {
        let bytes = stream();
        for end in 0..bytes.len() {
            let mut decoder = CopyBinaryDecoder::new();
            decoder.decode(&bytes[..end], &mut rows()).unwrap();
            let err = decoder.finish().unwrap_err();
            assert!(matches!(err, DecodeError::Truncated(_)), "{end}: {err}");
        }
        let mut decoder = CopyBinaryDecoder::new();
        decoder
            .decode(&bytes[..bytes.len() - 2], &mut rows())
            .unwrap();
        assert_eq!(
            decoder.finish().unwrap_err().to_string(),
            "binary COPY stream ended without the end-of-data trailer"
        );
        assert_eq!(
            CopyBinaryDecoder::new().finish().unwrap_err().to_string(),
            "binary COPY stream ended before the end of its header"
        );
    }

    #[test]
    fn bad_signature_fails_on_the_first_bytes() {
        let mut decoder = CopyBinaryDecoder::new();
        let err = decoder.decode(b"1\tone\n", &mut rows()).unwrap_err();
        assert!(matches!(err, DecodeError::BadSignature));
        // The decoder refuses to go on after an error.
        assert!(matches!(
            decoder.decode(&stream(), &mut rows()),
            Err(DecodeError::Poisoned)
        ));
        assert!(matches!(decoder.finish(), Err(DecodeError::Poisoned)));
        let mut bytes = stream();
        bytes[7] = b'x';
        assert!(matches!(
            decode_chunks([&bytes[..]], &mut rows()),
            Err(DecodeError::BadSignature)
        ));
    }

    #[test]
    fn critical_flags_are_refused_and_others_ignored() {
        let with_oids = header(1 << 16, b"");
        let err = CopyBinaryDecoder::new()
            .decode(&with_oids, &mut rows())
            .unwrap_err();
        assert!(matches!(err, DecodeError::UnsupportedFlags(0x1_0000)));
        let mut bytes = header(0x0000_8001, b"");
        bytes.extend_from_slice(&TRAILER);
        assert_eq!(
            decode_chunks([&bytes[..]], &mut rows()).unwrap().num_rows(),
            0
        );
        let mut bytes = header(0, b"");
        bytes[15..19].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(matches!(
            CopyBinaryDecoder::new().decode(&bytes, &mut rows()),
            Err(DecodeError::BadHeaderExtension(-1))
        ));
    }

    #[test]
    fn wrong_field_count_is_an_error() {
        let mut bytes = header(0, b"");
        tuple(&mut bytes, &[None, None, None]);
        tuple(&mut bytes, &[None, None]);
        let err = decode_chunks([&bytes[..]], &mut rows()).unwrap_err();
        assert_eq!(err.to_string(), "COPY row 2 has 2 fields, expected 3");
        // Found from the count alone, before the row's fields arrive.
        let mut rows = rows();
        let mut decoder = CopyBinaryDecoder::new();
        decoder.decode(&header(0, b""), &mut rows).unwrap();
        assert!(matches!(
            decoder.decode(&[0, 4], &mut rows),
            Err(DecodeError::FieldCount { got: 4, .. })
        ));
    }

    #[test]
    fn invalid_field_length_is_an_error() {
        let mut bytes = header(0, b"");
        bytes.extend_from_slice(&3i16.to_be_bytes());
        bytes.extend_from_slice(&(-2i32).to_be_bytes());
        let err = CopyBinaryDecoder::new()
            .decode(&bytes, &mut rows())
            .unwrap_err();
        assert_eq!(err.to_string(), "COPY row 1, field 1 has invalid length -2");
    }

    #[test]
    fn value_errors_name_row_and_column() {
        let mut bytes = header(0, b"");
        tuple(&mut bytes, &[Some(&[0, 0, 0, 1]), None, None]);
        tuple(&mut bytes, &[Some(&[0, 1]), None, None]);
        let err = decode_chunks([&bytes[..]], &mut rows()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "row 2, column 1 (\"id\"): int4 value has 2 bytes, expected 4"
        );
    }

    #[test]
    fn data_after_the_trailer_is_an_error() {
        let mut bytes = stream();
        bytes.push(0);
        assert!(matches!(
            decode_chunks([&bytes[..]], &mut rows()),
            Err(DecodeError::TrailingData(1))
        ));
        let bytes = stream();
        let mut decoder = CopyBinaryDecoder::new();
        let mut rows = rows();
        decoder.decode(&bytes, &mut rows).unwrap();
        decoder.decode(&[], &mut rows).unwrap();
        assert!(decoder.decode(&[0, 0], &mut rows).is_err());
    }

    #[test]
    fn columnless_rows_are_counted() {
        let mut bytes = header(0, b"");
        tuple(&mut bytes, &[]);
        tuple(&mut bytes, &[]);
        bytes.extend_from_slice(&TRAILER);
        let mut rows = RowsBuilder::new(&[], &[], 4);
        let batch = decode_chunks(bytes.chunks(3), &mut rows).unwrap();
        assert_eq!((batch.num_rows(), batch.num_columns()), (2, 0));
    }
}
