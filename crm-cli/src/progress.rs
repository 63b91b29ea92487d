//! Progress of a long command: an `indicatif` bar with rate and ETA when stderr is a
//! terminal, plain lines on stderr otherwise (at most one a second, and one at the end), so
//! logs and CI output stay readable and stdout keeps only the result.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// The progress of one command.
#[derive(Debug)]
pub struct Progress {
    label: String,
    bar: Option<ProgressBar>,
    total: Option<u64>,
    done: u64,
    /// Where this run started (a resumed run starts past 0).
    base: u64,
    started: Instant,
    last_line: Option<Instant>,
}

impl Progress {
    /// Progress of `label` over `total` units (if known), starting at `done`.
    pub fn new(label: &str, total: Option<u64>, done: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = match total {
                Some(total) => ProgressBar::new(total),
                None => ProgressBar::new_spinner(),
            };
            let template = if total.is_some() {
                "{msg} [{bar:30}] {pos}/{len} {per_sec} ETA {eta}"
            } else {
                "{msg} {spinner} {pos} {per_sec}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(label.to_owned());
            bar.set_position(done);
            bar.reset_eta();
            bar
        });
        Progress {
            label: label.to_owned(),
            bar,
            total,
            done,
            base: done,
            started: Instant::now(),
            last_line: None,
        }
    }

    /// `n` more units done.
    pub fn inc(&mut self, n: u64) {
        self.done += n;
        match &self.bar {
            Some(bar) => bar.inc(n),
            None => {
                let due = self
                    .last_line
                    .is_none_or(|at| at.elapsed() >= Duration::from_secs(1));
                if due {
                    self.line();
                }
            }
        }
    }

    /// The last line (or the bar's end).
    pub fn finish(mut self) {
        match self.bar.take() {
            Some(bar) => bar.finish_and_clear(),
            None => self.line(),
        }
    }

    fn line(&mut self) {
        self.last_line = Some(Instant::now());
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-3);
        // The rate of this run (a resumed run started at `done` > 0 counts from its start).
        let rate = self.done.saturating_sub(self.base) as f64 / elapsed;
        match self.total {
            Some(total) => {
                let left = total.saturating_sub(self.done);
                let eta = if rate > 0.0 {
                    format!("{:.0}s", left as f64 / rate)
                } else {
                    "-".to_owned()
                };
                eprintln!(
                    "{}: {}/{} ({:.0}%), {:.1}/s, ETA {}",
                    self.label,
                    self.done,
                    total,
                    100.0 * self.done as f64 / total.max(1) as f64,
                    rate,
                    eta
                );
            }
            None => eprintln!("{}: {}, {:.1}/s", self.label, self.done, rate),
        }
    }
}
