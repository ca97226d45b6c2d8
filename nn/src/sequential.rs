//! `Sequential`: layers applied in order, addressable by position or name, sliceable.

use crate::module::Module;
use crate::SideInputs;
use graft_engine::{Error, Result, Tensor};
use std::ops::RangeBounds;
use std::sync::Arc;

/// Layers applied in order. Each has a name: its position (`"0"`, `"1"`, …) unless given one
/// (`features`, `classifier`), so parameter names match PyTorch's `nn.Sequential` state dicts.
///
/// Layers are shared (`Arc`): [`Sequential::slice`] gives a view that trains the same
/// parameters, as Keras' `Sequential(model.layers[:-1])` does. Use [`Sequential::deep_clone`]
/// for an independent copy.
///
/// ```
/// use graft_nn::{layers::{Linear, Relu}, Module, Sequential};
/// use graft_engine::{Rng, Tensor};
/// let mut rng = Rng::new(0);
/// let net = Sequential::new().layer(Linear::new(4, 8, &mut rng)).layer(Relu).layer(Linear::new(8, 2, &mut rng));
/// assert_eq!(net.named_parameters()[2].0, "2.weight");
/// let trunk = net.slice(..2);
/// assert_eq!(trunk.forward(&Tensor::zeros(&[3, 4])).unwrap().shape(), &[3, 8]);
/// ```
#[derive(Clone, Default)]
pub struct Sequential {
    layers: Vec<(Option<String>, Arc<dyn Module>)>,
}

impl std::fmt::Debug for Sequential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sequential({})", self.spec())
    }
}

impl Sequential {
    pub fn new() -> Self {
        Sequential::default()
    }

    /// Appends a layer named by its position.
    pub fn layer(mut self, layer: impl Module + 'static) -> Self {
        self.push(Arc::new(layer));
        self
    }

    /// Appends a named layer (e.g. a sub-`Sequential` called `features`).
    pub fn named_layer(mut self, name: &str, layer: impl Module + 'static) -> Self {
        self.push_named(name, Arc::new(layer));
        self
    }

    pub fn push(&mut self, layer: Arc<dyn Module>) {
        self.layers.push((None, layer));
    }

    pub fn push_named(&mut self, name: &str, layer: Arc<dyn Module>) {
        self.layers.push((Some(name.to_string()), layer));
    }

    pub fn len(&self) -> usize {
        self.layers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The layer at `index`.
    pub fn get(&self, index: usize) -> Option<&Arc<dyn Module>> {
        self.layers.get(index).map(|(_, l)| l)
    }

    /// The layer called `name` (a given name or a position).
    pub fn get_named(&self, name: &str) -> Option<&Arc<dyn Module>> {
        (0..self.len()).find(|&i| self.name_of(i) == name).map(|i| &self.layers[i].1)
    }

    /// The state-dict name of layer `index`.
    pub fn name_of(&self, index: usize) -> String {
        self.layers[index].0.clone().unwrap_or_else(|| index.to_string())
    }

    /// Layers `range` (shared, not copied), keeping their names — so `slice(..n)` of a model
    /// loads the same state-dict keys.
    pub fn slice(&self, range: impl RangeBounds<usize>) -> Sequential {
        let start = match range.start_bound() {
            std::ops::Bound::Included(&s) => s,
            std::ops::Bound::Excluded(&s) => s + 1,
            std::ops::Bound::Unbounded => 0,
        }
        .min(self.len());
        let end = match range.end_bound() {
            std::ops::Bound::Included(&e) => e + 1,
            std::ops::Bound::Excluded(&e) => e,
            std::ops::Bound::Unbounded => self.len(),
        }
        .clamp(start, self.len());
        let layers = (start..end).map(|i| (Some(self.name_of(i)), self.layers[i].1.clone())).collect();
        Sequential { layers }
    }

    /// Keeps the first `n` layers.
    pub fn truncate(&mut self, n: usize) {
        self.layers.truncate(n);
    }

    /// Appends every layer of `other`, renumbering unnamed ones by their new position.
    pub fn extend(&mut self, other: &Sequential) {
        for (i, (name, layer)) in other.layers.iter().enumerate() {
            let keep = name.as_ref().filter(|n| !n.parse::<usize>().is_ok_and(|p| p == i)).cloned();
            self.layers.push((keep, layer.clone()));
        }
    }

    /// An independent copy: every parameter and buffer copied.
    pub fn deep_clone(&self) -> Result<Sequential> {
        let layers = self
            .layers
            .iter()
            .map(|(n, l)| Ok((n.clone(), Arc::from(l.clone_module()?))))
            .collect::<Result<Vec<_>>>()?;
        Ok(Sequential { layers })
    }

    /// The layers with their names.
    pub fn iter(&self) -> impl Iterator<Item = (String, &Arc<dyn Module>)> {
        (0..self.len()).map(|i| (self.name_of(i), &self.layers[i].1))
    }
}

/// Adds which layer failed to a shape error, so a user sees where the model broke.
fn in_layer(e: Error, name: &str, layer: &dyn Module) -> Error {
    match e {
        Error::ShapeMismatch { op, lhs, rhs, hint } => {
            let at = format!("in layer {name} = {}", layer.spec());
            Error::ShapeMismatch { op, lhs, rhs, hint: if hint.is_empty() { at } else { format!("{hint}; {at}") } }
        }
        Error::BadShape { op, shape, reason } => {
            Error::BadShape { op, shape, reason: format!("{reason} (in layer {name} = {})", layer.spec()) }
        }
        other => other,
    }
}

impl Module for Sequential {
    /// Applies the layers in order. A layer followed by a ReLU runs as one op when it has a
    /// fused form ([`Module::forward_then_relu`]: a Linear layer's ReLU is applied inside its
    /// matrix product), and a ReLU followed by a layer that
    /// [commutes with it](Module::commutes_with_relu) (max pooling) runs after that layer, on
    /// its smaller output; a layer followed by a BatchNorm on its running statistics (and an
    /// activation) runs as one op when it has a fused form ([`Module::forward_then_batch_norm`]:
    /// a convolution applies them while each image's output is in cache). All give the same
    /// result as running the layers as written (the folded BatchNorm up to rounding).
    ///
    /// Side inputs set by a layer (an encoder's attention mask) reach the layers after it
    /// without copies ([`Module::forward_with`]); if one is still live at the end (a sliced
    /// encoder without its pooling), it is packed into the output ([`SideInputs::pack`]).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        SideInputs::alone(|side| self.forward_with(x, side))
    }
    fn forward_with(&self, x: &Tensor, side: &mut SideInputs) -> Result<Tensor> {
        let mut h = x.clone();
        let mut i = 0;
        while let Some((_, layer)) = self.layers.get(i) {
            let next = self.layers.get(i + 1).map(|(_, next)| next);
            if let Some(pool) = next.filter(|next| layer.is_relu() && next.commutes_with_relu()) {
                h = pool
                    .forward_with(&h, side)
                    .and_then(|p| p.relu())
                    .map_err(|e| in_layer(e, &self.name_of(i + 1), pool.as_ref()))?;
                i += 2;
                continue;
            }
            if let Some(bn) = next.and_then(|next| next.as_batch_norm()) {
                let after = self.layers.get(i + 2).and_then(|(_, after)| after.as_conv_activation());
                if let Some(out) = layer.forward_then_batch_norm(&h, bn, after.unwrap_or_default()) {
                    h = out.map_err(|e| in_layer(e, &self.name_of(i), layer.as_ref()))?;
                    i += 2 + usize::from(after.is_some());
                    continue;
                }
            }
            let fused = if next.is_some_and(|next| next.is_relu()) { layer.forward_then_relu(&h) } else { None };
            let step = if fused.is_some() { 2 } else { 1 };
            h = fused
                .unwrap_or_else(|| layer.forward_with(&h, side))
                .map_err(|e| in_layer(e, &self.name_of(i), layer.as_ref()))?;
            i += step;
        }
        Ok(h)
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.iter()
            .flat_map(|(n, l)| l.named_parameters().into_iter().map(move |(p, t)| (format!("{n}.{p}"), t)))
            .collect()
    }
    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        self.iter()
            .flat_map(|(n, l)| l.named_buffers().into_iter().map(move |(p, t)| (format!("{n}.{p}"), t)))
            .collect()
    }
    fn state_dict(&self) -> Vec<(String, Tensor)> {
        // Per layer: parameters then buffers, as PyTorch orders a state dict.
        self.iter().flat_map(|(n, l)| l.state_dict().into_iter().map(move |(p, t)| (format!("{n}.{p}"), t))).collect()
    }
    fn named_rng_states(&self) -> Vec<(String, [u64; 4])> {
        self.iter()
            .flat_map(|(n, l)| l.named_rng_states().into_iter().map(move |(r, s)| (format!("{n}.{r}"), s)))
            .collect()
    }
    fn set_rng_state(&self, name: &str, state: [u64; 4]) -> bool {
        self.iter().any(|(n, l)| {
            name.strip_prefix(n.as_str()).and_then(|r| r.strip_prefix('.')).is_some_and(|r| l.set_rng_state(r, state))
        })
    }
    fn set_training(&self, training: bool) {
        self.layers.iter().for_each(|(_, l)| l.set_training(training))
    }
    fn is_training(&self) -> bool {
        self.layers.iter().any(|(_, l)| l.is_training())
    }
    fn spec(&self) -> String {
        self.layers
            .iter()
            .enumerate()
            .map(|(i, (name, l))| {
                let body = l.spec();
                let body = if l.as_sequential().is_some() { format!("[{body}]") } else { body };
                match name {
                    Some(n) if !n.parse::<usize>().is_ok_and(|p| p == i) => format!("{n}={body}"),
                    _ => body,
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }
    fn clone_module(&self) -> Result<Box<dyn Module>> {
        Ok(Box::new(self.deep_clone()?))
    }
    fn is_deterministic_in_eval(&self) -> bool {
        self.layers.iter().all(|(_, l)| l.is_deterministic_in_eval())
    }
    fn as_sequential(&self) -> Option<&Sequential> {
        Some(self)
    }
}
