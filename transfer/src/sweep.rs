//! The sweep: how many pretrained layers are worth reusing, and how many to unfreeze.

use crate::phase::{run_schedule, Schedule};
use crate::surgery::{clone_model, graft_head, keep_units, output_shape};
use crate::units::count_units;
use crate::{Result, TransferError};
use graft_nn::data::Dataset;
use graft_nn::train::{evaluate, LossKind, MetricKind};
use graft_nn::Sequential;
use std::fmt::Write as _;
use std::time::Duration;

/// The grid and the training recipe of a sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepConfig {
    /// Numbers of pretrained layer units to reuse (0 = head only, on the raw input).
    pub reuse: Vec<usize>,
    /// Numbers of top reused units to unfreeze in the fine-tuning phase (values above a
    /// trial's `reuse` are skipped for it; [`UNFREEZE_ALL`] means all of them).
    pub unfreeze: Vec<usize>,
    /// Learning rates of the fine-tuning phase.
    pub finetune_lrs: Vec<f32>,
    pub head_epochs: usize,
    pub head_lr: f32,
    pub finetune_epochs: usize,
    pub batch_size: usize,
    pub loss: LossKind,
    pub metric: MetricKind,
    /// Every trial uses this seed, so each is reproducible on its own.
    pub seed: u64,
    pub feature_cache: bool,
    /// Run trials concurrently, one OS thread per core, when the machine has cores to spare.
    pub parallel: bool,
}

impl SweepConfig {
    /// The configurations the sweep runs, as `(reuse, unfreeze, finetune_lr)` in order: every
    /// combination, with `unfreeze` above a trial's `reuse` skipped and duplicates (such as
    /// `all` and `1` when reusing 1) run once. Its length is the number of table rows.
    pub fn grid(&self) -> Vec<(usize, usize, f32)> {
        let mut grid = Vec::new();
        for &r in &self.reuse {
            for &u in &self.unfreeze {
                let k = if u == UNFREEZE_ALL { r } else { u };
                for &lr in &self.finetune_lrs {
                    if k <= r && !grid.contains(&(r, k, lr)) {
                        grid.push((r, k, lr));
                    }
                }
            }
        }
        grid
    }
}

/// In [`SweepConfig::unfreeze`]: unfreeze every reused unit, whatever the trial reuses.
pub const UNFREEZE_ALL: usize = usize::MAX;

/// One configuration's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct Trial {
    pub reuse: usize,
    pub unfreeze: usize,
    pub finetune_lr: f32,
    pub val_metric: f32,
    pub test_metric: f32,
    pub test_loss: f32,
    pub train_time: Duration,
}

/// All trials and the one chosen by validation metric.
#[derive(Clone, Debug)]
pub struct SweepReport {
    pub trials: Vec<Trial>,
    /// Index into `trials` of the best validation metric (ties: the faster trial).
    pub best: usize,
}

impl SweepReport {
    pub fn best(&self) -> &Trial {
        &self.trials[self.best]
    }

    /// A plain-text table: one row per trial, the chosen one marked. Reuse 0 trains the head
    /// alone on the raw inputs, and its row says so.
    pub fn table(&self, metric: &str) -> String {
        let mut s = format!(
            "{:>5} {:>8} {:>11} {:>9} {:>9} {:>9}\n",
            "reuse",
            "unfreeze",
            "finetune_lr",
            &format!("val_{metric}"),
            &format!("test_{metric}"),
            "time_s"
        );
        for (i, t) in self.trials.iter().enumerate() {
            let raw = if t.reuse == 0 { "  (head on raw inputs)" } else { "" };
            let mark = if i == self.best { "  <- best by validation" } else { "" };
            let _ = writeln!(
                s,
                "{:>5} {:>8} {:>11} {:>9.4} {:>9.4} {:>9.2}{raw}{mark}",
                t.reuse,
                t.unfreeze,
                t.finetune_lr,
                t.val_metric,
                t.test_metric,
                t.train_time.as_secs_f64()
            );
        }
        s
    }
}

/// Train, validation and test sets of a sweep.
pub struct SweepData<'a> {
    pub train: &'a Dataset,
    pub val: &'a Dataset,
    pub test: &'a Dataset,
}

/// Runs every configuration of `config` on copies of `pretrained` (the layers available for
/// reuse, without the old output layer), each with a new head from `make_head(feature_shape)`.
/// Selection uses the validation metric only; the test metric is reported, never used.
pub fn sweep(
    pretrained: &Sequential,
    make_head: &(dyn Fn(&[usize]) -> Result<Sequential> + Sync),
    data: SweepData,
    config: &SweepConfig,
) -> Result<SweepReport> {
    let available = count_units(pretrained);
    let input_shape = data.train.sample_shape().to_vec();
    if let Some(&r) = config.reuse.iter().find(|&&r| r > available) {
        return Err(TransferError::Config(format!(
            "cannot reuse {r} layers: the pretrained model has {available} layers with parameters"
        )));
    }
    let grid = config.grid();
    if grid.is_empty() {
        return Err(TransferError::Config(
            "the sweep grid is empty: give reuse, unfreeze and finetune_lrs values".into(),
        ));
    }
    let run = |&(reuse, unfreeze, lr): &(usize, usize, f32)| -> Result<Trial> {
        let trunk = keep_units(&clone_model(pretrained)?, reuse)?;
        let features = output_shape(&trunk, &input_shape)?;
        let model = graft_head(&trunk, &make_head(&features)?, &input_shape)?;
        let schedule = Schedule {
            phases: Schedule::freeze_then_finetune(
                trunk.len(),
                unfreeze,
                (config.head_epochs, config.head_lr),
                (config.finetune_epochs, lr),
            ),
            batch_size: config.batch_size,
            loss: config.loss,
            metric: config.metric,
            seed: config.seed,
            feature_cache: config.feature_cache,
        };
        let result = run_schedule(&model, &schedule, data.train, Some(data.val), &mut |_| {})?;
        let val = evaluate(&model, data.val, 256, config.loss, config.metric)?;
        let test = evaluate(&model, data.test, 256, config.loss, config.metric)?;
        Ok(Trial {
            reuse,
            unfreeze,
            finetune_lr: lr,
            val_metric: val.metric.unwrap_or(-val.loss),
            test_metric: test.metric.unwrap_or(-test.loss),
            test_loss: test.loss,
            train_time: result.wall_time(),
        })
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(grid.len());
    let trials: Vec<Trial> = if config.parallel && threads > 1 {
        run_on_threads(&grid, threads, &run)?
    } else {
        grid.iter().map(run).collect::<Result<_>>()?
    };
    let best = (0..trials.len())
        .max_by(|&a, &b| {
            let (ta, tb) = (&trials[a], &trials[b]);
            ta.val_metric.total_cmp(&tb.val_metric).then(tb.train_time.cmp(&ta.train_time))
        })
        .expect("the grid is not empty");
    Ok(SweepReport { trials, best })
}

/// Runs `run` over `grid` on `threads` scoped OS threads, keeping the grid's order.
///
/// Trials get threads of their own rather than rayon tasks: gradient mode (`no_grad`) and op
/// statistics are per thread, and a rayon worker that waits inside a kernel may steal and run
/// another task — a whole trial started inside, say, an evaluation's `no_grad` scope would
/// record no gradients. Kernels still spread their work over rayon's pool.
fn run_on_threads<C: Sync, T: Send>(
    grid: &[C],
    threads: usize,
    run: &(dyn Fn(&C) -> Result<T> + Sync),
) -> Result<Vec<T>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Result<T>>>> = grid.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(cell) = grid.get(i) else { break };
                let outcome = run(cell);
                *results[i].lock().expect("a trial's slot is written once, by one thread") = Some(outcome);
            });
        }
    });
    results
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .expect("a trial's slot is written once, by one thread")
                .expect("every grid cell was claimed by a thread")
        })
        .collect()
}
