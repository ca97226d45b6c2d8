//! The engine on a GPU: every op's forward and backward against the CPU, gradient checks on GPU
//! tensors, training an MLP to the CPU's loss, a buffer pool that levels off, mixed devices
//! refused, and device selection.
//!
//! Without a usable adapter each test prints why and passes, unless `GRAFT_REQUIRE_GPU=1` says a
//! GPU is expected (CI sets it and runs Mesa's lavapipe). Sizes stay small: lavapipe is slow.
//!
//! Tolerances (`|gpu − cpu| ≤ abs + rel·|cpu|`): elementwise ops 1e-5 + 1e-5 (transcendental
//! ones 1e-5 + 1e-4, since WGSL's `exp`/`log`/`pow`/`tanh` are not correctly rounded);
//! reductions, softmax and pooling 1e-5 + 1e-4 (the GPU sums in tree order); matmul and conv
//! 1e-4 + 1e-4 (tiled accumulation order); gradients 1e-4 + 1e-3 (several such ops chained).
#![cfg(feature = "gpu")]

use graft_engine::gradcheck::{check_gradients, GradCheck};
use graft_engine::{
    gpu_pool_stats, no_grad, op_stats, reset_op_stats, BinaryOp, Conv2dEpilogue, Conv2dOptions, ConvActivation, Device,
    Error, GpuContext, GpuDevice, Pool2dOptions, Result, Rng, Tensor, UnaryOp,
};
use graft_kernels::unary_table::Domain;

/// The GPU, or `None` (after printing why) when no adapter exists and none is required.
fn gpu() -> Option<Device> {
    match Device::gpu() {
        Ok(device) => Some(device),
        Err(e) => {
            if std::env::var("GRAFT_REQUIRE_GPU").is_ok_and(|v| v == "1") {
                panic!("GRAFT_REQUIRE_GPU=1 but no GPU is usable: {e}");
            }
            eprintln!("skipping GPU test: {e}");
            None
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Tol {
    abs: f32,
    rel: f32,
}

const EXACT: Tol = Tol { abs: 1e-5, rel: 1e-5 };
const TRANSCENDENTAL: Tol = Tol { abs: 1e-5, rel: 1e-4 };
const REDUCTION: Tol = Tol { abs: 1e-5, rel: 1e-4 };
const PRODUCT: Tol = Tol { abs: 1e-4, rel: 1e-4 };
const GRAD: Tol = Tol { abs: 1e-4, rel: 1e-3 };

#[track_caller]
fn assert_close(what: &str, got: &[f32], want: &[f32], tol: Tol) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = (g - w).abs() <= tol.abs + tol.rel * w.abs() || (g.is_nan() && w.is_nan()) || g == w;
        assert!(ok, "{what}: element {i}: gpu {g} vs cpu {w} (tolerance {tol:?})");
    }
}

fn on(dev: &Device, ts: &[Tensor]) -> Vec<Tensor> {
    ts.iter().map(|t| t.to_device(dev).expect("upload")).collect()
}

/// `f` on GPU copies of `inputs` gives the CPU's shape and values.
#[track_caller]
fn forward_matches(dev: &Device, what: &str, inputs: &[Tensor], f: impl Fn(&[Tensor]) -> Result<Tensor>, tol: Tol) {
    let want = f(inputs).unwrap_or_else(|e| panic!("{what} on the cpu: {e}"));
    let got = f(&on(dev, inputs)).unwrap_or_else(|e| panic!("{what} on the gpu: {e}"));
    assert_eq!(&got.device(), dev, "{what}: the result stays on the GPU");
    assert_eq!(got.shape(), want.shape(), "{what}: shapes differ");
    assert_close(what, &got.to_vec().expect("readback"), &want.to_vec().expect("cpu"), tol);
}

/// Gradients of `Σ f(inputs) ⊙ r` (fixed random `r`) with respect to every input: the GPU's
/// equal the CPU's.
#[track_caller]
fn grads_match(dev: &Device, what: &str, inputs: &[Tensor], f: impl Fn(&[Tensor]) -> Result<Tensor>, tol: Tol) {
    let grads = |device: &Device| -> Result<Vec<Option<Vec<f32>>>> {
        let leaves = inputs
            .iter()
            .map(|t| t.to_device(device)?.deep_clone()?.requires_grad_(true))
            .collect::<Result<Vec<_>>>()?;
        let y = f(&leaves)?;
        let mut rng = Rng::new(0x5EED);
        let r = Tensor::rand_uniform(y.shape(), -1.0, 1.0, &mut rng).to_device(device)?;
        y.mul(&r)?.sum_all()?.backward()?;
        leaves
            .iter()
            .map(|l| {
                l.grad()
                    .map(|g| {
                        assert_eq!(&g.device(), device, "{what}: the gradient lives on the input's device");
                        g.to_vec()
                    })
                    .transpose()
            })
            .collect()
    };
    let want = grads(&Device::Cpu).unwrap_or_else(|e| panic!("{what} backward on the cpu: {e}"));
    let got = grads(dev).unwrap_or_else(|e| panic!("{what} backward on the gpu: {e}"));
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        match (g, w) {
            (Some(g), Some(w)) => assert_close(&format!("{what}: gradient of input {i}"), g, w, tol),
            (None, None) => {}
            _ => panic!("{what}: input {i} has a gradient on one device only"),
        }
    }
}

/// Runs one test body once per device, as `<name>::cpu` and `<name>::gpu` (the latter skipped,
/// after saying why, when no adapter is usable and none is required). The body sees the device
/// under test as `$dev: &Device`.
macro_rules! test_device {
    ($(#[$doc:meta])* fn $name:ident($dev:ident) $body:block) => {
        $(#[$doc])*
        mod $name {
            use super::*;

            #[test]
            fn cpu() {
                let $dev: &Device = &Device::Cpu;
                $body
            }

            #[test]
            fn gpu() {
                let Some(device) = super::gpu() else { return };
                let $dev: &Device = &device;
                $body
            }
        }
    };
}

/// Alternating signs, magnitudes in [0.1, 1.5): away from the kinks of relu and abs at 0.
fn signed(shape: &[usize], rng: &mut Rng) -> Tensor {
    let n: usize = shape.iter().product();
    let data = (0..n).map(|i| rng.uniform(0.1, 1.5) * if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
    Tensor::from_vec(data, shape).expect("shape")
}

/// Inputs on `op`'s domain: alternating signs (`signed`), or those magnitudes plus 0.2.
fn on_domain(op: UnaryOp, x: &Tensor) -> Tensor {
    match op.domain() {
        Domain::Real => x.clone(),
        Domain::Positive => x.abs().and_then(|t| t.add_scalar(0.2)).expect("cpu"),
    }
}
const DIFFERENTIABLE_BINARY_OPS: [BinaryOp; 7] =
    [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Pow, BinaryOp::Max, BinaryOp::Min];
const COMPARISONS: [BinaryOp; 6] = [BinaryOp::Eq, BinaryOp::Ne, BinaryOp::Lt, BinaryOp::Le, BinaryOp::Gt, BinaryOp::Ge];
const BROADCAST_PAIRS: [(&[usize], &[usize]); 6] =
    [(&[3], &[3]), (&[2, 3], &[3]), (&[2, 1], &[1, 4]), (&[4, 1, 3], &[2, 1]), (&[1], &[2, 2]), (&[2, 3], &[])];

/// The op table's forward tolerance.
fn unary_tol(op: UnaryOp) -> Tol {
    let t = op.tolerance();
    Tol { abs: t.abs, rel: t.rel }
}

// ---- (a) forward: every op on the GPU equals the CPU ---------------------------------------------

#[test]
fn unary_forward_matches_the_cpu() {
    let Some(dev) = gpu() else { return };
    let mut rng = Rng::new(1);
    // 1, a prime, more than one 256-thread workgroup, and a rank-3 awkward shape.
    for shape in [vec![1], vec![7], vec![257], vec![2, 3, 37]] {
        let x = signed(&shape, &mut rng);
        for &op in UnaryOp::ALL {
            forward_matches(
                &dev,
                &format!("{op:?} {shape:?}"),
                std::slice::from_ref(&on_domain(op, &x)),
                |t| t[0].unary(op),
                unary_tol(op),
            );
        }
    }
}

#[test]
fn binary_forward_matches_the_cpu_with_broadcasting() {
    let Some(dev) = gpu() else { return };
    let mut rng = Rng::new(2);
    let mut pairs: Vec<(Vec<usize>, Vec<usize>)> =
        BROADCAST_PAIRS.iter().map(|(a, b)| (a.to_vec(), b.to_vec())).collect();
    pairs.push((vec![3, 1, 67], vec![5, 1])); // larger than a workgroup, prime inner size
    for (sa, sb) in pairs {
        let a = Tensor::rand_uniform(&sa, 0.5, 2.0, &mut rng);
        let b = Tensor::rand_uniform(&sb, 0.5, 2.0, &mut rng);
        for op in DIFFERENTIABLE_BINARY_OPS {
            let tol = if op == BinaryOp::Pow { TRANSCENDENTAL } else { EXACT };
            forward_matches(
                &dev,
                &format!("{op:?} {sa:?} {sb:?}"),
                &[a.clone(), b.clone()],
                |t| t[0].binary(op, &t[1]),
                tol,
            );
        }
        // Comparisons on small integers, so ties happen.
        let ia = Tensor::from_vec((0..a.numel()).map(|_| rng.below(3) as f32).collect(), &sa).expect("shape");
        let ib = Tensor::from_vec((0..b.numel()).map(|_| rng.below(3) as f32).collect(), &sb).expect("shape");
        for op in COMPARISONS {
            forward_matches(
                &dev,
                &format!("{op:?} {sa:?} {sb:?}"),
                &[ia.clone(), ib.clone()],
                |t| t[0].binary(op, &t[1]),
                EXACT,
            );
        }
    }
}

#[test]
fn reductions_forward_match_the_cpu() {
    let Some(dev) = gpu() else { return };
    let mut rng = Rng::new(3);
    // [3, 130] and [1000] take the workgroup-tree path (contiguous axis of 64 or more).
    for shape in [vec![1], vec![5], vec![3, 1], vec![2, 3, 4], vec![3, 130], vec![1000]] {
        let x = Tensor::randn(&shape, 0.0, 1.0, &mut rng);
        let xs = std::slice::from_ref(&x);
        for axis in 0..shape.len() as isize {
            for keep in [false, true] {
                let what = |op: &str| format!("{op} {shape:?} axis {axis} keepdim {keep}");
                forward_matches(&dev, &what("sum"), xs, |t| t[0].sum(axis, keep), REDUCTION);
                forward_matches(&dev, &what("mean"), xs, |t| t[0].mean(axis, keep), REDUCTION);
                forward_matches(&dev, &what("max"), xs, |t| t[0].max(axis, keep), EXACT);
                forward_matches(&dev, &what("min"), xs, |t| t[0].min(axis, keep), EXACT);
                forward_matches(&dev, &what("argmax"), xs, |t| t[0].argmax(axis, keep), EXACT);
                forward_matches(&dev, &what("argmin"), xs, |t| t[0].argmin(axis, keep), EXACT);
            }
        }
        forward_matches(&dev, &format!("sum_all {shape:?}"), xs, |t| t[0].sum_all(), REDUCTION);
        forward_matches(&dev, &format!("mean_all {shape:?}"), xs, |t| t[0].mean_all(), REDUCTION);
    }
}

fn matmul_cases(rng: &mut Rng) -> Vec<(Tensor, Tensor, bool, bool)> {
    let mut r = |s: &[usize]| Tensor::randn(s, 0.0, 1.0, rng);
    vec![
        (r(&[3, 4]), r(&[4, 5]), false, false),
        (r(&[4, 3]), r(&[4, 5]), true, false),
        (r(&[3, 4]), r(&[5, 4]), false, true),
        (r(&[4, 3]), r(&[5, 4]), true, true),
        (r(&[1, 1]), r(&[1, 1]), false, false),
        (r(&[2, 3, 4]), r(&[4, 2]), false, false),
        (r(&[2, 3, 4]), r(&[2, 4]), false, true),
        (r(&[2, 4, 3]), r(&[4, 2]), true, false),
        (r(&[2, 3, 4]), r(&[2, 4, 5]), false, false),
        (r(&[3, 4]), r(&[2, 4, 5]), false, false),
        (r(&[2, 2, 3, 4]), r(&[2, 2, 5, 4]), false, true),
    ]
}

#[test]
fn matmul_forward_matches_the_cpu() {
    let Some(dev) = gpu() else { return };
    let mut rng = Rng::new(4);
    let mut cases = matmul_cases(&mut rng);
    let mut r = |s: &[usize]| Tensor::randn(s, 0.0, 1.0, &mut rng);
    // Not multiples of the 64×64 tile, and more than one tile in each direction.
    cases.push((r(&[65, 67]), r(&[67, 63]), false, false));
    cases.push((r(&[67, 130]), r(&[129, 67]), true, true));
    for (a, b, ta, tb) in cases {
        let what = format!("matmul {:?} {:?} {ta} {tb}", a.shape(), b.shape());
        forward_matches(&dev, &what, &[a, b], |t| t[0].matmul_t(&t[1], ta, tb), PRODUCT);
    }
}

#[test]
fn shape_ops_forward_match_the_cpu() {
    let Some(dev) = gpu() else { return };
    let mut rng = Rng::new(5);
    let x = Tensor::randn(&[2, 3, 37], 0.0, 1.0, &mut rng);
    let y = Tensor::randn(&[2, 1, 37], 0.0, 1.0, &mut rng);
    let xs = std::slice::from_ref(&x);
    let xy = [x.clone(), y.clone()];
    forward_matches(&dev, "reshape", xs, |t| t[0].reshape(&[6, 37]), EXACT);
    forward_matches(&dev, "flatten", xs, |t| t[0].flatten(0, 1), EXACT);
    forward_matches(&dev, "permute", xs, |t| t[0].permute(&[2, 0, 1]), EXACT);
    forward_matches(&dev, "transpose", xs, |t| t[0].transpose(0, 2), EXACT);
    forward_matches(&dev, "narrow", xs, |t| t[0].narrow(2, 5, 31), EXACT);
    forward_matches(&dev, "broadcast_to", std::slice::from_ref(&y), |t| t[0].broadcast_to(&[3, 2, 5, 37]), EXACT);
    forward_matches(&dev, "cat", &xy, |t| Tensor::cat(&[t[0].clone(), t[1].clone()], 1), EXACT);
    forward_matches(&dev, "stack", &xy, |t| Tensor::stack(&[t[0].narrow(1, 0, 1)?, t[1].clone()], 0), EXACT);
    forward_matches(&dev, "deep_clone", xs, |t| t[0].deep_clone(), EXACT);
}

#[test]
fn softmax_forward_matches_the_cpu() {
    let Some(dev) = gpu() else { return };
    let mut rng = Rng::new(6);
    for shape in [vec![1], vec![4], vec![3, 5], vec![2, 3, 4], vec![2, 1], vec![3, 300]] {
        let x = Tensor::randn(&shape, 0.0, 3.0, &mut rng);
        for axis in 0..shape.len() as isize {
            let xs = std::slice::from_ref(&x);
            forward_matches(&dev, &format!("softmax {shape:?} {axis}"), xs, |t| t[0].softmax(axis), REDUCTION);
            forward_matches(&dev, &format!("log_softmax {shape:?} {axis}"), xs, |t| t[0].log_softmax(axis), REDUCTION);
        }
    }
}

#[test]
fn layer_norm_forward_and_gradients_match_the_cpu() {
    let Some(dev) = gpu() else { return };
    let mut rng = Rng::new(16);
    for shape in [vec![1, 1], vec![3, 5], vec![2, 3, 7], vec![4, 384]] {
        let n = *shape.last().expect("rank ≥ 1");
        let inputs = [
            Tensor::randn(&shape, 0.3, 2.0, &mut rng),
            Tensor::randn(&[n], 1.0, 0.5, &mut rng),
            Tensor::randn(&[n], 0.0, 0.5, &mut rng),
        ];
        let f = |t: &[Tensor]| t[0].layer_norm(&t[1], &t[2], 1e-5);
        forward_matches(&dev, &format!("layer_norm {shape:?}"), &inputs, f, REDUCTION);
        grads_match(&dev, &format!("layer_norm {shape:?}"), &inputs, f, GRAD);
    }
}

#[test]
fn attention_forward_and_gradients_match_the_cpu() {
    let Some(dev) = gpu() else { return };
    let mut rng = Rng::new(17);
    for (shape, heads) in [([1, 1, 1], 1), ([2, 5, 6], 3), ([3, 17, 8], 2), ([2, 33, 96], 12)] {
        let [batch, seq, _] = shape;
        let [q, k, v] = [0, 1, 2].map(|_| Tensor::randn(&shape, 0.0, 1.0, &mut rng));
        // Entry b keeps its first seq − b tokens (at least one), like a padded batch.
        let keep = (0..batch * seq).map(|i| if i % seq < (seq - i / seq).max(1) { 1.0 } else { 0.0 }).collect();
        let mask = Tensor::from_vec(keep, &[batch, seq]).expect("shape");
        let what = format!("attention {shape:?} heads {heads}");
        let f = move |t: &[Tensor]| t[0].attention(&t[1], &t[2], Some(&t[3]), heads);
        let inputs = [q, k, v, mask];
        forward_matches(&dev, &what, &inputs, f, REDUCTION);
        grads_match(&dev, &what, &inputs, f, GRAD);
        forward_matches(&dev, &what, &inputs[..3], move |t| t[0].attention(&t[1], &t[2], None, heads), REDUCTION);
    }
}

#[test]
fn sentence_encoder_ops_match_the_cpu() {
    let Some(dev) = gpu() else { return };
    let mut rng = Rng::new(18);
    for [batch, seq, hidden] in [[1, 1, 1], [2, 5, 3], [3, 2, 4], [3, 17, 40]] {
        let h = Tensor::randn(&[batch, seq, hidden], 0.0, 1.0, &mut rng);
        // Entry b keeps its first seq − b tokens ([3, 2, 4]: the last entry keeps none).
        let keep = (0..batch * seq).map(|i| if i % seq + i / seq < seq { 1.0 } else { 0.0 });
        let mask = Tensor::from_vec(keep.collect(), &[batch, seq]).expect("shape");
        let what = format!("masked_mean [{batch}, {seq}, {hidden}]");
        let f = |t: &[Tensor]| t[0].masked_mean(&t[1]);
        forward_matches(&dev, &what, &[h.clone(), mask.clone()], f, REDUCTION);
        grads_match(&dev, &what, &[h.clone(), mask], f, GRAD);
        let what = format!("l2_normalize [{batch}, {seq}, {hidden}]");
        let mut rows = h.to_vec().expect("values");
        rows[..hidden].iter_mut().for_each(|v| *v *= 1e-14);
        let x = Tensor::from_vec(rows, h.shape()).expect("shape");
        let f = |t: &[Tensor]| t[0].l2_normalize(1e-12);
        forward_matches(&dev, &what, std::slice::from_ref(&x), f, REDUCTION);
        grads_match(&dev, &what, &[x], f, GRAD);
    }
    let (a, b) = (Tensor::randn(&[7, 5], 0.0, 1.0, &mut rng), Tensor::randn(&[3, 5], 0.0, 1.0, &mut rng));
    let f = |t: &[Tensor]| Tensor::embedding_sum(&[(&t[0], &[6, 0, 6, 2, 1]), (&t[1], &[0, 0, 2, 1, 2])]);
    forward_matches(&dev, "embedding_sum", &[a.clone(), b.clone()], f, EXACT);
    grads_match(&dev, "embedding_sum", &[a, b], f, GRAD);
}

/// Logits with the extremes (±100, exactly 0) mixed in, and targets in [0, 1] with hard labels.
fn bce_inputs(shape: &[usize], rng: &mut Rng) -> [Tensor; 2] {
    let n: usize = shape.iter().product();
    let x = (0..n).map(|i| [100.0, -100.0, 0.0].get(i % 9).copied().unwrap_or_else(|| rng.uniform(-6.0, 6.0)));
    let x = Tensor::from_vec(x.collect(), shape).expect("shape");
    let y = (0..n).map(|i| if i % 4 == 0 { (i % 8 / 4) as f32 } else { rng.uniform(0.0, 1.0) });
    [x, Tensor::from_vec(y.collect(), shape).expect("shape")]
}

#[test]
fn bce_with_logits_forward_matches_the_cpu() {
    let Some(dev) = gpu() else { return };
    let mut rng = Rng::new(9);
    // 1, primes, one past a workgroup, size-1 axes, and no elements at all (NaN on both).
    for shape in [vec![1], vec![7], vec![257], vec![3, 1, 5], vec![2, 3, 37], vec![0, 4]] {
        let xy = bce_inputs(&shape, &mut rng);
        forward_matches(&dev, &format!("bce_with_logits {shape:?}"), &xy, |t| t[0].bce_with_logits(&t[1]), REDUCTION);
    }
}

/// Input shape, weight shape, stride, padding.
type ConvCase = ([usize; 4], [usize; 4], (usize, usize), (usize, usize));

const CONV_CASES: [ConvCase; 3] = [
    ([1, 1, 4, 4], [1, 1, 3, 3], (1, 1), (0, 0)),
    ([2, 3, 5, 4], [2, 3, 3, 2], (2, 1), (1, 0)),
    ([1, 2, 3, 3], [3, 2, 1, 1], (1, 1), (1, 1)),
];

fn pool_options() -> [Pool2dOptions; 2] {
    [Pool2dOptions::square(2), Pool2dOptions { kernel: (3, 2), stride: (1, 2), padding: (1, 1) }]
}

#[test]
fn conv_and_pooling_forward_match_the_cpu() {
    let Some(dev) = gpu() else { return };
    let mut rng = Rng::new(7);
    let mut cases = CONV_CASES.to_vec();
    cases.push(([2, 3, 11, 13], [5, 3, 3, 3], (1, 2), (1, 1)));
    for (xs, ws, stride, padding) in cases {
        let x = Tensor::randn(&xs, 0.0, 1.0, &mut rng);
        let w = Tensor::randn(&ws, 0.0, 1.0, &mut rng);
        let opts = Conv2dOptions { stride, padding, groups: 1 };
        forward_matches(&dev, &format!("conv2d {xs:?} {ws:?}"), &[x, w], |t| t[0].conv2d(&t[1], opts), PRODUCT);
    }
    for shape in [[2, 2, 5, 5], [1, 3, 9, 7]] {
        let x = Tensor::randn(&shape, 0.0, 1.0, &mut rng);
        for opts in pool_options() {
            let xs = std::slice::from_ref(&x);
            forward_matches(&dev, &format!("max_pool2d {shape:?} {opts:?}"), xs, |t| t[0].max_pool2d(opts), EXACT);
            forward_matches(&dev, &format!("avg_pool2d {shape:?} {opts:?}"), xs, |t| t[0].avg_pool2d(opts), REDUCTION);
        }
    }
}

#[test]
fn index_ops_forward_match_the_cpu() {
    let Some(dev) = gpu() else { return };
    let mut rng = Rng::new(8);
    let x = Tensor::randn(&[4, 3], 0.0, 1.0, &mut rng);
    let xs = std::slice::from_ref(&x);
    forward_matches(&dev, "index_select 0", xs, |t| t[0].index_select(0, &[3, 0, 3, 1]), EXACT);
    forward_matches(&dev, "index_select 1", xs, |t| t[0].index_select(1, &[2]), EXACT);
    forward_matches(&dev, "gather 1", xs, |t| t[0].gather(1, &[2, 0, 1, 1, 0, 0, 2, 2], &[4, 2]), EXACT);
    forward_matches(&dev, "gather 0", xs, |t| t[0].gather(0, &[3, 0, 1], &[1, 3]), EXACT);
    let table = Tensor::randn(&[50, 7], 0.0, 1.0, &mut rng);
    let ids: Vec<usize> = (0..300).map(|_| rng.below(50)).collect();
    forward_matches(&dev, "index_select 300 rows", &[table], |t| t[0].index_select(0, &ids), EXACT);
    let logits = Tensor::randn(&[70, 11], 0.0, 1.0, &mut rng);
    let labels: Vec<usize> = (0..70).map(|_| rng.below(11)).collect();
    forward_matches(&dev, "gather labels", &[logits], |t| t[0].gather(1, &labels, &[70, 1]), EXACT);
}

// ---- (b) autodiff: GPU gradients equal CPU gradients ---------------------------------------------

#[test]
fn unary_and_binary_gradients_match_the_cpu() {
    let Some(dev) = gpu() else { return };
    let mut rng = Rng::new(11);
    for shape in [vec![1], vec![3, 4], vec![2, 1, 5]] {
        let x = signed(&shape, &mut rng);
        for &op in UnaryOp::ALL {
            let x = on_domain(op, &x);
            grads_match(&dev, &format!("{op:?} {shape:?}"), std::slice::from_ref(&x), |t| t[0].unary(op), GRAD);
        }
    }
    for (sa, sb) in BROADCAST_PAIRS {
        let a = Tensor::rand_uniform(sa, 0.5, 2.0, &mut rng);
        let b = Tensor::rand_uniform(sb, 0.5, 2.0, &mut rng).mul_scalar(1.1).expect("cpu");
        for op in DIFFERENTIABLE_BINARY_OPS {
            grads_match(
                &dev,
                &format!("{op:?} {sa:?} {sb:?}"),
                &[a.clone(), b.clone()],
                |t| t[0].binary(op, &t[1]),
                GRAD,
            );
        }
    }
    // Ties: maximum splits the gradient evenly on both devices.
    let a = Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3]).expect("shape");
    let b = Tensor::from_vec(vec![3.0, 2.0, 1.0], &[3]).expect("shape");
    grads_match(&dev, "maximum with a tie", &[a, b], |t| t[0].maximum(&t[1]), GRAD);
}

#[test]
fn reduction_and_softmax_gradients_match_the_cpu() {
    let Some(dev) = gpu() else { return };
    let mut rng = Rng::new(12);
    for shape in [vec![5], vec![3, 1], vec![2, 3, 4]] {
        let x = Tensor::randn(&shape, 0.0, 1.0, &mut rng);
        let xs = std::slice::from_ref(&x);
        for axis in 0..shape.len() as isize {
            for keep in [false, true] {
                for (name, f) in [
                    ("sum", Tensor::sum as fn(&Tensor, isize, bool) -> Result<Tensor>),
                    ("mean", Tensor::mean),
                    ("max", Tensor::max),
                    ("min", Tensor::min),
                ] {
                    grads_match(&dev, &format!("{name} {shape:?} {axis} {keep}"), xs, |t| f(&t[0], axis, keep), GRAD);
                }
            }
        }
        grads_match(&dev, &format!("mean_all {shape:?}"), xs, |t| t[0].mean_all(), GRAD);
    }
    for shape in [vec![4], vec![3, 5], vec![2, 3, 4], vec![2, 1]] {
        let x = Tensor::randn(&shape, 0.0, 1.0, &mut rng);
        let xs = std::slice::from_ref(&x);
        for axis in 0..shape.len() as isize {
            grads_match(&dev, &format!("softmax {shape:?} {axis}"), xs, |t| t[0].softmax(axis), GRAD);
            grads_match(&dev, &format!("log_softmax {shape:?} {axis}"), xs, |t| t[0].log_softmax(axis), GRAD);
        }
    }
    // Both inputs (logits and targets) get gradients.
    for shape in [vec![1], vec![3, 5], vec![2, 1, 3], vec![257]] {
        let xy = bce_inputs(&shape, &mut rng);
        grads_match(&dev, &format!("bce_with_logits {shape:?}"), &xy, |t| t[0].bce_with_logits(&t[1]), GRAD);
    }
}

#[test]
fn matmul_and_shape_gradients_match_the_cpu() {
    let Some(dev) = gpu() else { return };
    let mut rng = Rng::new(13);
    for (a, b, ta, tb) in matmul_cases(&mut rng) {
        let what = format!("matmul {:?} {:?} {ta} {tb}", a.shape(), b.shape());
        grads_match(&dev, &what, &[a, b], |t| t[0].matmul_t(&t[1], ta, tb), GRAD);
    }
    // The fused linear ops (one op on the CPU, composed on the GPU).
    let (x, w, b) = (
        Tensor::randn(&[2, 5, 7], 0.0, 1.0, &mut rng),
        Tensor::randn(&[6, 7], 0.0, 1.0, &mut rng),
        Tensor::randn(&[6], 0.0, 1.0, &mut rng),
    );
    let xwb = [x, w, b];
    grads_match(&dev, "linear", &xwb, |t| t[0].linear(&t[1], Some(&t[2])), GRAD);
    grads_match(&dev, "linear_relu", &xwb, |t| t[0].linear_relu(&t[1], Some(&t[2])), GRAD);
    grads_match(&dev, "linear_relu without a bias", &xwb[..2], |t| t[0].linear_relu(&t[1], None), GRAD);
    let x = Tensor::randn(&[2, 3, 4], 0.0, 1.0, &mut rng);
    let y = Tensor::randn(&[2, 1, 4], 0.0, 1.0, &mut rng);
    let xs = std::slice::from_ref(&x);
    grads_match(&dev, "reshape", xs, |t| t[0].reshape(&[6, 4]), GRAD);
    grads_match(&dev, "permute", xs, |t| t[0].permute(&[1, 2, 0]), GRAD);
    grads_match(&dev, "transpose", xs, |t| t[0].transpose(0, 2), GRAD);
    grads_match(&dev, "narrow", xs, |t| t[0].narrow(1, 1, 2), GRAD);
    grads_match(&dev, "broadcast_to", std::slice::from_ref(&y), |t| t[0].broadcast_to(&[3, 2, 3, 4]), GRAD);
    grads_match(&dev, "cat", &[x.clone(), y.clone()], |t| Tensor::cat(&[t[0].clone(), t[1].clone()], 1), GRAD);
    grads_match(
        &dev,
        "stack",
        std::slice::from_ref(&y),
        |t| Tensor::stack(&[t[0].clone(), t[0].mul_scalar(2.0)?], 0),
        GRAD,
    );
}

/// `((input, weight, stride, padding), groups)`: MobileNet's depthwise 3×3 at stride 1 and 2,
/// a channel multiplier of 2, and grouped convolutions with odd sizes.
type GroupedConvCase = (ConvCase, usize);

const GROUPED_CONV_CASES: [GroupedConvCase; 5] = [
    (([2, 32, 17, 17], [32, 1, 3, 3], (1, 1), (1, 1)), 32),
    (([2, 32, 17, 17], [32, 1, 3, 3], (2, 2), (1, 1)), 32),
    (([2, 3, 7, 5], [6, 1, 3, 3], (2, 2), (1, 1)), 3),
    (([2, 4, 6, 5], [6, 2, 3, 3], (1, 1), (1, 1)), 2),
    (([3, 6, 9, 7], [9, 2, 3, 2], (2, 1), (1, 0)), 3),
];

#[test]
fn grouped_and_depthwise_conv_match_the_cpu() {
    let Some(dev) = gpu() else { return };
    let mut rng = Rng::new(21);
    for ((xs, ws, stride, padding), groups) in GROUPED_CONV_CASES {
        let x = Tensor::randn(&xs, 0.0, 1.0, &mut rng);
        let w = Tensor::randn(&ws, 0.0, 1.0, &mut rng);
        let b = Tensor::randn(&[ws[0]], 0.0, 1.0, &mut rng);
        let opts = Conv2dOptions { stride, padding, groups };
        let what = format!("conv2d {xs:?} {ws:?} groups={groups}");
        let inputs = [x.clone(), w.clone()];
        forward_matches(&dev, &what, &inputs, |t| t[0].conv2d(&t[1], opts), PRODUCT);
        let f = |t: &[Tensor]| t[0].conv2d_bias(&t[1], Some(&t[2]), opts);
        grads_match(&dev, &format!("{what} + bias"), &[x, w, b], f, GRAD);
    }
}

#[test]
fn fused_conv_epilogues_match_the_cpu() {
    let Some(dev) = gpu() else { return };
    let mut rng = Rng::new(22);
    for ((xs, ws, stride, padding), groups) in GROUPED_CONV_CASES {
        let x = Tensor::randn(&xs, 0.0, 1.0, &mut rng);
        let w = Tensor::randn(&ws, 0.0, 1.0, &mut rng);
        let b = Tensor::randn(&[ws[0]], 0.5, 1.0, &mut rng);
        let scale = Tensor::randn(&[ws[0]], 1.0, 2.0, &mut rng);
        let opts = Conv2dOptions { stride, padding, groups };
        for act in [ConvActivation::Identity, ConvActivation::Relu, ConvActivation::Relu6] {
            // The scale is a constant: it travels with the input instead of being a leaf.
            let f = |t: &[Tensor]| {
                let scale = scale.to_device(&t[0].device())?;
                t[0].conv2d_fused(&t[1], Conv2dEpilogue { bias: Some(&t[2]), scale: Some(&scale), act }, opts)
            };
            let what = format!("conv2d_fused {xs:?} {ws:?} groups={groups} {act:?}");
            let inputs = [x.clone(), w.clone(), b.clone()];
            forward_matches(&dev, &what, &inputs, f, PRODUCT);
            grads_match(&dev, &what, &inputs, f, GRAD);
        }
    }
}

#[test]
fn conv_pool_and_index_gradients_match_the_cpu() {
    let Some(dev) = gpu() else { return };
    let mut rng = Rng::new(14);
    for (xs, ws, stride, padding) in CONV_CASES {
        let x = Tensor::randn(&xs, 0.0, 1.0, &mut rng);
        let w = Tensor::randn(&ws, 0.0, 1.0, &mut rng);
        let opts = Conv2dOptions { stride, padding, groups: 1 };
        grads_match(
            &dev,
            &format!("conv2d {xs:?} {ws:?}"),
            &[x.clone(), w.clone()],
            |t| t[0].conv2d(&t[1], opts),
            GRAD,
        );
        // The CPU fuses the bias into the convolution; the GPU adds it as a broadcast op.
        let b = Tensor::randn(&[ws[0]], 0.0, 1.0, &mut rng);
        let f = |t: &[Tensor]| t[0].conv2d_bias(&t[1], Some(&t[2]), opts);
        grads_match(&dev, &format!("conv2d+bias {xs:?} {ws:?}"), &[x, w, b], f, GRAD);
    }
    // Distinct values keep the max away from ties.
    let x =
        Tensor::from_vec((0..2 * 2 * 5 * 5).map(|_| rng.uniform(-1.0, 1.0)).collect(), &[2, 2, 5, 5]).expect("shape");
    for opts in pool_options() {
        let xs = std::slice::from_ref(&x);
        grads_match(&dev, &format!("max_pool2d {opts:?}"), xs, |t| t[0].max_pool2d(opts), GRAD);
        grads_match(&dev, &format!("avg_pool2d {opts:?}"), xs, |t| t[0].avg_pool2d(opts), GRAD);
    }
    let x = Tensor::randn(&[4, 3], 0.0, 1.0, &mut rng);
    let xs = std::slice::from_ref(&x);
    grads_match(&dev, "index_select 0", xs, |t| t[0].index_select(0, &[3, 0, 3, 1]), GRAD);
    grads_match(&dev, "index_select 1", xs, |t| t[0].index_select(1, &[2]), GRAD);
    grads_match(&dev, "gather 1", xs, |t| t[0].gather(1, &[2, 0, 1, 1, 0, 0, 2, 2], &[4, 2]), GRAD);
    grads_match(&dev, "gather 0", xs, |t| t[0].gather(0, &[3, 0, 1], &[1, 3]), GRAD);
}

test_device!(
    /// Finite-difference gradient checks of every table op and of the ops with their own
    /// backward kernels, on tensors of the device under test.
    fn finite_difference_gradient_checks_pass(dev) {
        let mut rng = Rng::new(15);
        let opts = GradCheck::default();
        let g = |ts: Vec<Tensor>| on(dev, &ts);
        for &op in UnaryOp::ALL {
            let x = g(vec![on_domain(op, &signed(&[3, 4], &mut rng))]);
            check_gradients(|t| t[0].unary(op), &x, opts).unwrap_or_else(|e| panic!("{op:?} on {dev}: {e}"));
        }
        let ab = g(vec![Tensor::randn(&[3, 4], 0.0, 1.0, &mut rng), Tensor::randn(&[5, 4], 0.0, 1.0, &mut rng)]);
        check_gradients(|t| t[0].matmul_t(&t[1], false, true), &ab, opts).unwrap_or_else(|e| panic!("matmul: {e}"));
        let s = g(vec![Tensor::randn(&[2, 5], 0.0, 1.0, &mut rng)]);
        check_gradients(|t| t[0].log_softmax(1)?.gather(1, &[4, 0], &[2, 1]), &s, opts)
            .unwrap_or_else(|e| panic!("log_softmax + gather: {e}"));
        let cw =
            g(vec![Tensor::randn(&[1, 2, 4, 4], 0.0, 1.0, &mut rng), Tensor::randn(&[2, 2, 3, 3], 0.0, 1.0, &mut rng)]);
        let conv = Conv2dOptions { stride: (1, 1), padding: (1, 1), groups: 1 };
        check_gradients(|t| t[0].conv2d(&t[1], conv), &cw, opts).unwrap_or_else(|e| panic!("conv2d: {e}"));
        let xy =
            g(vec![Tensor::randn(&[3, 4], 0.0, 2.0, &mut rng), Tensor::rand_uniform(&[3, 4], 0.0, 1.0, &mut rng)]);
        check_gradients(|t| t[0].bce_with_logits(&t[1])?.mul_scalar(3.0), &xy, opts)
            .unwrap_or_else(|e| panic!("bce_with_logits: {e}"));
    }
);

// ---- (c) training: same loss as the CPU -----------------------------------------------------------

/// Trains `8 → 32 (tanh) → 4` with full-batch SGD on 64 samples and returns the losses, every
/// step computed on `device` from the same seed. The loss is `Tensor::cross_entropy` (fused on
/// the CPU, composed on the GPU) when `fused_loss`, else composed on both.
fn train_mlp(device: &Device, steps: usize, fused_loss: bool) -> Result<Vec<f32>> {
    let mut rng = Rng::new(42);
    let (n, d, hidden, classes) = (64, 8, 32, 4);
    let x = Tensor::randn(&[n, d], 0.0, 1.0, &mut rng).to_device(device)?;
    let labels: Vec<usize> = (0..n).map(|_| rng.below(classes)).collect();
    let params = [
        Tensor::randn(&[hidden, d], 0.0, 0.5, &mut rng).to_device(device)?.requires_grad_(true)?,
        Tensor::zeros(&[hidden]).to_device(device)?.requires_grad_(true)?,
        Tensor::randn(&[classes, hidden], 0.0, 0.2, &mut rng).to_device(device)?.requires_grad_(true)?,
        Tensor::zeros(&[classes]).to_device(device)?.requires_grad_(true)?,
    ];
    let mut losses = Vec::with_capacity(steps);
    for _ in 0..steps {
        let h = x.matmul_t(&params[0], false, true)?.add(&params[1])?.tanh()?;
        let logits = h.matmul_t(&params[2], false, true)?.add(&params[3])?;
        let loss = if fused_loss {
            logits.cross_entropy(&labels)?
        } else {
            logits.log_softmax(1)?.gather(1, &labels, &[n, 1])?.mean_all()?.neg()?
        };
        loss.backward()?;
        no_grad(|| -> Result<()> {
            for p in &params {
                let g = p.grad().ok_or_else(|| Error::Device("a parameter got no gradient".into()))?;
                p.set_data(&p.sub(&g.mul_scalar(0.5)?)?)?;
                p.zero_grad();
            }
            Ok(())
        })?;
        losses.push(loss.to_scalar()?);
    }
    Ok(losses)
}

#[test]
fn an_mlp_trained_on_the_gpu_ends_with_the_cpus_loss() {
    let Some(dev) = gpu() else { return };
    // The fused cross-entropy on the CPU against its composition on the GPU.
    let cpu = train_mlp(&Device::Cpu, 50, true).expect("cpu training");
    let gpu = train_mlp(&dev, 50, true).expect("gpu training");
    let (c, g) = (cpu[49], gpu[49]);
    eprintln!("final loss after 50 steps: cpu {c}, gpu {g} (first {})", cpu[0]);
    assert!(c < 0.8 * cpu[0], "training reduces the loss: {} → {c}", cpu[0]);
    assert!((c - g).abs() <= 1e-4 + 1e-3 * c.abs(), "cpu {c} vs gpu {g}");
    assert_close("loss trajectory", &gpu, &cpu, Tol { abs: 1e-4, rel: 1e-3 });
}

test_device!(
    /// `add_scaled_` and `scale_and_add_` update in place on the device and compute
    /// `p ← 0.9 (p − 0.3 g) + g`.
    fn in_place_updates_compute_their_formula(dev) {
        let mut rng = Rng::new(15);
        let (p0, g0) = (Tensor::randn(&[7, 5], 0.0, 1.0, &mut rng), Tensor::randn(&[7, 5], 0.0, 1.0, &mut rng));
        let want: Vec<f32> = (p0.to_vec().expect("read").iter().zip(g0.to_vec().expect("read")))
            .map(|(p, g)| 0.9 * (p - 0.3 * g) + g)
            .collect();
        let t = on(dev, &[p0.deep_clone().expect("copy"), g0]);
        t[0].add_scaled_(&t[1], -0.3).expect("add_scaled_");
        t[0].scale_and_add_(0.9, &t[1]).expect("scale_and_add_");
        assert_eq!(&t[0].device(), dev, "the update stays on the device");
        assert_close("add_scaled_ then scale_and_add_", &t[0].to_vec().expect("read"), &want, EXACT);
    }
);

#[test]
fn gpu_ops_are_counted_like_cpu_ops() {
    let Some(dev) = gpu() else { return };
    let run = |device: &Device| {
        reset_op_stats();
        // Composed loss on both: the fused one is a single launch on the CPU only.
        train_mlp(device, 2, false).expect("training");
        op_stats()
    };
    let cpu = run(&Device::Cpu);
    let gpu = run(&dev);
    assert!(cpu.backward_launches("matmul") > 0);
    assert_eq!(gpu, cpu, "the same launches and FLOPs by kind, forward and backward");
    // The fused BCE: one launch forward and one per gradient on both (the GPU's sum and scale
    // inside the forward are part of its one launch).
    let bce = |device: &Device| {
        let mut rng = Rng::new(3);
        let [x, y] = bce_inputs(&[4, 5], &mut rng);
        let (x, y) = (x.to_device(device).expect("upload"), y.to_device(device).expect("upload"));
        let (x, y) = (x.requires_grad_(true).expect("leaf"), y.requires_grad_(true).expect("leaf"));
        reset_op_stats();
        x.bce_with_logits(&y).and_then(|l| l.backward()).expect("bce_with_logits");
        op_stats()
    };
    let (cpu, gpu) = (bce(&Device::Cpu), bce(&dev));
    assert_eq!((cpu.forward_launches("bce_with_logits"), cpu.backward_launches("bce_with_logits")), (1, 2), "{cpu:?}");
    assert_eq!(gpu, cpu, "bce_with_logits counts the same on both devices");
}

// ---- (d) memory levels off ------------------------------------------------------------------------

#[test]
fn gpu_memory_levels_off_over_hundreds_of_steps() {
    if gpu().is_none() {
        return;
    }
    // A context of its own, so other tests running in parallel do not touch its pool.
    let ctx = GpuContext::new().expect("a second context on the same adapter");
    let dev = Device::Gpu(GpuDevice::new(ctx));
    let stats = || gpu_pool_stats(&dev).expect("a GPU has a pool");
    let mut rng = Rng::new(7);
    let x = Tensor::randn(&[32, 16], 0.0, 1.0, &mut rng).to_device(&dev).expect("upload");
    let labels: Vec<usize> = (0..32).map(|i| i % 5).collect();
    let w1 =
        Tensor::randn(&[24, 16], 0.0, 0.3, &mut rng).to_device(&dev).and_then(|t| t.requires_grad_(true)).expect("w1");
    let w2 =
        Tensor::randn(&[5, 24], 0.0, 0.3, &mut rng).to_device(&dev).and_then(|t| t.requires_grad_(true)).expect("w2");
    let step = || -> Result<f32> {
        let loss = x.matmul_t(&w1, false, true)?.relu()?.matmul_t(&w2, false, true)?.log_softmax(1)?.gather(
            1,
            &labels,
            &[32, 1],
        )?;
        let loss = loss.mean_all()?.neg()?;
        loss.backward()?;
        no_grad(|| -> Result<()> {
            for p in [&w1, &w2] {
                let g = p.grad().ok_or(Error::BackwardNoGrad)?;
                p.set_data(&p.sub(&g.mul_scalar(0.1)?)?)?;
                p.zero_grad();
            }
            Ok(())
        })?;
        loss.to_scalar()
    };
    let mut live = Vec::new();
    for i in 0..300 {
        step().expect("a training step");
        if i % 50 == 49 {
            live.push(stats());
        }
    }
    eprintln!("pool after steps 50, 100, ..., 300: {live:?}");
    let first = live[0];
    for s in &live[1..] {
        assert_eq!(s.live_bytes, first.live_bytes, "live bytes stop growing: {live:?}");
        assert_eq!(s.allocations, first.allocations, "no new device buffers after warm-up: {live:?}");
    }
    // What stays alive between steps is the data and the parameters, nothing of the graph.
    let floor = (32 * 16 + 24 * 16 + 5 * 24) * 4;
    assert!(first.live_bytes >= floor as u64 && first.live_bytes <= 4 * floor as u64, "{first:?}");
}

// ---- (e) mixed devices are refused ----------------------------------------------------------------

#[test]
fn mixed_device_operands_are_refused_with_both_devices_named() {
    let Some(dev) = gpu() else { return };
    let cpu = Tensor::ones(&[2, 3]);
    let gpu = cpu.to_device(&dev).expect("upload");
    let check = |r: Result<Tensor>, op: &str| {
        let e = r.expect_err("mixed devices are refused");
        assert!(matches!(e, Error::DeviceMismatch { .. }), "{op}: {e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains(op) && msg.contains("cpu") && msg.contains("gpu:") && msg.contains(".to_device()"),
            "{msg}"
        );
    };
    check(cpu.add(&gpu), "add");
    check(gpu.mul(&cpu), "mul");
    check(gpu.matmul_t(&cpu, false, true), "matmul");
    check(Tensor::cat(&[cpu.clone(), gpu.clone()], 0), "cat");
    check(gpu.bce_with_logits(&cpu), "bce_with_logits");
    check(cpu.bce_with_logits(&gpu), "bce_with_logits");
    check(
        gpu.reshape(&[1, 1, 2, 3]).and_then(|x| x.conv2d(&Tensor::ones(&[1, 1, 1, 1]), Conv2dOptions::default())),
        "conv2d",
    );
    let e = gpu.set_data(&cpu).expect_err("set_data across devices is refused");
    assert!(e.to_string().contains("set_data"), "{e}");
    // Moving one operand fixes it.
    assert_eq!(
        cpu.to_device(&dev).and_then(|c| c.add(&gpu)).and_then(|t| t.to_vec()).expect("same device"),
        vec![2.0; 6]
    );
}

// ---- (f) device selection -------------------------------------------------------------------------

#[test]
fn device_selection_names_the_adapter_and_prefers_the_gpu() {
    let Some(dev) = gpu() else { return };
    let name = dev.to_string();
    assert!(name.starts_with("gpu:0 (") && name.ends_with(')'), "{name}");
    eprintln!("testing on {name}");
    assert_eq!(Device::gpu().expect("still there"), dev, "the shared context is one device");
    assert_eq!(Device::auto(), dev);
    assert_eq!(Device::parse("gpu").expect("gpu"), dev);
    assert_eq!(Device::parse("auto").expect("auto"), dev);
    assert!(dev.is_gpu() && Device::Cpu.is_cpu());
    let other = Device::Gpu(GpuDevice::new(GpuContext::new().expect("second context")));
    assert_ne!(other, dev, "devices are equal by context identity");
    dev.synchronize().expect("synchronize");
    let t = Tensor::full_on(&[3], 2.5, &dev).expect("fill on the device");
    assert_eq!(t.device(), dev);
    assert_eq!(t.to_vec().expect("readback"), vec![2.5; 3]);
}

/// Runs only as the child of the next test, in an environment with no usable adapter.
#[test]
fn fallback_child() {
    if std::env::var("GRAFT_FALLBACK_CHILD").is_err() {
        return;
    }
    let msg = Device::gpu().expect_err("no adapter in this environment").to_string();
    assert!(msg.contains("no GPU adapter available"), "{msg}");
    assert!(Device::parse("gpu").is_err());
    assert_eq!(Device::auto(), Device::Cpu);
    assert_eq!(Device::auto(), Device::Cpu);
    assert_eq!(Device::parse("auto").expect("auto never fails"), Device::Cpu);
}

#[test]
fn without_an_adapter_gpu_fails_with_the_cause_and_auto_falls_back_once() {
    let exe = std::env::current_exe().expect("the test binary");
    let out = std::process::Command::new(exe)
        .args(["fallback_child", "--exact", "--nocapture", "--test-threads=1"])
        .env("GRAFT_FALLBACK_CHILD", "1")
        // A backend this platform lacks (Metal off Apple; Vulkan on Apple), so no adapter exists.
        .env("WGPU_BACKEND", if cfg!(target_vendor = "apple") { "vulkan" } else { "metal" })
        .env_remove("GRAFT_REQUIRE_GPU")
        .output()
        .expect("run the child");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{}\n{stderr}", String::from_utf8_lossy(&out.stdout));
    let said = stderr.matches("using the CPU because the GPU is unavailable").count();
    assert_eq!(said, 1, "auto says why it fell back exactly once:\n{stderr}");
    assert!(stderr.contains("no GPU adapter available"), "the reason names the cause:\n{stderr}");
}

#[test]
fn a_tensor_too_large_for_the_gpu_is_refused_and_the_cpu_still_works() {
    let Some(dev) = gpu() else { return };
    let Device::Gpu(g) = &dev else { unreachable!("gpu() gives a GPU") };
    // One element more than the largest buffer the device can bind.
    let too_many = (g.context().max_buffer_bytes() / 4 + 1) as usize;
    let err = Tensor::full_on(&[too_many], 0.0, &dev).unwrap_err().to_string();
    assert!(
        err.to_lowercase().contains("gpu") && err.contains(&format!("{}", too_many * 4)),
        "names device and size: {err}"
    );
    // The failed request leaves the GPU and the CPU usable.
    let x = Tensor::ones(&[4]);
    assert_eq!(x.add(&x).unwrap().to_vec().unwrap(), vec![2.0; 4]);
    let y = x.to_device(&dev).unwrap();
    assert_eq!(y.mul_scalar(3.0).unwrap().to_vec().unwrap(), vec![3.0; 4]);
}
