use crate::module::{ModeFlag, Module};
use graft_engine::{Result, Rng, Tensor};
use std::sync::Mutex;

/// Zeroes each element with probability `p` in training mode and scales the rest by
/// `1/(1−p)` (inverted dropout, as PyTorch); the identity in eval mode. The mask stream is
/// seeded, so a run is reproducible.
pub struct Dropout {
    p: f32,
    rng: Mutex<Rng>,
    seed: u64,
    training: ModeFlag,
}

impl Dropout {
    /// `p` must lie in `[0, 1)`; it is clamped there.
    pub fn new(p: f32, seed: u64) -> Self {
        Dropout { p: p.clamp(0.0, 0.999_999), rng: Mutex::new(Rng::new(seed)), seed, training: ModeFlag::new(true) }
    }

    pub fn p(&self) -> f32 {
        self.p
    }
}

impl Module for Dropout {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if !self.training.get() || self.p == 0.0 {
            return Ok(x.clone());
        }
        let keep = 1.0 - self.p;
        let mask: Vec<f32> = {
            let mut rng = self.rng.lock().expect("dropout rng lock is never poisoned: sampling cannot panic");
            (0..x.numel()).map(|_| if rng.next_f64() < keep as f64 { 1.0 / keep } else { 0.0 }).collect()
        };
        x.mul(&Tensor::from_vec(mask, x.shape())?.to_device(&x.device())?)
    }
    fn named_rng_states(&self) -> Vec<(String, [u64; 4])> {
        let rng = self.rng.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        vec![("rng".to_string(), rng.state())]
    }
    fn set_rng_state(&self, name: &str, state: [u64; 4]) -> bool {
        if name != "rng" {
            return false;
        }
        *self.rng.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Rng::from_state(state);
        true
    }
    fn set_training(&self, training: bool) {
        self.training.set(training)
    }
    fn is_training(&self) -> bool {
        self.training.get()
    }
    fn spec(&self) -> String {
        format!("dropout({})", self.p)
    }
    fn clone_module(&self) -> Result<Box<dyn Module>> {
        let d = Dropout::new(self.p, self.seed);
        *d.rng.lock().expect("fresh lock") =
            self.rng.lock().expect("dropout rng lock is never poisoned: sampling cannot panic").clone();
        d.training.set(self.training.get());
        Ok(Box::new(d))
    }
    fn is_deterministic_in_eval(&self) -> bool {
        true
    }
}
