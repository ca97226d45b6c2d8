//! Every layer's forward and backward against PyTorch: outputs, input gradients, parameter
//! gradients and (for batch norm) the running statistics after a training step. Reference values
//! come from `data/torch-reference/make_reference.py` (PyTorch 2.15, CPU).

use graft_engine::gradcheck::{check_gradients, GradCheck};
use graft_engine::{Conv2dOptions, Pool2dOptions, Rng, Tensor};
use graft_nn::layers::{
    AvgPool2d, BatchNorm, Conv2d, Embedding, Flatten, Gelu, GlobalAvgPool, LayerNorm, LeakyRelu, Linear, MaxPool2d,
    Sigmoid, Softmax, Tanh,
};
use graft_nn::Module;
use std::collections::HashMap;

const LAYERS: &[u8] = include_bytes!("data/torch-reference/layers.safetensors");

fn reference() -> HashMap<String, Tensor> {
    let st = safetensors::SafeTensors::deserialize(LAYERS).expect("the committed reference file is valid");
    st.tensors()
        .into_iter()
        .map(|(name, view)| {
            assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name}: references are f32");
            let data: Vec<f32> =
                view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            (name, Tensor::from_vec(data, view.shape()).expect("shape matches data"))
        })
        .collect()
}

fn assert_close(what: &str, got: &Tensor, want: &Tensor) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let (g, w) = (got.to_vec().unwrap(), want.to_vec().unwrap());
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        assert!((a - b).abs() <= 1e-5 + 1e-4 * b.abs(), "{what}[{i}]: graft {a} vs PyTorch {b}");
    }
}

/// Loads the layer's state from the reference, runs forward and backward of `Σ out·r`, and
/// compares output, gradients and post-step buffers with PyTorch's.
fn check_against_torch(name: &str, layer: &dyn Module, training: bool) {
    let r = reference();
    let get = |k: &str| r.get(&format!("{name}.{k}")).unwrap_or_else(|| panic!("reference has {name}.{k}")).clone();
    for (pname, t) in layer.state_dict() {
        t.set_data(&get(&pname)).unwrap();
    }
    layer.set_training(training);
    let x = get("x");
    let is_index_input = name == "embedding";
    let x = if is_index_input { x } else { x.deep_clone().unwrap().requires_grad_(true).unwrap() };
    let out = layer.forward(&x).unwrap();
    assert_close(&format!("{name} output"), &out, &get("out"));
    out.mul(&get("r")).unwrap().sum_all().unwrap().backward().unwrap();
    if !is_index_input {
        assert_close(&format!("{name} ∂x"), &x.grad().unwrap(), &get("grad.x"));
    }
    for (pname, p) in layer.named_parameters() {
        assert_close(&format!("{name} ∂{pname}"), &p.grad().unwrap(), &get(&format!("grad.{pname}")));
    }
    for (bname, b) in layer.named_buffers() {
        assert_close(&format!("{name} {bname} after the step"), &b, &get(&format!("after.{bname}")));
    }
}

fn rng() -> Rng {
    Rng::new(0)
}

#[test]
fn linear_matches_pytorch() {
    check_against_torch("linear", &Linear::new(5, 3, &mut rng()), true);
    check_against_torch("linear3d", &Linear::new(4, 2, &mut rng()), true);
}

#[test]
fn conv2d_matches_pytorch() {
    check_against_torch("conv", &Conv2d::new(2, 3, 3, 1, 1, &mut rng()), true);
    let w = Tensor::zeros(&[4, 3, 3, 2]);
    let strided = Conv2d::from_tensors(
        w,
        Some(Tensor::zeros(&[4])),
        Conv2dOptions { stride: (2, 1), padding: (1, 0), groups: 1 },
    );
    check_against_torch("conv_strided", &strided, true);
}

#[test]
fn pooling_matches_pytorch() {
    check_against_torch("maxpool", &MaxPool2d(Pool2dOptions::square(2)), true);
    let k3s2p1 = Pool2dOptions { kernel: (3, 3), stride: (2, 2), padding: (1, 1) };
    check_against_torch("maxpool_pad", &MaxPool2d(k3s2p1), true);
    check_against_torch("avgpool", &AvgPool2d(k3s2p1), true);
}

#[test]
fn batch_norm_matches_pytorch_in_training_and_eval() {
    check_against_torch("bn1d_train", &BatchNorm::new_1d(3), true);
    check_against_torch("bn2d_train", &BatchNorm::new_2d(3), true);
    check_against_torch("bn2d_eval", &BatchNorm::new_2d(3), false);
}

#[test]
fn layer_norm_and_activations_match_pytorch() {
    check_against_torch("layernorm", &LayerNorm::new(6, 1e-5), true);
    check_against_torch("gelu", &Gelu, true);
    check_against_torch("leakyrelu", &LeakyRelu(0.1), true);
    check_against_torch("softmax", &Softmax(1), true);
    check_against_torch("sigmoid", &Sigmoid, true);
    check_against_torch("tanh", &Tanh, true);
}

#[test]
fn embedding_matches_pytorch_and_refuses_bad_indices() {
    let emb = Embedding::new(7, 3, &mut rng());
    check_against_torch("embedding", &emb, true);
    let bad = Tensor::from_vec(vec![7.0], &[1]).unwrap();
    assert!(emb.forward(&bad).unwrap_err().to_string().contains("index 7 is not an integer in 0..7"));
}

#[test]
fn layers_with_parameters_pass_the_gradient_check() {
    let mut rng = rng();
    let x2 = Tensor::randn(&[3, 4], 0.0, 1.0, &mut rng);
    let x4 = Tensor::randn(&[2, 2, 4, 4], 0.0, 1.0, &mut rng);
    let opts = GradCheck::default();
    let lin = Linear::new(4, 3, &mut rng);
    check_gradients(
        |t| Linear::from_tensors(t[1].clone(), Some(t[2].clone())).forward(&t[0]),
        &[x2.clone(), lin.weight.clone(), lin.bias.clone().unwrap()],
        opts,
    )
    .unwrap();
    let conv = Conv2d::new(2, 3, 3, 1, 1, &mut rng);
    let copts = conv.options;
    check_gradients(
        |t| Conv2d::from_tensors(t[1].clone(), Some(t[2].clone()), copts).forward(&t[0]),
        &[x4.clone(), conv.weight.clone(), conv.bias.clone().unwrap()],
        opts,
    )
    .unwrap();
    let ln = LayerNorm::new(4, 1e-5);
    check_gradients(
        |t| LayerNorm { eps: 1e-5, weight: t[1].clone(), bias: t[2].clone() }.forward(&t[0]),
        &[x2.clone(), ln.weight.clone(), ln.bias.clone()],
        opts,
    )
    .unwrap();
    let bn = BatchNorm::new_2d(2);
    let bn_bias = Tensor::randn(&[2], 0.0, 1.0, &mut rng);
    check_gradients(
        |t| {
            let mut b = BatchNorm::new_2d(2);
            (b.weight, b.bias) = (t[1].clone(), t[2].clone());
            b.forward(&t[0])
        },
        &[x4.clone(), bn.weight.add_scalar(0.5).unwrap(), bn_bias],
        opts,
    )
    .unwrap();
    check_gradients(|t| GlobalAvgPool.forward(&t[0]), std::slice::from_ref(&x4), opts).unwrap();
    check_gradients(|t| Flatten.forward(&t[0]), std::slice::from_ref(&x4), opts).unwrap();
}

#[test]
fn global_avg_pool_and_flatten_shapes() {
    let x = Tensor::from_vec((0..16).map(|v| v as f32).collect(), &[1, 4, 2, 2]).unwrap();
    assert_eq!(GlobalAvgPool.forward(&x).unwrap().to_vec().unwrap(), vec![1.5, 5.5, 9.5, 13.5]);
    assert_eq!(Flatten.forward(&x).unwrap().shape(), &[1, 16]);
}

#[test]
fn dropout_zeroes_in_training_and_is_identity_in_eval() {
    let d = graft_nn::layers::Dropout::new(0.5, 3);
    let x = Tensor::ones(&[1000]);
    let y = d.forward(&x).unwrap().to_vec().unwrap();
    let zeros = y.iter().filter(|v| **v == 0.0).count();
    assert!((400..600).contains(&zeros), "{zeros} of 1000 dropped");
    assert!(y.iter().all(|v| *v == 0.0 || *v == 2.0), "survivors are scaled by 1/(1-p)");
    d.set_training(false);
    assert_eq!(d.forward(&x).unwrap().to_vec().unwrap(), vec![1.0; 1000]);
}

#[test]
fn a_layer_given_the_wrong_input_names_the_layer() {
    let net = graft_nn::Sequential::new().layer(Linear::new(4, 3, &mut rng())).layer(Linear::new(5, 2, &mut rng()));
    let msg = net.forward(&Tensor::zeros(&[2, 4])).unwrap_err().to_string();
    assert!(msg.contains("layer 1 = linear(5,2)") && msg.contains("[2, 3]"), "{msg}");
}

#[test]
fn sequential_runs_linear_then_relu_as_one_op_with_the_same_values_and_gradients() {
    use graft_engine::{op_stats, reset_op_stats};
    use graft_nn::layers::Relu;
    let mut rng = rng();
    let net = graft_nn::Sequential::new()
        .layer(Linear::new(6, 5, &mut rng))
        .layer(Relu)
        .layer(Linear::new(5, 4, &mut rng))
        .layer(Relu)
        .layer(Tanh);
    let x = Tensor::randn(&[7, 6], 0.0, 1.0, &mut rng);
    // Layer by layer: what the fused pairs must reproduce.
    let by_layer = |x: &Tensor| (0..net.len()).try_fold(x.clone(), |h, i| net.get(i).expect("in range").forward(&h));
    let params = net.parameters();
    let grads = |loss: Tensor| -> Vec<Vec<f32>> {
        params.iter().for_each(|p| p.zero_grad());
        loss.backward().expect("backward");
        params.iter().map(|p| p.grad().expect("a gradient").to_vec().expect("cpu")).collect()
    };
    let want = by_layer(&x).expect("forward");
    let want_grads = grads(want.sum_all().expect("sum"));
    reset_op_stats();
    let got = net.forward(&x).expect("forward");
    assert_eq!(op_stats().forward_launches("relu"), 0, "both ReLUs ran inside their products");
    assert_eq!(got.to_vec().expect("cpu"), want.to_vec().expect("cpu"), "bit for bit");
    assert_eq!(grads(got.sum_all().expect("sum")), want_grads);
    // A wrong input still names the layer.
    let err = net.forward(&Tensor::zeros(&[2, 3])).unwrap_err().to_string();
    assert!(err.contains("in layer 0 = linear(6,5)"), "{err}");
}

#[test]
fn sequential_folds_a_frozen_batchnorm_and_its_activation_into_the_convolution() {
    use graft_engine::{op_stats, reset_op_stats};
    use graft_nn::layers::{BatchNorm, Relu6};
    let mut rng = rng();
    let conv = Conv2d::new(3, 4, 3, 1, 1, &mut rng);
    let bn = BatchNorm::new_2d(4);
    // Running statistics and affine parameters that are not the identity.
    bn.running_mean.set_data(&Tensor::randn(&[4], 0.0, 1.0, &mut rng)).expect("shape");
    bn.running_var.set_data(&Tensor::rand_uniform(&[4], 0.5, 2.0, &mut rng)).expect("shape");
    bn.weight.set_data(&Tensor::randn(&[4], 1.0, 0.5, &mut rng)).expect("shape");
    bn.bias.set_data(&Tensor::randn(&[4], 2.0, 1.0, &mut rng)).expect("shape");
    let net = graft_nn::Sequential::new().layer(conv).layer(bn).layer(Relu6);
    net.set_training(false);
    let x = Tensor::randn(&[5, 3, 6, 6], 0.0, 2.0, &mut rng);
    let by_layer = |x: &Tensor| (0..net.len()).try_fold(x.clone(), |h, i| net.get(i).expect("in range").forward(&h));
    let close = |got: &Tensor, want: &Tensor| {
        for (g, w) in got.to_vec().expect("cpu").iter().zip(want.to_vec().expect("cpu")) {
            assert!((g - w).abs() <= 1e-5 * (1.0 + w.abs()), "{g} vs {w}");
        }
    };
    let frozen_bn = || {
        let bn = net.get(1).expect("the BatchNorm");
        bn.parameters().iter().for_each(|p| p.set_requires_grad(false).expect("a leaf"));
    };
    frozen_bn();
    let want = by_layer(&x).expect("forward");
    reset_op_stats();
    let got = net.forward(&x).expect("forward");
    let stats = op_stats();
    assert_eq!(stats.forward_launches("conv2d"), 1);
    assert_eq!(stats.forward_launches("relu6"), 0, "the ReLU6 ran inside the convolution");
    // Only the folding itself multiplies and adds: per channel, not per output.
    for op in ["mul", "add"] {
        let flops = stats.forward.get(op).map_or(0, |c| c.flops);
        assert!(flops <= 4 * 3, "{op}: {flops} flops, so the BatchNorm ran on the outputs");
    }
    close(&got, &want);

    // The convolution still trains through the folded BatchNorm: same gradients.
    let params = net.get(0).expect("the convolution").parameters();
    let grads = |loss: Tensor| -> Vec<Vec<f32>> {
        params.iter().for_each(|p| p.zero_grad());
        loss.backward().expect("backward");
        params.iter().map(|p| p.grad().expect("a gradient").to_vec().expect("cpu")).collect()
    };
    let want_grads = grads(want.square().and_then(|s| s.sum_all()).expect("loss"));
    let got_grads = grads(got.square().and_then(|s| s.sum_all()).expect("loss"));
    for (g, w) in got_grads.iter().flatten().zip(want_grads.iter().flatten()) {
        assert!((g - w).abs() <= 1e-4 * (1.0 + w.abs()), "{g} vs {w}");
    }

    // A BatchNorm that trains (in training mode, or whose parameters want gradients) is not folded.
    net.get(1).expect("the BatchNorm").parameters().iter().for_each(|p| p.set_requires_grad(true).expect("a leaf"));
    reset_op_stats();
    close(&net.forward(&x).expect("forward"), &want);
    assert_eq!(op_stats().forward_launches("relu6"), 1, "a trainable BatchNorm runs on its own");
    net.set_training(true);
    reset_op_stats();
    net.forward(&x).expect("forward");
    assert_eq!(op_stats().forward_launches("relu6"), 1, "batch statistics are not folded");
}
