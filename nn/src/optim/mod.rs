//! Optimisers.
//!
//! An optimiser is built over a list of parameters and, on every [`Optimizer::step`], updates
//! only those that **currently** require grad and have a gradient; frozen parameters are
//! skipped entirely. The learning rate can be changed between steps ([`Optimizer::set_lr`]),
//! which is how training phases lower it.
//!
//! **State when the trainable set changes** (PyTorch's rule): per-parameter state (momentum
//! buffers, Adam moments and step counts) is kept by parameter. While a parameter is frozen its
//! state is neither used nor decayed; when it is unfrozen it resumes from the state it had. A
//! parameter trained for the first time starts from fresh state. To start a phase from scratch,
//! build a new optimiser (what Keras does on `compile()`), or call [`Optimizer::reset_state`].

mod adam;
mod sgd;

pub use adam::{Adam, AdamConfig};
pub use sgd::{Sgd, SgdConfig};

use crate::NnError;
use graft_engine::{no_grad, Result, Tensor};
use std::collections::{BTreeMap, HashMap};

/// The per-parameter state of one parameter: named buffers (`momentum`, `exp_avg`,
/// `exp_avg_sq`) and, for optimisers that count them, the number of steps taken.
#[derive(Clone, Debug, Default)]
pub struct ParamState {
    /// Buffers by name, each shaped like the parameter.
    pub buffers: BTreeMap<String, Tensor>,
    /// Steps this parameter has been updated (Adam's `t`); `None` when not counted.
    pub step: Option<u64>,
}

/// Everything an optimiser remembers between steps, for checkpoints.
///
/// Entries are keyed by the parameter's **position** in [`Optimizer::parameters`], not by a
/// tensor's identity, so the state survives a restart: rebuild the optimiser over the same
/// parameters in the same order and call [`Optimizer::load_state`].
/// [`crate::checkpoint`] turns positions into state-dict names when it writes a file, and back
/// when it reads one, so a checkpoint names each buffer by its parameter (`0.weight`).
#[derive(Clone, Debug, Default)]
pub struct OptimizerState {
    /// Which optimiser wrote it (`sgd`, `adam`); loading into another kind is refused.
    pub kind: String,
    /// State by position in [`Optimizer::parameters`]; parameters never stepped have none.
    pub params: BTreeMap<usize, ParamState>,
}

/// Updates parameters from their gradients.
pub trait Optimizer: Send {
    /// Applies one update to every parameter that requires grad and has a gradient.
    fn step(&mut self) -> Result<()>;
    /// Clears the gradients of every parameter.
    fn zero_grad(&self) {
        self.parameters().iter().for_each(Tensor::zero_grad)
    }
    fn lr(&self) -> f32;
    fn set_lr(&mut self, lr: f32);
    /// The parameters this optimiser was built over.
    fn parameters(&self) -> &[Tensor];
    /// Forgets all per-parameter state (momentum, moments, step counts).
    fn reset_state(&mut self);
    /// A copy of the per-parameter state (momentum buffers, moments, step counts), keyed by
    /// position in [`Optimizer::parameters`]; see [`OptimizerState`].
    fn state(&self) -> crate::Result<OptimizerState>;
    /// Replaces the per-parameter state with `state` (from [`Optimizer::state`] of an optimiser
    /// of the same kind over parameters of the same shapes in the same order). On error the
    /// current state is kept.
    fn load_state(&mut self, state: &OptimizerState) -> crate::Result<()>;
}

/// The parameters an optimiser was built over and its state for each (momentum buffer, Adam
/// moments), kept by parameter identity: the one place that decides which parameters a step
/// updates and how state is saved and restored by position, for every optimiser.
pub(crate) struct ParamStates<S> {
    params: Vec<Tensor>,
    by_id: HashMap<u64, S>,
}

impl<S> ParamStates<S> {
    pub(crate) fn new(params: Vec<Tensor>) -> Self {
        ParamStates { params, by_id: HashMap::new() }
    }

    pub(crate) fn params(&self) -> &[Tensor] {
        &self.params
    }

    pub(crate) fn clear(&mut self) {
        self.by_id.clear();
    }

    /// Calls `update(p, grad, state)` under `no_grad` for every parameter that requires grad
    /// and has a gradient, in order. `state` is the parameter's state (`None` the first time);
    /// what `update` leaves there is kept, so an update that errors after taking it leaves none.
    /// Frozen parameters keep their state untouched (the rule in the module doc).
    pub(crate) fn step(&mut self, mut update: impl FnMut(&Tensor, Tensor, &mut Option<S>) -> Result<()>) -> Result<()> {
        no_grad(|| {
            for p in &self.params {
                let Some(g) = p.grad().filter(|_| p.requires_grad()) else { continue };
                let mut state = self.by_id.remove(&p.id());
                let done = update(p, g, &mut state);
                if let Some(s) = state {
                    self.by_id.insert(p.id(), s);
                }
                done?;
            }
            Ok(())
        })
    }

    /// The state of every parameter that has some, by position, each written by `save`.
    pub(crate) fn save(
        &self,
        kind: &str,
        save: impl Fn(&S) -> crate::Result<ParamState>,
    ) -> crate::Result<OptimizerState> {
        let mut params = BTreeMap::new();
        for (i, p) in self.params.iter().enumerate() {
            if let Some(s) = self.by_id.get(&p.id()) {
                params.insert(i, save(s)?);
            }
        }
        Ok(OptimizerState { kind: kind.into(), params })
    }

    /// Replaces every parameter's state with `state`, checked against the parameters and
    /// `kind`; `load(position, buffers in the order of `names`, step count)` rebuilds one. On
    /// error the current state is kept.
    pub(crate) fn load<const N: usize>(
        &mut self,
        kind: &str,
        state: &OptimizerState,
        names: &[&str; N],
        load: impl Fn(usize, [Tensor; N], Option<u64>) -> crate::Result<S>,
    ) -> crate::Result<()> {
        let loaded = checked_state(kind, &self.params, state, names)?;
        let mut fresh = HashMap::with_capacity(loaded.len());
        for (i, buffers, step) in loaded {
            let buffers: [Tensor; N] = buffers.try_into().map_err(|_| {
                NnError::Model(format!("optimizer state of parameter #{i} has the wrong number of buffers"))
            })?;
            fresh.insert(self.params[i].id(), load(i, buffers, step)?);
        }
        self.by_id = fresh;
        Ok(())
    }
}

/// A parameter's position, its buffers (in the order asked for) and its step count.
type LoadedState = (usize, Vec<Tensor>, Option<u64>);

/// Checks `state` against `params` and `kind`, returning the buffer copies by position on each
/// parameter's device (for [`ParamStates::load`]).
fn checked_state(
    kind: &str,
    params: &[Tensor],
    state: &OptimizerState,
    buffers: &[&str],
) -> crate::Result<Vec<LoadedState>> {
    if state.kind != kind {
        return Err(NnError::Model(format!("optimizer state of kind `{}` cannot be loaded into {kind}", state.kind)));
    }
    let mut out = Vec::with_capacity(state.params.len());
    for (&i, s) in &state.params {
        let p = params.get(i).ok_or_else(|| {
            NnError::Model(format!(
                "optimizer state for parameter #{i}, but the optimizer has {} parameters",
                params.len()
            ))
        })?;
        let mut tensors = Vec::with_capacity(buffers.len());
        for &name in buffers {
            let b = s
                .buffers
                .get(name)
                .ok_or_else(|| NnError::Model(format!("optimizer state of parameter #{i} lacks `{name}`")))?;
            if b.shape() != p.shape() {
                return Err(NnError::Model(format!(
                    "optimizer state `{name}` of parameter #{i} has shape {:?}, the parameter {:?}",
                    b.shape(),
                    p.shape()
                )));
            }
            tensors.push(b.to_device(&p.device())?.deep_clone()?.detach());
        }
        out.push((i, tensors, s.step));
    }
    Ok(out)
}
