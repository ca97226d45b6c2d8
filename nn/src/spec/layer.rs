//! One layer of a spec: its arguments checked against the layer's form, and the layer built.

use super::{spec_error, MAX_LAYER_ELEMENTS, MAX_SIZE, MAX_WINDOW};
use crate::bert::{BertEmbeddings, BertLayer, L2Normalize, MaskedMeanPool};
use crate::init::Init;
use crate::layers::{
    AvgPool2d, BatchNorm, Conv2d, Dropout, Embedding, Flatten, Gelu, GlobalAvgPool, LayerNorm, LeakyRelu, Linear,
    MaxPool2d, Relu, Relu6, Sigmoid, Softmax, Tanh,
};
use crate::mobilenet::InvertedResidual;
use crate::module::Module;
use crate::Result;
use graft_engine::{Conv2dOptions, Pool2dOptions, Rng};
use std::sync::Arc;

/// One argument as written: `3`, `stride=2`.
#[derive(Clone, Debug)]
pub(crate) struct Arg {
    pub key: Option<String>,
    pub value: String,
    pub key_pos: usize,
    pub pos: usize,
}

/// A layer with checked hyper-parameters, before any weight exists.
#[derive(Clone, Debug, PartialEq)]
pub enum LayerSpec {
    /// `init: None` takes the build's default initialiser ([`Spec::build_with_init`](super::Spec::build_with_init)).
    Linear {
        in_features: usize,
        out_features: usize,
        bias: bool,
        init: Option<Init>,
    },
    Conv2d {
        in_channels: usize,
        out_channels: usize,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        /// Channel groups, dividing both channel counts (`in_channels` is a depthwise layer).
        groups: usize,
        bias: bool,
        init: Option<Init>,
    },
    MaxPool2d(Pool2dOptions),
    AvgPool2d(Pool2dOptions),
    GlobalAvgPool,
    Flatten,
    Relu,
    Relu6,
    LeakyRelu(f32),
    Sigmoid,
    Tanh,
    Gelu,
    Softmax(isize),
    Dropout(f32),
    /// `spatial_dims` is 1 for `batchnorm1d`, 2 for `batchnorm2d`.
    BatchNorm {
        spatial_dims: usize,
        features: usize,
        eps: f32,
        momentum: f32,
    },
    LayerNorm {
        features: usize,
        eps: f32,
    },
    Embedding {
        num: usize,
        dim: usize,
    },
    /// BERT's embeddings (`[vocab, positions, types]` tables of `hidden` features, LayerNorm).
    BertEmbeddings {
        tables: [usize; 3],
        hidden: usize,
        eps: f32,
    },
    /// One BERT encoder layer.
    BertLayer {
        hidden: usize,
        heads: usize,
        intermediate: usize,
        eps: f32,
    },
    MaskedMeanPool,
    L2Normalize,
    /// MobileNetV2's inverted residual block.
    InvertedResidual {
        inp: usize,
        out: usize,
        stride: usize,
        expand: usize,
    },
}

/// How a layer is written: its name, positional arguments (each with accepted keyword
/// spellings; the first `required` must be given) and keyword-only options.
struct Form {
    name: &'static str,
    usage: &'static str,
    positional: &'static [&'static [&'static str]],
    required: usize,
    options: &'static [&'static str],
}

const FORMS: &[Form] = &[
    Form {
        name: "linear",
        usage: "linear(in,out[,bias=false][,init=he_normal])",
        positional: &[&["in", "in_features"], &["out", "out_features"]],
        required: 2,
        options: &["bias", "init", "kernel_initializer"],
    },
    Form {
        name: "conv2d",
        usage: "conv2d(in,out,k[,stride=s][,padding=p][,groups=g][,bias=false][,init=he_normal]) where k, s, p are \
                `3` or `3x1` and g divides in and out",
        positional: &[&["in", "in_channels"], &["out", "out_channels"], &["k", "kernel_size", "kernel"]],
        required: 3,
        options: &["stride", "padding", "groups", "bias", "init", "kernel_initializer"],
    },
    Form {
        name: "maxpool2d",
        usage: "maxpool2d(k[,stride=s][,padding=p]) where k, s, p are `2` or `2x1`",
        positional: &[&["k", "kernel_size", "kernel"]],
        required: 1,
        options: &["stride", "padding"],
    },
    Form {
        name: "avgpool2d",
        usage: "avgpool2d(k[,stride=s][,padding=p]) where k, s, p are `2` or `2x1`",
        positional: &[&["k", "kernel_size", "kernel"]],
        required: 1,
        options: &["stride", "padding"],
    },
    Form { name: "globalavgpool", usage: "globalavgpool", positional: &[], required: 0, options: &[] },
    Form { name: "flatten", usage: "flatten", positional: &[], required: 0, options: &[] },
    Form { name: "relu", usage: "relu", positional: &[], required: 0, options: &[] },
    Form { name: "relu6", usage: "relu6", positional: &[], required: 0, options: &[] },
    Form {
        name: "leakyrelu",
        usage: "leakyrelu[(slope)] (slope 0.01 by default)",
        positional: &[&["slope", "negative_slope"]],
        required: 0,
        options: &[],
    },
    Form { name: "sigmoid", usage: "sigmoid", positional: &[], required: 0, options: &[] },
    Form { name: "tanh", usage: "tanh", positional: &[], required: 0, options: &[] },
    Form { name: "gelu", usage: "gelu", positional: &[], required: 0, options: &[] },
    Form {
        name: "softmax",
        usage: "softmax(dim), e.g. softmax(1) or softmax(-1)",
        positional: &[&["dim"]],
        required: 1,
        options: &[],
    },
    Form {
        name: "dropout",
        usage: "dropout(p) with 0 <= p < 1 (bare `dropout` is p = 0.5)",
        positional: &[&["p"]],
        required: 0,
        options: &[],
    },
    Form {
        name: "batchnorm1d",
        usage: "batchnorm1d(n[,eps=1e-5][,momentum=0.1])",
        positional: &[&["n", "num_features"]],
        required: 1,
        options: &["eps", "momentum"],
    },
    Form {
        name: "batchnorm2d",
        usage: "batchnorm2d(n[,eps=1e-5][,momentum=0.1])",
        positional: &[&["n", "num_features"]],
        required: 1,
        options: &["eps", "momentum"],
    },
    Form {
        name: "layernorm",
        usage: "layernorm(n[,eps=1e-5])",
        positional: &[&["n", "normalized_shape"]],
        required: 1,
        options: &["eps"],
    },
    Form {
        name: "embedding",
        usage: "embedding(num,dim)",
        positional: &[&["num", "num_embeddings"], &["dim", "embedding_dim"]],
        required: 2,
        options: &[],
    },
    Form {
        name: "bert_embeddings",
        usage: "bert_embeddings(vocab,hidden[,positions=512][,types=2][,eps=1e-12])",
        positional: &[&["vocab", "vocab_size"], &["hidden", "hidden_size"]],
        required: 2,
        options: &["positions", "types", "eps"],
    },
    Form {
        name: "bert_layer",
        usage: "bert_layer(hidden,heads=h,intermediate=n[,eps=1e-12]) with h dividing hidden",
        positional: &[&["hidden", "hidden_size"]],
        required: 1,
        options: &["heads", "intermediate", "eps"],
    },
    Form { name: "masked_mean_pool", usage: "masked_mean_pool", positional: &[], required: 0, options: &[] },
    Form { name: "l2_normalize", usage: "l2_normalize", positional: &[], required: 0, options: &[] },
    Form {
        name: "inverted_residual",
        usage: "inverted_residual(in,out[,stride=1][,expand=6])",
        positional: &[&["in", "in_channels"], &["out", "out_channels"]],
        required: 2,
        options: &["stride", "expand"],
    },
];

/// The layer names a spec accepts (case-insensitive: `ReLU`, `Conv2d` and `BatchNorm2d` work too).
pub fn known_layers() -> Vec<&'static str> {
    FORMS.iter().map(|f| f.name).collect()
}

/// Arguments matched to a form: value (and its position) per canonical name.
struct Bound<'a> {
    spec: &'a str,
    form: &'static Form,
    values: Vec<(&'static str, &'a Arg)>,
}

fn bind<'a>(spec: &'a str, form: &'static Form, pos: usize, args: &'a [Arg]) -> Result<Bound<'a>> {
    let err = |pos: usize, msg: String| spec_error(spec, pos, &format!("{msg}; write {}", form.usage));
    let mut values: Vec<(&'static str, &'a Arg)> = Vec::new();
    let mut next_positional = 0;
    let mut seen_keyword = false;
    for arg in args {
        let canonical = match &arg.key {
            None => {
                if seen_keyword {
                    return Err(err(arg.pos, format!("positional argument `{}` after a keyword argument", arg.value)));
                }
                let Some(names) = form.positional.get(next_positional) else {
                    let n = form.positional.len();
                    let what =
                        if n == 0 { "no arguments".to_string() } else { format!("at most {n} positional arguments") };
                    return Err(err(arg.pos, format!("{} takes {what}, got `{}` as one more", form.name, arg.value)));
                };
                next_positional += 1;
                names[0]
            }
            Some(key) => {
                seen_keyword = true;
                let k = key.to_ascii_lowercase();
                let found = form
                    .positional
                    .iter()
                    .find(|names| names.contains(&k.as_str()))
                    .map(|names| names[0])
                    .or_else(|| form.options.iter().copied().find(|o| *o == k));
                match found {
                    Some(c) => c,
                    None => return Err(err(arg.key_pos, format!("{} has no option `{key}`", form.name))),
                }
            }
        };
        if values.iter().any(|(c, _)| *c == canonical) {
            return Err(err(arg.key_pos, format!("`{canonical}` is given twice")));
        }
        values.push((canonical, arg));
    }
    for names in &form.positional[..form.required] {
        if !values.iter().any(|(c, _)| *c == names[0]) {
            return Err(err(pos, format!("{} needs `{}`", form.name, names[0])));
        }
    }
    Ok(Bound { spec, form, values })
}

impl Bound<'_> {
    fn get(&self, name: &str) -> Option<&Arg> {
        self.values.iter().find(|(c, _)| *c == name).map(|(_, a)| *a)
    }

    fn bad(&self, arg: &Arg, what: &str) -> crate::NnError {
        spec_error(self.spec, arg.pos, &format!("`{}` is not {what}; write {}", arg.value, self.form.usage))
    }

    fn size_of(&self, arg: &Arg, min: usize, max: usize) -> Result<usize> {
        match parse_uint(&arg.value) {
            Some(v) if v >= min as u64 && v <= max as u64 => Ok(v as usize),
            _ => Err(self.bad(arg, &format!("a whole number in {min}..={max}"))),
        }
    }

    fn size(&self, name: &str) -> Result<usize> {
        self.size_or(name, 0) // required ones are checked by `bind`
    }

    fn size_or(&self, name: &str, default: usize) -> Result<usize> {
        match self.get(name) {
            Some(a) => self.size_of(a, 1, MAX_SIZE),
            None => Ok(default),
        }
    }

    /// `3` or `3x1`, in `min..=MAX_WINDOW`; `default` when absent.
    fn pair(&self, name: &str, min: usize, default: (usize, usize)) -> Result<(usize, usize)> {
        let Some(a) = self.get(name) else { return Ok(default) };
        let parts: Vec<&str> = a.value.split(['x', 'X']).collect();
        let what = format!("a whole number in {min}..={MAX_WINDOW} or a pair like `3x1`");
        let one = |s: &str| -> Result<usize> {
            match parse_uint(s) {
                Some(v) if v >= min as u64 && v <= MAX_WINDOW as u64 => Ok(v as usize),
                _ => Err(self.bad(a, &what)),
            }
        };
        match parts.as_slice() {
            [s] => one(s).map(|v| (v, v)),
            [h, w] => Ok((one(h)?, one(w)?)),
            _ => Err(self.bad(a, &what)),
        }
    }

    fn float(&self, name: &str, default: f32, ok: impl Fn(f32) -> bool, what: &str) -> Result<f32> {
        let Some(a) = self.get(name) else { return Ok(default) };
        match a.value.parse::<f32>() {
            Ok(v) if v.is_finite() && ok(v) => Ok(v),
            _ => Err(self.bad(a, what)),
        }
    }

    /// The `init=` option (Keras' `kernel_initializer=` also works), if given.
    fn init(&self) -> Result<Option<Init>> {
        let given: Vec<&Arg> = ["init", "kernel_initializer"].iter().filter_map(|k| self.get(k)).collect();
        match given.as_slice() {
            [] => Ok(None),
            [a] => a.value.parse::<Init>().map(Some).map_err(|e| spec_error(self.spec, a.pos, &e.to_string())),
            [_, b, ..] => Err(spec_error(self.spec, b.key_pos, "give `init` or `kernel_initializer`, not both")),
        }
    }

    fn flag(&self, name: &str, default: bool) -> Result<bool> {
        let Some(a) = self.get(name) else { return Ok(default) };
        match a.value.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(self.bad(a, "`true` or `false`")),
        }
    }
}

/// Digits only (no sign, no fraction); `None` on overflow.
fn parse_uint(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Levenshtein distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Checks one layer's arguments and returns its spec (nothing is allocated).
pub(crate) fn layer_from_args(spec: &str, word: &str, pos: usize, args: &[Arg]) -> Result<LayerSpec> {
    let lower = word.to_ascii_lowercase();
    let Some(form) = FORMS.iter().find(|f| f.name == lower) else {
        let near = FORMS.iter().map(|f| (distance(&lower, f.name), f.name)).min();
        let hint = match near {
            Some((d, n)) if d <= 2 => format!("did you mean `{n}`? "),
            _ => String::new(),
        };
        return Err(spec_error(
            spec,
            pos,
            &format!("unknown layer `{word}`; {hint}known layers: {}", known_layers().join(", ")),
        ));
    };
    let b = bind(spec, form, pos, args)?;
    let layer = match form.name {
        "linear" => LayerSpec::Linear {
            in_features: b.size("in")?,
            out_features: b.size("out")?,
            bias: b.flag("bias", true)?,
            init: b.init()?,
        },
        "conv2d" => {
            let (in_channels, out_channels, groups) = (b.size("in")?, b.size("out")?, b.size_or("groups", 1)?);
            if !in_channels.is_multiple_of(groups) || !out_channels.is_multiple_of(groups) {
                let at = b.get("groups").map_or(pos, |a| a.pos);
                return Err(spec_error(
                    spec,
                    at,
                    &format!(
                        "conv2d: groups={groups} must divide both in={in_channels} and out={out_channels}; write {}",
                        form.usage
                    ),
                ));
            }
            LayerSpec::Conv2d {
                in_channels,
                out_channels,
                kernel: b.pair("k", 1, (1, 1))?,
                stride: b.pair("stride", 1, (1, 1))?,
                padding: b.pair("padding", 0, (0, 0))?,
                groups,
                bias: b.flag("bias", true)?,
                init: b.init()?,
            }
        }
        "maxpool2d" | "avgpool2d" => {
            let kernel = b.pair("k", 1, (1, 1))?;
            let stride = b.pair("stride", 1, kernel)?;
            let padding = b.pair("padding", 0, (0, 0))?;
            if padding.0 > kernel.0 / 2 || padding.1 > kernel.1 / 2 {
                let at = b.get("padding").map_or(pos, |a| a.pos);
                return Err(spec_error(
                    spec,
                    at,
                    &format!("{}: padding must be at most half the window (as in PyTorch)", form.name),
                ));
            }
            let o = Pool2dOptions { kernel, stride, padding };
            if form.name == "maxpool2d" {
                LayerSpec::MaxPool2d(o)
            } else {
                LayerSpec::AvgPool2d(o)
            }
        }
        "globalavgpool" => LayerSpec::GlobalAvgPool,
        "flatten" => LayerSpec::Flatten,
        "relu" => LayerSpec::Relu,
        "relu6" => LayerSpec::Relu6,
        "sigmoid" => LayerSpec::Sigmoid,
        "tanh" => LayerSpec::Tanh,
        "gelu" => LayerSpec::Gelu,
        "leakyrelu" => LayerSpec::LeakyRelu(b.float("slope", 0.01, |_| true, "a finite number")?),
        "softmax" => match b.get("dim").map(|a| (a, a.value.parse::<i64>())) {
            Some((_, Ok(d))) if (-64..64).contains(&d) => LayerSpec::Softmax(d as isize),
            Some((a, _)) => return Err(b.bad(a, "an axis in -64..64")),
            None => return Err(spec_error(spec, pos, &format!("softmax needs `dim`; write {}", form.usage))),
        },
        "dropout" => LayerSpec::Dropout(b.float("p", 0.5, |p| (0.0..1.0).contains(&p), "a probability in [0, 1)")?),
        "batchnorm1d" | "batchnorm2d" => LayerSpec::BatchNorm {
            spatial_dims: if form.name == "batchnorm1d" { 1 } else { 2 },
            features: b.size("n")?,
            eps: b.float("eps", 1e-5, |e| e > 0.0, "a positive number")?,
            momentum: b.float("momentum", 0.1, |m| (0.0..=1.0).contains(&m), "a number in [0, 1]")?,
        },
        "layernorm" => LayerSpec::LayerNorm {
            features: b.size("n")?,
            eps: b.float("eps", 1e-5, |e| e > 0.0, "a positive number")?,
        },
        "embedding" => LayerSpec::Embedding { num: b.size("num")?, dim: b.size("dim")? },
        "bert_embeddings" => LayerSpec::BertEmbeddings {
            tables: [b.size("vocab")?, b.size_or("positions", 512)?, b.size_or("types", 2)?],
            hidden: b.size("hidden")?,
            eps: b.float("eps", 1e-12, |e| e > 0.0, "a positive number")?,
        },
        "bert_layer" => {
            let (hidden, heads) = (b.size("hidden")?, b.size_or("heads", 0)?);
            let intermediate = b.size_or("intermediate", 0)?;
            if heads == 0 || intermediate == 0 || !hidden.is_multiple_of(heads) {
                return Err(spec_error(
                    spec,
                    pos,
                    &format!("bert_layer needs heads dividing hidden and an intermediate width; write {}", form.usage),
                ));
            }
            LayerSpec::BertLayer {
                hidden,
                heads,
                intermediate,
                eps: b.float("eps", 1e-12, |e| e > 0.0, "a positive number")?,
            }
        }
        "masked_mean_pool" => LayerSpec::MaskedMeanPool,
        "l2_normalize" => LayerSpec::L2Normalize,
        "inverted_residual" => LayerSpec::InvertedResidual {
            inp: b.size("in")?,
            out: b.size("out")?,
            stride: b.size_or("stride", 1)?,
            expand: b.size_or("expand", 6)?,
        },
        _ => unreachable!("every form in FORMS is handled above"),
    };
    let n = layer.num_elements();
    if n > MAX_LAYER_ELEMENTS {
        return Err(spec_error(
            spec,
            pos,
            &format!("{word} would hold {n} values; graft refuses layers of more than {MAX_LAYER_ELEMENTS}"),
        ));
    }
    Ok(layer)
}

impl LayerSpec {
    /// How many f32 values the layer allocates (parameters and buffers), computed without
    /// overflow (u128 of sizes each at most 2³¹).
    pub fn num_elements(&self) -> u128 {
        let u = |v: usize| v as u128;
        match *self {
            LayerSpec::Linear { in_features, out_features, bias, .. } => {
                u(in_features) * u(out_features) + if bias { u(out_features) } else { 0 }
            }
            LayerSpec::Conv2d { in_channels, out_channels, kernel, groups, bias, .. } => {
                let per_group = u(in_channels / groups.max(1));
                u(out_channels) * per_group * u(kernel.0) * u(kernel.1) + if bias { u(out_channels) } else { 0 }
            }
            LayerSpec::BatchNorm { features, .. } => 4 * u(features) + 1,
            LayerSpec::LayerNorm { features, .. } => 2 * u(features),
            LayerSpec::Embedding { num, dim } => u(num) * u(dim),
            LayerSpec::InvertedResidual { inp, out, expand, .. } => {
                // (expansion 1×1 + BatchNorm), depthwise 3×3 + BatchNorm, projection 1×1 + BatchNorm.
                let (h, bn) = (u(inp) * u(expand), |c: u128| 4 * c + 1);
                let expansion = if expand == 1 { 0 } else { h * u(inp) + bn(h) };
                expansion + 9 * h + bn(h) + h * u(out) + bn(u(out))
            }
            LayerSpec::BertEmbeddings { tables: [v, p, t], hidden, .. } => (u(v) + u(p) + u(t) + 2) * u(hidden),
            LayerSpec::BertLayer { hidden, intermediate, .. } => {
                let (h, i) = (u(hidden), u(intermediate));
                4 * (h * h + h) + 2 * h * i + i + h + 4 * h
            }
            _ => 0,
        }
    }

    /// Builds the layer, drawing initial weights (and dropout seeds) from `rng`; a layer
    /// without its own `init=` uses `default_init`.
    pub fn build(&self, default_init: Init, rng: &mut Rng) -> Arc<dyn Module> {
        match *self {
            LayerSpec::Linear { in_features, out_features, bias, init } => {
                Arc::new(Linear::with_init(in_features, out_features, bias, init.unwrap_or(default_init), rng))
            }
            LayerSpec::Conv2d { in_channels, out_channels, kernel, stride, padding, groups, bias, init } => {
                let shape = [out_channels, in_channels / groups, kernel.0, kernel.1];
                let init = init.unwrap_or(default_init);
                Arc::new(Conv2d::with_init(shape, bias, Conv2dOptions { stride, padding, groups }, init, rng))
            }
            LayerSpec::MaxPool2d(o) => Arc::new(MaxPool2d(o)),
            LayerSpec::AvgPool2d(o) => Arc::new(AvgPool2d(o)),
            LayerSpec::GlobalAvgPool => Arc::new(GlobalAvgPool),
            LayerSpec::Flatten => Arc::new(Flatten),
            LayerSpec::Relu => Arc::new(Relu),
            LayerSpec::Relu6 => Arc::new(Relu6),
            LayerSpec::LeakyRelu(s) => Arc::new(LeakyRelu(s)),
            LayerSpec::Sigmoid => Arc::new(Sigmoid),
            LayerSpec::Tanh => Arc::new(Tanh),
            LayerSpec::Gelu => Arc::new(Gelu),
            LayerSpec::Softmax(d) => Arc::new(Softmax(d)),
            LayerSpec::Dropout(p) => Arc::new(Dropout::new(p, rng.next_u64())),
            LayerSpec::BatchNorm { spatial_dims, features, eps, momentum } => {
                Arc::new(BatchNorm::new(spatial_dims, features, eps, momentum))
            }
            LayerSpec::LayerNorm { features, eps } => Arc::new(LayerNorm::new(features, eps)),
            LayerSpec::Embedding { num, dim } => Arc::new(Embedding::new(num, dim, rng)),
            LayerSpec::BertEmbeddings { tables, hidden, eps } => {
                Arc::new(BertEmbeddings::with_sizes(tables, hidden, eps, rng))
            }
            LayerSpec::BertLayer { hidden, heads, intermediate, eps } => {
                Arc::new(BertLayer::with_sizes(hidden, heads, intermediate, eps, rng))
            }
            LayerSpec::MaskedMeanPool => Arc::new(MaskedMeanPool),
            LayerSpec::L2Normalize => Arc::new(L2Normalize),
            LayerSpec::InvertedResidual { inp, out, stride, expand } => {
                Arc::new(InvertedResidual::new(inp, out, stride, expand, rng))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Result<LayerSpec> {
        let items = super::super::Spec::parse(s)?.items;
        match items.into_iter().next().map(|i| i.node) {
            Some(super::super::SpecNode::Layer(l)) => Ok(l),
            _ => panic!("not one layer: {s}"),
        }
    }

    #[test]
    fn forms_and_defaults() {
        assert_eq!(
            one("conv2d(1,32,3x1,stride=2,padding=1x0,bias=false)").unwrap(),
            LayerSpec::Conv2d {
                in_channels: 1,
                out_channels: 32,
                kernel: (3, 1),
                stride: (2, 2),
                padding: (1, 0),
                groups: 1,
                bias: false,
                init: None,
            }
        );
        assert_eq!(
            one("conv2d(32,64,3,stride=2,padding=1,groups=32,bias=false)").unwrap(),
            LayerSpec::Conv2d {
                in_channels: 32,
                out_channels: 64,
                kernel: (3, 3),
                stride: (2, 2),
                padding: (1, 1),
                groups: 32,
                bias: false,
                init: None,
            }
        );
        assert_eq!(one("conv2d(32,64,3,groups=32,bias=false)").unwrap().num_elements(), 64 * 9);
        assert_eq!(one("leakyrelu").unwrap(), LayerSpec::LeakyRelu(0.01));
        assert_eq!(one("LeakyReLU(negative_slope=0.2)").unwrap(), LayerSpec::LeakyRelu(0.2));
        assert_eq!(one("maxpool2d(2)").unwrap(), LayerSpec::MaxPool2d(Pool2dOptions::square(2)));
        assert_eq!(
            one("batchnorm1d(8,momentum=0.01)").unwrap(),
            LayerSpec::BatchNorm { spatial_dims: 1, features: 8, eps: 1e-5, momentum: 0.01 }
        );
        assert_eq!(
            one("Linear(in_features=3, out_features=4)").unwrap(),
            LayerSpec::Linear { in_features: 3, out_features: 4, bias: true, init: None }
        );
        assert_eq!(
            one("linear(3,4,init=he_normal)").unwrap(),
            LayerSpec::Linear { in_features: 3, out_features: 4, bias: true, init: Some(Init::HeNormal) }
        );
        assert!(matches!(
            one("Conv2d(1,8,3,kernel_initializer=glorot_uniform)").unwrap(),
            LayerSpec::Conv2d { init: Some(Init::GlorotUniform), .. }
        ));
        assert_eq!(one("softmax(-1)").unwrap(), LayerSpec::Softmax(-1));
    }

    #[test]
    fn bad_arguments_say_the_form() {
        let cases = [
            ("linear(784)", "needs `out`"),
            ("linear(1,2,3)", "at most 2 positional"),
            ("relu(1)", "takes no arguments"),
            ("conv2d(1,2,3,strid=2)", "no option `strid`"),
            ("conv2d(1,2,0)", "whole number in 1..="),
            ("conv2d(1,2,3,stride=0)", "in 1..="),
            ("conv2d(4,6,3,groups=4)", "groups=4 must divide both in=4 and out=6"),
            ("conv2d(4,4,3,groups=0)", "whole number in 1..="),
            ("linear(a,2)", "not a whole number"),
            ("linear(-1,2)", "not a whole number"),
            ("dropout(1.0)", "probability"),
            ("dropout(nan)", "probability"),
            ("linear(1,2,bias=maybe)", "`true` or `false`"),
            ("linear(bias=false,1,2)", "after a keyword"),
            ("linear(1,in=2,out=3)", "given twice"),
            ("maxpool2d(2,padding=2)", "half the window"),
            ("softmax", "needs `dim`"),
            ("batchnorm2d(4,eps=0)", "positive"),
            ("linear(65536,65536)", "refuses layers"),
            ("embedding(99999999999999999999999,2)", "whole number in 1..="),
            ("lineer(1,2)", "did you mean `linear`"),
            ("linear(1,2,init=he)", "unknown initialiser `he`; known initialisers: torch_default, he_normal"),
            ("linear(1,2,init=he_normal,kernel_initializer=zeros)", "not both"),
            ("relu(init=he_normal)", "no option `init`"),
        ];
        for (s, want) in cases {
            let e = one(s).unwrap_err().to_string();
            assert!(e.contains(want), "{s}: {e}");
        }
        let e = one("conv(1,2,3)").unwrap_err().to_string();
        assert!(e.contains("known layers: linear, conv2d"), "{e}");
    }
}
