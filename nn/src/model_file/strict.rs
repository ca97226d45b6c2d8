//! Strict loading: every model tensor found with its shape, nothing left over, or one error
//! listing every problem; the model changes only when everything matches.

use super::read::{dtype_name, natural_cmp, ParsedFile, RawTensor};
use super::LoadOptions;
use crate::module::Module;
use crate::{NnError, Result};
use graft_engine::Tensor;
use std::collections::HashSet;

/// State-dict names of the weights of `linear` layers in a tree of `Sequential`s.
fn linear_weights(m: &dyn Module, prefix: &str, out: &mut HashSet<String>) {
    if let Some(seq) = m.as_sequential() {
        for (name, layer) in seq.iter() {
            linear_weights(layer.as_ref(), &format!("{prefix}{name}."), out);
        }
    } else if m.spec().starts_with("linear(") {
        out.insert(format!("{prefix}weight"));
    }
}

/// `[a, b]` transposed.
fn transpose(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = data[r * cols + c];
        }
    }
    out
}

/// Equal shapes, or a one-element tensor for a scalar (PyTorch's `num_batches_tracked` is
/// saved as `[]` by some exporters and `[1]` by others).
fn same_shape(file: &[usize], model: &[usize]) -> bool {
    let one = |s: &[usize]| s.iter().product::<usize>() == 1;
    file == model || ((file.is_empty() || model.is_empty()) && one(file) && one(model))
}

/// Matches `file` against `model` by name and writes the values in with `Tensor::set_data`.
/// Loads `file` into `model` strictly; `release` is told each tensor's bytes once they are
/// converted (see [`FileBytes::release`](super::read::FileBytes::release)).
pub(crate) fn load_into(
    model: &dyn Module,
    file: &ParsedFile<'_>,
    options: LoadOptions,
    release: &dyn Fn(&[u8]),
) -> Result<()> {
    let expected = model.state_dict();
    let mut dense = HashSet::new();
    if options.keras_dense_transpose {
        linear_weights(model, "", &mut dense);
    }
    let (mut missing, mut shapes, mut dtypes) = (Vec::new(), Vec::new(), Vec::new());
    let mut ready: Vec<(Tensor, &RawTensor<'_>, bool)> = Vec::with_capacity(expected.len());
    let mut known = HashSet::new();
    for (name, target) in &expected {
        if !known.insert(name.as_str()) {
            continue; // a layer shared under one name appears once in a file
        }
        let want = target.shape();
        let Some(raw) = file.tensors.get(name) else {
            missing.push(format!("{name} {want:?}"));
            continue;
        };
        let is_weight = name == "weight" || name.ends_with(".weight");
        let swapped = raw.shape.len() == 2 && want.len() == 2 && raw.shape == [want[1], want[0]];
        let keras = options.keras_dense_transpose
            && is_weight
            && swapped
            && (want[0] != want[1] || dense.contains(name.as_str()));
        if !keras && !same_shape(&raw.shape, want) {
            let hint = if swapped && is_weight && !options.keras_dense_transpose {
                " (the transpose: a Keras [in, out] kernel? load with LoadOptions { keras_dense_transpose: true })"
            } else {
                ""
            };
            shapes.push(format!("{name}: file {:?}, model {want:?}{hint}", raw.shape));
            continue;
        }
        if let Err(e) = raw.check_convertible() {
            dtypes.push(format!("{name}: {e}"));
            continue;
        }
        ready.push((target.clone(), raw, keras));
    }
    let mut unexpected: Vec<String> = file
        .tensors
        .iter()
        .filter(|(n, _)| !known.contains(n.as_str()))
        .map(|(n, t)| format!("{n} {:?} {}", t.shape, dtype_name(t.dtype)))
        .collect();
    unexpected.sort_by(|a, b| natural_cmp(a, b));
    let problems = missing.len() + unexpected.len() + shapes.len() + dtypes.len();
    if problems > 0 {
        let mut msg = format!(
            "{}: the file does not match the model ({problems} problem{}; nothing was loaded):",
            file.label,
            if problems == 1 { "" } else { "s" }
        );
        for (title, list) in [
            ("missing from the file", &missing),
            ("unexpected in the file", &unexpected),
            ("wrong shape", &shapes),
            ("unreadable", &dtypes),
        ] {
            if !list.is_empty() {
                msg += &format!("\n  {title} ({}):", list.len());
                for item in list.iter() {
                    msg += &format!("\n    {item}");
                }
            }
        }
        if !missing.is_empty() && !unexpected.is_empty() {
            msg += "\n  check that the architecture (spec) is the one the file was saved from";
        }
        return Err(NnError::Model(msg));
    }
    // Everything fits: convert and store one tensor at a time, so loading holds at most one
    // converted tensor beside the model and the (mapped) file.
    for (target, raw, keras) in ready {
        let values = raw.to_f32().map_err(|e| NnError::Model(format!("{}: {e}", file.label)))?;
        let values = if keras { transpose(&values, raw.shape[0], raw.shape[1]) } else { values };
        let value = Tensor::from_vec(values, target.shape())?.to_device(&target.device())?;
        target.set_data(&value)?;
        release(raw.data);
    }
    Ok(())
}
