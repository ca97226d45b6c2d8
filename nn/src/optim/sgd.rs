use super::{Optimizer, OptimizerState, ParamState, ParamStates};
use graft_engine::{Result, Tensor};

/// Settings of [`Sgd`]; the defaults are plain SGD at lr 0.01.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdConfig {
    pub lr: f32,
    pub momentum: f32,
    pub nesterov: bool,
    pub weight_decay: f32,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig { lr: 0.01, momentum: 0.0, nesterov: false, weight_decay: 0.0 }
    }
}

/// Stochastic gradient descent with optional momentum, Nesterov momentum and (L2) weight
/// decay, with PyTorch's update rule:
/// `g ← ∇ + wd·p; b ← μ·b + g (b = g on the first step); g ← g + μ·b (Nesterov) or b; p ← p − lr·g`.
pub struct Sgd {
    pub config: SgdConfig,
    /// The parameters and their momentum buffers.
    velocity: ParamStates<Tensor>,
}

impl Sgd {
    pub fn new(params: Vec<Tensor>, config: SgdConfig) -> Self {
        Sgd { config, velocity: ParamStates::new(params) }
    }
}

impl Optimizer for Sgd {
    fn step(&mut self) -> Result<()> {
        let c = self.config;
        self.velocity.step(|p, mut g, velocity| {
            if c.weight_decay != 0.0 {
                g = g.add(&p.mul_scalar(c.weight_decay)?)?;
            }
            if c.momentum != 0.0 {
                let buf = match velocity {
                    Some(b) => {
                        b.scale_and_add_(c.momentum, &g)?;
                        b.clone()
                    }
                    // A copy, not the gradient itself: the buffer is later updated in place.
                    None => g.deep_clone()?,
                };
                g = if c.nesterov { g.add(&buf.mul_scalar(c.momentum)?)? } else { buf.clone() };
                *velocity = Some(buf);
            }
            // One fused pass, in place unless a recorded graph still holds the old values.
            p.add_scaled_(&g, -c.lr)
        })
    }
    fn lr(&self) -> f32 {
        self.config.lr
    }
    fn set_lr(&mut self, lr: f32) {
        self.config.lr = lr;
    }
    fn parameters(&self) -> &[Tensor] {
        self.velocity.params()
    }
    fn reset_state(&mut self) {
        self.velocity.clear();
    }
    /// One `momentum` buffer per parameter stepped with momentum (PyTorch's `momentum_buffer`).
    fn state(&self) -> crate::Result<OptimizerState> {
        self.velocity.save("sgd", |b| {
            let buffers = [("momentum".to_string(), b.deep_clone()?)].into_iter().collect();
            Ok(ParamState { buffers, step: None })
        })
    }
    fn load_state(&mut self, state: &OptimizerState) -> crate::Result<()> {
        self.velocity.load("sgd", state, &["momentum"], |_, [b], _| Ok(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(v: f32) -> Tensor {
        Tensor::from_vec(vec![v], &[1]).unwrap().requires_grad_(true).unwrap()
    }

    #[test]
    fn momentum_and_nesterov_follow_pytorch() {
        // Minimise p² from p = 1 with lr 0.1, momentum 0.9; values worked by hand from PyTorch's rule.
        for (nesterov, want) in [(false, [0.8, 0.46, 0.062]), (true, [0.62, 0.2224, -0.108_352])] {
            let p = param(1.0);
            let mut opt = Sgd::new(vec![p.clone()], SgdConfig { lr: 0.1, momentum: 0.9, nesterov, weight_decay: 0.0 });
            for w in want {
                opt.zero_grad();
                p.square().unwrap().sum_all().unwrap().backward().unwrap();
                opt.step().unwrap();
                assert!(
                    (p.to_scalar().unwrap() - w).abs() < 1e-4,
                    "nesterov={nesterov}: {} vs {w}",
                    p.to_scalar().unwrap()
                );
            }
        }
    }

    #[test]
    fn frozen_parameters_are_skipped_and_keep_their_state() {
        let (a, b) = (param(1.0), param(1.0));
        let mut opt = Sgd::new(vec![a.clone(), b.clone()], SgdConfig { lr: 0.5, ..Default::default() });
        b.set_requires_grad(false).unwrap();
        a.add(&b).unwrap().sum_all().unwrap().backward().unwrap();
        opt.step().unwrap();
        assert_eq!(a.to_scalar().unwrap(), 0.5);
        assert_eq!(b.to_scalar().unwrap(), 1.0);
        opt.set_lr(0.1);
        assert_eq!(opt.lr(), 0.1);
    }
}
