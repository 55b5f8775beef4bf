//! Postgres arrays in binary form (the output of `array_send`), as the elements of an Arrow
//! list.
//!
//! The wire form is `ndim`, a has-NULLs flag and the element type OID (32-bit each), then per
//! dimension its length and lower bound, then every element in row-major order as a 32-bit
//! length (-1 for NULL) and the element's own binary form. An empty array has zero dimensions.

use super::DecodeError;

/// Postgres' MAXDIM: no array has more dimensions.
const MAX_DIMENSIONS: usize = 6;

/// The elements of one array value, checked as they are read.
pub(crate) struct Elements<'a> {
    rest: &'a [u8],
    remaining: usize,
}

impl<'a> Elements<'a> {
    /// Checks the header of an array value. Its dimensions and lower bounds are dropped: the
    /// elements come out flat, in row-major order.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let (header, rest) = bytes.split_first_chunk::<12>().ok_or_else(|| {
            invalid(format!(
                "array value has {} bytes, expected at least 12",
                bytes.len()
            ))
        })?;
        let ndim = i32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let ndim = usize::try_from(ndim)
            .ok()
            .filter(|&n| n <= MAX_DIMENSIONS)
            .ok_or_else(|| invalid(format!("array value has {ndim} dimensions")))?;
        let dims_len = 8 * ndim;
        if rest.len() < dims_len {
            return Err(invalid(format!(
                "array value of {ndim} dimensions ends inside its dimensions"
            )));
        }
        let (dims, rest) = rest.split_at(dims_len);
        let mut count: usize = if ndim == 0 { 0 } else { 1 };
        for dim in dims.chunks_exact(8) {
            let len = i32::from_be_bytes([dim[0], dim[1], dim[2], dim[3]]);
            count = usize::try_from(len)
                .ok()
                .and_then(|len| count.checked_mul(len))
                .ok_or_else(|| invalid(format!("array value has a dimension of length {len}")))?;
        }
        // Every element takes at least its 4-byte length: this bounds the count before any
        // element is read, however large the dimensions claim to be.
        if count > rest.len() / 4 {
            return Err(invalid(format!(
                "array value claims {count} elements in {} bytes",
                rest.len()
            )));
        }
        Ok(Elements {
            rest,
            remaining: count,
        })
    }

    /// Number of elements not yet read.
    pub(crate) fn len(&self) -> usize {
        self.remaining
    }

    /// The next element (`None` inside for NULL), or `Ok(None)` after the last one, when the
    /// value must also have ended.
    #[inline]
    pub(crate) fn next_element(&mut self) -> Result<Option<Option<&'a [u8]>>, DecodeError> {
        if self.remaining == 0 {
            if !self.rest.is_empty() {
                return Err(invalid(format!(
                    "array value has {} bytes after its last element",
                    self.rest.len()
                )));
            }
            return Ok(None);
        }
        let (len, rest) = self
            .rest
            .split_first_chunk::<4>()
            .ok_or_else(|| invalid("array value ends inside an element length".into()))?;
        let len = i32::from_be_bytes(*len);
        self.remaining -= 1;
        if len == -1 {
            self.rest = rest;
            return Ok(Some(None));
        }
        let len = usize::try_from(len)
            .ok()
            .filter(|&len| len <= rest.len())
            .ok_or_else(|| invalid(format!("array element has invalid length {len}")))?;
        let (element, rest) = rest.split_at(len);
        self.rest = rest;
        Ok(Some(Some(element)))
    }
}

fn invalid(reason: String) -> DecodeError {
    DecodeError::InvalidValue(reason)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `array_send` bytes for dimensions `dims` (lengths, lower bound 1) and `elements`.
    pub(crate) fn array(dims: &[i32], element_oid: u32, elements: &[Option<&[u8]>]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(dims.len() as i32).to_be_bytes());
        let has_null = elements.iter().any(Option::is_none);
        out.extend_from_slice(&i32::from(has_null).to_be_bytes());
        out.extend_from_slice(&element_oid.to_be_bytes());
        for dim in dims {
            out.extend_from_slice(&dim.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
        }
        for element in elements {
            match element {
                Some(bytes) => {
                    out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                    out.extend_from_slice(bytes);
                }
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        out
    }

    fn all(bytes: &[u8]) -> Result<Vec<Option<Vec<u8>>>, DecodeError> {
        let mut elements = Elements::parse(bytes)?;
        let mut out = Vec::new();
        while let Some(element) = elements.next_element()? {
            out.push(element.map(<[u8]>::to_vec));
        }
        Ok(out)
    }

    #[test]
    fn one_dimension_with_nulls() {
        let bytes = array(&[3], 23, &[Some(&[0, 0, 0, 1]), None, Some(&[])]);
        assert_eq!(
            all(&bytes).unwrap(),
            [Some(vec![0, 0, 0, 1]), None, Some(vec![])]
        );
        assert_eq!(Elements::parse(&bytes).unwrap().len(), 3);
    }

    #[test]
    fn empty_and_multi_dimensional() {
        assert_eq!(all(&array(&[], 23, &[])).unwrap(), []);
        // A dimension of length zero cannot be written by Postgres but means no elements.
        assert_eq!(all(&array(&[0], 23, &[])).unwrap(), []);
        let bytes = array(&[2, 2], 23, &[Some(&[1]), Some(&[2]), Some(&[3]), None]);
        assert_eq!(
            all(&bytes).unwrap(),
            [Some(vec![1]), Some(vec![2]), Some(vec![3]), None]
        );
    }

    #[test]
    fn malformed_arrays_are_errors() {
        let good = array(&[2], 23, &[Some(&[1]), Some(&[2])]);
        for end in 0..good.len() {
            assert!(all(&good[..end]).is_err(), "prefix of {end} bytes");
        }
        let mut long = good.clone();
        long.push(0);
        assert_eq!(
            all(&long).unwrap_err().to_string(),
            "array value has 1 bytes after its last element"
        );
        assert!(all(&array(&[-1], 23, &[])).is_err());
        assert!(all(&array(&[1; 7], 23, &[Some(&[])])).is_err());
        let huge = array(&[i32::MAX, 2], 23, &[]);
        assert!(all(&huge).unwrap_err().to_string().contains("claims"));
        let mut bad_len = array(&[1], 23, &[Some(&[1])]);
        let at = bad_len.len() - 5;
        bad_len[at..at + 4].copy_from_slice(&(-2i32).to_be_bytes());
        assert!(all(&bad_len).is_err());
    }
}
