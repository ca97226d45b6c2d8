//! Strict loading: every model tensor found with its shape, nothing left over, or one error
//! listing every problem; the model changes only when everything matches.
//!
//! Loading is planned first and carried out second. A plan says, for each state-dict name of
//! the model, which tensor of the file fills it and how its values are rearranged
//! ([`Convert`]); the PyTorch/graft plan is the identity, the Keras plans
//! ([`super::keras`]) rename and transpose. [`execute`] then checks every tensor of the plan
//! against the model before it writes any of them.

use super::keras::{self, FileNames};
use super::read::{dtype_name, natural_cmp, ParsedFile, RawTensor};
use super::{LoadOptions, WeightLayout};
use crate::error::Fix;
use crate::module::Module;
use crate::{NnError, Result};
use graft_engine::Tensor;
use std::collections::{HashMap, HashSet};

/// How a stored tensor's values become the model's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Convert {
    /// As stored.
    Copy,
    /// A Keras Dense kernel `[in, out]` to a Linear weight `[out, in]`.
    Transpose,
    /// A Keras Conv2D kernel `[kh, kw, in, out]` to a Conv2d weight `[out, in, kh, kw]`.
    HwioToOihw,
}

impl Convert {
    /// The shape the file must store for a model tensor of shape `want`; `None` when the
    /// conversion does not apply to a tensor of that rank.
    pub(crate) fn stored_shape(self, want: &[usize]) -> Option<Vec<usize>> {
        match (self, want) {
            (Convert::Copy, _) => Some(want.to_vec()),
            (Convert::Transpose, &[o, i]) => Some(vec![i, o]),
            (Convert::HwioToOihw, &[o, i, h, w]) => Some(vec![h, w, i, o]),
            _ => None,
        }
    }

    /// `values` (stored with shape `stored`, already checked against the model) rearranged.
    fn apply(self, values: Vec<f32>, stored: &[usize]) -> Vec<f32> {
        if stored.iter().product::<usize>() != values.len() {
            return values; // cannot happen after the checks; the tensor build then refuses it
        }
        match (self, stored) {
            (Convert::Transpose, &[rows, cols]) => {
                let mut out = vec![0.0; values.len()];
                for r in 0..rows {
                    for c in 0..cols {
                        out[c * rows + r] = values[r * cols + c];
                    }
                }
                out
            }
            (Convert::HwioToOihw, &[kh, kw, ci, co]) => {
                let mut out = vec![0.0; values.len()];
                for y in 0..kh {
                    for x in 0..kw {
                        for i in 0..ci {
                            for o in 0..co {
                                out[((o * ci + i) * kh + y) * kw + x] = values[((y * kw + x) * ci + i) * co + o];
                            }
                        }
                    }
                }
                out
            }
            _ => values,
        }
    }
}

/// The layout a plan reads the file in; it decides how shape problems are explained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    Torch,
    Keras,
}

/// The file tensor that fills one model tensor.
pub(crate) struct Source<'f, 'a> {
    /// Its name in the file.
    pub file_name: &'f str,
    pub raw: &'f RawTensor<'a>,
    pub convert: Convert,
}

/// Where every model tensor comes from.
pub(crate) struct Plan<'f, 'a> {
    pub layout: Layout,
    /// By the model's state-dict name.
    pub sources: HashMap<String, Source<'f, 'a>>,
    /// Model tensors the file may leave out (Keras has no `num_batches_tracked`).
    pub optional: HashSet<String>,
    /// File tensors that are not weights and are skipped (Keras' dropout seed states).
    pub ignored: HashSet<&'f str>,
    /// For a missing model tensor, the name the file would give it (`dense_1/bias`).
    pub missing_hints: HashMap<String, String>,
    /// Lines added to a refusal (how the names were matched).
    pub notes: Vec<String>,
    /// The names are Keras names though the file is read in PyTorch layout: a refusal names
    /// [`Fix::KerasLayout`].
    pub keras_names: bool,
}

impl<'f, 'a> Plan<'f, 'a> {
    pub(crate) fn new(layout: Layout) -> Self {
        Plan {
            layout,
            sources: HashMap::new(),
            optional: HashSet::new(),
            ignored: HashSet::new(),
            missing_hints: HashMap::new(),
            notes: Vec::new(),
            keras_names: false,
        }
    }
}

/// Equal shapes, or a one-element tensor for a scalar (PyTorch's `num_batches_tracked` is
/// saved as `[]` by some exporters and `[1]` by others).
fn same_shape(file: &[usize], model: &[usize]) -> bool {
    let one = |s: &[usize]| s.iter().product::<usize>() == 1;
    file == model || ((file.is_empty() || model.is_empty()) && one(file) && one(model))
}

/// Loads `file` into `model` strictly, in the layout `options` asks for (detected from the
/// names by default); `release` is told each tensor's bytes once they are converted (see
/// [`FileBytes::release`](super::read::FileBytes::release)).
pub(crate) fn load_into(
    model: &dyn Module,
    file: &ParsedFile<'_>,
    options: LoadOptions,
    release: &dyn Fn(&[u8]),
) -> Result<()> {
    let names = keras::classify(file.tensors.keys().map(String::as_str));
    let plan = match (names, options.layout) {
        // Forced: PyTorch modules may call parameters `gamma` or `kernel`; load by name, and
        // only name the Keras look of the names if that fails.
        (FileNames::Keras(examples), WeightLayout::Torch) => {
            let mut plan = torch_plan(file);
            plan.keras_names = true;
            plan.notes.push(format!(
                "the tensor names are Keras names ({}), which graft maps onto the model only in Keras layout",
                keras::examples(&examples)
            ));
            plan
        }
        (FileNames::Mixed { keras, graft }, WeightLayout::Torch) => {
            let mut plan = torch_plan(file);
            plan.notes.push(format!(
                "the tensor names mix Keras names ({}) with PyTorch/graft names ({})",
                keras::examples(&keras),
                keras::examples(&graft)
            ));
            plan
        }
        (FileNames::Mixed { keras, graft }, WeightLayout::Keras | WeightLayout::Detect) => {
            return Err(NnError::Model(format!(
                "{}: the tensor names mix Keras names ({}) with PyTorch/graft names ({}), so the file's layout \
                 cannot be told; nothing was loaded — export the weights from one framework, with one naming",
                file.label,
                keras::examples(&keras),
                keras::examples(&graft)
            )))
        }
        (FileNames::Keras(_), WeightLayout::Keras | WeightLayout::Detect) => keras::plan(model, file)?,
        (FileNames::NotKeras, WeightLayout::Keras) => keras::plan_graft_names(model, file)?,
        (FileNames::NotKeras, WeightLayout::Torch | WeightLayout::Detect) => torch_plan(file),
    };
    execute(model, file, plan, release)
}

/// Loads `file` into `model` by name, as stored (PyTorch layout), skipping the file tensors
/// named in `ignored` (buffers such as BERT's `embeddings.position_ids` that the model
/// recomputes).
pub(crate) fn load_torch_ignoring(
    model: &dyn Module,
    file: &ParsedFile<'_>,
    ignored: &[&str],
    release: &dyn Fn(&[u8]),
) -> Result<()> {
    let mut plan = torch_plan(file);
    for name in file.tensors.keys().filter(|n| ignored.contains(&n.as_str())) {
        plan.sources.remove(name);
        plan.ignored.insert(name);
    }
    execute(model, file, plan, release)
}

/// The identity plan: every file tensor fills the model tensor of the same name, as stored.
fn torch_plan<'f, 'a>(file: &'f ParsedFile<'a>) -> Plan<'f, 'a> {
    let mut plan = Plan::new(Layout::Torch);
    for (name, raw) in &file.tensors {
        plan.sources.insert(name.clone(), Source { file_name: name, raw, convert: Convert::Copy });
    }
    plan
}

/// What went wrong with one tensor's shape, and which way it points.
struct ShapeProblem {
    text: String,
    /// A PyTorch/graft file holds a tensor in Keras' shape.
    keras_shaped: bool,
    /// A Keras file holds a kernel in PyTorch's shape.
    torch_shaped: bool,
}

fn shape_problem(layout: Layout, name: &str, src: &Source<'_, '_>, want: &[usize]) -> ShapeProblem {
    let got = &src.raw.shape;
    let mut p = ShapeProblem { text: String::new(), keras_shaped: false, torch_shaped: false };
    match layout {
        Layout::Torch => {
            let is_weight = name == "weight" || name.ends_with(".weight");
            let swapped = is_weight && Convert::Transpose.stored_shape(want).as_ref() == Some(got);
            let hwio = is_weight && Convert::HwioToOihw.stored_shape(want).as_ref() == Some(got);
            let hint = if swapped {
                " (the transpose: a Keras [in, out] Dense kernel)"
            } else if hwio {
                " (a Keras [kh, kw, in, out] Conv2D kernel)"
            } else {
                ""
            };
            p.keras_shaped = swapped || hwio;
            p.text = format!("{name}: file {got:?}, model {want:?}{hint}");
        }
        Layout::Keras => {
            let label =
                if src.file_name == name { name.to_string() } else { format!("{} (→ {name})", src.file_name) };
            let stored = src.convert.stored_shape(want);
            let (what, keras_axes, torch_axes) = match src.convert {
                Convert::Transpose => ("Dense kernel", "[in, out]", "[out, in]"),
                Convert::HwioToOihw => ("Conv2D kernel", "[kh, kw, in, out]", "[out, in, kh, kw]"),
                Convert::Copy => ("", "", ""),
            };
            p.text = match stored {
                Some(keras) if src.convert != Convert::Copy && got.as_slice() == want => {
                    p.torch_shaped = true;
                    format!(
                        "{label}: file {got:?} is already {torch_axes}, but in Keras layout every {what} is stored \
                         {keras_axes}, here {keras:?}"
                    )
                }
                Some(keras) if src.convert != Convert::Copy => format!(
                    "{label}: file {got:?}, expected the Keras {what} {keras:?} ({keras_axes} of the model's {want:?})"
                ),
                _ => format!("{label}: file {got:?}, model {want:?}"),
            };
        }
    }
    p
}

/// Checks the whole plan against `model`, then (only when everything fits) writes the values.
pub(crate) fn execute(
    model: &dyn Module,
    file: &ParsedFile<'_>,
    plan: Plan<'_, '_>,
    release: &dyn Fn(&[u8]),
) -> Result<()> {
    let expected = model.state_dict();
    let (mut missing, mut shapes, mut dtypes) = (Vec::new(), Vec::new(), Vec::new());
    let (mut keras_shaped, mut torch_shaped) = (0usize, 0usize);
    let mut ready: Vec<(Tensor, &Source<'_, '_>)> = Vec::with_capacity(expected.len());
    let mut known = HashSet::new();
    let mut used: HashSet<&str> = plan.ignored.clone();
    for (name, target) in &expected {
        if !known.insert(name.as_str()) {
            continue; // a layer shared under one name appears once in a file
        }
        let want = target.shape();
        let Some(src) = plan.sources.get(name) else {
            if !plan.optional.contains(name) {
                let hint = plan.missing_hints.get(name).map(|k| format!(" (Keras {k})")).unwrap_or_default();
                missing.push(format!("{name} {want:?}{hint}"));
            }
            continue;
        };
        used.insert(src.file_name);
        let fits = match src.convert {
            Convert::Copy => same_shape(&src.raw.shape, want),
            c => c.stored_shape(want).is_some_and(|s| s == src.raw.shape),
        };
        if !fits {
            let p = shape_problem(plan.layout, name, src, want);
            keras_shaped += usize::from(p.keras_shaped);
            torch_shaped += usize::from(p.torch_shaped);
            shapes.push(p.text);
            continue;
        }
        if let Err(e) = src.raw.check_convertible() {
            dtypes.push(format!("{}: {e}", src.file_name));
            continue;
        }
        ready.push((target.clone(), src));
    }
    let mut unexpected: Vec<String> = file
        .tensors
        .iter()
        .filter(|(n, _)| !used.contains(n.as_str()))
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
        for note in &plan.notes {
            msg += &format!("\n  {note}");
        }
        if torch_shaped > 0 {
            msg += &format!(
                "\n  {torch_shaped} kernel{} stored in PyTorch's layout in a Keras-layout file: Keras stores every \
                 kernel as listed above, so the file mixes layouts (or is not a Keras export); graft loads a file \
                 in one layout only, never half-converted",
                if torch_shaped == 1 { " is" } else { "s are" }
            );
        }
        if plan.layout == Layout::Torch && keras_shaped > 0 {
            msg += &format!(
                "\n  the file looks like Keras layout: {keras_shaped} weight{} the transpose of the model's shape; \
                 Keras stores EVERY Dense kernel [in, out], so every one must be transposed, the square ones too \
                 (their shape cannot show it), and transposing only the ones listed would load a wrong model",
                if keras_shaped == 1 { " has" } else { "s have" }
            );
        }
        if plan.layout == Layout::Torch && (keras_shaped > 0 || plan.keras_names) {
            return Err(NnError::fixable(msg, Fix::KerasLayout));
        }
        return Err(NnError::Model(msg));
    }
    // Everything fits: convert and store one tensor at a time, so loading holds at most one
    // converted tensor beside the model and the (mapped) file.
    for (target, src) in ready {
        let values =
            src.raw.to_f32().map_err(|e| NnError::Model(format!("{}: tensor `{}`: {e}", file.label, src.file_name)))?;
        let values = src.convert.apply(values, &src.raw.shape);
        let value = Tensor::from_vec(values, target.shape())?.to_device(&target.device())?;
        target.set_data(&value)?;
        release(&src.raw.data);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_rearrange_values() {
        // [2, 3] → [3, 2]
        let t = Convert::Transpose.apply(vec![1., 2., 3., 4., 5., 6.], &[2, 3]);
        assert_eq!(t, [1., 4., 2., 5., 3., 6.]);
        // HWIO [1, 2, 2, 3]: value = 1000·y + 100·x + 10·i + o
        let mut hwio = Vec::new();
        for x in 0..2 {
            for i in 0..2 {
                for o in 0..3 {
                    hwio.push((100 * x + 10 * i + o) as f32);
                }
            }
        }
        let oihw = Convert::HwioToOihw.apply(hwio, &[1, 2, 2, 3]);
        let mut want = Vec::new();
        for o in 0..3 {
            for i in 0..2 {
                for x in 0..2 {
                    want.push((100 * x + 10 * i + o) as f32);
                }
            }
        }
        assert_eq!(oihw, want);
        assert_eq!(Convert::HwioToOihw.stored_shape(&[3, 2, 1, 2]), Some(vec![1, 2, 2, 3]));
        assert_eq!(Convert::Transpose.stored_shape(&[3, 2, 1, 2]), None);
    }
}
