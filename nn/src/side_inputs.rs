//! Inputs that travel beside the activations of a [`Sequential`](crate::Sequential): what a
//! layer with several inputs needs besides the tensor the previous layer gave it, such as a
//! transformer encoder's attention mask (set by its embedding layer, read by every attention
//! block, consumed by the masked pooling).
//!
//! Inside one `Sequential` forward the side inputs are passed by reference from layer to layer
//! ([`Module::forward_with`](crate::Module::forward_with)), so they cost nothing. Where the
//! activations leave the chain while side inputs are still live (a sliced prefix whose output
//! the feature cache keeps, a layer called on its own), the per-token ones are packed as last
//! feature columns (`[batch, seq, features + 1]` for one mask), so that a single tensor still
//! carries everything the next layer needs; a layer that takes side inputs unpacks such a
//! tensor ([`SideInputs::unpack`]).

use graft_engine::{Error, Result, Tensor};

/// The side input a transformer encoder's layers share: `[batch, seq]`, 1 at tokens, 0 at padding.
pub const ATTENTION_MASK: &str = "attention_mask";

/// Named side inputs of a chain of layers.
#[derive(Clone, Default)]
pub struct SideInputs {
    entries: Vec<(&'static str, Tensor)>,
}

impl SideInputs {
    /// `f` run with fresh side inputs, its output packed with what is still live at the end
    /// ([`SideInputs::pack`]): how a layer or chain that takes side inputs runs on its own.
    pub fn alone(f: impl FnOnce(&mut SideInputs) -> Result<Tensor>) -> Result<Tensor> {
        let mut side = SideInputs::default();
        let h = f(&mut side)?;
        side.pack(h)
    }

    /// The side input `name`, if a layer set it.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.entries.iter().find(|(n, _)| *n == name).map(|(_, t)| t)
    }

    /// Sets (or replaces) `name`.
    pub fn set(&mut self, name: &'static str, t: Tensor) {
        self.entries.retain(|(n, _)| *n != name);
        self.entries.push((name, t));
    }

    /// Removes and returns `name`: for the layer that consumes it (a pooling over the mask), so
    /// the chain's output is no longer per-token and is not packed.
    pub fn take(&mut self, name: &str) -> Option<Tensor> {
        let i = self.entries.iter().position(|(n, _)| *n == name)?;
        Some(self.entries.remove(i).1)
    }

    /// `h` `[batch, seq, features]` with the attention mask appended as a last column, when a
    /// mask of shape `[batch, seq]` is live; `h` itself otherwise.
    pub fn pack(&self, h: Tensor) -> Result<Tensor> {
        match self.get(ATTENTION_MASK) {
            Some(mask) if h.rank() == 3 && mask.shape() == &h.shape()[..2] => Tensor::cat(&[h, mask.unsqueeze(-1)?], 2),
            _ => Ok(h),
        }
    }

    /// The hidden states a layer of `features` features takes: `x` itself when it is
    /// `[batch, seq, features]`, or, when `x` is packed (`[batch, seq, features + 1]`), its
    /// first `features` columns, with the last one set as the attention mask.
    pub fn unpack(&mut self, op: &'static str, x: &Tensor, features: usize) -> Result<Tensor> {
        match *x.shape() {
            [_, _, f] if f == features => Ok(x.clone()),
            [batch, seq, f] if f == features + 1 => {
                self.set(ATTENTION_MASK, x.narrow(2, features, 1)?.reshape(&[batch, seq])?);
                x.narrow(2, 0, features)
            }
            _ => Err(Error::BadShape {
                op,
                shape: x.shape().to_vec(),
                reason: format!(
                    "expected hidden states [batch, seq, {features}], or [batch, seq, {}] with the attention mask \
                     as the last column (what an embedding layer's output carries between sliced models)",
                    features + 1
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_appends_the_mask_and_unpacking_restores_it() {
        let h = Tensor::from_vec((0..12).map(|v| v as f32).collect(), &[2, 3, 2]).unwrap();
        let mask = Tensor::from_vec(vec![1.0, 1.0, 0.0, 1.0, 0.0, 0.0], &[2, 3]).unwrap();
        let mut side = SideInputs::default();
        assert_eq!(side.pack(h.clone()).unwrap().shape(), &[2, 3, 2], "no mask: nothing to pack");
        side.set(ATTENTION_MASK, mask.clone());
        let packed = side.pack(h.clone()).unwrap();
        assert_eq!(packed.shape(), &[2, 3, 3]);
        let mut other = SideInputs::default();
        assert_eq!(other.unpack("t", &packed, 2).unwrap().to_vec().unwrap(), h.to_vec().unwrap());
        assert_eq!(other.get(ATTENTION_MASK).unwrap().to_vec().unwrap(), mask.to_vec().unwrap());
        assert_eq!(other.take(ATTENTION_MASK).unwrap().shape(), &[2, 3]);
        assert!(other.get(ATTENTION_MASK).is_none());
        let e = other.unpack("t", &packed, 5).unwrap_err().to_string();
        assert!(e.contains("[batch, seq, 6]"), "{e}");
    }
}
