//! What a convolution's forward applies to each output channel while an image's output is still
//! in cache: a per-channel affine map and an activation. Eval-mode BatchNorm is such a map (its
//! running statistics folded into one scale and shift), so a conv → BatchNorm → ReLU6 unit of a
//! frozen CNN costs one pass over its output instead of four.

use crate::cpu::unary::relu;

/// The activation a convolution's epilogue applies, with the unary ops' exact values (NaN kept).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConvActivation {
    /// None: the affine map alone.
    #[default]
    Identity,
    /// `max(y, 0)`, as [`UnaryOp::Relu`](crate::ops::UnaryOp::Relu).
    Relu,
    /// `min(max(y, 0), 6)`, as [`UnaryOp::Relu6`](crate::ops::UnaryOp::Relu6).
    Relu6,
}

impl ConvActivation {
    /// The matching unary op, `None` for the identity.
    pub fn unary_op(self) -> Option<crate::ops::UnaryOp> {
        match self {
            ConvActivation::Identity => None,
            ConvActivation::Relu => Some(crate::ops::UnaryOp::Relu),
            ConvActivation::Relu6 => Some(crate::ops::UnaryOp::Relu6),
        }
    }
}

/// `out[n, oc] = act(conv[n, oc] · scale[oc] + bias[oc])`, each part optional (a missing scale
/// is 1, a missing bias 0). The default is the plain convolution.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConvEpilogue<'a> {
    /// One value per output channel, added last.
    pub bias: Option<&'a [f32]>,
    /// One value per output channel, multiplying the convolution.
    pub scale: Option<&'a [f32]>,
    pub act: ConvActivation,
}

impl<'a> ConvEpilogue<'a> {
    /// Just a bias (PyTorch's `conv2d(x, w, b)`).
    pub fn bias(bias: Option<&'a [f32]>) -> Self {
        ConvEpilogue { bias, ..Default::default() }
    }

    /// Whether it changes nothing.
    pub(super) fn is_identity(&self) -> bool {
        self.bias.is_none() && self.scale.is_none() && self.act == ConvActivation::Identity
    }

    /// Writes `act(src · scale[oc] + bias[oc])` into `dst`, row by row: `dst`'s rows of `width`
    /// floats come from the first `width` of each `src_stride` floats of `src`. Without a scale
    /// the bias is only added, so a plain biased convolution keeps its bits.
    pub(super) fn apply_rows(&self, oc: usize, src: &[f32], src_stride: usize, dst: &mut [f32], width: usize) {
        self.run(oc, Copying { src, src_stride, dst, width });
    }

    /// [`ConvEpilogue::apply`] in place over one output channel's plane.
    pub(super) fn apply_in_place(&self, oc: usize, plane: &mut [f32]) {
        self.run(oc, InPlace(plane));
    }

    /// Runs `pass` with the channel's map, one monomorphic closure per case so each loop
    /// vectorises.
    fn run(&self, oc: usize, pass: impl ChannelPass) {
        let b = self.bias.map_or(0.0, |b| b[oc]);
        match (self.scale.map(|s| s[oc]), self.act) {
            (None, ConvActivation::Identity) => pass.run(|v| v + b),
            (None, ConvActivation::Relu) => pass.run(|v| relu(v + b)),
            (None, ConvActivation::Relu6) => pass.run(|v| (v + b).clamp(0.0, 6.0)),
            (Some(s), ConvActivation::Identity) => pass.run(|v| v * s + b),
            (Some(s), ConvActivation::Relu) => pass.run(|v| relu(v * s + b)),
            (Some(s), ConvActivation::Relu6) => pass.run(|v| (v * s + b).clamp(0.0, 6.0)),
        }
    }
}

/// One elementwise loop over a channel's values.
trait ChannelPass {
    fn run(self, f: impl Fn(f32) -> f32);
}

struct Copying<'s, 'd> {
    src: &'s [f32],
    src_stride: usize,
    dst: &'d mut [f32],
    width: usize,
}

impl ChannelPass for Copying<'_, '_> {
    fn run(self, f: impl Fn(f32) -> f32) {
        for (d, s) in self.dst.chunks_exact_mut(self.width).zip(self.src.chunks(self.src_stride)) {
            d.iter_mut().zip(s).for_each(|(d, &v)| *d = f(v));
        }
    }
}

struct InPlace<'a>(&'a mut [f32]);

impl ChannelPass for InPlace<'_> {
    fn run(self, f: impl Fn(f32) -> f32) {
        self.0.iter_mut().for_each(|v| *v = f(*v));
    }
}
