//! Training and evaluation loops: [`fit`] and [`evaluate`].
//!
//! [`fit`] runs epochs of mini-batch steps (train mode, zero grads, forward, loss, backward,
//! optimiser step), evaluates on a validation set after each epoch, reports [`Progress`] through
//! a callback and returns a [`History`]. The optimiser updates only the parameters that require
//! grad, so frozen layers stay as they are. A NaN or infinite loss is caught **before**
//! `backward` and the step, so training stops with [`NnError::NonFinite`] and the weights are
//! exactly those after the previous step.
//!
//! ```
//! use graft_engine::{Rng, Tensor};
//! use graft_nn::data::{Dataset, Targets};
//! use graft_nn::layers::{Linear, Relu};
//! use graft_nn::optim::{Sgd, SgdConfig};
//! use graft_nn::train::{fit, FitConfig};
//! use graft_nn::{Module, Sequential};
//! # fn main() -> graft_nn::Result<()> {
//! let mut rng = Rng::new(0);
//! // Class 1 when the first feature is positive.
//! let x = Tensor::randn(&[64, 2], 0.0, 1.0, &mut rng);
//! let labels = x.to_vec()?.chunks(2).map(|p| usize::from(p[0] > 0.0)).collect();
//! let data = Dataset::new(x, Targets::Classes(labels))?;
//! let model = Sequential::new().layer(Linear::new(2, 8, &mut rng)).layer(Relu).layer(Linear::new(8, 2, &mut rng));
//! let mut opt = Sgd::new(model.parameters(), SgdConfig { lr: 0.5, ..Default::default() });
//! let config = FitConfig { epochs: 20, batch_size: 16, ..FitConfig::default() };
//! let history = fit(&model, &mut opt, &data, None, &config, &mut |_| {})?;
//! assert!(history.last().unwrap().train_metric.unwrap() > 0.9);
//! # Ok(()) }
//! ```

mod config;
mod history;
mod objective;

pub use config::{EarlyStopping, FitConfig, LossKind, MetricKind};
pub use history::{EpochRecord, EvalResult, History, Progress};

use crate::data::Dataset;
use crate::optim::Optimizer;
use crate::{Module, NnError, Result};
use graft_engine::{NoGradGuard, Rng, Tensor};
use objective::{batch_loss, batch_metric, check_compatible, check_model_ends_in_logits, check_outputs};
use std::time::Instant;

/// Puts a model in train or eval mode and restores its previous mode when dropped, on every
/// path out (errors included).
struct ModeGuard<'a> {
    model: &'a dyn Module,
    previous: bool,
}

impl<'a> ModeGuard<'a> {
    fn set(model: &'a dyn Module, training: bool) -> Self {
        let previous = model.is_training();
        model.set_training(training);
        ModeGuard { model, previous }
    }
}

impl Drop for ModeGuard<'_> {
    fn drop(&mut self) {
        self.model.set_training(self.previous);
    }
}

/// Sums of per-sample loss and metric over batches.
#[derive(Default)]
struct Totals {
    loss: f64,
    metric: f64,
    samples: usize,
}

impl Totals {
    fn add(&mut self, loss: f32, metric: Option<f32>, n: usize) {
        self.loss += f64::from(loss) * n as f64;
        self.metric += f64::from(metric.unwrap_or(0.0)) * n as f64;
        self.samples += n;
    }
    fn mean_loss(&self) -> f32 {
        (self.loss / self.samples.max(1) as f64) as f32
    }
    fn mean_metric(&self, kind: MetricKind) -> Option<f32> {
        (kind != MetricKind::None).then(|| (self.metric / self.samples.max(1) as f64) as f32)
    }
}

/// Trains `model` on `train` for `config.epochs` epochs, evaluating on `val` after each.
///
/// Each step: train mode, clear gradients, forward, loss; a non-finite loss stops training with
/// [`NnError::NonFinite`] (epoch and step counted from 1) before the weights change; otherwise
/// backward and `optimizer.step()`. `progress` receives an event at the start of each epoch,
/// after each step and at the end of each epoch. The model's train/eval mode is restored when
/// `fit` returns, whether it succeeds or fails.
///
/// With [`FitConfig::early_stopping`], training stops once the validation loss has not
/// improved for `patience` epochs, and (with `restore_best_weights`) the model ends with the
/// weights of its best epoch; [`History::best_epoch`] and [`History::stopped_early`] say what
/// happened.
///
/// Fails before training if the loss or metric does not suit the targets (cross-entropy needs
/// class labels, MSE values, binary cross-entropy 0/1 values or labels), if the model ends in
/// the activation its loss applies itself (a softmax before cross-entropy, a sigmoid before
/// binary cross-entropy), if the training set is empty, the batch size is 0, no parameter of
/// the model requires grad, or early stopping has no validation set to watch; and at the first
/// step, before any update, if the model's outputs do not fit the loss (a 1-unit head under
/// cross-entropy, fewer units than classes).
pub fn fit(
    model: &dyn Module,
    optimizer: &mut dyn Optimizer,
    train: &Dataset,
    val: Option<&Dataset>,
    config: &FitConfig,
    progress: &mut dyn FnMut(Progress),
) -> Result<History> {
    fit_resumable(model, optimizer, train, val, config, None, &mut |_, _| Ok(()), progress)
}

/// Where a [`fit`] run stands between epochs: with the model's and the optimiser's state,
/// enough to continue it exactly as if it had never stopped (see [`crate::checkpoint`]).
#[derive(Clone, Debug, PartialEq)]
pub struct FitState {
    /// Epochs completed.
    pub epochs_done: usize,
    /// The state of the shuffling generator after those epochs ([`Rng::state`]).
    pub rng: [u64; 4],
    /// Records of the completed epochs.
    pub history: History,
}

/// [`fit`] that can start from a saved position and reports its position after every epoch.
///
/// With `resume = Some(state)`, the first `state.epochs_done` epochs are taken as done: their
/// records are `state.history`, and shuffling continues from `state.rng`. The caller restores
/// the model's weights and generators and the optimiser's state (what
/// [`Checkpoint`](crate::checkpoint::Checkpoint) saves). After each epoch, once its record is
/// in the history, `on_epoch_end` receives the position and the optimiser; an error from it
/// stops training with that error. Given the same restored state, the remaining epochs compute
/// exactly what an uninterrupted run computes, bit for bit.
#[allow(clippy::too_many_arguments)]
pub fn fit_resumable(
    model: &dyn Module,
    optimizer: &mut dyn Optimizer,
    train: &Dataset,
    val: Option<&Dataset>,
    config: &FitConfig,
    resume: Option<FitState>,
    on_epoch_end: &mut dyn FnMut(&FitState, &dyn Optimizer) -> Result<()>,
    progress: &mut dyn FnMut(Progress),
) -> Result<History> {
    check_compatible(config.loss, config.metric, train.targets(), "the training set")?;
    if let Some(val) = val {
        check_compatible(config.loss, config.metric, val.targets(), "the validation set")?;
    }
    if train.is_empty() {
        return Err(NnError::Data("the training set is empty — there is nothing to fit".into()));
    }
    if config.batch_size == 0 {
        return Err(NnError::Data("the batch size must be at least 1".into()));
    }
    if model.trainable_parameters().is_empty() {
        return Err(NnError::Data(
            "no parameter of the model requires grad, so training would change nothing — unfreeze some layers".into(),
        ));
    }
    check_model_ends_in_logits(model, config.loss)?;
    let mut watch = match config.early_stopping {
        None => None,
        Some(_) if val.is_none() => {
            return Err(NnError::Data(
                "early stopping watches the validation loss, but no validation set was given".into(),
            ))
        }
        Some(es) if es.patience == 0 => {
            return Err(NnError::Data("early stopping needs a patience of at least 1 epoch".into()))
        }
        Some(_) if resume.is_some() => {
            return Err(NnError::Data(
                "early stopping cannot continue a resumed run: checkpoints do not hold its best weights".into(),
            ))
        }
        Some(es) => Some(BestEpoch::new(es)),
    };
    let (first, mut rng, mut history) = match resume {
        None => (1, Rng::new(config.seed), History::default()),
        Some(s) => {
            if s.epochs_done > config.epochs || s.history.epochs.len() != s.epochs_done {
                return Err(NnError::Data(format!(
                    "cannot resume after epoch {} of a {}-epoch run ({} epochs recorded)",
                    s.epochs_done,
                    config.epochs,
                    s.history.epochs.len()
                )));
            }
            (s.epochs_done + 1, Rng::from_state(s.rng), s.history)
        }
    };
    let _mode = ModeGuard::set(model, true);
    for epoch in first..=config.epochs {
        let start = Instant::now();
        let batches = train.batches(config.batch_size, config.shuffle.then_some(&mut rng))?;
        let steps = batches.len();
        progress(Progress::EpochStart { epoch, epochs: config.epochs, steps });
        let mut totals = Totals::default();
        for (i, batch) in batches.enumerate() {
            let (batch, step) = (batch?, i + 1);
            model.parameters().iter().for_each(|p| p.zero_grad());
            optimizer.zero_grad();
            let out = model.forward(&batch.x)?;
            if epoch == first && step == 1 {
                check_outputs(config.loss, &out, &batch.targets)?;
            }
            let loss = batch_loss(config.loss, &out, &batch.targets)?;
            let value = loss.to_scalar()?;
            if !value.is_finite() {
                return Err(NnError::NonFinite { epoch, step, loss: value });
            }
            loss.backward()?;
            optimizer.step()?;
            let metric = {
                let _no_grad = NoGradGuard::new();
                batch_metric(config.metric, &out, &batch.targets)?
            };
            totals.add(value, metric, batch.len());
            progress(Progress::Batch { epoch, step, steps, loss: value, running_loss: totals.mean_loss() });
        }
        let (val_loss, val_metric) = match val {
            Some(v) => {
                let r = evaluate(model, v, config.batch_size, config.loss, config.metric)?;
                (Some(r.loss), r.metric)
            }
            None => (None, None),
        };
        let record = EpochRecord {
            epoch,
            train_loss: totals.mean_loss(),
            train_metric: totals.mean_metric(config.metric),
            val_loss,
            val_metric,
            wall_time: start.elapsed(),
            lr: optimizer.lr(),
        };
        progress(Progress::EpochEnd(record.clone()));
        history.epochs.push(record);
        let stop = match (&mut watch, val_loss) {
            (Some(w), Some(loss)) => w.observe(model, epoch, loss)?,
            _ => false,
        };
        let state = FitState { epochs_done: epoch, rng: rng.state(), history };
        on_epoch_end(&state, &*optimizer)?;
        history = state.history;
        if stop {
            history.stopped_early = epoch < config.epochs;
            break;
        }
    }
    if let Some(w) = watch {
        history.best_epoch = w.best.as_ref().map(|b| b.0);
        w.restore(model)?;
    }
    Ok(history)
}

/// Early stopping's memory: the best validation loss so far, its epoch and (when they are to
/// be restored) a copy of the model's state at that epoch.
struct BestEpoch {
    rule: EarlyStopping,
    /// `(epoch, loss, state)` of the best epoch so far.
    best: Option<(usize, f32, Vec<Tensor>)>,
    waited: usize,
}

impl BestEpoch {
    fn new(rule: EarlyStopping) -> Self {
        BestEpoch { rule, best: None, waited: 0 }
    }

    /// Takes an epoch's validation loss; true when training should stop.
    fn observe(&mut self, model: &dyn Module, epoch: usize, loss: f32) -> Result<bool> {
        let improved = match &self.best {
            None => loss.is_finite(),
            Some((_, best, _)) => loss < best - self.rule.min_delta,
        };
        if improved {
            let state = if self.rule.restore_best_weights {
                model.state_dict().iter().map(|(_, t)| t.deep_clone()).collect::<graft_engine::Result<_>>()?
            } else {
                Vec::new()
            };
            self.best = Some((epoch, loss, state));
            self.waited = 0;
            return Ok(false);
        }
        self.waited += 1;
        Ok(self.waited >= self.rule.patience)
    }

    /// Puts the best epoch's parameters and buffers back, when asked to.
    fn restore(self, model: &dyn Module) -> Result<()> {
        let Some((_, _, state)) = self.best else { return Ok(()) };
        if !self.rule.restore_best_weights {
            return Ok(());
        }
        for ((_, target), saved) in model.state_dict().iter().zip(&state) {
            target.set_data(saved)?;
        }
        Ok(())
    }
}

/// Mean loss and metric of `model` over `data`, in eval mode without recording gradients. The
/// model's previous mode is restored afterwards.
///
/// ```
/// use graft_engine::Tensor;
/// use graft_nn::data::{Dataset, Targets};
/// use graft_nn::layers::Linear;
/// use graft_nn::train::{evaluate, LossKind, MetricKind};
/// # fn main() -> graft_nn::Result<()> {
/// // Logits that always favour class 1.
/// let model = Linear::from_tensors(Tensor::zeros(&[2, 3]), Some(Tensor::from_vec(vec![0.0, 1.0], &[2])?));
/// let data = Dataset::new(Tensor::zeros(&[4, 3]), Targets::Classes(vec![1, 1, 0, 1]))?;
/// let r = evaluate(&model, &data, 3, LossKind::CrossEntropy, MetricKind::Accuracy)?;
/// assert_eq!(r.metric, Some(0.75));
/// # Ok(()) }
/// ```
pub fn evaluate(
    model: &dyn Module,
    data: &Dataset,
    batch_size: usize,
    loss: LossKind,
    metric: MetricKind,
) -> Result<EvalResult> {
    check_compatible(loss, metric, data.targets(), "the evaluation set")?;
    check_model_ends_in_logits(model, loss)?;
    if data.is_empty() {
        return Err(NnError::Data("the evaluation set is empty — there is nothing to measure".into()));
    }
    let _mode = ModeGuard::set(model, false);
    let _no_grad = NoGradGuard::new();
    let mut totals = Totals::default();
    for (i, batch) in data.batches(batch_size, None)?.enumerate() {
        let batch = batch?;
        let out = model.forward(&batch.x)?;
        if i == 0 {
            check_outputs(loss, &out, &batch.targets)?;
        }
        let value = batch_loss(loss, &out, &batch.targets)?.to_scalar()?;
        totals.add(value, batch_metric(metric, &out, &batch.targets)?, batch.len());
    }
    Ok(EvalResult { loss: totals.mean_loss(), metric: totals.mean_metric(metric) })
}
