//! Model surgery: clone, slice by units, pick a named sub-model, graft a head.

use crate::units::{layer_units, unit_start};
use crate::{Result, TransferError};
use graft_engine::{no_grad, Tensor};
use graft_nn::{module_device, move_to_device, Module, Sequential};

/// A deep copy of `model`: training the copy never changes the original.
pub fn clone_model(model: &Sequential) -> Result<Sequential> {
    Ok(model.deep_clone()?)
}

/// The first `units` layer units of `model` (shared layers; clone first to keep the original
/// untouched). Trailing parameter-free layers of the last kept unit are kept with it.
pub fn keep_units(model: &Sequential, units: usize) -> Result<Sequential> {
    let all = layer_units(model);
    if units > all.len() {
        return Err(TransferError::Surgery(format!(
            "cannot reuse {units} layers: the model has only {} layers with parameters ({})",
            all.len(),
            model.spec()
        )));
    }
    Ok(model.slice(..unit_start(model, units)))
}

/// `model` without its top `k` layer units (Keras' `model.layers[:-k]`, counting Dense-like
/// layers with their activations).
pub fn drop_top_units(model: &Sequential, k: usize) -> Result<Sequential> {
    let n = layer_units(model).len();
    let keep = n.checked_sub(k).ok_or_else(|| {
        TransferError::Surgery(format!("cannot drop {k} layers: the model has only {n} layers with parameters"))
    })?;
    keep_units(model, keep)
}

/// The named sub-model (e.g. `features` of a PyTorch CNN), shared with `model`.
pub fn submodel(model: &Sequential, name: &str) -> Result<Sequential> {
    let layer = model.get_named(name).ok_or_else(|| {
        let names: Vec<String> = model.iter().map(|(n, _)| n).collect();
        TransferError::Surgery(format!("the model has no layer named `{name}`; its layers are {names:?}"))
    })?;
    match layer.as_sequential() {
        Some(seq) => Ok(seq.clone()),
        None => {
            let mut single = Sequential::new();
            single.push_named(name, layer.clone());
            Ok(single)
        }
    }
}

/// `trunk` followed by `head`, after checking on a dummy batch of `input_shape` (without the
/// batch axis) that the head accepts what the trunk produces. The head is moved to the trunk's
/// device; its unnamed layers are numbered after the trunk's, as in one `nn.Sequential`.
pub fn graft_head(trunk: &Sequential, head: &Sequential, input_shape: &[usize]) -> Result<Sequential> {
    let device = module_device(trunk);
    move_to_device(head, &device)?;
    let probe = Tensor::full_on(&[&[1], input_shape].concat(), 0.0, &device)?;
    let features = eval_forward(trunk, &probe).map_err(|e| {
        TransferError::Surgery(format!("the trunk does not accept inputs of shape {input_shape:?}: {e}"))
    })?;
    if let Err(e) = eval_forward(head, &features) {
        return Err(TransferError::Surgery(format!(
            "the head `{}` does not fit the trunk's output of shape {:?} (per sample {:?}): {e}",
            head.spec(),
            features.shape(),
            &features.shape()[1..]
        )));
    }
    let mut model = trunk.clone();
    model.extend(head);
    Ok(model)
}

/// Shape of one sample after `model` (without the batch axis), found with a dummy batch.
pub fn output_shape(model: &Sequential, input_shape: &[usize]) -> Result<Vec<usize>> {
    let probe = Tensor::full_on(&[&[1], input_shape].concat(), 0.0, &module_device(model))?;
    Ok(eval_forward(model, &probe)?.shape()[1..].to_vec())
}

/// `model(x)` in inference mode without recording history, leaving the model's mode as it was.
fn eval_forward(model: &Sequential, x: &Tensor) -> graft_engine::Result<Tensor> {
    let was_training = model.is_training();
    model.set_training(false);
    let out = no_grad(|| model.forward(x));
    model.set_training(was_training);
    out
}
