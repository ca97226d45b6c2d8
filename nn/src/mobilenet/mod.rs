//! torchvision's MobileNetV2 (Sandler et al. 2018) with torchvision's parameter names, so its
//! `mobilenet_v2-b0353104.pth` loads strictly by name (through the `.pth` reader).
//!
//! The model is a [`Sequential`] of reusable units, named as torchvision names them:
//! `features.0` (3×3 stride-2 convolution, BatchNorm, ReLU6), `features.1` … `features.17`
//! ([`InvertedResidual`] blocks), `features.18` (1×1 convolution to 1280 channels, BatchNorm,
//! ReLU6), `pool` (global average pooling) and `classifier.0`/`classifier.1` (dropout, linear).
//! So the transfer workflow slices, freezes, caches and unfreezes it block by block, and a
//! frozen block's BatchNorm runs on its running statistics (the frozen-layer rule in
//! `graft_transfer`).
//!
//! ```no_run
//! use graft_nn::{mobilenet::mobilenet_v2, model_file::{load_state_dict, LoadOptions}, Module};
//! let model = mobilenet_v2(1000, 0);
//! load_state_dict(&model, "models/mobilenet_v2/mobilenet_v2-b0353104.pth", LoadOptions::default())?;
//! assert_eq!(model.name_of(18), "features.18");
//! # Ok::<(), graft_nn::NnError>(())
//! ```

mod block;

pub use block::InvertedResidual;

use crate::layers::{BatchNorm, Conv2d, Dropout, GlobalAvgPool, Linear, Relu6};
use crate::{init::Init, Sequential};
use graft_engine::{Conv2dOptions, Rng};

/// torchvision's `inverted_residual_setting`: expansion `t`, output channels `c`, repeats `n`,
/// first stride `s` of each stage.
const STAGES: [[usize; 4]; 7] =
    [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]];

/// Channels of the stem and of the last convolution (the pooled feature width).
const STEM: usize = 32;
/// The width of the pooled features the classifier reads.
pub const FEATURES: usize = 1280;

/// Index of the last feature block (`features.18`); the blocks are `features.0 ..= features.18`.
pub const LAST_FEATURE_BLOCK: usize = 18;

/// Convolution (no bias), BatchNorm and ReLU6: torchvision's `Conv2dNormActivation`, as a
/// [`Sequential`] named `0`, `1`, `2` like torchvision's.
pub(crate) fn conv_bn_relu6(
    inp: usize,
    out: usize,
    kernel: usize,
    stride: usize,
    groups: usize,
    rng: &mut Rng,
) -> Sequential {
    let options = Conv2dOptions::square(stride, (kernel - 1) / 2).with_groups(groups);
    let conv = Conv2d::with_init([out, inp / groups, kernel, kernel], false, options, Init::KaimingNormal, rng);
    Sequential::new().layer(conv).layer(BatchNorm::new_2d(out)).layer(Relu6)
}

/// MobileNetV2 (width 1.0) for `classes` classes, drawn from `seed` (Kaiming-normal
/// convolutions, BatchNorm at 1 and 0, PyTorch's default Linear): the shape to load pretrained
/// weights into, or to train from scratch.
pub fn mobilenet_v2(classes: usize, seed: u64) -> Sequential {
    let mut rng = Rng::new(seed);
    let mut model = Sequential::new().named_layer("features.0", conv_bn_relu6(3, STEM, 3, 2, 1, &mut rng));
    let (mut inp, mut index) = (STEM, 1);
    for [t, c, n, s] in STAGES {
        for i in 0..n {
            let block = InvertedResidual::new(inp, c, if i == 0 { s } else { 1 }, t, &mut rng);
            model = model.named_layer(&format!("features.{index}"), block);
            inp = c;
            index += 1;
        }
    }
    let head = Linear::with_init(FEATURES, classes, true, Init::TorchDefault, &mut rng);
    model
        .named_layer(&format!("features.{index}"), conv_bn_relu6(inp, FEATURES, 1, 1, 1, &mut rng))
        .named_layer("pool", GlobalAvgPool)
        .named_layer("classifier.0", Dropout::new(0.2, rng.next_u64()))
        .named_layer("classifier.1", head)
}
