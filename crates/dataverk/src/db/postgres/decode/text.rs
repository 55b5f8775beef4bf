//! Binary values whose Arrow form is the text Postgres prints for them: `inet`/`cidr`,
//! `macaddr`, `macaddr8` and `timetz`. Each is written into a small stack buffer, so a value
//! costs no allocation, and matches the server's output function byte for byte.

use std::fmt::{self, Write};

use super::{fixed, DecodeError};

/// Text of at most `N` bytes, built on the stack.
pub(crate) struct StackText<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackText<N> {
    pub(crate) fn new() -> Self {
        StackText {
            buf: [0; N],
            len: 0,
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).expect("only whole str values are written")
    }

    fn push(&mut self, byte: u8) {
        self.buf[self.len] = byte;
        self.len += 1;
    }
}

impl<const N: usize> fmt::Write for StackText<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Longest text of an `inet`: `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128`.
pub(crate) const INET_TEXT_LEN: usize = 49;
/// `PGSQL_AF_INET`, the address family byte of an IPv4 `inet`.
const AF_INET: u8 = 2;
/// `PGSQL_AF_INET6`.
const AF_INET6: u8 = 3;

/// Writes an `inet` or `cidr` in binary form (family, mask bits, is-cidr flag, address length,
/// address) as `network_out` prints it: the whole address, IPv6 with its longest run of zero
/// groups as `::`, and `/bits` unless the mask covers the whole address, except that a `cidr`
/// always shows it.
pub(crate) fn write_inet(
    bytes: &[u8],
    out: &mut StackText<INET_TEXT_LEN>,
) -> Result<(), DecodeError> {
    let invalid =
        || DecodeError::InvalidValue(format!("inet value of {} bytes is malformed", bytes.len()));
    let [family, bits, is_cidr, len, address @ ..] = bytes else {
        return Err(invalid());
    };
    let max_bits = match (*family, *len) {
        (AF_INET, 4) => 32,
        (AF_INET6, 16) => 128,
        _ => return Err(invalid()),
    };
    if address.len() != usize::from(*len) || *bits > max_bits {
        return Err(invalid());
    }
    let written = if max_bits == 32 {
        write_ipv4(address, out)
    } else {
        write_ipv6(address.try_into().expect("length checked"), out)
    };
    written.expect("an inet's text fits its buffer");
    if *bits != max_bits || *is_cidr != 0 {
        write!(out, "/{bits}").expect("an inet's text fits its buffer");
    }
    Ok(())
}

fn write_ipv4<const N: usize>(address: &[u8], out: &mut StackText<N>) -> fmt::Result {
    let [a, b, c, d] = address else {
        return Err(fmt::Error);
    };
    write!(out, "{a}.{b}.{c}.{d}")
}

/// IPv6 the way Postgres' `inet_net_ntop_ipv6` writes it. That differs from RFC 5952 (and
/// from Rust's `Ipv6Addr`) in when it shows an embedded IPv4 address, so it is done here.
fn write_ipv6(address: &[u8; 16], out: &mut StackText<INET_TEXT_LEN>) -> fmt::Result {
    let mut words = [0u16; 8];
    for (word, pair) in words.iter_mut().zip(address.chunks_exact(2)) {
        *word = u16::from_be_bytes([pair[0], pair[1]]);
    }
    // The first longest run of at least two zero groups becomes "::".
    let (mut best_start, mut best_len) = (0, 0);
    let mut i = 0;
    while i < words.len() {
        let run = words[i..].iter().take_while(|&&w| w == 0).count();
        if run > best_len {
            (best_start, best_len) = (i, run);
        }
        i += run.max(1);
    }
    let zeros = if best_len >= 2 {
        best_start..best_start + best_len
    } else {
        0..0
    };
    for (i, &word) in words.iter().enumerate() {
        if zeros.contains(&i) {
            if i == zeros.start {
                out.push(b':');
            }
            continue;
        }
        if i != 0 {
            out.push(b':');
        }
        // "::a.b.c.d" (IPv4-compatible) and "::ffff:a.b.c.d" (IPv4-mapped).
        let embeds_ipv4 = i == 6
            && zeros.start == 0
            && (zeros.len() == 6
                || (zeros.len() == 7 && words[7] != 1)
                || (zeros.len() == 5 && words[5] == 0xffff));
        if embeds_ipv4 {
            return write_ipv4(&address[12..], out);
        }
        write!(out, "{word:x}")?;
    }
    if zeros.end == words.len() && !zeros.is_empty() {
        out.push(b':');
    }
    Ok(())
}

/// Longest text of a `macaddr8`: `08:00:2b:ff:fe:01:02:03`.
pub(crate) const MAC_TEXT_LEN: usize = 23;

/// Writes a `macaddr` (6 bytes) or `macaddr8` (8 bytes) as lowercase hex pairs joined by `:`.
pub(crate) fn write_mac(
    bytes: &[u8],
    type_name: &str,
    expected: usize,
    out: &mut StackText<MAC_TEXT_LEN>,
) -> Result<(), DecodeError> {
    if bytes.len() != expected {
        return Err(DecodeError::InvalidValue(format!(
            "{type_name} value has {} bytes, expected {expected}",
            bytes.len()
        )));
    }
    for (i, byte) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(b':');
        }
        write!(out, "{byte:02x}").expect("a MAC address's text fits its buffer");
    }
    Ok(())
}

/// Longest text of a `timetz`: `24:00:00.000001+15:59:59` and some room.
pub(crate) const TIMETZ_TEXT_LEN: usize = 32;
const MICROS_PER_SECOND: i64 = 1_000_000;
/// The last valid time of day: Postgres accepts `24:00:00`.
const MAX_TIME_MICROS: i64 = 24 * 3600 * MICROS_PER_SECOND;

/// Writes a `timetz` (microseconds since midnight, then the zone in seconds *west* of UTC) as
/// `timetz_out` prints it with the ISO date style: `HH:MM:SS`, a fraction without trailing
/// zeros, and the offset as `+HH`, `+HH:MM` or `+HH:MM:SS`.
pub(crate) fn write_timetz(
    bytes: &[u8],
    out: &mut StackText<TIMETZ_TEXT_LEN>,
) -> Result<(), DecodeError> {
    let b: [u8; 12] = fixed(bytes, "timetz")?;
    let micros = i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    let zone = i32::from_be_bytes([b[8], b[9], b[10], b[11]]);
    if !(0..=MAX_TIME_MICROS).contains(&micros) {
        return Err(DecodeError::InvalidValue(
            "timetz value is outside 00:00:00..24:00:00".into(),
        ));
    }
    write_time_of_day(micros, out).expect("a timetz's text fits its buffer");
    let sign = if zone <= 0 { '+' } else { '-' };
    let zone = zone.unsigned_abs();
    let (hours, minutes, seconds) = (zone / 3600, zone / 60 % 60, zone % 60);
    let written = if seconds != 0 {
        write!(out, "{sign}{hours:02}:{minutes:02}:{seconds:02}")
    } else if minutes != 0 {
        write!(out, "{sign}{hours:02}:{minutes:02}")
    } else {
        write!(out, "{sign}{hours:02}")
    };
    written.expect("a timetz's text fits its buffer");
    Ok(())
}

/// `HH:MM:SS` and, when there are microseconds, `.` and up to six digits.
fn write_time_of_day<const N: usize>(micros: i64, out: &mut StackText<N>) -> fmt::Result {
    let seconds = micros / MICROS_PER_SECOND;
    let fraction = micros % MICROS_PER_SECOND;
    write!(
        out,
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )?;
    if fraction != 0 {
        let mut digits = StackText::<6>::new();
        write!(digits, "{fraction:06}")?;
        out.write_str(".")?;
        out.write_str(digits.as_str().trim_end_matches('0'))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inet(family: u8, bits: u8, cidr: bool, address: &[u8]) -> String {
        let mut bytes = vec![family, bits, u8::from(cidr), address.len() as u8];
        bytes.extend_from_slice(address);
        let mut out = StackText::new();
        write_inet(&bytes, &mut out).unwrap();
        out.as_str().to_string()
    }

    fn v6(words: [u16; 8]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_be_bytes()).collect()
    }

    #[test]
    fn ipv4_shows_the_mask_unless_it_is_the_whole_address() {
        assert_eq!(inet(2, 32, false, &[10, 0, 0, 1]), "10.0.0.1");
        assert_eq!(inet(2, 8, false, &[10, 0, 0, 1]), "10.0.0.1/8");
        assert_eq!(inet(2, 8, true, &[10, 0, 0, 0]), "10.0.0.0/8");
        assert_eq!(inet(2, 32, true, &[10, 0, 0, 1]), "10.0.0.1/32");
        assert_eq!(inet(2, 0, false, &[0, 0, 0, 0]), "0.0.0.0/0");
        assert_eq!(inet(2, 32, false, &[255, 255, 255, 255]), "255.255.255.255");
    }

    #[test]
    fn ipv6_compresses_the_first_longest_zero_run() {
        assert_eq!(inet(3, 128, false, &v6([0; 8])), "::");
        assert_eq!(inet(3, 128, false, &v6([0, 0, 0, 0, 0, 0, 0, 1])), "::1");
        assert_eq!(inet(3, 128, false, &v6([1, 0, 0, 0, 0, 0, 0, 0])), "1::");
        assert_eq!(
            inet(3, 64, false, &v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1])),
            "2001:db8::1/64"
        );
        assert_eq!(
            inet(3, 128, true, &v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0])),
            "2001:db8::/128"
        );
        // A single zero group is not compressed; of two equal runs the first one is.
        assert_eq!(
            inet(3, 128, false, &v6([1, 0, 2, 3, 4, 5, 6, 7])),
            "1:0:2:3:4:5:6:7"
        );
        assert_eq!(
            inet(3, 128, false, &v6([1, 0, 0, 2, 0, 0, 3, 4])),
            "1::2:0:0:3:4"
        );
        assert_eq!(
            inet(3, 128, false, &v6([0xffff; 8])),
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
        );
    }

    #[test]
    fn ipv6_with_an_embedded_ipv4_address() {
        assert_eq!(
            inet(3, 128, false, &v6([0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304])),
            "::ffff:1.2.3.4"
        );
        assert_eq!(
            inet(3, 128, false, &v6([0, 0, 0, 0, 0, 0, 0x0102, 0x0304])),
            "::1.2.3.4"
        );
        let longest = v6([
            0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
        ]);
        let mut text = StackText::<INET_TEXT_LEN>::new();
        let mut bytes = vec![3, 120, 0, 16];
        bytes.extend_from_slice(&longest);
        write_inet(&bytes, &mut text).unwrap();
        assert_eq!(text.as_str(), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/120");
    }

    #[test]
    fn malformed_inets_are_errors() {
        for bytes in [
            &[][..],
            &[2, 32, 0, 4, 1, 2, 3],
            &[2, 33, 0, 4, 1, 2, 3, 4],
            &[3, 128, 0, 4, 1, 2, 3, 4],
            &[9, 8, 0, 4, 1, 2, 3, 4],
        ] {
            let mut out = StackText::new();
            assert!(write_inet(bytes, &mut out).is_err(), "{bytes:?}");
        }
    }

    #[test]
    fn mac_addresses() {
        let mut out = StackText::new();
        write_mac(&[8, 0, 0x2b, 1, 2, 3], "macaddr", 6, &mut out).unwrap();
        assert_eq!(out.as_str(), "08:00:2b:01:02:03");
        let mut out = StackText::new();
        write_mac(&[0xff; 8], "macaddr8", 8, &mut out).unwrap();
        assert_eq!(out.as_str(), "ff:ff:ff:ff:ff:ff:ff:ff");
        let mut out = StackText::new();
        let err = write_mac(&[0; 8], "macaddr", 6, &mut out).unwrap_err();
        assert_eq!(err.to_string(), "macaddr value has 8 bytes, expected 6");
    }

    fn timetz(micros: i64, zone_west: i32) -> String {
        let mut bytes = micros.to_be_bytes().to_vec();
        bytes.extend_from_slice(&zone_west.to_be_bytes());
        let mut out = StackText::new();
        write_timetz(&bytes, &mut out).unwrap();
        out.as_str().to_string()
    }

    #[test]
    fn timetz_text() {
        let t = ((13 * 60 + 45) * 60 + 30) * MICROS_PER_SECOND;
        assert_eq!(timetz(t, -7200), "13:45:30+02");
        assert_eq!(timetz(t + 500_000, 0), "13:45:30.5+00");
        assert_eq!(timetz(t + 1, 19_815), "13:45:30.000001-05:30:15");
        assert_eq!(timetz(t + 120_000, 34_200), "13:45:30.12-09:30");
        assert_eq!(timetz(0, -57_599), "00:00:00+15:59:59");
        assert_eq!(timetz(MAX_TIME_MICROS, -3600), "24:00:00+01");
        let mut out = StackText::new();
        assert!(write_timetz(&[0; 8], &mut out).is_err());
        let mut bytes = (MAX_TIME_MICROS + 1).to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0; 4]);
        assert!(write_timetz(&bytes, &mut out).is_err());
    }
}
