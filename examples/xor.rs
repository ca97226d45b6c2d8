//! Learns XOR with a 2-8-2 MLP and hand-written SGD, printing the loss as it falls.
//!
//! Run: `cargo run --release --example xor`

use graft::engine::{no_grad, Result, Rng, Tensor};

fn main() -> Result<()> {
    let x = Tensor::from_vec(vec![0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0], &[4, 2])?;
    let labels = [0, 1, 1, 0];
    let mut rng = Rng::new(0);
    let params = [
        Tensor::randn(&[8, 2], 0.0, 1.0, &mut rng).requires_grad_(true)?,
        Tensor::zeros(&[8]).requires_grad_(true)?,
        Tensor::randn(&[2, 8], 0.0, 0.35, &mut rng).requires_grad_(true)?,
        Tensor::zeros(&[2]).requires_grad_(true)?,
    ];
    let forward = |x: &Tensor| -> Result<Tensor> {
        let h = x.matmul_t(&params[0], false, true)?.add(&params[1])?.tanh()?;
        h.matmul_t(&params[2], false, true)?.add(&params[3])
    };
    for step in 0..=500 {
        // Cross-entropy: the mean negative log-probability of the right class.
        let loss = forward(&x)?.log_softmax(1)?.gather(1, &labels, &[4, 1])?.mean_all()?.neg()?;
        if step % 100 == 0 {
            println!("step {step:>3}  loss {:.4}", loss.to_scalar()?);
        }
        loss.backward()?;
        // SGD: p ← p − 0.5·∇p, one in-place pass per parameter.
        for p in &params {
            if let Some(g) = p.grad() {
                p.add_scaled_(&g, -0.5)?;
            }
            p.zero_grad();
        }
    }
    let pred = no_grad(|| forward(&x))?.argmax(1, false)?.to_vec()?;
    for (i, p) in pred.iter().enumerate() {
        let v = x.narrow(0, i, 1)?.to_vec()?;
        println!("{} xor {} -> {}", v[0], v[1], p);
    }
    let correct = pred.iter().zip(labels).filter(|(p, l)| **p as usize == *l).count();
    println!("accuracy {}/4", correct);
    Ok(())
}
