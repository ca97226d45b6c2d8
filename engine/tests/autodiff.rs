//! Autodiff behaviour users rely on: accumulation, zeroing, detach, no-grad, error messages.

use graft_engine::{no_grad, Tensor};

fn leaf(v: Vec<f32>) -> Tensor {
    let n = v.len();
    Tensor::from_vec(v, &[n]).unwrap().requires_grad_(true).unwrap()
}

#[test]
fn gradients_accumulate_until_zeroed() {
    let w = leaf(vec![1.0, 2.0]);
    for _ in 0..2 {
        w.mul_scalar(3.0).unwrap().sum_all().unwrap().backward().unwrap();
    }
    assert_eq!(w.grad().unwrap().to_vec().unwrap(), vec![6.0, 6.0]);
    w.zero_grad();
    assert!(w.grad().is_none());
}

#[test]
fn a_tensor_used_twice_gets_both_contributions() {
    let w = leaf(vec![3.0]);
    // y = w·w + w  →  dy/dw = 2w + 1 = 7
    let y = w.mul(&w).unwrap().add(&w).unwrap().sum_all().unwrap();
    y.backward().unwrap();
    assert_eq!(w.grad().unwrap().to_vec().unwrap(), vec![7.0]);
}

#[test]
fn detach_and_no_grad_stop_history() {
    let w = leaf(vec![1.0, 2.0]);
    let d = w.mul_scalar(2.0).unwrap().detach();
    assert!(!d.requires_grad() && d.is_leaf());
    let y = no_grad(|| w.mul(&w).unwrap());
    assert!(!y.requires_grad());
    // A detached branch contributes no gradient: d(w·stop(w))/dw = stop(w).
    w.mul(&w.detach()).unwrap().sum_all().unwrap().backward().unwrap();
    assert_eq!(w.grad().unwrap().to_vec().unwrap(), vec![1.0, 2.0]);
}

#[test]
fn backward_refuses_non_scalars_and_untracked_tensors_with_a_reason() {
    let w = leaf(vec![1.0, 2.0]);
    let msg = w.mul_scalar(2.0).unwrap().backward().unwrap_err().to_string();
    assert!(msg.contains("[2]") && msg.contains("single value"), "{msg}");
    let plain = Tensor::ones(&[1]);
    assert!(plain.backward().unwrap_err().to_string().contains("does not require grad"));
    let made = w.mul_scalar(2.0).unwrap();
    assert!(made.set_requires_grad(false).unwrap_err().to_string().contains("leaf"));
}

#[test]
fn set_data_updates_every_clone_but_not_recorded_history() {
    let w = leaf(vec![1.0]);
    let alias = w.clone();
    let y = w.mul(&w).unwrap().sum_all().unwrap();
    w.set_data(&Tensor::from_vec(vec![5.0], &[1]).unwrap()).unwrap();
    assert_eq!(alias.to_vec().unwrap(), vec![5.0]);
    y.backward().unwrap();
    assert_eq!(w.grad().unwrap().to_vec().unwrap(), vec![2.0], "history keeps the values it captured");
    assert!(w.set_data(&Tensor::zeros(&[2])).unwrap_err().to_string().contains("set_data"));
}

#[test]
fn backward_frees_the_saved_values_so_a_second_pass_is_an_error_and_updates_go_in_place() {
    let n = graft_engine::POOLED_MIN_LEN;
    let w = Tensor::full(&[1, n], 0.5).requires_grad_(true).unwrap();
    let x = Tensor::ones(&[2, n]);
    let loss = x.matmul_t(&w, false, true).unwrap().mean_all().unwrap();
    loss.backward().unwrap();
    let err = loss.backward().unwrap_err().to_string();
    assert!(err.contains("already used by an earlier backward()") && err.contains("compute the loss again"), "{err}");
    // The loss (and its graph) is still alive, but no saved copy shares w's buffer any more:
    // the SGD update is written in place.
    let host_ptr = |t: &Tensor| match t.storage() {
        graft_engine::Storage::Cpu(b) => b.as_ptr(),
        #[allow(unreachable_patterns)]
        _ => unreachable!("a CPU tensor"),
    };
    let before = host_ptr(&w);
    w.add_scaled_(&w.grad().unwrap(), -0.1).unwrap();
    assert_eq!(host_ptr(&w), before);
    assert!((w.to_vec().unwrap()[0] - (0.5 - 0.1)).abs() < 1e-6);
}
