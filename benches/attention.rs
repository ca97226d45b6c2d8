//! The fused attention op against the composition it replaced (split heads by permuted copies,
//! batched `q·kᵀ`, scale, additive mask, softmax, `·v`, merge heads), at MiniLM's size: batch 32,
//! 64 tokens, 12 heads of 32 features, the last 8 tokens of every other entry padding.
//!
//!     cargo bench --bench attention

use criterion::{criterion_group, criterion_main, Criterion};
use graft::engine::{no_grad, Result, Rng, Tensor};

const BATCH: usize = 32;
const SEQ: usize = 64;
const HIDDEN: usize = 384;
const HEADS: usize = 12;

fn composed(q: &Tensor, k: &Tensor, v: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let split = |x: &Tensor| x.reshape(&[BATCH, SEQ, HEADS, HIDDEN / HEADS])?.permute(&[0, 2, 1, 3]);
    let additive = mask.add_scalar(-1.0)?.mul_scalar(1e9)?.reshape(&[BATCH, 1, 1, SEQ])?;
    let scores = split(q)?.matmul_t(&split(k)?, false, true)?.mul_scalar(1.0 / ((HIDDEN / HEADS) as f32).sqrt())?;
    scores.add(&additive)?.softmax(-1)?.matmul(&split(v)?)?.permute(&[0, 2, 1, 3])?.reshape(&[BATCH, SEQ, HIDDEN])
}

fn fused(q: &Tensor, k: &Tensor, v: &Tensor, mask: &Tensor) -> Result<Tensor> {
    q.attention(k, v, Some(mask), HEADS)
}

fn attention(c: &mut Criterion) {
    let mut rng = Rng::new(0);
    let [q, k, v] = [0, 1, 2].map(|_| Tensor::randn(&[BATCH, SEQ, HIDDEN], 0.0, 1.0, &mut rng));
    let keep = (0..BATCH * SEQ).map(|i| if (i / SEQ) % 2 == 1 && i % SEQ >= SEQ - 8 { 0.0 } else { 1.0 });
    let mask = Tensor::from_vec(keep.collect(), &[BATCH, SEQ]).expect("shape");
    let leaves = [&q, &k, &v].map(|t| t.deep_clone().and_then(|t| t.requires_grad_(true)).expect("a leaf"));
    let mut group = c.benchmark_group(format!("attention_b{BATCH}_t{SEQ}_h{HEADS}"));
    group.sample_size(20);
    type Op = fn(&Tensor, &Tensor, &Tensor, &Tensor) -> Result<Tensor>;
    for (name, op) in [("composed", composed as Op), ("fused", fused as Op)] {
        group.bench_function(format!("{name}_forward"), |b| {
            b.iter(|| no_grad(|| op(&q, &k, &v, &mask).expect("forward")))
        });
        group.bench_function(format!("{name}_forward_backward"), |b| {
            b.iter(|| {
                let [q, k, v] = &leaves;
                op(q, k, v, &mask).and_then(|y| y.sum_all()).and_then(|l| l.backward()).expect("backward");
                leaves.iter().for_each(|t| t.zero_grad());
            })
        });
    }
    group.finish();
}

criterion_group!(benches, attention);
criterion_main!(benches);
