//! Weight initialisers (seeded, so a seed fixes a model's starting point).
//!
//! `fan_in`/`fan_out` for a weight `[out, in, k...]` are `in·Πk` and `out·Πk`, as PyTorch
//! computes them.

use graft_engine::{Rng, Tensor};

/// How to draw a layer's initial weights.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// PyTorch's default for Linear and Conv2d: `U(−1/√fan_in, 1/√fan_in)`.
    TorchDefault,
    /// He (Kaiming) uniform for ReLU nets: `U(−√(6/fan_in), √(6/fan_in))`.
    HeUniform,
    /// He normal: `N(0, 2/fan_in)`.
    HeNormal,
    /// Glorot (Xavier) uniform, Keras' default: `U(−√(6/(fan_in+fan_out)), +…)`.
    GlorotUniform,
    /// Glorot normal: `N(0, 2/(fan_in+fan_out))`.
    GlorotNormal,
    /// All zeros.
    Zeros,
}

/// `(fan_in, fan_out)` of a weight of `shape` laid out `[out, in, k...]`.
pub fn fans(shape: &[usize]) -> (usize, usize) {
    let receptive: usize = shape.iter().skip(2).product();
    let fan_in = shape.get(1).copied().unwrap_or(1) * receptive;
    let fan_out = shape.first().copied().unwrap_or(1) * receptive;
    (fan_in, fan_out)
}

impl Init {
    /// Draws a tensor of `shape` whose fans are `(fan_in, fan_out)`.
    pub fn sample(self, shape: &[usize], fan_in: usize, fan_out: usize, rng: &mut Rng) -> Tensor {
        let (fi, fo) = (fan_in.max(1) as f32, fan_out.max(1) as f32);
        match self {
            Init::TorchDefault => {
                let b = 1.0 / fi.sqrt();
                Tensor::rand_uniform(shape, -b, b, rng)
            }
            Init::HeUniform => {
                let b = (6.0 / fi).sqrt();
                Tensor::rand_uniform(shape, -b, b, rng)
            }
            Init::HeNormal => Tensor::randn(shape, 0.0, (2.0 / fi).sqrt(), rng),
            Init::GlorotUniform => {
                let b = (6.0 / (fi + fo)).sqrt();
                Tensor::rand_uniform(shape, -b, b, rng)
            }
            Init::GlorotNormal => Tensor::randn(shape, 0.0, (2.0 / (fi + fo)).sqrt(), rng),
            Init::Zeros => Tensor::zeros(shape),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_spread_follow_the_formulas() {
        let mut rng = Rng::new(0);
        let w = Init::HeUniform.sample(&[100, 50], 50, 100, &mut rng).to_vec().unwrap();
        let bound = (6.0f32 / 50.0).sqrt();
        assert!(w.iter().all(|v| v.abs() <= bound));
        assert!(w.iter().any(|v| v.abs() > 0.9 * bound));
        let n = Init::GlorotNormal.sample(&[200, 300], 300, 200, &mut rng).to_vec().unwrap();
        let var = n.iter().map(|v| v * v).sum::<f32>() / n.len() as f32;
        assert!((var - 2.0 / 500.0).abs() < 0.0004, "variance {var}");
        assert_eq!(fans(&[32, 3, 5, 5]), (75, 800));
    }
}
