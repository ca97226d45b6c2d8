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
