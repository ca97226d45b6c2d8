//! Trainable masks: one flag per parameter tensor. Applying a mask sets `requires_grad`, which
//! is what makes the engine skip the gradient work of frozen parameters.

use crate::units::unit_start;
use crate::{Result, TransferError};
use graft_nn::{Module, Sequential};
use std::fmt;

/// Which parameters train, by state-dict name.
///
/// ```
/// use graft_engine::Rng;
/// use graft_nn::{layers::{Linear, Relu}, Sequential};
/// use graft_transfer::TrainableMask;
/// let mut rng = Rng::new(0);
/// let model = Sequential::new().layer(Linear::new(4, 8, &mut rng)).layer(Relu).layer(Linear::new(8, 2, &mut rng));
/// let head_only = TrainableMask::from_layer(&model, 2);
/// assert_eq!(head_only.trainable_names(), vec!["2.weight", "2.bias"]);
/// head_only.apply(&model).unwrap();
/// assert!(!model.get(0).unwrap().parameters()[0].requires_grad());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrainableMask {
    flags: Vec<(String, bool)>,
}

impl TrainableMask {
    /// Every parameter trainable (`on`) or frozen.
    pub fn all(model: &dyn Module, on: bool) -> Self {
        TrainableMask::from_fn(model, |_| on)
    }

    /// Trainable where `f(name)` holds.
    pub fn from_fn(model: &dyn Module, f: impl Fn(&str) -> bool) -> Self {
        TrainableMask { flags: model.named_parameters().into_iter().map(|(n, _)| (n.clone(), f(&n))).collect() }
    }

    /// Trainable from top-level layer `first` upwards; everything below is frozen.
    pub fn from_layer(model: &Sequential, first: usize) -> Self {
        let trainable: Vec<String> = (first..model.len()).map(|i| format!("{}.", model.name_of(i))).collect();
        TrainableMask::from_fn(model, |n| trainable.iter().any(|p| n.starts_with(p.as_str())))
    }

    /// Trainable in top-level layers `range` only.
    pub fn layer_range(model: &Sequential, range: std::ops::Range<usize>) -> Result<Self> {
        if range.end > model.len() || range.is_empty() {
            return Err(TransferError::Mask(format!(
                "layer range {range:?} selects no layer of a model with {} layers",
                model.len()
            )));
        }
        let names: Vec<String> = range.map(|i| format!("{}.", model.name_of(i))).collect();
        TrainableMask::from_fn(model, |n| names.iter().any(|p| n.starts_with(p.as_str()))).non_empty("layer range")
    }

    /// For a model made of `reused_units` reused layer units followed by a new head: the head
    /// plus the top `k` reused units train, the rest is frozen. `k = 0` is the head-only phase.
    pub fn head_and_top_units(model: &Sequential, reused_units: usize, k: usize) -> Self {
        TrainableMask::from_layer(model, unit_start(model, reused_units.saturating_sub(k)))
    }

    /// Trainable where the parameter name matches `pattern`: `*` matches any run of
    /// characters (`features.*`, `*.bias`, `classifier.2.weight`). A pattern that names no
    /// parameter is an error that lists the names there are.
    pub fn pattern(model: &dyn Module, pattern: &str) -> Result<Self> {
        TrainableMask::from_fn(model, |n| glob_match(pattern, n)).non_empty(&format!("pattern `{pattern}`"))
    }

    /// Trainable where either mask is.
    pub fn union(&self, other: &TrainableMask) -> Self {
        let flags = self.flags.iter().map(|(n, on)| (n.clone(), *on || other.is_trainable(n))).collect();
        TrainableMask { flags }
    }

    pub fn is_trainable(&self, name: &str) -> bool {
        self.flags.iter().any(|(n, on)| n == name && *on)
    }

    pub fn trainable_names(&self) -> Vec<&str> {
        self.flags.iter().filter(|(_, on)| *on).map(|(n, _)| n.as_str()).collect()
    }

    pub fn frozen_names(&self) -> Vec<&str> {
        self.flags.iter().filter(|(_, on)| !*on).map(|(n, _)| n.as_str()).collect()
    }

    /// Sets `requires_grad` on every parameter of `model` from the mask. A parameter the mask
    /// does not know is an error (the mask was built for another model).
    pub fn apply(&self, model: &dyn Module) -> Result<()> {
        let params = model.named_parameters();
        if let Some((unknown, _)) = params.iter().find(|(n, _)| !self.flags.iter().any(|(m, _)| m == n)) {
            return Err(TransferError::Mask(format!(
                "the mask has no entry for parameter `{unknown}`: build the mask from this model"
            )));
        }
        for (name, p) in params {
            p.set_requires_grad(self.is_trainable(&name)).expect("parameters are leaves: layers create them");
        }
        Ok(())
    }

    fn non_empty(self, what: &str) -> Result<Self> {
        if self.flags.iter().any(|(_, on)| *on) {
            return Ok(self);
        }
        let names: Vec<&str> = self.flags.iter().map(|(n, _)| n.as_str()).collect();
        Err(TransferError::Mask(format!("{what} selects no parameter; the parameters are {names:?}")))
    }
}

impl fmt::Display for TrainableMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.trainable_names().len();
        write!(f, "{t} of {} parameter tensors trainable", self.flags.len())
    }
}

/// `*`-glob matching over the whole string.
fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(at) => rest = &rest[at + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs_match_like_shells() {
        assert!(glob_match("features.*", "features.0.weight"));
        assert!(!glob_match("features.*", "classifier.0.weight"));
        assert!(glob_match("*.bias", "3.bias"));
        assert!(glob_match("*0*", "features.0.weight"));
        assert!(glob_match("a*b*c", "abc"));
        assert!(!glob_match("a*b*c", "acb"));
        assert!(glob_match("2.weight", "2.weight"));
    }
}
