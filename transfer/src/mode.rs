//! Training-mode policy for partly frozen models.

use graft_nn::{Module, Sequential};

/// Puts `model` in training or eval mode, with the transfer rule for frozen layers: in
/// training mode, every layer below the lowest trainable parameter, and every layer whose
/// parameters are all frozen, runs in inference mode. So a frozen batch-norm layer normalises
/// with its running statistics and does not update them (as Keras does for `trainable=False`),
/// and a frozen prefix computes the same function on every call — which is what makes its
/// outputs cacheable.
pub fn set_training_mode(model: &Sequential, training: bool) {
    model.set_training(training);
    if !training {
        return;
    }
    let first_trainable =
        model.iter().position(|(_, l)| l.parameters().iter().any(|p| p.requires_grad())).unwrap_or(model.len());
    for (i, (_, layer)) in model.iter().enumerate() {
        if i < first_trainable {
            layer.set_training(false);
        } else {
            freeze_mode_of_frozen_layers(layer.as_ref());
        }
    }
}

fn freeze_mode_of_frozen_layers(layer: &dyn Module) {
    if let Some(seq) = layer.as_sequential() {
        seq.iter().for_each(|(_, l)| freeze_mode_of_frozen_layers(l.as_ref()));
        return;
    }
    let params = layer.parameters();
    if !params.is_empty() && params.iter().all(|p| !p.requires_grad()) {
        layer.set_training(false);
    }
}

/// A view of a model whose `set_training` applies [`set_training_mode`], so generic training
/// loops (`graft_nn::train::fit`) respect the frozen-layer rule.
pub struct MaskedModel<'a>(pub &'a Sequential);

impl Module for MaskedModel<'_> {
    fn forward(&self, x: &graft_engine::Tensor) -> graft_engine::Result<graft_engine::Tensor> {
        self.0.forward(x)
    }
    fn named_parameters(&self) -> Vec<(String, graft_engine::Tensor)> {
        self.0.named_parameters()
    }
    fn named_buffers(&self) -> Vec<(String, graft_engine::Tensor)> {
        self.0.named_buffers()
    }
    fn named_rng_states(&self) -> Vec<(String, [u64; 4])> {
        self.0.named_rng_states()
    }
    fn set_rng_state(&self, name: &str, state: [u64; 4]) -> bool {
        self.0.set_rng_state(name, state)
    }
    fn set_training(&self, training: bool) {
        set_training_mode(self.0, training)
    }
    fn is_training(&self) -> bool {
        self.0.is_training()
    }
    fn spec(&self) -> String {
        self.0.spec()
    }
    fn clone_module(&self) -> graft_engine::Result<Box<dyn Module>> {
        self.0.clone_module()
    }
    fn as_sequential(&self) -> Option<&Sequential> {
        Some(self.0)
    }
}
