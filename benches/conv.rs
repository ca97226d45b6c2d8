//! Convolutions of MobileNetV2's shapes at batch 32: its depthwise 3×3 layers at stride 2
//! (`[32, 96, 56, 56]`) and stride 1 (`[32, 144, 28, 28]`), both with padding 1, and for scale
//! one pointwise 1×1 projection (`144 → 24` channels at 28×28), each forward alone and forward
//! plus backward (input and weight gradients). Then, for the stride-1 depthwise and the
//! pointwise layer, a frozen conv → eval BatchNorm → ReLU6 unit (MobileNetV2's) run the way
//! `Sequential` runs it (BatchNorm and ReLU6 folded into the convolution's epilogue) against the
//! same three layers run one by one.
//!
//!     cargo bench --bench conv

use criterion::{criterion_group, criterion_main, Criterion};
use graft::engine::{no_grad, Conv2dOptions, Rng, Tensor};
use graft::nn::layers::{BatchNorm, Conv2d, Relu6};
use graft::nn::{init::Init, set_requires_grad, Module, Sequential};

const BATCH: usize = 32;

/// `(name, input channels, size, output channels, kernel, stride, groups)`.
const LAYERS: [(&str, usize, usize, usize, usize, usize, usize); 3] = [
    ("depthwise3x3_s2_c96_56", 96, 56, 96, 3, 2, 96),
    ("depthwise3x3_s1_c144_28", 144, 28, 144, 3, 1, 144),
    ("pointwise1x1_c144to24_28", 144, 28, 24, 1, 1, 1),
];

fn conv(c: &mut Criterion) {
    let mut rng = Rng::new(0);
    let mut group = c.benchmark_group(format!("conv_b{BATCH}"));
    group.sample_size(10);
    for (name, ch, size, out, k, stride, groups) in LAYERS {
        let x = Tensor::randn(&[BATCH, ch, size, size], 0.0, 1.0, &mut rng);
        let w = Tensor::randn(&[out, ch / groups, k, k], 0.0, 0.1, &mut rng);
        let opts = Conv2dOptions::square(stride, k / 2).with_groups(groups);
        let leaves = [&x, &w].map(|t| t.deep_clone().and_then(|t| t.requires_grad_(true)).expect("a leaf"));
        group
            .bench_function(format!("{name}_forward"), |b| b.iter(|| no_grad(|| x.conv2d(&w, opts).expect("forward"))));
        group.bench_function(format!("{name}_forward_backward"), |b| {
            b.iter(|| {
                let [x, w] = &leaves;
                x.conv2d(w, opts).and_then(|y| y.sum_all()).and_then(|l| l.backward()).expect("backward");
                leaves.iter().for_each(|t| t.zero_grad());
            })
        });
    }
    for (name, ch, size, out, k, stride, groups) in &LAYERS[1..] {
        let x = Tensor::randn(&[BATCH, *ch, *size, *size], 0.0, 1.0, &mut rng);
        let opts = Conv2dOptions::square(*stride, k / 2).with_groups(*groups);
        let conv = Conv2d::with_init([*out, ch / groups, *k, *k], false, opts, Init::KaimingNormal, &mut rng);
        let bn = BatchNorm::new_2d(*out);
        bn.running_var.set_data(&Tensor::rand_uniform(&[*out], 0.5, 2.0, &mut rng)).expect("shape");
        let unit = Sequential::new().layer(conv).layer(bn).layer(Relu6);
        unit.set_training(false);
        set_requires_grad(&unit, false);
        group.bench_function(format!("{name}_bn_relu6_folded"), |b| b.iter(|| unit.forward(&x).expect("forward")));
        group.bench_function(format!("{name}_bn_relu6_layer_by_layer"), |b| {
            b.iter(|| (0..unit.len()).try_fold(x.clone(), |h, i| unit.get(i).expect("in range").forward(&h)))
        });
    }
    group.finish();
}

criterion_group!(benches, conv);
criterion_main!(benches);
