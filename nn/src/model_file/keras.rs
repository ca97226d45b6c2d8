//! Keras-exported files: telling Keras names from PyTorch/graft names, mapping Keras names
//! onto a graft model, and Keras' kernel layouts.
//!
//! A Keras name is a layer path and a leaf (`sequential/dense_1/kernel`, `dense.kernel`,
//! `dense_2/kernel:0`). It is mapped onto the model by layer name when every name then fits
//! (`hidden1/kernel` → `hidden1.weight`), else by Keras' automatic names in creation order
//! (`dense`, `dense_1`, … onto the model's `linear` layers in order), after dropping a prefix
//! all names share (`sequential/`).

use super::read::{natural_cmp, ParsedFile, RawTensor};
use super::strict::{Convert, Layout, Plan, Source};
use crate::error::Fix;
use crate::module::Module;
use crate::{NnError, Result};
use std::collections::{HashMap, HashSet};

/// Leaves of Keras weights.
const KERAS_LEAVES: &[&str] = &["kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance", "embeddings"];
/// The state of a Keras `SeedGenerator` (dropout layers): not a weight, skipped.
const SEED_STATE: &str = "seed_generator_state";
/// Leaves of PyTorch/graft state-dict tensors.
const GRAFT_LEAVES: &[&str] = &["weight", "bias", "running_mean", "running_var", "num_batches_tracked"];

/// The kind of a graft layer, as far as Keras mapping cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Linear,
    Conv2d,
    BatchNorm,
    Embedding,
    LayerNorm,
    Other,
}

/// Keras' automatic layer-name families: name, the graft layers they map onto, the Keras class.
const FAMILIES: &[(&str, Kind, &str)] = &[
    ("dense", Kind::Linear, "Dense"),
    ("conv2d", Kind::Conv2d, "Conv2D"),
    ("batch_normalization", Kind::BatchNorm, "BatchNormalization"),
    ("embedding", Kind::Embedding, "Embedding"),
    ("layer_normalization", Kind::LayerNorm, "LayerNormalization"),
];

impl Kind {
    fn of_spec(spec: &str) -> Kind {
        if spec.starts_with("linear(") {
            Kind::Linear
        } else if spec.starts_with("conv2d(") {
            Kind::Conv2d
        } else if spec.starts_with("batchnorm") {
            Kind::BatchNorm
        } else if spec.starts_with("embedding(") {
            Kind::Embedding
        } else if spec.starts_with("layernorm(") {
            Kind::LayerNorm
        } else {
            Kind::Other
        }
    }

    /// How graft's spec language names the layers of this kind.
    fn graft_name(self) -> &'static str {
        match self {
            Kind::Linear => "linear",
            Kind::Conv2d => "conv2d",
            Kind::BatchNorm => "batchnorm",
            Kind::Embedding => "embedding",
            Kind::LayerNorm => "layernorm",
            Kind::Other => "other",
        }
    }

    /// Whether a Keras layer of this kind has a weight called `leaf`.
    fn has_leaf(self, leaf: &str) -> bool {
        match self {
            Kind::Linear | Kind::Conv2d => matches!(leaf, "kernel" | "bias"),
            Kind::BatchNorm => matches!(leaf, "gamma" | "beta" | "moving_mean" | "moving_variance"),
            Kind::LayerNorm => matches!(leaf, "gamma" | "beta"),
            Kind::Embedding => leaf == "embeddings",
            Kind::Other => true,
        }
    }

    /// The Keras leaf of graft parameter `param` of a layer of this kind.
    fn keras_leaf(self, param: &str) -> Option<&'static str> {
        Some(match (self, param) {
            (Kind::Linear | Kind::Conv2d, "weight") => "kernel",
            (Kind::Linear | Kind::Conv2d, "bias") => "bias",
            (Kind::BatchNorm | Kind::LayerNorm, "weight") => "gamma",
            (Kind::BatchNorm | Kind::LayerNorm, "bias") => "beta",
            (Kind::BatchNorm, "running_mean") => "moving_mean",
            (Kind::BatchNorm, "running_var") => "moving_variance",
            (Kind::Embedding, "weight") => "embeddings",
            _ => return None,
        })
    }

    /// How a Keras weight `leaf` becomes this layer's tensor.
    fn convert(self, leaf: &str) -> Convert {
        match (self, leaf) {
            (Kind::Linear, "kernel") => Convert::Transpose,
            (Kind::Conv2d, "kernel") => Convert::HwioToOihw,
            _ => Convert::Copy,
        }
    }
}

/// The graft parameter a Keras weight leaf fills.
fn graft_param(leaf: &str) -> Option<&'static str> {
    Some(match leaf {
        "kernel" | "gamma" | "embeddings" => "weight",
        "bias" | "beta" => "bias",
        "moving_mean" => "running_mean",
        "moving_variance" => "running_var",
        _ => return None,
    })
}

/// The family of an automatic Keras layer name (`dense`, `dense_12`).
fn family(key: &str) -> Option<Kind> {
    FAMILIES.iter().find_map(|&(name, kind, _)| {
        let rest = key.strip_prefix(name)?;
        let auto = rest.is_empty()
            || rest.strip_prefix('_').is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
        auto.then_some(kind)
    })
}

/// A tensor name split into layer path and leaf.
struct Name<'n> {
    path: Vec<&'n str>,
    leaf: &'n str,
    /// Ended in `:0` (TensorFlow's output index).
    suffixed: bool,
    slash: bool,
}

fn split_name(name: &str) -> Name<'_> {
    let (base, suffixed) = match name.rsplit_once(':') {
        Some((b, d)) if !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit()) => (b, true),
        _ => (name, false),
    };
    let mut path: Vec<&str> = base.split(['/', '.']).collect();
    let leaf = path.pop().unwrap_or_default();
    Name { path, leaf, suffixed, slash: base.contains('/') }
}

#[derive(Debug, PartialEq, Eq)]
enum NameKind {
    Keras,
    Graft,
    /// `0.bias`, `dense.bias`: either.
    Either,
    Other,
}

fn name_kind(name: &str) -> NameKind {
    let n = split_name(name);
    let keras_leaf = KERAS_LEAVES.contains(&n.leaf) || n.leaf == SEED_STATE;
    if keras_leaf && (n.slash || n.suffixed || n.leaf != "bias") {
        NameKind::Keras
    } else if n.slash || n.suffixed {
        NameKind::Other
    } else if n.leaf == "bias" {
        NameKind::Either
    } else if GRAFT_LEAVES.contains(&n.leaf) {
        NameKind::Graft
    } else {
        NameKind::Other
    }
}

/// What a file's tensor names say about its layout.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FileNames {
    /// Keras names and no PyTorch/graft ones (the Keras names, in natural order).
    Keras(Vec<String>),
    /// No Keras names.
    NotKeras,
    /// Both kinds: the file cannot be read either way.
    Mixed { keras: Vec<String>, graft: Vec<String> },
}

/// Sorts the names of a file by kind.
pub(crate) fn classify<'n>(names: impl IntoIterator<Item = &'n str>) -> FileNames {
    let (mut keras, mut graft) = (Vec::new(), Vec::new());
    for name in names {
        match name_kind(name) {
            NameKind::Keras => keras.push(name.to_string()),
            NameKind::Graft => graft.push(name.to_string()),
            NameKind::Either | NameKind::Other => {}
        }
    }
    keras.sort_by(|a, b| natural_cmp(a, b));
    graft.sort_by(|a, b| natural_cmp(a, b));
    match (keras.is_empty(), graft.is_empty()) {
        (true, _) => FileNames::NotKeras,
        (false, true) => FileNames::Keras(keras),
        (false, false) => FileNames::Mixed { keras, graft },
    }
}

/// A few names for a message: `` `a`, `b`, `c` and 4 more ``.
pub(crate) fn examples(names: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut s = names.iter().take(SHOWN).map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
    if names.len() > SHOWN {
        s += &format!(" and {} more", names.len() - SHOWN);
    }
    s
}

/// A parameterised layer of the model: its state-dict prefix (`classifier.0.`), kind, spec and
/// the full names of its tensors.
pub(crate) struct ModelLayer {
    pub prefix: String,
    pub kind: Kind,
    pub spec: String,
    pub tensors: Vec<(String, Vec<usize>)>,
}

impl ModelLayer {
    /// The layer's name as a spec or a message writes it (`classifier.0`).
    fn name(&self) -> &str {
        self.prefix.strip_suffix('.').unwrap_or(&self.prefix)
    }
}

/// The parameterised layers of `model` in order, descending into `Sequential`s.
pub(crate) fn model_layers(model: &dyn Module) -> Vec<ModelLayer> {
    fn walk(m: &dyn Module, prefix: &str, out: &mut Vec<ModelLayer>) {
        if let Some(seq) = m.as_sequential() {
            for (name, layer) in seq.iter() {
                walk(layer.as_ref(), &format!("{prefix}{name}."), out);
            }
            return;
        }
        let tensors: Vec<(String, Vec<usize>)> =
            m.state_dict().into_iter().map(|(n, t)| (format!("{prefix}{n}"), t.shape().to_vec())).collect();
        if !tensors.is_empty() {
            let spec = m.spec();
            out.push(ModelLayer { prefix: prefix.to_string(), kind: Kind::of_spec(&spec), spec, tensors });
        }
    }
    let mut out = Vec::new();
    walk(model, "", &mut out);
    out
}

/// One weight of a Keras file.
struct Entry<'f, 'a> {
    name: &'f str,
    raw: &'f RawTensor<'a>,
    path: Vec<&'f str>,
    leaf: &'f str,
}

impl Entry<'_, '_> {
    /// The layer's own name: the last part of its path (`dense_1` of `sequential/dense_1/kernel`).
    fn key(&self) -> Option<&str> {
        self.path.last().copied()
    }
}

/// How many leading path parts every entry shares, keeping at least one layer part each.
fn common_prefix(entries: &[Entry<'_, '_>]) -> usize {
    let Some(first) = entries.first() else { return 0 };
    let mut k = 0;
    while entries.iter().all(|e| e.path.len() > k + 1 && e.path[k] == first.path[k]) {
        k += 1;
    }
    k
}

/// The model tensor (and its layer's kind) each entry fills when the Keras layer path, less
/// its first `skip` parts, is the graft layer name; `Err` holds the entries that do not fit.
fn by_name<'e, 'f, 'a>(
    entries: &'e [Entry<'f, 'a>],
    skip: usize,
    kinds: &HashMap<&str, Kind>,
) -> std::result::Result<Vec<(String, Kind)>, Vec<&'e Entry<'f, 'a>>> {
    let mut out = Vec::with_capacity(entries.len());
    let mut bad = Vec::new();
    let mut taken = HashSet::new();
    for e in entries {
        let target = graft_param(e.leaf).map(|p| {
            let layer = e.path.get(skip..).unwrap_or_default().join(".");
            if layer.is_empty() {
                p.to_string()
            } else {
                format!("{layer}.{p}")
            }
        });
        match target.and_then(|t| kinds.get(t.as_str()).map(|&k| (t, k))) {
            Some((t, kind)) if kind.has_leaf(e.leaf) && taken.insert(t.clone()) => out.push((t, kind)),
            _ => bad.push(e),
        }
    }
    if bad.is_empty() {
        Ok(out)
    } else {
        Err(bad)
    }
}

/// Plans a Keras-named file: by layer name, else by Keras' automatic names in creation order.
pub(crate) fn plan<'f, 'a>(model: &dyn Module, file: &'f ParsedFile<'a>) -> Result<Plan<'f, 'a>> {
    let layers = model_layers(model);
    let kinds: HashMap<&str, Kind> =
        layers.iter().flat_map(|l| l.tensors.iter().map(move |(t, _)| (t.as_str(), l.kind))).collect();
    let mut plan = Plan::new(Layout::Keras);
    for l in layers.iter().filter(|l| l.kind == Kind::BatchNorm) {
        // Keras keeps no batch count: the model's stays.
        plan.optional.extend(l.tensors.iter().map(|(t, _)| t).filter(|t| t.ends_with("num_batches_tracked")).cloned());
    }
    let mut entries = Vec::with_capacity(file.tensors.len());
    for (name, raw) in &file.tensors {
        let n = split_name(name);
        if n.leaf == SEED_STATE {
            plan.ignored.insert(name.as_str());
        } else {
            entries.push(Entry { name, raw, path: n.path, leaf: n.leaf });
        }
    }
    entries.sort_by(|a, b| natural_cmp(a.name, b.name));
    let strip = common_prefix(&entries);

    // (a) By name, trying the shared prefix kept and then dropped part by part.
    let mut best_by_name: Option<Vec<&Entry<'_, '_>>> = None;
    // Real prefixes are a part or two deep; a pathological one is tried kept and dropped only.
    for skip in (0..=strip).filter(|&s| s <= 16 || s == strip) {
        match by_name(&entries, skip, &kinds) {
            Ok(targets) => {
                for (e, (target, kind)) in entries.iter().zip(targets) {
                    let convert = kind.convert(e.leaf);
                    plan.sources.insert(target, Source { file_name: e.name, raw: e.raw, convert });
                }
                plan.notes.push("the Keras layer names were matched to the model's layer names".into());
                return Ok(plan);
            }
            Err(bad) => {
                if best_by_name.as_ref().is_none_or(|b| bad.len() < b.len()) {
                    best_by_name = Some(bad);
                }
            }
        }
    }
    let not_by_name = best_by_name.unwrap_or_default();

    // (b) By Keras' automatic names, family by family in creation order.
    let mut not_automatic: Vec<&Entry<'_, '_>> = Vec::new();
    let mut keys: HashMap<&str, (Kind, String)> = HashMap::new();
    let mut clashing: HashSet<&str> = HashSet::new();
    for e in &entries {
        let Some((key, kind)) = e.key().and_then(|k| family(k).map(|f| (k, f))) else {
            not_automatic.push(e);
            continue;
        };
        let full = e.path.get(strip..).unwrap_or_default().join("/");
        match keys.get(key) {
            Some((_, seen)) if *seen != full => {
                clashing.insert(key); // `a/dense` and `b/dense`: which is first?
            }
            Some(_) => {}
            None => {
                keys.insert(key, (kind, full));
            }
        }
    }
    not_automatic.extend(entries.iter().filter(|e| e.key().is_some_and(|k| clashing.contains(k))));
    if !not_automatic.is_empty() {
        return Err(unmatched(file, &layers, &entries, &not_by_name, &not_automatic));
    }
    let mut pairs: HashMap<&str, &ModelLayer> = HashMap::new();
    let mut order = Vec::new();
    for &(fam, kind, class) in FAMILIES {
        let mut file_layers: Vec<&str> = keys.iter().filter(|(_, (k, _))| *k == kind).map(|(&key, _)| key).collect();
        file_layers.sort_by(|a, b| natural_cmp(a, b));
        let model_of_kind: Vec<(usize, &ModelLayer)> =
            layers.iter().enumerate().filter(|(_, l)| l.kind == kind).collect();
        if file_layers.len() != model_of_kind.len() {
            plan.notes.push(format!(
                "the file has {} Keras {class} layer{} ({fam}, {fam}_1, …), the model {} {} layer{}",
                file_layers.len(),
                if file_layers.len() == 1 { "" } else { "s" },
                model_of_kind.len(),
                kind.graft_name(),
                if model_of_kind.len() == 1 { "" } else { "s" },
            ));
        }
        for (key, (position, layer)) in file_layers.into_iter().zip(model_of_kind) {
            pairs.insert(key, layer);
            order.push((position, format!("{key} → {} = {}", layer.name(), layer.spec)));
        }
    }
    for e in &entries {
        let Some(layer) = e.key().and_then(|k| pairs.get(k)) else { continue };
        let Some(param) = graft_param(e.leaf).filter(|_| layer.kind.has_leaf(e.leaf)) else { continue };
        let target = format!("{}{param}", layer.prefix);
        if layer.tensors.iter().any(|(t, _)| *t == target) && !plan.sources.contains_key(&target) {
            plan.sources.insert(target, Source { file_name: e.name, raw: e.raw, convert: layer.kind.convert(e.leaf) });
        }
    }
    for (key, layer) in &pairs {
        for (t, _) in &layer.tensors {
            if let Some(leaf) = t.strip_prefix(&layer.prefix).and_then(|p| layer.kind.keras_leaf(p)) {
                plan.missing_hints.insert(t.clone(), format!("{key}/{leaf}"));
            }
        }
    }
    order.sort();
    const SHOWN: usize = 8;
    let mut shown = order.iter().take(SHOWN).map(|(_, s)| s.as_str()).collect::<Vec<_>>().join(", ");
    if order.len() > SHOWN {
        shown += ", …";
    }
    plan.notes.push(format!("Keras layers matched to the model's in creation order: {shown}"));
    Ok(plan)
}

/// The refusal of a Keras file whose names fit neither mapping.
fn unmatched(
    file: &ParsedFile<'_>,
    layers: &[ModelLayer],
    entries: &[Entry<'_, '_>],
    not_by_name: &[&Entry<'_, '_>],
    not_automatic: &[&Entry<'_, '_>],
) -> NnError {
    let auto_bad: HashSet<&str> = not_automatic.iter().map(|e| e.name).collect();
    let both: Vec<&Entry<'_, '_>> = not_by_name.iter().copied().filter(|e| auto_bad.contains(e.name)).collect();
    // When every name fits one way or the other, the file mixes custom and automatic names:
    // list the ones the model does not name.
    let list: Vec<&Entry<'_, '_>> = if both.is_empty() { not_by_name.to_vec() } else { both };
    let mut msg = format!(
        "{}: {} of the file's {} Keras tensor name{} match neither the model's layer names nor Keras' automatic \
         layer names in creation order (dense, dense_1, …; conv2d, …; batch_normalization, …), so graft cannot \
         tell which layer they belong to (nothing was loaded):",
        file.label,
        list.len(),
        entries.len(),
        if entries.len() == 1 { "" } else { "s" },
    );
    for e in &list {
        msg += &format!("\n    {} {:?}", e.name, e.raw.shape);
    }
    const SHOWN: usize = 8;
    let mut model = layers.iter().take(SHOWN).map(|l| format!("{} = {}", l.name(), l.spec)).collect::<Vec<_>>();
    if layers.len() > SHOWN {
        model.push("…".into());
    }
    msg += &format!("\n  the model's layers: {}", if model.is_empty() { "none".into() } else { model.join(", ") });
    let example = list.iter().find_map(|e| spec_example(e)).unwrap_or_else(|| "hidden1=linear(784,100)".into());
    msg += &format!(
        "\n  name the layers in the spec like the Keras layers, e.g. `{example}`, so that `<layer>/kernel` loads \
         into `<layer>.weight`"
    );
    NnError::Model(msg)
}

/// `hidden1=linear(784,100)` for a Keras kernel `hidden1/kernel` of shape `[784, 100]`.
fn spec_example(e: &Entry<'_, '_>) -> Option<String> {
    let key = e
        .key()
        .filter(|k| !k.is_empty() && k.len() <= 64 && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))?;
    if e.leaf != "kernel" {
        return None;
    }
    match *e.raw.shape.as_slice() {
        [i, o] => Some(format!("{key}=linear({i},{o})")),
        [h, w, i, o] => {
            let k = if h == w { h.to_string() } else { format!("{h}x{w}") };
            Some(format!("{key}=conv2d({i},{o},{k})"))
        }
        _ => None,
    }
}

/// Plans a file with PyTorch/graft names read in Keras layout: every `linear` weight is a
/// Dense kernel `[in, out]` and every `conv2d` weight a Conv2D kernel `[kh, kw, in, out]`.
/// A file whose kernels all have the model's own (non-Keras) shapes is refused: it is not in
/// Keras layout.
pub(crate) fn plan_graft_names<'f, 'a>(model: &dyn Module, file: &'f ParsedFile<'a>) -> Result<Plan<'f, 'a>> {
    let mut kernels: HashMap<String, (Convert, Vec<usize>)> = HashMap::new();
    for layer in model_layers(model) {
        let convert = match layer.kind {
            Kind::Linear => Convert::Transpose,
            Kind::Conv2d => Convert::HwioToOihw,
            _ => continue,
        };
        let weight = format!("{}weight", layer.prefix);
        if let Some((t, shape)) = layer.tensors.into_iter().find(|(t, _)| *t == weight) {
            kernels.insert(t, (convert, shape));
        }
    }
    let mut plan = Plan::new(Layout::Keras);
    let (mut keras_shaped, mut torch_shaped) = (false, None);
    for (name, raw) in &file.tensors {
        let mut convert = Convert::Copy;
        if let Some((c, want)) = kernels.get(name) {
            convert = *c;
            let keras = c.stored_shape(want);
            keras_shaped |= keras.as_ref() == Some(&raw.shape) && raw.shape != *want;
            if raw.shape == *want && keras.as_ref() != Some(&raw.shape) && torch_shaped.is_none() {
                torch_shaped = Some(format!("`{name}` {:?}", raw.shape));
            }
        }
        plan.sources.insert(name.clone(), Source { file_name: name, raw, convert });
    }
    if let (Some(example), false) = (torch_shaped, keras_shaped) {
        return Err(NnError::fixable(
            format!(
                "{}: the file is not in Keras layout: its names are PyTorch/graft names and its kernels have the \
                 model's own shapes, [out, in] (e.g. {example}), none Keras' [in, out]; Keras layout would \
                 transpose every one of them (nothing was loaded)",
                file.label
            ),
            Fix::TorchLayout,
        ));
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_told_apart() {
        for n in [
            "dense/kernel",
            "dense_1/bias",
            "dense_2/kernel:0",
            "dense.kernel",
            "sequential/batch_normalization/moving_variance",
            "bn.gamma",
            "emb/embeddings",
            "seed_generator/seed_generator_state",
        ] {
            assert_eq!(name_kind(n), NameKind::Keras, "{n}");
        }
        for n in ["0.weight", "features.1.running_var", "weight", "1.num_batches_tracked"] {
            assert_eq!(name_kind(n), NameKind::Graft, "{n}");
        }
        for n in ["0.bias", "dense.bias", "bias"] {
            assert_eq!(name_kind(n), NameKind::Either, "{n}");
        }
        for n in ["x", "logits", "a/weight", "", ":0", "/", "a..b"] {
            assert_eq!(name_kind(n), NameKind::Other, "{n:?}");
        }
        assert_eq!(classify(["dense/kernel", "0.bias", "x"]), FileNames::Keras(vec!["dense/kernel".into()]));
        assert_eq!(classify(["0.weight", "dense.bias"]), FileNames::NotKeras);
        assert!(matches!(classify(["0.weight", "dense/kernel"]), FileNames::Mixed { .. }));
    }

    #[test]
    fn automatic_names_and_families() {
        assert_eq!(family("dense"), Some(Kind::Linear));
        assert_eq!(family("dense_10"), Some(Kind::Linear));
        assert_eq!(family("conv2d_3"), Some(Kind::Conv2d));
        assert_eq!(family("batch_normalization_1"), Some(Kind::BatchNorm));
        for k in ["dense_", "dense_x", "densely", "conv2d_transpose", "hidden1", ""] {
            assert_eq!(family(k), None, "{k}");
        }
        let mut v = vec!["dense_10", "dense_2", "dense", "dense_9", "dense_1"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["dense", "dense_1", "dense_2", "dense_9", "dense_10"]);
    }

    #[test]
    fn examples_are_short() {
        let names: Vec<String> = (0..5).map(|i| format!("n{i}")).collect();
        assert_eq!(examples(&names), "`n0`, `n1`, `n2` and 2 more");
        assert_eq!(examples(&names[..1]), "`n0`");
    }
}
