//! A tiny end-to-end run: a 2-layer MLP learns XOR and two-moons with hand-written SGD.

use graft_engine::{no_grad, Result, Rng, Tensor};

/// Trains `in → hidden (tanh) → classes` with full-batch SGD and returns the training accuracy.
fn train(x: &Tensor, labels: &[usize], classes: usize, hidden: usize, steps: usize, lr: f32, seed: u64) -> Result<f32> {
    let mut rng = Rng::new(seed);
    let d = x.shape()[1];
    let params = [
        Tensor::randn(&[hidden, d], 0.0, 1.0, &mut rng).requires_grad_(true)?,
        Tensor::zeros(&[hidden]).requires_grad_(true)?,
        Tensor::randn(&[classes, hidden], 0.0, (1.0 / hidden as f32).sqrt(), &mut rng).requires_grad_(true)?,
        Tensor::zeros(&[classes]).requires_grad_(true)?,
    ];
    let n = labels.len();
    let forward = |x: &Tensor| -> Result<Tensor> {
        let h = x.matmul_t(&params[0], false, true)?.add(&params[1])?.tanh()?;
        h.matmul_t(&params[2], false, true)?.add(&params[3])
    };
    for _ in 0..steps {
        let loss = forward(x)?.log_softmax(1)?.gather(1, labels, &[n, 1])?.mean_all()?.neg()?;
        loss.backward()?;
        no_grad(|| -> Result<()> {
            for p in &params {
                let g = p.grad().expect("every parameter is on the loss's path");
                p.set_data(&p.sub(&g.mul_scalar(lr)?)?)?;
                p.zero_grad();
            }
            Ok(())
        })?;
    }
    let pred = no_grad(|| forward(x))?.argmax(1, false)?.to_vec()?;
    Ok(pred.iter().zip(labels).filter(|(p, &l)| **p as usize == l).count() as f32 / n as f32)
}

#[test]
fn mlp_learns_xor_perfectly() {
    let x = Tensor::from_vec(vec![0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0], &[4, 2]).unwrap();
    let acc = train(&x, &[0, 1, 1, 0], 2, 8, 500, 0.5, 0).unwrap();
    assert_eq!(acc, 1.0);
}

#[test]
fn mlp_separates_two_moons() {
    let mut rng = Rng::new(11);
    let (mut pts, mut labels) = (Vec::new(), Vec::new());
    for i in 0..200 {
        let t = std::f32::consts::PI * rng.uniform(0.0, 1.0);
        let (x, y, l) = if i % 2 == 0 { (t.cos(), t.sin(), 0) } else { (1.0 - t.cos(), 0.5 - t.sin(), 1) };
        pts.extend([x + 0.1 * rng.normal(), y + 0.1 * rng.normal()]);
        labels.push(l);
    }
    let x = Tensor::from_vec(pts, &[200, 2]).unwrap();
    let acc = train(&x, &labels, 2, 16, 1500, 0.5, 1).unwrap();
    assert!(acc > 0.95, "two-moons training accuracy {acc}");
}
