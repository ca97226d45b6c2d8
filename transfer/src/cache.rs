//! The frozen-prefix feature cache.
//!
//! When every layer below the first trainable one is frozen, that prefix runs in inference
//! mode (see [`set_training_mode`](crate::set_training_mode)) and so computes the same function
//! on every call. Its outputs can then be computed once per dataset and the trainable top of the
//! model trained on them: a head-only phase costs only the head. Because each sample's features
//! do not depend on which other samples share its batch, training on cached features gives the
//! same result as training through the prefix.

use crate::Result;
use graft_engine::{no_grad, Tensor};
use graft_nn::data::Dataset;
use graft_nn::{Module, Sequential};

/// Number of leading top-level layers of `model` that hold no trainable parameter and are
/// deterministic in inference mode: the part whose outputs can be cached.
pub fn cacheable_prefix(model: &Sequential) -> usize {
    model
        .iter()
        .position(|(_, l)| l.parameters().iter().any(|p| p.requires_grad()) || !l.is_deterministic_in_eval())
        .unwrap_or(model.len())
}

/// `prefix` applied in inference mode to every sample of `data`, in batches of `batch_size`;
/// the targets are kept.
pub fn cache_features(prefix: &Sequential, data: &Dataset, batch_size: usize) -> Result<Dataset> {
    cache_features_reporting(prefix, data, batch_size, &mut |_| {})
}

/// [`cache_features`], telling `on_batch` how many samples each finished batch held (for a
/// progress bar).
pub fn cache_features_reporting(
    prefix: &Sequential,
    data: &Dataset,
    batch_size: usize,
    on_batch: &mut dyn FnMut(usize),
) -> Result<Dataset> {
    let was_training = prefix.is_training();
    prefix.set_training(false);
    let features = no_grad(|| -> Result<Tensor> {
        let mut parts = Vec::new();
        let n = data.len();
        let mut start = 0;
        while start < n {
            let len = batch_size.max(1).min(n - start);
            parts.push(prefix.forward(&data.x().narrow(0, start, len)?)?);
            on_batch(len);
            start += len;
        }
        Ok(Tensor::cat(&parts, 0)?)
    });
    prefix.set_training(was_training);
    Ok(Dataset::new(features?, data.targets().clone())?)
}
