//! A one-line progress report for long reads and writes: rows, rows per second, elapsed time,
//! redrawn on stderr at most a few times a second, and only when stderr is a terminal (logs,
//! pipes and CI output stay clean).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Counts rows and redraws the line now and then.
pub struct Progress {
    verb: &'static str,
    rows: u64,
    start: Instant,
    last_draw: Option<Instant>,
    enabled: bool,
}

/// How long a job runs before the line first appears, and how often it is redrawn.
const FIRST_AFTER: Duration = Duration::from_millis(1000);
const EVERY: Duration = Duration::from_millis(250);

impl Progress {
    /// A report for `verb` ("read", "wrote"), on when stderr is a terminal and `quiet` is off.
    pub fn new(verb: &'static str, quiet: bool) -> Progress {
        Progress {
            verb,
            rows: 0,
            start: Instant::now(),
            last_draw: None,
            enabled: !quiet && std::io::stderr().is_terminal(),
        }
    }

    /// Adds `n` rows and redraws when it is time.
    pub fn add(&mut self, n: usize) {
        self.rows += n as u64;
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        let due = match self.last_draw {
            None => now.duration_since(self.start) >= FIRST_AFTER,
            Some(at) => now.duration_since(at) >= EVERY,
        };
        if due {
            self.last_draw = Some(now);
            let line = self.line(now.duration_since(self.start));
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K{line}");
            let _ = err.flush();
        }
    }

    /// Removes the line, so that the final message stands alone.
    pub fn finish(&mut self) {
        if self.enabled && self.last_draw.is_some() {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
        self.enabled = false;
    }

    fn line(&self, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64().max(1e-9);
        format!(
            "{} {} rows, {} rows/s, {:.1} s",
            self.verb,
            group(self.rows),
            group((self.rows as f64 / secs) as u64),
            secs
        )
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `1234567` as `1,234,567`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_groups_digits_and_gives_the_rate() {
        let p = Progress {
            verb: "read",
            rows: 2_500_000,
            start: Instant::now(),
            last_draw: None,
            enabled: false,
        };
        assert_eq!(
            p.line(Duration::from_secs(2)),
            "read 2,500,000 rows, 1,250,000 rows/s, 2.0 s"
        );
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
    }
}
