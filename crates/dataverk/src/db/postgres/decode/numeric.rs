//! Postgres `numeric` in binary form (the output of `numeric_send`), decoded to its exact text
//! or to an Arrow Decimal128 value.
//!
//! The wire form is a header of four 16-bit big-endian fields, `ndigits`, `weight` (the power
//! of 10000 of the first digit), `sign` and `dscale` (digits shown after the decimal point),
//! followed by `ndigits` base-10000 digits, most significant first.

use std::fmt;

use super::DecodeError;

const HEADER_LEN: usize = 8;
const SIGN_POS: u16 = 0x0000;
const SIGN_NEG: u16 = 0x4000;
const SIGN_NAN: u16 = 0xC000;
const SIGN_PINF: u16 = 0xD000;
const SIGN_NINF: u16 = 0xF000;
/// Postgres keeps the display scale in the low 14 bits and rejects any other bits on input.
const DSCALE_MASK: u16 = 0x3FFF;
/// Decimal digits per base-10000 digit.
const DEC_DIGITS: i32 = 4;
const NBASE: u16 = 10_000;

/// A validated `numeric` value borrowing its digits from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Numeric<'a> {
    NaN,
    PosInfinity,
    NegInfinity,
    Finite {
        negative: bool,
        weight: i16,
        dscale: u16,
        /// `ndigits` big-endian base-10000 digits, each checked to be below 10000.
        digits: &'a [u8],
    },
}

impl<'a> Numeric<'a> {
    /// Checks the header and every digit, so that formatting cannot fail half-way.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        if bytes.len() < HEADER_LEN {
            return Err(invalid(format!(
                "numeric value has {} bytes, expected at least {HEADER_LEN}",
                bytes.len()
            )));
        }
        let ndigits = i16::from_be_bytes([bytes[0], bytes[1]]);
        let weight = i16::from_be_bytes([bytes[2], bytes[3]]);
        let sign = u16::from_be_bytes([bytes[4], bytes[5]]);
        let dscale = u16::from_be_bytes([bytes[6], bytes[7]]);
        let expected = usize::try_from(ndigits)
            .ok()
            .map(|n| HEADER_LEN + 2 * n)
            .ok_or_else(|| invalid(format!("numeric value has negative digit count {ndigits}")))?;
        if bytes.len() != expected {
            return Err(invalid(format!(
                "numeric value has {} bytes, expected {expected} for {ndigits} digits",
                bytes.len()
            )));
        }
        let negative = match sign {
            SIGN_POS => false,
            SIGN_NEG => true,
            SIGN_NAN => return Ok(Numeric::NaN),
            SIGN_PINF => return Ok(Numeric::PosInfinity),
            SIGN_NINF => return Ok(Numeric::NegInfinity),
            _ => {
                return Err(invalid(format!(
                    "numeric value has invalid sign {sign:#06x}"
                )))
            }
        };
        if dscale & !DSCALE_MASK != 0 {
            return Err(invalid(format!(
                "numeric value has invalid display scale {dscale:#06x}"
            )));
        }
        let digits = &bytes[HEADER_LEN..];
        if digits
            .chunks_exact(2)
            .any(|d| u16::from_be_bytes([d[0], d[1]]) >= NBASE)
        {
            return Err(invalid("numeric value has a digit outside 0..=9999".into()));
        }
        Ok(Numeric::Finite {
            negative,
            weight,
            dscale,
            digits,
        })
    }

    /// Writes the value exactly as Postgres' `numeric_out` prints it.
    pub(crate) fn write_text<W: fmt::Write>(self, out: &mut W) -> fmt::Result {
        let (negative, weight, dscale, digits) = match self {
            Numeric::NaN => return out.write_str("NaN"),
            Numeric::PosInfinity => return out.write_str("Infinity"),
            Numeric::NegInfinity => return out.write_str("-Infinity"),
            Numeric::Finite {
                negative,
                weight,
                dscale,
                digits,
            } => (negative, i32::from(weight), i32::from(dscale), digits),
        };
        let ndigits = (digits.len() / 2) as i32;
        // Digits past the stored ones (or before the first) are zero.
        let digit = |d: i32| -> usize {
            if (0..ndigits).contains(&d) {
                let i = 2 * d as usize;
                usize::from(u16::from_be_bytes([digits[i], digits[i + 1]]))
            } else {
                0
            }
        };
        if negative {
            out.write_str("-")?;
        }
        if weight < 0 {
            out.write_str("0")?;
        } else {
            // The first group is printed without leading zeros, but always at least one digit.
            let first = group(digit(0));
            let skip = first.bytes().take(3).take_while(|&b| b == b'0').count();
            out.write_str(&first[skip..])?;
            for d in 1..=weight {
                out.write_str(group(digit(d)))?;
            }
        }
        if dscale > 0 {
            out.write_str(".")?;
            let mut remaining = dscale;
            let mut d = weight + 1;
            while remaining > 0 {
                let g = group(digit(d));
                let take = remaining.min(DEC_DIGITS);
                out.write_str(&g[..take as usize])?;
                remaining -= take;
                d += 1;
            }
        }
        Ok(())
    }

    /// An upper bound of the length of [`Numeric::write_text`]'s output.
    pub(crate) fn max_text_len(self) -> usize {
        match self {
            Numeric::NaN | Numeric::PosInfinity | Numeric::NegInfinity => "-Infinity".len(),
            Numeric::Finite { weight, dscale, .. } => {
                let integer_digits = 4 * (usize::try_from(weight).unwrap_or(0) + 1);
                // Sign, integer digits, point, fraction digits.
                1 + integer_digits + 1 + usize::from(dscale)
            }
        }
    }

    /// The value as a Decimal128 with this precision and scale; `None` for NaN and ±Infinity,
    /// which a decimal cannot represent.
    pub(crate) fn to_i128(self, precision: u8, scale: i8) -> Result<Option<i128>, DecodeError> {
        let (negative, weight, digits) = match self {
            Numeric::NaN | Numeric::PosInfinity | Numeric::NegInfinity => return Ok(None),
            Numeric::Finite {
                negative,
                weight,
                digits,
                ..
            } => (negative, i32::from(weight), digits),
        };
        let out_of_range = || {
            invalid(format!(
                "numeric value does not fit decimal({precision}, {scale})"
            ))
        };
        // Magnitudes from here on do not fit the precision (or i128, for a precision past 38).
        let limit = POW10
            .get(usize::from(precision))
            .copied()
            .unwrap_or(i128::MAX as u128 + 1);
        // Horner's scheme over the base-10000 digits in unsigned arithmetic, keeping `acc` in
        // units of 10^exp, where exp is the decimal exponent (already shifted by the scale) of
        // the digit just added. `acc` never decreases, so it can be checked against the limit
        // after every step and no intermediate value exceeds the result.
        let mut acc: u128 = 0;
        let mut exp = DEC_DIGITS * weight + i32::from(scale);
        for d in digits.chunks_exact(2) {
            let d = u16::from_be_bytes([d[0], d[1]]);
            let (kept, value) = if exp >= 0 {
                exp -= DEC_DIGITS;
                (DEC_DIGITS, d)
            } else {
                // This digit reaches below the scale: only its leading decimal digits are kept.
                // Postgres has already rounded a typed column's values to the scale, so
                // anything cut off must be zero.
                let kept = (DEC_DIGITS + exp).max(0);
                let cut = POW10_U16[(DEC_DIGITS - kept) as usize];
                if d % cut != 0 {
                    return Err(invalid(format!(
                        "numeric value has more fractional digits than decimal({precision}, {scale}) allows"
                    )));
                }
                exp = -DEC_DIGITS;
                (kept, d / cut)
            };
            acc = acc
                .checked_mul(POW10[kept as usize])
                .and_then(|a| a.checked_add(u128::from(value)))
                .filter(|&a| a < limit)
                .ok_or_else(out_of_range)?;
        }
        // `exp` is now the exponent of the digit after the last one: `acc` is in units of
        // 10^(exp + 4).
        let shift = exp + DEC_DIGITS;
        if shift > 0 && acc != 0 {
            acc = usize::try_from(shift)
                .ok()
                .and_then(|s| POW10.get(s))
                .and_then(|&factor| acc.checked_mul(factor))
                .filter(|&a| a < limit)
                .ok_or_else(out_of_range)?;
        }
        // Below the limit, which is at most 2^127.
        let acc = acc as i128;
        Ok(Some(if negative { -acc } else { acc }))
    }
}

/// Decodes a `numeric` in binary form to its exact text, as Postgres prints it (`"123.4500"`,
/// `"-0.001"`, `"NaN"`, `"Infinity"`, `"-Infinity"`).
pub fn decode_numeric_text(bytes: &[u8]) -> Result<String, DecodeError> {
    let value = Numeric::parse(bytes)?;
    let mut text = String::new();
    value
        .write_text(&mut text)
        .expect("writing to a String cannot fail");
    Ok(text)
}

/// Decodes a `numeric` in binary form to the unscaled value of a Decimal128(precision, scale);
/// `Ok(None)` for NaN and ±Infinity, which a decimal cannot represent.
pub fn decode_numeric_i128(
    bytes: &[u8],
    precision: u8,
    scale: i8,
) -> Result<Option<i128>, DecodeError> {
    Numeric::parse(bytes)?.to_i128(precision, scale)
}

/// 10^0 ..= 10^38: every power a Decimal128 digit count needs.
const POW10: [u128; 39] = {
    let mut table = [1u128; 39];
    let mut i = 1;
    while i < table.len() {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

/// 10^0 ..= 10^4, for cutting a base-10000 digit.
const POW10_U16: [u16; 5] = [1, 10, 100, 1000, 10_000];

fn invalid(reason: String) -> DecodeError {
    DecodeError::InvalidValue(reason)
}

/// All 10000 base-10000 digits as zero-padded four-character text, so formatting a digit is a
/// slice instead of arithmetic and a UTF-8 check.
static GROUPS: &str = match std::str::from_utf8(&GROUP_BYTES) {
    Ok(s) => s,
    Err(_) => panic!("digit table is ASCII"),
};

static GROUP_BYTES: [u8; 40_000] = {
    let mut table = [0u8; 40_000];
    let mut n = 0;
    while n < 10_000 {
        table[4 * n] = b'0' + (n / 1000) as u8;
        table[4 * n + 1] = b'0' + (n / 100 % 10) as u8;
        table[4 * n + 2] = b'0' + (n / 10 % 10) as u8;
        table[4 * n + 3] = b'0' + (n % 10) as u8;
        n += 1;
    }
    table
};

fn group(digit: usize) -> &'static str {
    &GROUPS[4 * digit..4 * digit + 4]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes like `numeric_send`: ndigits, weight, sign, dscale, then the digits.
    fn enc(weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(digits.len() as i16).to_be_bytes());
        out.extend_from_slice(&weight.to_be_bytes());
        out.extend_from_slice(&sign.to_be_bytes());
        out.extend_from_slice(&dscale.to_be_bytes());
        for d in digits {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out
    }

    /// Encodes a canonical decimal string the way Postgres stores it: base-10000 digits
    /// aligned on the decimal point, leading and trailing zero digits dropped, dscale = the
    /// number of digits after the point.
    fn enc_str(text: &str) -> Vec<u8> {
        let (negative, body) = match text.strip_prefix('-') {
            Some(body) => (true, body),
            None => (false, text),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        let int_pad = (4 - int.len() % 4) % 4;
        let frac_pad = (4 - frac.len() % 4) % 4;
        let decimal = format!("{}{int}{frac}{}", "0".repeat(int_pad), "0".repeat(frac_pad));
        let mut digits: Vec<i16> = decimal
            .as_bytes()
            .chunks(4)
            .map(|g| std::str::from_utf8(g).unwrap().parse().unwrap())
            .collect();
        let mut weight = ((int_pad + int.len()) / 4) as i16 - 1;
        while digits.first() == Some(&0) {
            digits.remove(0);
            weight -= 1;
        }
        while digits.last() == Some(&0) {
            digits.pop();
        }
        if digits.is_empty() {
            weight = 0;
        }
        let sign = if negative { SIGN_NEG } else { SIGN_POS };
        enc(weight, sign, frac.len() as u16, &digits)
    }

    #[test]
    fn text_and_decimal_round_trip_many_shapes() {
        let cases = [
            "0",
            "0.0",
            "0.000000",
            "1",
            "-1",
            "7.5",
            "10",
            "9999",
            "10000",
            "-10001",
            "99999999",
            "100000000",
            "0.1",
            "0.0001",
            "0.00001",
            "-0.00010",
            "0.123456789",
            "1.10",
            "123.4500",
            "1000.0001",
            "-5000.05",
            "20000000000.00000000002",
            "12345678901234567890.123456789",
            "-99999999999999999999999999999999999999",
            "0.99999999999999999999999999999999999999",
            "170141183460469231731687303715884105727",
        ];
        for case in cases {
            let bytes = enc_str(case);
            assert_eq!(text(&bytes), case);
            assert!(Numeric::parse(&bytes).unwrap().max_text_len() >= case.len());
            let scale = case.split_once('.').map_or(0, |(_, f)| f.len()) as i8;
            let digits = case.replace('.', "");
            let significant = digits.trim_start_matches('-').trim_start_matches('0').len();
            let precision = significant.max(scale as usize).max(1);
            let got = decode_numeric_i128(&bytes, precision.min(38) as u8, scale);
            if precision <= 38 {
                assert_eq!(
                    got.unwrap(),
                    Some(digits.parse::<i128>().unwrap()),
                    "{case}"
                );
            } else {
                assert!(got.is_err(), "{case}");
            }
        }
    }

    fn text(bytes: &[u8]) -> String {
        decode_numeric_text(bytes).unwrap()
    }

    #[test]
    fn text_of_small_values() {
        assert_eq!(text(&enc(0, SIGN_POS, 0, &[])), "0");
        assert_eq!(text(&enc(0, SIGN_POS, 2, &[])), "0.00");
        assert_eq!(text(&enc(0, SIGN_POS, 0, &[1])), "1");
        assert_eq!(text(&enc(0, SIGN_NEG, 0, &[1])), "-1");
        assert_eq!(text(&enc(-1, SIGN_POS, 4, &[1])), "0.0001");
        assert_eq!(text(&enc(-1, SIGN_NEG, 3, &[10])), "-0.001");
        assert_eq!(text(&enc(-2, SIGN_POS, 5, &[1000])), "0.00001");
        assert_eq!(text(&enc(0, SIGN_POS, 2, &[1, 1000])), "1.10");
        assert_eq!(text(&enc(0, SIGN_POS, 4, &[123, 4500])), "123.4500");
        assert_eq!(text(&enc(0, SIGN_POS, 0, &[9999])), "9999");
    }

    #[test]
    fn text_of_large_values() {
        // 12345678901234567890.123456789 = 1234 5678 9012 3456 7890 . 1234 5678 9000
        let bytes = enc(
            4,
            SIGN_POS,
            9,
            &[1234, 5678, 9012, 3456, 7890, 1234, 5678, 9000],
        );
        assert_eq!(text(&bytes), "12345678901234567890.123456789");
        // Trailing zero digits are not stored: 10^12 is one digit with weight 3.
        assert_eq!(text(&enc(3, SIGN_POS, 0, &[1])), "1000000000000");
        assert_eq!(text(&enc(1, SIGN_NEG, 1, &[12, 5])), "-120005.0");
        assert_eq!(text(&enc(1, SIGN_POS, 0, &[1, 0])), "10000");
    }

    #[test]
    fn text_of_special_values() {
        assert_eq!(text(&enc(0, SIGN_NAN, 0, &[])), "NaN");
        assert_eq!(text(&enc(0, SIGN_PINF, 0, &[])), "Infinity");
        assert_eq!(text(&enc(0, SIGN_NINF, 0, &[])), "-Infinity");
    }

    #[test]
    fn malformed_numerics_are_errors() {
        let err = decode_numeric_text(&[0, 1, 0]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "numeric value has 3 bytes, expected at least 8"
        );
        let mut long = enc(0, SIGN_POS, 0, &[1]);
        long.push(0);
        assert_eq!(
            decode_numeric_text(&long).unwrap_err().to_string(),
            "numeric value has 11 bytes, expected 10 for 1 digits"
        );
        assert!(decode_numeric_text(&enc(0, 0x1234, 0, &[1])).is_err());
        assert!(decode_numeric_text(&enc(0, SIGN_POS, 0, &[10_000])).is_err());
        assert!(decode_numeric_text(&enc(0, SIGN_POS, 0x4000, &[1])).is_err());
        let mut negative_count = enc(0, SIGN_POS, 0, &[]);
        negative_count[0] = 0xff;
        negative_count[1] = 0xff;
        assert!(decode_numeric_text(&negative_count).is_err());
    }

    fn dec(bytes: &[u8], precision: u8, scale: i8) -> Option<i128> {
        decode_numeric_i128(bytes, precision, scale).unwrap()
    }

    #[test]
    fn decimal_values() {
        assert_eq!(dec(&enc(0, SIGN_POS, 2, &[]), 10, 2), Some(0));
        assert_eq!(dec(&enc(0, SIGN_POS, 2, &[1]), 10, 2), Some(100));
        assert_eq!(dec(&enc(0, SIGN_NEG, 2, &[1]), 10, 2), Some(-100));
        assert_eq!(dec(&enc(0, SIGN_POS, 2, &[1, 1000]), 10, 2), Some(110));
        assert_eq!(dec(&enc(-1, SIGN_POS, 4, &[1]), 10, 4), Some(1));
        assert_eq!(
            dec(&enc(0, SIGN_POS, 4, &[123, 4500]), 7, 4),
            Some(1_234_500)
        );
        assert_eq!(dec(&enc(3, SIGN_POS, 0, &[1]), 38, 0), Some(10i128.pow(12)));
        assert_eq!(dec(&enc(3, SIGN_POS, 2, &[1]), 38, 2), Some(10i128.pow(14)));
        let big = enc(
            4,
            SIGN_NEG,
            9,
            &[1234, 5678, 9012, 3456, 7890, 1234, 5678, 9000],
        );
        assert_eq!(
            dec(&big, 29, 9),
            Some(-12_345_678_901_234_567_890_123_456_789)
        );
        // A scale beyond the value's display scale pads with zeros.
        assert_eq!(dec(&enc(0, SIGN_POS, 2, &[1, 1000]), 12, 5), Some(110_000));
    }

    #[test]
    fn decimal_negative_scale() {
        // 12300 in numeric(5, -2): digits 1 2300, weight 1.
        assert_eq!(dec(&enc(1, SIGN_POS, 0, &[1, 2300]), 5, -2), Some(123));
        assert_eq!(dec(&enc(1, SIGN_NEG, 0, &[5]), 3, -4), Some(-5));
        assert!(decode_numeric_i128(&enc(1, SIGN_POS, 0, &[1, 2345]), 5, -2).is_err());
    }

    #[test]
    fn decimal_at_the_edge_of_38_digits() {
        // 99999999999999999999999999999999999999 (38 nines) = 99 then nine groups of 9999.
        let mut digits = vec![99];
        digits.extend([9999; 9]);
        let max = enc(9, SIGN_POS, 0, &digits);
        assert_eq!(dec(&max, 38, 0), Some(10i128.pow(38) - 1));
        // The same value at scale 1 needs 39 digits.
        assert_eq!(
            decode_numeric_i128(&max, 38, 1).map_err(|e| e.to_string()),
            Err("numeric value does not fit decimal(38, 1)".into())
        );
        // 37 nines . 9 at scale 1: 9999…9.9 is 99999 … 9999 . 9000 in base 10000.
        let mut digits = vec![9];
        digits.extend([9999; 9]);
        digits.push(9000);
        assert_eq!(
            dec(&enc(9, SIGN_POS, 1, &digits), 38, 1),
            Some(10i128.pow(38) - 1)
        );
    }

    #[test]
    fn decimal_out_of_range_is_an_error() {
        assert!(decode_numeric_i128(&enc(0, SIGN_POS, 0, &[1000]), 3, 0).is_err());
        assert!(decode_numeric_i128(&enc(30, SIGN_POS, 0, &[1]), 38, 0).is_err());
        assert!(decode_numeric_i128(&enc(-1, SIGN_POS, 4, &[1]), 10, 2).is_err());
    }

    #[test]
    fn decimal_special_values_are_none() {
        for sign in [SIGN_NAN, SIGN_PINF, SIGN_NINF] {
            assert_eq!(dec(&enc(0, sign, 0, &[]), 10, 2), None);
        }
    }
}
