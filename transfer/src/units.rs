//! Layer units: how the workflow counts "layers" of a `Sequential`.
//!
//! A unit is one layer with parameters together with the parameter-free layers that follow it
//! (its activation, pooling, dropout); parameter-free layers before the first such layer
//! (a leading `flatten`) join the first unit. So `flatten, linear, relu, linear, relu, linear`
//! has three units — what a Keras user calls three Dense layers — and "reuse 2 layers" keeps
//! `flatten, linear, relu, linear, relu`.

use graft_nn::Sequential;
use std::ops::Range;

/// The units of `model`'s top-level layers, as ranges of layer indices, in order.
pub fn layer_units(model: &Sequential) -> Vec<Range<usize>> {
    let with_params: Vec<usize> =
        model.iter().enumerate().filter(|(_, (_, l))| !l.named_parameters().is_empty()).map(|(i, _)| i).collect();
    with_params
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let start = if k == 0 { 0 } else { i };
            let end = with_params.get(k + 1).copied().unwrap_or(model.len());
            start..end
        })
        .collect()
}

/// Number of layer units of `model`.
pub fn count_units(model: &Sequential) -> usize {
    layer_units(model).len()
}

/// The top-level layer index where unit `unit` starts (`model.len()` past the end).
pub fn unit_start(model: &Sequential, unit: usize) -> usize {
    layer_units(model).get(unit).map_or(model.len(), |u| u.start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use graft_engine::Rng;
    use graft_nn::layers::{Flatten, Linear, Relu, Softmax};

    #[test]
    fn units_group_activations_with_their_layer() {
        let mut rng = Rng::new(0);
        let m = Sequential::new()
            .layer(Flatten)
            .layer(Linear::new(4, 3, &mut rng))
            .layer(Relu)
            .layer(Linear::new(3, 3, &mut rng))
            .layer(Relu)
            .layer(Linear::new(3, 2, &mut rng))
            .layer(Softmax(1));
        assert_eq!(layer_units(&m), vec![0..3, 3..5, 5..7]);
        assert_eq!(unit_start(&m, 1), 3);
        assert_eq!(unit_start(&m, 3), 7);
        assert_eq!(count_units(&Sequential::new().layer(Relu)), 0);
    }
}
