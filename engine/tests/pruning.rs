//! The pruning property: frozen parameters, and everything computed only from them and data,
//! record nothing and cost nothing in backward.

use graft_engine::{op_stats, reset_op_stats, Result, Rng, Tensor};

struct Mlp {
    params: Vec<Tensor>, // w1, b1, w2, b2, w3, b3
}

impl Mlp {
    fn new(seed: u64) -> Mlp {
        let mut rng = Rng::new(seed);
        let dims = [(16, 4), (16, 16), (3, 16)];
        let mut params = Vec::new();
        for (out, inp) in dims {
            params.push(Tensor::randn(&[out, inp], 0.0, 0.5, &mut rng).requires_grad_(true).unwrap());
            params.push(Tensor::randn(&[out], 0.0, 0.1, &mut rng).requires_grad_(true).unwrap());
        }
        Mlp { params }
    }

    fn loss(&self, x: &Tensor, labels: &[usize]) -> Result<Tensor> {
        let p = &self.params;
        let h1 = x.matmul_t(&p[0], false, true)?.add(&p[1])?.relu()?;
        let h2 = h1.matmul_t(&p[2], false, true)?.add(&p[3])?.relu()?;
        let logits = h2.matmul_t(&p[4], false, true)?.add(&p[5])?;
        let n = labels.len();
        logits.log_softmax(1)?.gather(1, labels, &[n, 1])?.mean_all()?.neg()
    }

    fn freeze(&self, which: &[usize]) {
        for &i in which {
            self.params[i].set_requires_grad(false).unwrap();
        }
    }
}

fn data() -> (Tensor, Vec<usize>) {
    let mut rng = Rng::new(99);
    (Tensor::randn(&[8, 4], 0.0, 1.0, &mut rng), (0..8).map(|i| i % 3).collect())
}

#[test]
fn frozen_lower_layers_get_no_gradient_and_cost_no_backward_matmul() {
    let (x, y) = data();
    let mlp = Mlp::new(1);
    mlp.freeze(&[0, 1, 2, 3]);
    let loss = mlp.loss(&x, &y).unwrap();
    reset_op_stats();
    loss.backward().unwrap();
    let stats = op_stats();
    for i in 0..4 {
        assert!(mlp.params[i].grad().is_none(), "frozen parameter {i} has no gradient");
    }
    assert!(mlp.params[4].grad().is_some() && mlp.params[5].grad().is_some());
    // Only ∂W3 is computed: no ∂h2 (the gradient into the top layer's input) and nothing below.
    assert_eq!(stats.backward_launches("matmul"), 1, "{stats:?}");
    assert_eq!(stats.backward_launches("relu"), 0, "no backward through frozen activations: {stats:?}");
    assert!(x.grad().is_none());
    assert_eq!(stats.forward_flops(), 0, "backward ran no forward work");
}

#[test]
fn with_only_the_top_layer_frozen_lower_layers_get_exact_gradients() {
    let (x, y) = data();
    let full = Mlp::new(2);
    full.loss(&x, &y).unwrap().backward().unwrap();

    let top_frozen = Mlp::new(2);
    top_frozen.freeze(&[4, 5]);
    let loss = top_frozen.loss(&x, &y).unwrap();
    reset_op_stats();
    loss.backward().unwrap();
    let stats = op_stats();
    assert!(top_frozen.params[4].grad().is_none() && top_frozen.params[5].grad().is_none());
    for i in 0..4 {
        let a = full.params[i].grad().unwrap().to_vec().unwrap();
        let b = top_frozen.params[i].grad().unwrap().to_vec().unwrap();
        assert_eq!(a, b, "parameter {i} gets the same gradient whether or not the top layer is frozen");
    }
    // ∂h2, ∂W2, ∂h1, ∂W1 — but no ∂W3 and no ∂x.
    assert_eq!(stats.backward_launches("matmul"), 4, "{stats:?}");
}

#[test]
fn everything_frozen_records_no_graph_at_all() {
    let (x, y) = data();
    let mlp = Mlp::new(3);
    mlp.freeze(&[0, 1, 2, 3, 4, 5]);
    let loss = mlp.loss(&x, &y).unwrap();
    assert!(!loss.requires_grad());
    assert!(loss.backward().unwrap_err().to_string().contains("does not require grad"));
}
