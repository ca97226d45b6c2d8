//! Reverse-mode autodiff: the recorded graph, `backward()`, and no-grad scopes.
//!
//! Ops record a [`Node`] only when some input requires grad (see `Tensor::from_op`), so the
//! graph holds exactly the computation gradients must flow through. `backward()` walks it once in
//! reverse topological order; each node's rule receives which inputs want a gradient and skips
//! the others (a frozen weight's gradient is never computed).

use crate::stats::BackwardPhase;
use crate::{Error, Result, Tensor};
use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// A backward rule: given the gradient of the op's output and, per input, whether that input
/// wants a gradient, returns one optional gradient per input (with the input's shape).
pub trait BackwardFn: Send + Sync {
    fn backward(&self, grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>>;
}

impl<F> BackwardFn for F
where
    F: Fn(&Tensor, &[bool]) -> Result<Vec<Option<Tensor>>> + Send + Sync,
{
    fn backward(&self, grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        self(grad, needs)
    }
}

/// The record of the op that made a tensor.
pub(crate) struct Node {
    pub(crate) name: &'static str,
    pub(crate) inputs: Vec<Tensor>,
    /// The backward rule with the values it saved. `backward()` takes and drops it after use,
    /// as PyTorch frees a graph's saved tensors: memory returns during the backward pass, and
    /// an optimiser can then update parameters in place because no saved copy shares them.
    pub(crate) backward: Mutex<Option<Box<dyn BackwardFn>>>,
}

thread_local! {
    static NO_GRAD_DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Whether ops on this thread record history (false inside [`no_grad`]).
pub fn grad_enabled() -> bool {
    NO_GRAD_DEPTH.with(|d| d.get() == 0)
}

/// Disables history recording on this thread until dropped.
///
/// ```
/// use graft_engine::{NoGradGuard, Tensor};
/// let w = Tensor::ones(&[2]).requires_grad_(true).unwrap();
/// let _guard = NoGradGuard::new();
/// assert!(!w.mul(&w).unwrap().requires_grad());
/// ```
pub struct NoGradGuard(());

impl NoGradGuard {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        NO_GRAD_DEPTH.with(|d| d.set(d.get() + 1));
        NoGradGuard(())
    }
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        NO_GRAD_DEPTH.with(|d| d.set(d.get() - 1));
    }
}

/// Runs `f` without recording history: for evaluation and parameter updates.
pub fn no_grad<T>(f: impl FnOnce() -> T) -> T {
    let _guard = NoGradGuard::new();
    f()
}

impl Tensor {
    /// Computes gradients of this scalar with respect to every leaf that requires grad and adds
    /// them to the leaves' `grad()`. Intermediate gradients, and the values each op saved for
    /// its gradient, are freed as soon as they are used: a graph supports one backward pass
    /// (a second one is an error; compute the loss again).
    pub fn backward(&self) -> Result<()> {
        if !self.requires_grad() {
            return Err(Error::BackwardNoGrad);
        }
        if self.numel() != 1 {
            return Err(Error::BackwardNonScalar { shape: self.shape().to_vec() });
        }
        let order = topological_order(self);
        let _no_grad = NoGradGuard::new();
        let _phase = BackwardPhase::enter();
        let mut grads: HashMap<u64, Tensor> = HashMap::new();
        grads.insert(self.id(), self.ones_like()?);
        for t in order.iter().rev() {
            let Some(g) = grads.remove(&t.id()) else { continue };
            let Some(node) = t.node() else {
                t.accumulate_grad(g)?;
                continue;
            };
            let needs: Vec<bool> = node.inputs.iter().map(Tensor::requires_grad).collect();
            let rule = node
                .backward
                .lock()
                .expect("a node's rule lock is never poisoned: no code panics while holding it")
                .take()
                .ok_or(Error::GraphFreed { op: node.name })?;
            let input_grads = rule.backward(&g, &needs)?;
            drop(rule);
            debug_assert_eq!(input_grads.len(), node.inputs.len(), "{}: one gradient slot per input", node.name);
            for ((input, gi), need) in node.inputs.iter().zip(input_grads).zip(needs) {
                let Some(gi) = gi else { continue };
                if !need {
                    continue;
                }
                debug_assert_eq!(gi.shape(), input.shape(), "{}: gradient has its input's shape", node.name);
                let merged = match grads.remove(&input.id()) {
                    Some(prev) => prev.add(&gi)?,
                    None => gi,
                };
                grads.insert(input.id(), merged);
            }
        }
        Ok(())
    }
}

/// Tensors reachable from `root` through recorded inputs that require grad, each after all of
/// its inputs (iterative DFS, so deep graphs do not overflow the stack).
fn topological_order(root: &Tensor) -> Vec<Tensor> {
    let mut order = Vec::new();
    let mut seen = HashSet::new();
    let mut stack: Vec<(Tensor, bool)> = vec![(root.clone(), false)];
    while let Some((t, expanded)) = stack.pop() {
        if expanded {
            order.push(t);
            continue;
        }
        if !seen.insert(t.id()) {
            continue;
        }
        stack.push((t.clone(), true));
        if let Some(node) = t.node() {
            for input in &node.inputs {
                if input.requires_grad() && !seen.contains(&input.id()) {
                    stack.push((input.clone(), false));
                }
            }
        }
    }
    order
}
