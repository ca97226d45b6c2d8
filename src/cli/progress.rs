//! A progress bar per epoch (drawn on stderr only when it is a terminal).

use graft::nn::train::Progress;
use indicatif::{ProgressBar, ProgressStyle};

/// Turns training events into a progress bar with the running loss.
pub struct Bar {
    bar: Option<ProgressBar>,
    label: String,
    /// Print a line per finished epoch.
    epoch_lines: bool,
}

impl Bar {
    pub fn new(label: &str) -> Self {
        Bar { bar: None, label: label.to_string(), epoch_lines: true }
    }

    /// A bar that prints nothing once an epoch is done (for commands that print a summary).
    pub fn quiet(label: &str) -> Self {
        Bar { bar: None, label: label.to_string(), epoch_lines: false }
    }

    pub fn update(&mut self, event: &Progress) {
        match event {
            Progress::EpochStart { epoch, epochs, steps } => {
                let bar = ProgressBar::new(*steps as u64);
                bar.set_style(
                    ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
                        .expect("the template is valid")
                        .progress_chars("=> "),
                );
                bar.set_prefix(format!("{} epoch {epoch}/{epochs}", self.label));
                self.bar = Some(bar);
            }
            Progress::Batch { running_loss, .. } => {
                if let Some(b) = &self.bar {
                    b.inc(1);
                    b.set_message(format!("loss {running_loss:.4}"));
                }
            }
            Progress::EpochEnd(rec) => {
                if let Some(b) = self.bar.take() {
                    b.finish_and_clear();
                }
                if !self.epoch_lines {
                    return;
                }
                let val = match (rec.val_loss, rec.val_metric) {
                    (Some(l), Some(m)) => format!("  val loss {l:.4}  val acc {m:.4}"),
                    (Some(l), None) => format!("  val loss {l:.4}"),
                    _ => String::new(),
                };
                let acc = rec.train_metric.map(|m| format!("  acc {m:.4}")).unwrap_or_default();
                eprintln!(
                    "{} epoch {:>3}  lr {:<8} loss {:.4}{acc}{val}  ({:.2}s)",
                    self.label,
                    rec.epoch,
                    rec.lr,
                    rec.train_loss,
                    rec.wall_time.as_secs_f64()
                );
            }
        }
    }
}
