//! Phases and schedules: train with one trainable mask and optimiser setting, then the next.

use crate::cache::{cache_features, cacheable_prefix};
use crate::mask::TrainableMask;
use crate::mode::MaskedModel;
use crate::units::unit_start;
use crate::{Result, TransferError};
use graft_nn::checkpoint::{
    history_from_string, history_to_string, remove_stale_temporaries, Checkpoint, CheckpointOptions,
};
use graft_nn::data::Dataset;
use graft_nn::optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
use graft_nn::train::{fit_resumable, FitConfig, FitState, History, LossKind, MetricKind, Progress};
use graft_nn::{Module, Sequential};
use std::time::{Duration, Instant};

/// Which parameters train in a phase.
#[derive(Clone, Debug, PartialEq)]
pub enum Trainable {
    /// Every parameter.
    All,
    /// The head (layers from top-level index `head_start`) plus the top `k` layer units below
    /// it. `k = 0` trains the head only.
    HeadAndTopUnits { head_start: usize, k: usize },
    /// Parameters matching a `*` glob, e.g. `features.*`.
    Pattern(String),
    /// An explicit mask.
    Mask(TrainableMask),
}

impl Trainable {
    /// The mask this choice gives on `model`.
    pub fn mask(&self, model: &Sequential) -> Result<TrainableMask> {
        match self {
            Trainable::All => Ok(TrainableMask::all(model, true)),
            Trainable::HeadAndTopUnits { head_start, k } => {
                let reused = crate::units::layer_units(&model.slice(..*head_start)).len();
                Ok(TrainableMask::from_layer(model, unit_start(model, reused.saturating_sub(*k))))
            }
            Trainable::Pattern(p) => TrainableMask::pattern(model, p),
            Trainable::Mask(m) => Ok(m.clone()),
        }
    }
}

/// The optimiser of a phase; a fresh one is built at the start of every phase (as Keras does
/// when a model is recompiled), so no momentum carries across a learning-rate change.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptimizerSpec {
    Sgd(SgdConfig),
    Adam(AdamConfig),
}

impl OptimizerSpec {
    /// Plain SGD at `lr`.
    pub fn sgd(lr: f32) -> Self {
        OptimizerSpec::Sgd(SgdConfig { lr, ..SgdConfig::default() })
    }

    pub fn lr(&self) -> f32 {
        match self {
            OptimizerSpec::Sgd(c) => c.lr,
            OptimizerSpec::Adam(c) => c.lr,
        }
    }

    /// The optimiser over `params`.
    pub fn build(&self, params: Vec<graft_engine::Tensor>) -> Box<dyn Optimizer> {
        match *self {
            OptimizerSpec::Sgd(c) => Box::new(Sgd::new(params, c)),
            OptimizerSpec::Adam(c) => Box::new(Adam::new(params, c)),
        }
    }
}

/// One phase of a schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct Phase {
    pub name: String,
    pub trainable: Trainable,
    pub optimizer: OptimizerSpec,
    pub epochs: usize,
}

/// Phases in order, with what they share.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub phases: Vec<Phase>,
    pub batch_size: usize,
    pub loss: LossKind,
    pub metric: MetricKind,
    /// Seeds shuffling; phase `i` uses `seed + i`.
    pub seed: u64,
    /// Train on cached outputs of the frozen prefix when there is one.
    pub feature_cache: bool,
}

impl Schedule {
    /// The seed's recipe: `head_epochs` with the reused layers frozen at `head_lr`, then
    /// `finetune_epochs` with the head and the top `unfreeze` reused units trainable at
    /// `finetune_lr` (plain SGD both times). `head_start` is the index of the head's first layer.
    pub fn freeze_then_finetune(
        head_start: usize,
        unfreeze: usize,
        (head_epochs, head_lr): (usize, f32),
        (finetune_epochs, finetune_lr): (usize, f32),
    ) -> Vec<Phase> {
        let mut phases = vec![Phase {
            name: "head".into(),
            trainable: Trainable::HeadAndTopUnits { head_start, k: 0 },
            optimizer: OptimizerSpec::sgd(head_lr),
            epochs: head_epochs,
        }];
        if finetune_epochs > 0 {
            phases.push(Phase {
                name: format!("finetune top {unfreeze}"),
                trainable: Trainable::HeadAndTopUnits { head_start, k: unfreeze },
                optimizer: OptimizerSpec::sgd(finetune_lr),
                epochs: finetune_epochs,
            });
        }
        phases
    }
}

/// What one phase did.
#[derive(Clone, Debug)]
pub struct PhaseResult {
    pub name: String,
    /// The learning rate the phase trained with (explicit, so a change between phases shows).
    pub lr: f32,
    pub trainable: Vec<String>,
    pub frozen: Vec<String>,
    /// Top-level layers whose outputs were cached (0 when the cache was not used).
    pub cached_layers: usize,
    pub history: History,
    /// Whole phase, cache computation included.
    pub wall_time: Duration,
}

/// Per-phase results of a schedule.
#[derive(Clone, Debug, Default)]
pub struct ScheduleResult {
    pub phases: Vec<PhaseResult>,
}

impl ScheduleResult {
    pub fn wall_time(&self) -> Duration {
        self.phases.iter().map(|p| p.wall_time).sum()
    }
    /// The validation metric after the last epoch of the last phase.
    pub fn final_val_metric(&self) -> Option<f32> {
        self.phases.iter().rev().find_map(|p| p.history.last().and_then(|e| e.val_metric))
    }
}

/// Progress of a schedule: which phase, and the training loop's own event.
pub struct PhaseProgress<'a> {
    pub phase: usize,
    pub phases: usize,
    pub name: &'a str,
    pub event: Progress,
}

/// Runs `schedule` on `model` (in place: clone it first to keep the original).
pub fn run_schedule(
    model: &Sequential,
    schedule: &Schedule,
    train: &Dataset,
    val: Option<&Dataset>,
    progress: &mut dyn FnMut(PhaseProgress),
) -> Result<ScheduleResult> {
    run(model, schedule, train, val, None, progress)
}

/// [`run_schedule`] with a checkpoint after every epoch and every phase, and with
/// `options.resume`, continuing from one — mid-phase included — to bit-identical final
/// weights. The checkpoint holds the model, the phase's optimiser state, the shuffling and
/// dropout generators, the position (phase, epochs done) and the results of finished phases;
/// `options.config` plus the schedule itself must match the run that wrote it.
pub fn run_schedule_checkpointed(
    model: &Sequential,
    schedule: &Schedule,
    train: &Dataset,
    val: Option<&Dataset>,
    options: &CheckpointOptions,
    progress: &mut dyn FnMut(PhaseProgress),
) -> Result<ScheduleResult> {
    run(model, schedule, train, val, Some(options), progress)
}

fn put_phase_result(ck: &mut Checkpoint, i: usize, p: &PhaseResult) {
    ck.set(&format!("phase/{i}/name"), p.name.clone());
    ck.set(&format!("phase/{i}/lr"), format!("{:08x}", p.lr.to_bits()));
    ck.set(&format!("phase/{i}/trainable"), p.trainable.join("\n"));
    ck.set(&format!("phase/{i}/frozen"), p.frozen.join("\n"));
    ck.set(&format!("phase/{i}/cached_layers"), p.cached_layers.to_string());
    ck.set(&format!("phase/{i}/history"), history_to_string(&p.history));
    ck.set(&format!("phase/{i}/wall_ns"), p.wall_time.as_nanos().to_string());
}

fn phase_result(ck: &Checkpoint, i: usize) -> Result<PhaseResult> {
    let get = |k: &str| ck.get(&format!("phase/{i}/{k}"));
    let bad = || TransferError::Config(format!("the checkpoint's record of phase {i} is unreadable"));
    let names = |s: &str| if s.is_empty() { Vec::new() } else { s.split('\n').map(str::to_string).collect() };
    Ok(PhaseResult {
        name: get("name")?.to_string(),
        lr: u32::from_str_radix(get("lr")?, 16).map(f32::from_bits).map_err(|_| bad())?,
        trainable: names(get("trainable")?),
        frozen: names(get("frozen")?),
        cached_layers: get("cached_layers")?.parse().map_err(|_| bad())?,
        history: history_from_string(get("history")?)?,
        wall_time: Duration::from_nanos(get("wall_ns")?.parse().map_err(|_| bad())?),
    })
}

/// Where a resumed schedule starts: finished phases, the current one, and its fit position.
type Start = (Vec<PhaseResult>, usize, Option<FitState>, Option<Checkpoint>);

fn run(
    model: &Sequential,
    schedule: &Schedule,
    train: &Dataset,
    val: Option<&Dataset>,
    checkpoint: Option<&CheckpointOptions>,
    progress: &mut dyn FnMut(PhaseProgress),
) -> Result<ScheduleResult> {
    if schedule.phases.is_empty() {
        return Err(TransferError::Config("the schedule has no phases".into()));
    }
    let fingerprint = checkpoint.map(|c| {
        let mut f = c.config.clone();
        f.push(("schedule".into(), format!("{schedule:?}")));
        f
    });
    let (done, first, mut resume_fit, resume_ck): Start = match checkpoint.filter(|c| c.resume) {
        None => (Vec::new(), 0, None, None),
        Some(c) => {
            let ck = Checkpoint::load(&c.path)?;
            ck.check_config(fingerprint.as_deref().unwrap_or_default())?;
            let phase: usize = ck
                .get("position/phase")?
                .parse()
                .map_err(|_| TransferError::Config("the checkpoint's phase is unreadable".into()))?;
            let done = (0..phase.min(schedule.phases.len())).map(|i| phase_result(&ck, i)).collect::<Result<_>>()?;
            ck.restore_model(model)?;
            remove_stale_temporaries(&c.path);
            let fit = ck.fit_state("fit")?;
            (done, phase, fit, Some(ck))
        }
    };
    let mut result = ScheduleResult { phases: done };
    let save = |phase: usize, results: &[PhaseResult], fit: Option<(&FitState, &dyn Optimizer)>| -> Result<()> {
        let (Some(c), Some(f)) = (checkpoint, fingerprint.as_ref()) else { return Ok(()) };
        let mut ck = Checkpoint::new();
        ck.put_config(f);
        ck.put_model(model)?;
        ck.set("position/phase", phase.to_string());
        for (i, r) in results.iter().enumerate() {
            put_phase_result(&mut ck, i, r);
        }
        if let Some((state, opt)) = fit {
            ck.put_optimizer(model, opt)?;
            ck.put_fit_state("fit", state);
        }
        ck.save(&c.path)?;
        Ok(())
    };
    for (i, phase) in schedule.phases.iter().enumerate().skip(first) {
        let start = Instant::now();
        let mask = phase.trainable.mask(model)?;
        mask.apply(model)?;
        let config = FitConfig {
            epochs: phase.epochs,
            batch_size: schedule.batch_size,
            seed: schedule.seed.wrapping_add(i as u64),
            shuffle: true,
            loss: schedule.loss,
            metric: schedule.metric,
            early_stopping: None,
        };
        let prefix = if schedule.feature_cache { cacheable_prefix(model) } else { 0 };
        let mut report =
            |event| progress(PhaseProgress { phase: i, phases: schedule.phases.len(), name: &phase.name, event });
        let resumed = resume_fit.take();
        let earlier = resumed.as_ref().map_or(Duration::ZERO, |s| s.history.wall_time());
        let done_so_far = &result.phases;
        let mut on_epoch = |state: &FitState, opt: &dyn Optimizer| {
            save(i, done_so_far, Some((state, opt))).map_err(|e| graft_nn::NnError::Model(e.to_string()))
        };
        let optimizer = |params| -> Result<Box<dyn Optimizer>> {
            let mut opt = phase.optimizer.build(params);
            if let (Some(ck), Some(_)) = (&resume_ck, &resumed) {
                ck.restore_optimizer(model, opt.as_mut())?;
            }
            Ok(opt)
        };
        let history = if prefix > 0 {
            let (frozen, top) = (model.slice(..prefix), model.slice(prefix..));
            let train_f = cache_features(&frozen, train, 256)?;
            let val_f = val.map(|v| cache_features(&frozen, v, 256)).transpose()?;
            let mut opt = optimizer(top.trainable_parameters())?;
            let masked = MaskedModel(&top);
            fit_resumable(
                &masked,
                opt.as_mut(),
                &train_f,
                val_f.as_ref(),
                &config,
                resumed,
                &mut on_epoch,
                &mut report,
            )?
        } else {
            let mut opt = optimizer(model.trainable_parameters())?;
            let masked = MaskedModel(model);
            fit_resumable(&masked, opt.as_mut(), train, val, &config, resumed, &mut on_epoch, &mut report)?
        };
        result.phases.push(PhaseResult {
            name: phase.name.clone(),
            lr: phase.optimizer.lr(),
            trainable: mask.trainable_names().iter().map(|s| s.to_string()).collect(),
            frozen: mask.frozen_names().iter().map(|s| s.to_string()).collect(),
            cached_layers: prefix,
            history,
            wall_time: earlier + start.elapsed(),
        });
        save(i + 1, &result.phases, None)?;
    }
    Ok(result)
}
