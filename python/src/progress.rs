//! The progress bar of long reads and writes: rows and rows per second, drawn by tqdm (the
//! usual Python progress bar: a widget in a notebook, a line on stderr in a terminal).
//!
//! The library counts rows into an atomic counter from its worker threads; the thread that
//! waits for the call (see `interruptible` in lib.rs) passes the count on to the bar every
//! 100 ms, with the GIL. Nothing is drawn for a call that ends within [`SHOW_AFTER`], when
//! `progress=False`, or, by default, when neither stderr is a terminal nor this is a notebook
//! kernel (scheduled jobs keep clean logs).

use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a call runs before its bar appears.
pub const SHOW_AFTER: Duration = Duration::from_secs(2);

/// One call's bar: hidden until [`SHOW_AFTER`], then kept up to date by [`Progress::tick`].
pub struct Progress {
    desc: String,
    enabled: bool,
    rows: Arc<AtomicU64>,
    started: Instant,
    bar: Option<Py<PyAny>>,
    shown: u64,
}

impl Progress {
    /// A bar labelled `desc`: on when `progress` is `Some(true)`, off when `Some(false)`, and
    /// for `None` on when the caller is interactive.
    pub fn new(py: Python<'_>, desc: String, progress: Option<bool>) -> Progress {
        Progress {
            desc,
            enabled: progress.unwrap_or_else(|| interactive(py)),
            rows: Arc::new(AtomicU64::new(0)),
            started: Instant::now(),
            bar: None,
            shown: 0,
        }
    }

    /// The callback the library counts rows with.
    pub fn counter(&self) -> dataverk::db::OnRows {
        let rows = self.rows.clone();
        Arc::new(move |n| {
            rows.fetch_add(n as u64, Ordering::Relaxed);
        })
    }

    /// Shows the bar once the call has run [`SHOW_AFTER`], and brings it up to date. A bar that
    /// cannot be made (tqdm missing or failing) is given up on quietly: it is no reason to fail
    /// a read.
    pub fn tick(&mut self, py: Python<'_>) {
        if !self.enabled {
            return;
        }
        if self.bar.is_none() {
            if self.started.elapsed() < SHOW_AFTER {
                return;
            }
            match make_bar(py, &self.desc, self.started.elapsed()) {
                Ok(bar) => self.bar = Some(bar),
                Err(_) => {
                    self.enabled = false;
                    return;
                }
            }
        }
        let rows = self.rows.load(Ordering::Relaxed);
        if rows > self.shown {
            if let Some(bar) = &self.bar {
                if bar
                    .call_method1(py, "update", (rows - self.shown,))
                    .is_err()
                {
                    self.enabled = false;
                }
            }
            self.shown = rows;
        }
    }

    /// Draws the final count and closes the bar (left on screen, as tqdm leaves it).
    pub fn finish(&mut self, py: Python<'_>) {
        self.tick(py);
        if let Some(bar) = self.bar.take() {
            let _ = bar.call_method0(py, "close");
        }
        self.enabled = false;
    }
}

/// Whether someone watches: stderr is a terminal, or this runs in a notebook kernel (where
/// stderr is no terminal, but the notebook shows what is written to it).
fn interactive(py: Python<'_>) -> bool {
    in_kernel(py) || stderr_is_terminal(py)
}

fn stderr_is_terminal(py: Python<'_>) -> bool {
    let isatty = || -> PyResult<bool> {
        py.import("sys")?
            .getattr("stderr")?
            .call_method0("isatty")?
            .extract()
    };
    isatty().unwrap_or(false)
}

/// Whether IPython runs as a kernel (Jupyter, JupyterLab, VS Code notebooks): the test
/// tqdm.autonotebook makes, without importing IPython when it is not loaded already.
fn in_kernel(py: Python<'_>) -> bool {
    let check = || -> PyResult<bool> {
        let modules = py.import("sys")?.getattr("modules")?;
        let Some(ipython) = modules.cast::<PyDict>()?.get_item("IPython")? else {
            return Ok(false);
        };
        let shell = ipython.getattr("get_ipython")?.call0()?;
        if shell.is_none() {
            return Ok(false);
        }
        shell.getattr("config")?.contains("IPKernelApp")
    };
    check().unwrap_or(false)
}

/// A tqdm bar for a call that began `elapsed` ago: the notebook widget in a kernel with
/// ipywidgets, else the text bar on stderr. Its clock is set back to the call's start before it
/// is first drawn (`delay` holds that first draw back), so the elapsed time and the rate (the
/// average over the whole call: `smoothing=0`) are the call's.
fn make_bar(py: Python<'_>, desc: &str, elapsed: Duration) -> PyResult<Py<PyAny>> {
    let module = if in_kernel(py) && py.import("ipywidgets").is_ok() {
        "tqdm.notebook"
    } else {
        "tqdm.std"
    };
    let kwargs = PyDict::new(py);
    kwargs.set_item("desc", desc)?;
    kwargs.set_item("unit", " rows")?;
    kwargs.set_item("unit_scale", true)?;
    kwargs.set_item("smoothing", 0.0)?;
    kwargs.set_item("delay", SHOW_AFTER.as_secs_f64())?;
    let bar = py
        .import(module)?
        .getattr("tqdm")?
        .call((), Some(&kwargs))?;
    let start: f64 = bar.getattr("start_t")?.extract()?;
    bar.setattr("start_t", start - elapsed.as_secs_f64())?;
    bar.call_method0("refresh")?;
    Ok(bar.unbind())
}
