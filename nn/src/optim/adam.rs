use super::{Optimizer, OptimizerState, ParamState, ParamStates};
use graft_engine::{Result, Tensor};

/// Settings of [`Adam`]; defaults are PyTorch's (lr 1e-3, β 0.9/0.999, eps 1e-8).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// Decoupled weight decay (AdamW): `p ← p·(1 − lr·wd)` instead of adding `wd·p` to the
    /// gradient.
    pub decoupled: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0, decoupled: false }
    }
}

impl AdamConfig {
    /// AdamW with PyTorch's default weight decay of 0.01.
    pub fn adamw(lr: f32) -> Self {
        AdamConfig { lr, weight_decay: 0.01, decoupled: true, ..Default::default() }
    }
}

struct Moments {
    m: Tensor,
    v: Tensor,
    t: i32,
}

/// Adam and AdamW with bias correction, as `torch.optim.Adam` / `AdamW`.
pub struct Adam {
    pub config: AdamConfig,
    /// The parameters and their moments.
    state: ParamStates<Moments>,
}

impl Adam {
    pub fn new(params: Vec<Tensor>, config: AdamConfig) -> Self {
        Adam { config, state: ParamStates::new(params) }
    }
}

impl Optimizer for Adam {
    fn step(&mut self) -> Result<()> {
        let c = self.config;
        self.state.step(|p, mut g, state| {
            let mut base = p.clone();
            if c.weight_decay != 0.0 {
                if c.decoupled {
                    base = p.mul_scalar(1.0 - c.lr * c.weight_decay)?;
                } else {
                    g = g.add(&p.mul_scalar(c.weight_decay)?)?;
                }
            }
            let (m, v, t) = match state.take() {
                Some(s) => (
                    s.m.mul_scalar(c.beta1)?.add(&g.mul_scalar(1.0 - c.beta1)?)?,
                    s.v.mul_scalar(c.beta2)?.add(&g.square()?.mul_scalar(1.0 - c.beta2)?)?,
                    s.t + 1,
                ),
                None => (g.mul_scalar(1.0 - c.beta1)?, g.square()?.mul_scalar(1.0 - c.beta2)?, 1),
            };
            let bc1 = 1.0 - c.beta1.powi(t);
            let bc2 = 1.0 - c.beta2.powi(t);
            let denom = v.mul_scalar(1.0 / bc2)?.sqrt()?.add_scalar(c.eps)?;
            let update = m.div(&denom)?.mul_scalar(c.lr / bc1)?;
            p.set_data(&base.sub(&update)?)?;
            *state = Some(Moments { m, v, t });
            Ok(())
        })
    }
    fn lr(&self) -> f32 {
        self.config.lr
    }
    fn set_lr(&mut self, lr: f32) {
        self.config.lr = lr;
    }
    fn parameters(&self) -> &[Tensor] {
        self.state.params()
    }
    fn reset_state(&mut self) {
        self.state.clear();
    }
    /// `exp_avg` (m), `exp_avg_sq` (v) and the step count `t` of each parameter stepped so far
    /// (PyTorch's names).
    fn state(&self) -> crate::Result<OptimizerState> {
        self.state.save("adam", |s| {
            let buffers = [("exp_avg".to_string(), s.m.deep_clone()?), ("exp_avg_sq".to_string(), s.v.deep_clone()?)]
                .into_iter()
                .collect();
            Ok(ParamState { buffers, step: Some(u64::try_from(s.t).unwrap_or(0)) })
        })
    }
    fn load_state(&mut self, state: &OptimizerState) -> crate::Result<()> {
        self.state.load("adam", state, &["exp_avg", "exp_avg_sq"], |i, [m, v], step| {
            let t = step.and_then(|s| i32::try_from(s).ok()).ok_or_else(|| {
                crate::NnError::Model(format!("optimizer state of parameter #{i} has no valid step count"))
            })?;
            Ok(Moments { m, v, t })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adam_and_adamw_follow_pytorch() {
        // Minimise p² from p = 1 with lr 0.1; values worked by hand (tests/optim.rs compares with PyTorch).
        for (cfg, want) in [
            (AdamConfig { lr: 0.1, ..Default::default() }, [0.9, 0.800_000_4, 0.700_4]),
            (
                AdamConfig { lr: 0.1, weight_decay: 0.1, decoupled: true, ..Default::default() },
                [0.89, 0.781_1, 0.673_3],
            ),
        ] {
            let p = Tensor::from_vec(vec![1.0], &[1]).unwrap().requires_grad_(true).unwrap();
            let mut opt = Adam::new(vec![p.clone()], cfg);
            for w in want {
                opt.zero_grad();
                p.square().unwrap().sum_all().unwrap().backward().unwrap();
                opt.step().unwrap();
                assert!((p.to_scalar().unwrap() - w).abs() < 2e-3, "{cfg:?}: {} vs {w}", p.to_scalar().unwrap());
            }
        }
    }
}
