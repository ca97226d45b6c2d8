//! Property tests: every unary op of the table (`graft_kernels::unary_table`) against its scalar
//! form, broadcasting binary ops, reductions, matmul with transposes, conv2d and
//! pooling against naive reference implementations written here, over random shapes in which
//! every axis may be 0 or 1; and, for each op, shapes that must be refused are refused with
//! the op's error (an `Err`, never a panic).
//!
//! Each property states its number of cases (`CASES`, or `PROPTEST_CASES` to override); run
//! `cargo test -p graft-engine --test properties -- --nocapture` to see the counts.

use graft_engine::{Conv2dOptions, Error, Pool2dOptions, Tensor, UnaryOp};
use graft_kernels::unary_table::Domain;
use proptest::prelude::*;
use proptest::test_runner::Config;

/// Cases per property.
const CASES: u32 = 2048;

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(CASES);
    Config { cases, failure_persistence: None, ..Config::default() }
}

/// Values for a tensor of `shape`, deterministic in `seed`, in [-4, 4) on a 1/8 grid so that
/// sums of a few of them are exact and ties (for max/argmax) happen.
fn values(shape: &[usize], seed: u64) -> Vec<f32> {
    let n: usize = shape.iter().product();
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) % 64) as f32 / 8.0 - 4.0
        })
        .collect()
}

fn tensor(shape: &[usize], seed: u64) -> Tensor {
    Tensor::from_vec(values(shape, seed), shape).expect("values fit the shape")
}

/// Row-major strides.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// A dimension: 0 and 1 often, small sizes otherwise.
fn dim() -> impl Strategy<Value = usize> {
    prop_oneof![Just(0usize), Just(1usize), 2usize..5]
}

fn shape(max_rank: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(dim(), 0..=max_rank)
}

fn same_bits(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn close(got: &[f32], want: &[f64], tol: f64) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.len(), want.len());
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = g as f64 == w || (g as f64 - w).abs() <= tol * (1.0 + w.abs()) || (g.is_nan() && w.is_nan());
        prop_assert!(ok, "element {}: got {}, want {}", i, g, w);
    }
    Ok(())
}

// ---------------------------------------------------------------- unary ops

/// `tensor(shape, seed)` moved onto `op`'s domain: positive ops get `|v| + 1/8`.
fn unary_input(op: UnaryOp, shape: &[usize], seed: u64) -> Tensor {
    let v = values(shape, seed);
    let v = match op.domain() {
        Domain::Real => v,
        Domain::Positive => v.iter().map(|x| x.abs() + 0.125).collect(),
    };
    Tensor::from_vec(v, shape).expect("values fit the shape")
}

proptest! {
    #![proptest_config(config())]

    /// Each op of the table, on any shape (0 and 1 axes too): the output has the input's shape
    /// and each element is the op's scalar form bit for bit; the gradient of the sum is the
    /// scalar derivative.
    #[test]
    fn unary_ops_match_their_scalar_forms(s in shape(4), seed in any::<u64>()) {
        for &op in UnaryOp::ALL {
            let x = unary_input(op, &s, seed).requires_grad_(true).expect("leaf");
            let y = x.unary(op).map_err(|e| TestCaseError::fail(format!("{op:?} {s:?}: {e}")))?;
            prop_assert_eq!(y.shape(), &s[..], "{:?}", op);
            let (vx, vy) = (x.to_vec().unwrap_or_default(), y.to_vec().unwrap_or_default());
            for (i, (&xv, &yv)) in vx.iter().zip(&vy).enumerate() {
                prop_assert!(same_bits(yv, op.apply(xv)), "{:?}({}) at {}: {} vs {}", op, xv, i, yv, op.apply(xv));
            }
            y.sum_all().and_then(|t| t.backward()).map_err(|e| TestCaseError::fail(format!("{op:?} {s:?}: {e}")))?;
            let g = x.grad().map(|g| g.to_vec().unwrap_or_default()).unwrap_or_default();
            prop_assert_eq!(g.len(), vx.len(), "{:?}", op);
            for (i, ((&xv, &yv), &gv)) in vx.iter().zip(&vy).zip(&g).enumerate() {
                let want = op.derivative(xv, yv);
                prop_assert!(same_bits(gv, want), "{:?}'({}) at {}: {} vs {}", op, xv, i, gv, want);
            }
        }
    }
}

// ---------------------------------------------------------------- broadcasting binary ops

/// An output shape and two operand shapes that broadcast to it: each operand drops some
/// leading axes and sets some others to 1.
fn broadcast_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>, Vec<usize>)> {
    shape(4).prop_flat_map(|out| {
        let r = out.len();
        (Just(out), 0..=r, 0..=r, prop::collection::vec(any::<bool>(), r), prop::collection::vec(any::<bool>(), r))
            .prop_map(move |(out, la, lb, ones_a, ones_b)| {
                let derive = |lead: usize, ones: &[bool]| -> Vec<usize> {
                    (lead..out.len()).map(|i| if ones[i] { 1 } else { out[i] }).collect()
                };
                let (a, b) = (derive(r - la, &ones_a), derive(r - lb, &ones_b));
                (out, a, b)
            })
    })
}

/// NumPy's broadcast shape of two shapes that broadcast.
fn broadcast_shape(a: &[usize], b: &[usize]) -> Vec<usize> {
    let r = a.len().max(b.len());
    let at = |s: &[usize], i: usize| if i + s.len() >= r { s[i + s.len() - r] } else { 1 };
    (0..r).map(|i| if at(a, i) == 1 { at(b, i) } else { at(a, i) }).collect()
}

/// `x[idx]` of a tensor of `shape` broadcast to `out` (trailing-aligned, size-1 axes repeat).
fn broadcast_index(shape: &[usize], out: &[usize], idx: &[usize]) -> usize {
    let off = out.len() - shape.len();
    let st = strides(shape);
    (0..shape.len()).map(|i| if shape[i] == 1 { 0 } else { idx[off + i] * st[i] }).sum()
}

fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for i in (0..shape.len()).rev() {
        idx[i] = flat % shape[i];
        flat /= shape[i];
    }
    idx
}

type BinaryCase = (&'static str, fn(&Tensor, &Tensor) -> graft_engine::Result<Tensor>, fn(f32, f32) -> f32);

fn binary_ops() -> Vec<BinaryCase> {
    vec![
        ("add", Tensor::add, |a, b| a + b),
        ("sub", Tensor::sub, |a, b| a - b),
        ("mul", Tensor::mul, |a, b| a * b),
        ("div", Tensor::div, |a, b| a / b),
        ("maximum", Tensor::maximum, f32::max),
        ("minimum", Tensor::minimum, f32::min),
        ("lt", Tensor::lt, |a, b| f32::from(u8::from(a < b))),
        ("eq", Tensor::eq, |a, b| f32::from(u8::from(a == b))),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn binary_ops_broadcast_like_numpy((_, sa, sb) in broadcast_pair(), seed in any::<u64>()) {
        let out = broadcast_shape(&sa, &sb);
        let (a, b) = (tensor(&sa, seed), tensor(&sb, seed ^ 1));
        let (va, vb) = (a.to_vec().unwrap_or_default(), b.to_vec().unwrap_or_default());
        for (name, op, reference) in binary_ops() {
            let y = op(&a, &b).map_err(|e| TestCaseError::fail(format!("{name} {sa:?} {sb:?}: {e}")))?;
            prop_assert_eq!(y.shape(), &out[..], "{} {:?} {:?}", name, sa, sb);
            let got = y.to_vec().unwrap_or_default();
            for (i, g) in got.iter().enumerate() {
                let idx = unravel(i, &out);
                let want = reference(va[broadcast_index(&sa, &out, &idx)], vb[broadcast_index(&sb, &out, &idx)]);
                prop_assert!(same_bits(*g, want), "{} {:?} {:?} at {:?}: {} vs {}", name, sa, sb, idx, g, want);
            }
        }
    }

    #[test]
    fn binary_ops_refuse_shapes_that_do_not_broadcast(
        sa in prop::collection::vec(dim(), 1..=4), axis in any::<prop::sample::Index>(),
        sizes in (2usize..5, 1usize..4), lead in 0usize..2
    ) {
        // One aligned axis of the operands differs with neither side 1; B may have extra
        // leading axes.
        let mut sa = sa;
        let i = axis.index(sa.len());
        sa[i] = sizes.0;
        let mut sb = vec![3; lead];
        sb.extend(&sa);
        sb[lead + i] = sizes.0 + sizes.1;
        let (a, b) = (Tensor::zeros(&sa), Tensor::zeros(&sb));
        for (name, op, _) in binary_ops() {
            for res in [op(&a, &b), op(&b, &a)] {
                match res {
                    Err(Error::ShapeMismatch { op, .. }) => prop_assert_eq!(op, name),
                    other => prop_assert!(false, "{} {:?} {:?} gave {:?}", name, sa, sb, other.map(|t| t.shape().to_vec())),
                }
            }
        }
    }
}

// ---------------------------------------------------------------- reductions

proptest! {
    #![proptest_config(config())]

    #[test]
    fn reductions_match_a_naive_loop(
        s in prop::collection::vec(dim(), 1..=4), axis in any::<prop::sample::Index>(),
        negative in any::<bool>(), keepdim in any::<bool>(), seed in any::<u64>()
    ) {
        let ax = axis.index(s.len());
        let signed = if negative { ax as isize - s.len() as isize } else { ax as isize };
        let x = tensor(&s, seed);
        let v = x.to_vec().unwrap_or_default();
        let (outer, len, inner): (usize, usize, usize) =
            (s[..ax].iter().product(), s[ax], s[ax + 1..].iter().product());
        let mut kept = s.clone();
        kept[ax] = 1;
        let dropped: Vec<usize> = s.iter().enumerate().filter(|&(i, _)| i != ax).map(|(_, &d)| d).collect();
        let want_shape = if keepdim { kept } else { dropped };
        let lanes = |f: &dyn Fn(&mut dyn Iterator<Item = f32>) -> f64| -> Vec<f64> {
            let mut out = Vec::with_capacity(outer * inner);
            for o in 0..outer {
                for i in 0..inner {
                    out.push(f(&mut (0..len).map(|k| v[(o * len + k) * inner + i])));
                }
            }
            out
        };
        let sum = x.sum(signed, keepdim).map_err(|e| TestCaseError::fail(format!("sum {s:?} axis {signed}: {e}")))?;
        prop_assert_eq!(sum.shape(), &want_shape[..]);
        close(&sum.to_vec().unwrap_or_default(), &lanes(&|it| it.map(f64::from).sum()), 1e-6)?;
        let mean = x.mean(signed, keepdim).map_err(|e| TestCaseError::fail(format!("mean {s:?}: {e}")))?;
        prop_assert_eq!(mean.shape(), &want_shape[..]);
        close(&mean.to_vec().unwrap_or_default(), &lanes(&|it| it.map(f64::from).sum::<f64>() / len as f64), 1e-6)?;
        let reduced = [
            ("max", x.max(signed, keepdim)),
            ("min", x.min(signed, keepdim)),
            ("argmax", x.argmax(signed, keepdim)),
            ("argmin", x.argmin(signed, keepdim)),
        ];
        for (name, r) in reduced {
            if len == 0 {
                // No maximum of nothing: refused with the op's error (PyTorch refuses too).
                let refused = matches!(&r, Err(Error::BadShape { .. }));
                prop_assert!(refused, "{} over an empty axis of {:?} gave {:?}", name, s, r.map(|t| t.shape().to_vec()));
                continue;
            }
            let r = r.map_err(|e| TestCaseError::fail(format!("{name} {s:?}: {e}")))?;
            prop_assert_eq!(r.shape(), &want_shape[..], "{}", name);
            let want = match name {
                "max" => lanes(&|it| f64::from(it.fold(f32::NEG_INFINITY, f32::max))),
                "min" => lanes(&|it| f64::from(it.fold(f32::INFINITY, f32::min))),
                // The first position of the extreme value, as PyTorch and NumPy return.
                "argmax" => lanes(&|it| {
                    it.enumerate().fold((0, f32::NEG_INFINITY), |b, (i, x)| if x > b.1 { (i, x) } else { b }).0 as f64
                }),
                _ => lanes(&|it| {
                    it.enumerate().fold((0, f32::INFINITY), |b, (i, x)| if x < b.1 { (i, x) } else { b }).0 as f64
                }),
            };
            close(&r.to_vec().unwrap_or_default(), &want, 0.0)?;
        }
    }

    #[test]
    fn reductions_refuse_axes_out_of_range(s in shape(4), beyond in 0usize..3, negative in any::<bool>()) {
        let r = s.len() as isize;
        let axis = if negative { -r - 1 - beyond as isize } else { r + beyond as isize };
        let x = Tensor::zeros(&s);
        for (name, res) in [
            ("sum", x.sum(axis, false)),
            ("mean", x.mean(axis, true)),
            ("max", x.max(axis, false)),
            ("argmax", x.argmax(axis, false)),
        ] {
            let refused = matches!(&res, Err(Error::AxisOutOfRange { .. }));
            prop_assert!(refused, "{} axis {} of {:?} gave {:?}", name, axis, s, res.map(|t| t.shape().to_vec()));
        }
    }
}

// ---------------------------------------------------------------- matmul

/// `op(A)·op(B)` in f64 for one batch entry: `a` is `[m,k]` (or `[k,m]` when `ta`), `b` is
/// `[k,n]` (or `[n,k]`).
#[allow(clippy::too_many_arguments)]
fn naive_matmul(a: &[f32], b: &[f32], m: usize, n: usize, k: usize, ta: bool, tb: bool, out: &mut Vec<f64>) {
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0f64;
            for p in 0..k {
                let x = if ta { a[p * m + i] } else { a[i * k + p] };
                let y = if tb { b[j * k + p] } else { b[p * n + j] };
                acc += f64::from(x) * f64::from(y);
            }
            out.push(acc);
        }
    }
}

/// Batch axes of A and B: both none, equal, or one side a shared matrix.
fn batches() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    prop::collection::vec(dim(), 0..=2).prop_flat_map(|batch| {
        (Just(batch), 0..4u8).prop_map(|(b, kind)| match kind {
            0 => (b.clone(), b),
            1 => (b, Vec::new()),
            2 => (Vec::new(), b),
            _ => (Vec::new(), Vec::new()),
        })
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn matmul_with_transposes_matches_a_naive_product(
        (ba, bb) in batches(), m in dim(), n in dim(), k in dim(),
        ta in any::<bool>(), tb in any::<bool>(), seed in any::<u64>()
    ) {
        let sa = [&ba[..], &(if ta { [k, m] } else { [m, k] })].concat();
        let sb = [&bb[..], &(if tb { [n, k] } else { [k, n] })].concat();
        let (a, b) = (tensor(&sa, seed), tensor(&sb, seed ^ 7));
        let y = a.matmul_t(&b, ta, tb).map_err(|e| TestCaseError::fail(format!("{sa:?}·{sb:?} ta={ta} tb={tb}: {e}")))?;
        let batch = if ba.is_empty() { &bb } else { &ba };
        let want_shape = [&batch[..], &[m, n]].concat();
        prop_assert_eq!(y.shape(), &want_shape[..]);
        let (va, vb) = (a.to_vec().unwrap_or_default(), b.to_vec().unwrap_or_default());
        let entries: usize = batch.iter().product();
        let mut want = Vec::new();
        for e in 0..entries {
            let ea = if ba.is_empty() { 0 } else { e * m * k };
            let eb = if bb.is_empty() { 0 } else { e * k * n };
            naive_matmul(&va[ea.min(va.len())..], &vb[eb.min(vb.len())..], m, n, k, ta, tb, &mut want);
        }
        // Values are multiples of 1/8 below 4 in size, so every partial sum is exact in f32.
        close(&y.to_vec().unwrap_or_default(), &want, 0.0)?;
    }

    #[test]
    fn matmul_refuses_operands_that_do_not_fit(
        m in dim(), n in dim(), k in 0usize..4, extra in 1usize..3, ta in any::<bool>(), tb in any::<bool>(),
        batch in prop::collection::vec(1usize..4, 1..=2), which in 0..3u8
    ) {
        let inner = |t: bool, rows: usize, cols: usize| if t { vec![cols, rows] } else { vec![rows, cols] };
        let (sa, sb) = match which {
            // Inner dimensions differ.
            0 => (inner(ta, m, k), inner(tb, k + extra, n)),
            // A vector is not a matrix.
            1 => (vec![k], inner(tb, k, n)),
            // Batch axes that differ, neither side being a plain matrix.
            _ => {
                let other: Vec<usize> = batch.iter().map(|d| d + extra).collect();
                ([&batch[..], &inner(ta, m, k)].concat(), [&other[..], &inner(tb, k, n)].concat())
            }
        };
        let res = Tensor::zeros(&sa).matmul_t(&Tensor::zeros(&sb), ta, tb);
        let refused = matches!(&res, Err(Error::ShapeMismatch { op: "matmul", .. }));
        prop_assert!(refused, "{:?}·{:?} ta={} tb={} gave {:?}", sa, sb, ta, tb, res.map(|t| t.shape().to_vec()));
    }
}

// ---------------------------------------------------------------- conv2d and pooling

/// PyTorch's `conv2d` (no bias, no dilation, one group) in f64.
fn naive_conv(
    x: &[f32],
    xs: &[usize],
    w: &[f32],
    ws: &[usize],
    stride: (usize, usize),
    pad: (usize, usize),
) -> (Vec<usize>, Vec<f64>) {
    let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3]);
    let (o, kh, kw) = (ws[0], ws[2], ws[3]);
    let oh = (h + 2 * pad.0 - kh) / stride.0 + 1;
    let ow = (wd + 2 * pad.1 - kw) / stride.1 + 1;
    let mut out = Vec::with_capacity(n * o * oh * ow);
    for b in 0..n {
        for f in 0..o {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = 0.0f64;
                    for ch in 0..c {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let (iy, ix) = (
                                    (oy * stride.0 + ky) as isize - pad.0 as isize,
                                    (ox * stride.1 + kx) as isize - pad.1 as isize,
                                );
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                    continue;
                                }
                                let xv = x[((b * c + ch) * h + iy as usize) * wd + ix as usize];
                                let wv = w[((f * c + ch) * kh + ky) * kw + kx];
                                acc += f64::from(xv) * f64::from(wv);
                            }
                        }
                    }
                    out.push(acc);
                }
            }
        }
    }
    (vec![n, o, oh, ow], out)
}

/// PyTorch's `max_pool2d` (padding is −∞) or `avg_pool2d` (`count_include_pad=True`) in f64.
fn naive_pool(x: &[f32], xs: &[usize], o: Pool2dOptions, max: bool) -> (Vec<usize>, Vec<f64>) {
    let (n, c, h, w) = (xs[0], xs[1], xs[2], xs[3]);
    let ((kh, kw), (sh, sw), (ph, pw)) = (o.kernel, o.stride, o.padding);
    let oh = (h + 2 * ph - kh) / sh + 1;
    let ow = (w + 2 * pw - kw) / sw + 1;
    let mut out = Vec::new();
    for plane in 0..n * c {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut best = f64::NEG_INFINITY;
                let mut sum = 0.0;
                for ky in 0..kh {
                    for kx in 0..kw {
                        let (iy, ix) = ((oy * sh + ky) as isize - ph as isize, (ox * sw + kx) as isize - pw as isize);
                        if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                            continue;
                        }
                        let v = f64::from(x[(plane * h + iy as usize) * w + ix as usize]);
                        best = best.max(v);
                        sum += v;
                    }
                }
                out.push(if max { best } else { sum / (kh * kw) as f64 });
            }
        }
    }
    (vec![n, c, oh, ow], out)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn conv2d_matches_a_naive_correlation(
        n in dim(), c in 0usize..4, o in dim(), eh in 0usize..6, ew in 0usize..6, kh in 1usize..4, kw in 1usize..4,
        stride in (1usize..4, 1usize..4), pad in (0usize..3, 0usize..3), seed in any::<u64>()
    ) {
        // The smallest input the padded kernel fits in, plus 0–5 (so 0-sized images occur).
        let (h, w) = (kh.saturating_sub(2 * pad.0) + eh, kw.saturating_sub(2 * pad.1) + ew);
        let (xs, ws) = ([n, c, h, w], [o, c, kh, kw]);
        let (x, wt) = (tensor(&xs, seed), tensor(&ws, seed ^ 3));
        let y = x.conv2d(&wt, Conv2dOptions { stride, padding: pad, groups: 1 })
            .map_err(|e| TestCaseError::fail(format!("conv2d {xs:?} * {ws:?} stride {stride:?} pad {pad:?}: {e}")))?;
        let (want_shape, want) = naive_conv(&x.to_vec().unwrap_or_default(), &xs, &wt.to_vec().unwrap_or_default(), &ws, stride, pad);
        prop_assert_eq!(y.shape(), &want_shape[..]);
        close(&y.to_vec().unwrap_or_default(), &want, 0.0)?;
        // Backward runs on the same shapes (zeros included) and gives gradients of the inputs' shapes.
        let (xg, wg) = (x.detach().requires_grad_(true).unwrap_or(x), wt.detach().requires_grad_(true).unwrap_or(wt));
        let loss = xg.conv2d(&wg, Conv2dOptions { stride, padding: pad, groups: 1 }).and_then(|y| y.sum_all());
        loss.and_then(|l| l.backward()).map_err(|e| TestCaseError::fail(format!("conv2d backward {xs:?}: {e}")))?;
        prop_assert_eq!(xg.grad().map(|g| g.shape().to_vec()), Some(xs.to_vec()));
        prop_assert_eq!(wg.grad().map(|g| g.shape().to_vec()), Some(ws.to_vec()));
    }

    #[test]
    fn conv2d_refuses_what_does_not_fit(
        n in dim(), c in 1usize..4, o in dim(), h in 0usize..5, w in 0usize..5, k in 1usize..4, which in 0..4u8
    ) {
        let mut opts = Conv2dOptions::default();
        let (xs, ws): (Vec<usize>, Vec<usize>) = match which {
            0 => (vec![n, c, h, w], vec![o, c + 1, k, k]),               // channels differ
            1 => (vec![n, c, h, w], vec![o, c, h + k, 1]),               // kernel taller than the input
            2 => { opts.stride = (0, 1); (vec![n, c, h, w], vec![o, c, 1, 1]) } // stride 0
            _ => (vec![c, h, w], vec![o, c, k, k]),                      // not [n, c, h, w]
        };
        let res = Tensor::zeros(&xs).conv2d(&Tensor::zeros(&ws), opts);
        let refused = matches!(&res, Err(Error::ShapeMismatch { op: "conv2d", .. }));
        prop_assert!(refused, "{:?} * {:?} {:?} gave {:?}", xs, ws, opts, res.map(|t| t.shape().to_vec()));
    }

    #[test]
    fn pooling_matches_a_naive_window(
        n in dim(), c in dim(), eh in 0usize..6, ew in 0usize..6, kernel in (1usize..4, 1usize..4),
        stride in (1usize..4, 1usize..4), pad in (0usize..2, 0usize..2), seed in any::<u64>()
    ) {
        let padding = (pad.0.min(kernel.0 / 2), pad.1.min(kernel.1 / 2));
        let (h, w) = (kernel.0.saturating_sub(2 * padding.0) + eh, kernel.1.saturating_sub(2 * padding.1) + ew);
        let opts = Pool2dOptions { kernel, stride, padding };
        let xs = [n, c, h, w];
        let x = tensor(&xs, seed);
        let v = x.to_vec().unwrap_or_default();
        for (name, max) in [("max_pool2d", true), ("avg_pool2d", false)] {
            let y = if max { x.max_pool2d(opts) } else { x.avg_pool2d(opts) }
                .map_err(|e| TestCaseError::fail(format!("{name} {xs:?} {opts:?}: {e}")))?;
            let (want_shape, want) = naive_pool(&v, &xs, opts, max);
            prop_assert_eq!(y.shape(), &want_shape[..], "{}", name);
            close(&y.to_vec().unwrap_or_default(), &want, 1e-6)?;
            let xg = x.detach().requires_grad_(true).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let y = if max { xg.max_pool2d(opts) } else { xg.avg_pool2d(opts) };
            y.and_then(|y| y.sum_all()).and_then(|l| l.backward())
                .map_err(|e| TestCaseError::fail(format!("{name} backward {xs:?} {opts:?}: {e}")))?;
            prop_assert_eq!(xg.grad().map(|g| g.shape().to_vec()), Some(xs.to_vec()));
        }
    }

    #[test]
    fn pooling_refuses_what_does_not_fit(n in dim(), c in dim(), h in 0usize..5, w in 0usize..5, k in 1usize..4, which in 0..4u8) {
        let (xs, opts): (Vec<usize>, Pool2dOptions) = match which {
            0 => (vec![n, c, h, w], Pool2dOptions { kernel: (h + 1, 1), stride: (1, 1), padding: (0, 0) }), // window too tall
            1 => (vec![n, c, h, w], Pool2dOptions { kernel: (k, k), stride: (0, 1), padding: (0, 0) }),     // stride 0
            2 => (vec![n, c, h, w], Pool2dOptions { kernel: (k, k), stride: (1, 1), padding: (k / 2 + 1, 0) }), // padding > k/2
            _ => (vec![c, h, w], Pool2dOptions::square(k)),                                                  // not [n, c, h, w]
        };
        let x = Tensor::zeros(&xs);
        for (name, res) in [("max_pool2d", x.max_pool2d(opts)), ("avg_pool2d", x.avg_pool2d(opts))] {
            let refused = matches!(&res, Err(Error::BadShape { op, .. }) if *op == name);
            prop_assert!(refused, "{} {:?} {:?} gave {:?}", name, xs, opts, res.map(|t| t.shape().to_vec()));
        }
    }
}
