//! graft's compact architecture spec: a string that describes a [`Sequential`] model.
//!
//! Layers are separated by commas and numbered by position, as PyTorch's `nn.Sequential`
//! numbers them, so the state-dict key `1.weight` of `flatten,linear(784,300),relu` is the
//! `linear` layer's weight. Square brackets make a sub-`Sequential`, and `name=` names any
//! layer or group (unnamed ones are named by their position):
//!
//! ```text
//! features=[conv2d(1,32,3,padding=1),relu,maxpool2d(2)],flatten,classifier=[linear(6272,10)]
//! ```
//!
//! gives the keys `features.0.weight`, `features.0.bias`, `classifier.0.weight`, … .
//!
//! | layer | form |
//! | --- | --- |
//! | Linear | `linear(in,out[,bias=false][,init=he_normal])` |
//! | Conv2d | `conv2d(in,out,k[,stride=s][,padding=p][,groups=g][,bias=false][,init=..])`, `k`, `s`, `p` are `3` or `3x1`; `g` divides `in` and `out` (`groups=in` is depthwise) |
//! | MaxPool2d / AvgPool2d | `maxpool2d(k[,stride=s][,padding=p])`, `avgpool2d(...)` (stride defaults to `k`) |
//! | global average pool | `globalavgpool` (`[n,c,h,w] → [n,c]`) |
//! | activations | `relu`, `leakyrelu` / `leakyrelu(0.2)` (slope 0.01 by default), `sigmoid`, `tanh`, `gelu`, `softmax(dim)` |
//! | others | `flatten`, `dropout(p)`, `batchnorm1d(n[,eps=..][,momentum=..])`, `batchnorm2d(n..)`, `layernorm(n[,eps=..])`, `embedding(num,dim)` |
//!
//! `init=` (or Keras' `kernel_initializer=`) picks the layer's initialiser by name
//! (`he_normal`, `glorot_uniform`, `torch_default`, …; see [`Init`](crate::init::Init)); layers
//! without one use the build's default, PyTorch's.
//!
//! Layer names are case-insensitive (`Conv2d`, `ReLU` and `BatchNorm2d` work), whitespace is
//! ignored, and arguments may also be given by PyTorch's keyword (`in_features=784`). Every
//! layer's [`Module::spec`](crate::Module::spec) is in this language, so `parse_spec(m.spec())`
//! rebuilds a model of the same shape.
//!
//! Parsing never panics: errors name the column, the token and the expected form. Sizes are
//! bounded before anything is allocated: at most [`MAX_LAYER_ELEMENTS`] values per layer and in
//! the whole model, groups nested at most [`MAX_DEPTH`] deep, at most [`MAX_LAYERS`] layers.

mod layer;
mod lexer;
mod parser;

pub use layer::{known_layers, LayerSpec};

use crate::init::Init;
use crate::sequential::Sequential;
use crate::{NnError, Result};
use graft_engine::Rng;

/// Most values (parameters and buffers) one layer, or a whole model, may hold: 2³¹.
pub const MAX_LAYER_ELEMENTS: u128 = 1 << 31;
/// Deepest nesting of `[...]` groups.
pub const MAX_DEPTH: usize = 32;
/// Most layers in one spec.
pub const MAX_LAYERS: usize = 100_000;
/// Longest spec accepted, in bytes.
pub const MAX_SPEC_BYTES: usize = 1 << 20;
pub(crate) const MAX_WORD_BYTES: usize = 256;
/// Largest size (features, channels) one argument may give.
pub(crate) const MAX_SIZE: usize = 1 << 31;
/// Largest kernel, stride or padding.
pub(crate) const MAX_WINDOW: usize = 1 << 16;

/// A parsed spec: checked layers and groups, no weights yet.
///
/// ```
/// use graft_nn::spec::Spec;
/// let spec = Spec::parse("flatten, linear(784,300), relu, linear(300,10)").unwrap();
/// assert_eq!(spec.num_elements(), 784 * 300 + 300 + 300 * 10 + 10);
/// let model = spec.build(42);
/// assert_eq!(graft_nn::Module::spec(&model), "flatten,linear(784,300),relu,linear(300,10)");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    pub items: Vec<SpecItem>,
}

/// One entry of a list: a layer or a group, with its name if one was given.
#[derive(Clone, Debug, PartialEq)]
pub struct SpecItem {
    pub name: Option<String>,
    pub node: SpecNode,
}

/// A layer, or a `[...]` group that becomes a sub-`Sequential`.
#[derive(Clone, Debug, PartialEq)]
pub enum SpecNode {
    Layer(LayerSpec),
    Group(Vec<SpecItem>),
}

impl Spec {
    /// Parses and checks `spec` without allocating any weight.
    pub fn parse(spec: &str) -> Result<Spec> {
        let tokens = lexer::tokenize(spec)?;
        let items = parser::Parser::new(spec, tokens).parse_all()?;
        let parsed = Spec { items };
        let total = parsed.num_elements();
        if total > MAX_LAYER_ELEMENTS {
            return Err(NnError::Spec(format!(
                "spec: the model would hold {total} values; graft refuses models of more than {MAX_LAYER_ELEMENTS}"
            )));
        }
        Ok(parsed)
    }

    /// Values (parameters and buffers) the model will hold.
    pub fn num_elements(&self) -> u128 {
        fn sum(items: &[SpecItem]) -> u128 {
            items
                .iter()
                .map(|i| match &i.node {
                    SpecNode::Layer(l) => l.num_elements(),
                    SpecNode::Group(g) => sum(g),
                })
                .fold(0u128, u128::saturating_add)
        }
        sum(&self.items)
    }

    /// Builds the model with PyTorch's default initialisation (where a layer names no
    /// `init=`); `seed` fixes every initial weight and every dropout layer's mask stream.
    pub fn build(&self, seed: u64) -> Sequential {
        self.build_with_init(seed, Init::TorchDefault)
    }

    /// Builds the model, drawing the weights of every layer that names no `init=` of its own
    /// with `init` (see [`Init`] for each name's weights and biases).
    ///
    /// ```
    /// use graft_nn::{init::Init, spec::Spec, Module};
    /// // Keras' `Dense(100, kernel_initializer="he_normal")`, with the output layer's own choice.
    /// let spec = Spec::parse("flatten,linear(784,100),relu,linear(100,10,init=glorot_uniform)")?;
    /// let model = spec.build_with_init(1, Init::HeNormal);
    /// assert_eq!(model.num_parameters(), 784 * 100 + 100 + 100 * 10 + 10);
    /// # Ok::<(), graft_nn::NnError>(())
    /// ```
    pub fn build_with_init(&self, seed: u64, init: Init) -> Sequential {
        fn build_items(items: &[SpecItem], init: Init, rng: &mut Rng) -> Sequential {
            let mut seq = Sequential::new();
            for item in items {
                let layer: std::sync::Arc<dyn crate::Module> = match &item.node {
                    SpecNode::Layer(l) => l.build(init, rng),
                    SpecNode::Group(g) => std::sync::Arc::new(build_items(g, init, rng)),
                };
                match &item.name {
                    Some(n) => seq.push_named(n, layer),
                    None => seq.push(layer),
                }
            }
            seq
        }
        build_items(&self.items, init, &mut Rng::new(seed))
    }
}

/// Parses a spec string into a freshly initialised [`Sequential`].
///
/// `seed` makes the initial weights reproducible (each layer draws from one
/// [`Rng`] in order; dropout layers get seeds forked from it).
///
/// ```
/// use graft_nn::{parse_spec, Module};
/// let net = parse_spec("features=[conv2d(1,8,3,padding=1),relu,maxpool2d(2)],flatten,classifier=[linear(1568,10)]", 0)?;
/// let names: Vec<String> = net.named_parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["features.0.weight", "features.0.bias", "classifier.0.weight", "classifier.0.bias"]);
/// # Ok::<(), graft_nn::NnError>(())
/// ```
pub fn parse_spec(spec: &str, seed: u64) -> Result<Sequential> {
    Ok(Spec::parse(spec)?.build(seed))
}

/// [`parse_spec`] with `init` for every layer that names no `init=` of its own.
pub fn parse_spec_with_init(spec: &str, seed: u64, init: Init) -> Result<Sequential> {
    Ok(Spec::parse(spec)?.build_with_init(seed, init))
}

/// 1-based column (in characters) of byte offset `pos`.
pub(crate) fn column(spec: &str, pos: usize) -> usize {
    spec.char_indices().take_while(|(i, _)| *i < pos).count() + 1
}

/// An `NnError::Spec` pointing at byte offset `pos` of `spec`.
pub(crate) fn spec_error(spec: &str, pos: usize, msg: &str) -> NnError {
    let col = column(spec, pos);
    let chars: Vec<char> = spec.chars().collect();
    let (from, to) = (col.saturating_sub(21), (col + 20).min(chars.len()));
    let mut near: String = chars[from.min(to)..to].iter().collect();
    if from > 0 {
        near.insert(0, '…');
    }
    if to < chars.len() {
        near.push('…');
    }
    NnError::Spec(format!("spec: {msg} (at column {col}, near `{near}`)"))
}

#[cfg(test)]
mod tests;
