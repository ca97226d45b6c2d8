use super::*;
use crate::Module;

const MNIST: &str = "features=[conv2d(1,32,3,padding=1),relu,maxpool2d(2),conv2d(32,64,3,padding=1),relu,maxpool2d(2)],flatten,classifier=[linear(3136,128),relu,linear(128,10)]";

fn names_and_shapes(m: &dyn Module) -> Vec<(String, Vec<usize>)> {
    m.state_dict().into_iter().map(|(n, t)| (n, t.shape().to_vec())).collect()
}

#[test]
fn numbered_like_pytorch_sequential() {
    let m = parse_spec("flatten,linear(784,300),relu,linear(300,10)", 0).unwrap();
    assert_eq!(
        names_and_shapes(&m),
        [
            ("1.weight".to_string(), vec![300, 784]),
            ("1.bias".into(), vec![300]),
            ("3.weight".into(), vec![10, 300]),
            ("3.bias".into(), vec![10])
        ]
    );
}

#[test]
fn nested_named_groups() {
    let m = parse_spec(MNIST, 1).unwrap();
    let keys: Vec<String> = names_and_shapes(&m).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        keys,
        [
            "features.0.weight",
            "features.0.bias",
            "features.3.weight",
            "features.3.bias",
            "classifier.0.weight",
            "classifier.0.bias",
            "classifier.2.weight",
            "classifier.2.bias"
        ]
    );
    assert_eq!(m.spec(), MNIST);
    assert!(m.get_named("features").and_then(|f| f.as_sequential()).is_some());
}

#[test]
fn every_layer_round_trips_through_its_spec() {
    let spec = "a=[conv2d(3,8,3x1,stride=2,padding=1x0,bias=false),batchnorm2d(8,eps=0.001,momentum=0.01),leakyrelu(0.2),maxpool2d(2,stride=1),avgpool2d(3x1,padding=1x0)],globalavgpool,layernorm(8,eps=0.0001),dropout(0.25),linear(8,4,bias=false),gelu,tanh,sigmoid,relu,softmax(-1),x=[[flatten]],batchnorm1d(4),embedding(10,3),emb=embedding(5,2),sub=[]";
    let m = parse_spec(spec, 3).unwrap();
    assert_eq!(m.spec(), spec);
    let again = parse_spec(&m.spec(), 9).unwrap();
    assert_eq!(again.spec(), spec);
    assert_eq!(names_and_shapes(&again), names_and_shapes(&m));
    // Slices keep their names, so their specs carry them.
    let tail = m.slice(2..5);
    assert_eq!(parse_spec(&tail.spec(), 0).unwrap().spec(), tail.spec());
    assert_eq!(names_and_shapes(&parse_spec(&tail.spec(), 0).unwrap()), names_and_shapes(&tail));
}

#[test]
fn grouped_and_depthwise_convolutions_round_trip_with_pytorch_weight_shapes() {
    // A MobileNetV2 inverted residual's layers: expand 1×1, depthwise 3×3 stride 2, project 1×1.
    let spec = "conv2d(16,96,1,bias=false),batchnorm2d(96),conv2d(96,96,3,stride=2,padding=1,groups=96,bias=false),\
                batchnorm2d(96),conv2d(96,24,1,bias=false),conv2d(24,48,3x1,padding=1x0,groups=4)";
    let m = parse_spec(spec, 1).unwrap();
    assert_eq!(m.spec(), spec);
    let again = parse_spec(&m.spec(), 2).unwrap();
    assert_eq!(names_and_shapes(&again), names_and_shapes(&m));
    let shapes = names_and_shapes(&m);
    let shape = |name: &str| shapes.iter().find(|(n, _)| n == name).map(|(_, s)| s.clone());
    assert_eq!(shape("2.weight"), Some(vec![96, 1, 3, 3]));
    assert_eq!(shape("5.weight"), Some(vec![48, 6, 3, 1]));
    assert_eq!(shape("5.bias"), Some(vec![48]));
    // `groups=1` is the default, so the spec leaves it out.
    assert_eq!(parse_spec("conv2d(3,8,3,groups=1)", 0).unwrap().spec(), "conv2d(3,8,3)");
    // The layer runs: 2 images of 16×9×9 come out as 48 channels of 5×5.
    let x = graft_engine::Tensor::zeros(&[2, 16, 9, 9]);
    assert_eq!(m.forward(&x).unwrap().shape(), [2, 48, 5, 5]);
}

#[test]
fn whitespace_case_and_pytorch_spellings() {
    let m = parse_spec(" Flatten , Linear( 4 , 2 ,bias = False ) ,\n ReLU ", 0).unwrap();
    assert_eq!(m.spec(), "flatten,linear(4,2,bias=false),relu");
    assert_eq!(parse_spec("", 0).unwrap().len(), 0);
    assert_eq!(parse_spec("  ", 0).unwrap().len(), 0);
    assert_eq!(parse_spec("relu()", 0).unwrap().spec(), "relu");
}

#[test]
fn seeds_are_reproducible() {
    let a = parse_spec("linear(3,4),dropout(0.5),linear(4,2)", 5).unwrap();
    let b = parse_spec("linear(3,4),dropout(0.5),linear(4,2)", 5).unwrap();
    let c = parse_spec("linear(3,4),dropout(0.5),linear(4,2)", 6).unwrap();
    let vals = |m: &Sequential| m.state_dict().iter().flat_map(|(_, t)| t.to_vec().unwrap()).collect::<Vec<_>>();
    assert_eq!(vals(&a), vals(&b));
    assert_ne!(vals(&a), vals(&c));
    let x = graft_engine::Tensor::ones(&[2, 3]);
    assert_eq!(a.forward(&x).unwrap().to_vec().unwrap(), b.forward(&x).unwrap().to_vec().unwrap());
}

#[test]
fn structural_errors_point_at_the_problem() {
    let cases = [
        ("relu,,tanh", "expected a layer", 6),
        ("relu,", "trailing comma", 5),
        ("a=[relu", "close the group opened at column 3", 8),
        ("relu]", "closes no `[`", 5),
        ("linear(1,2", "close the arguments", 11),
        ("relu tanh", "expected `,` between layers", 6),
        ("a..b=relu", "cannot name a layer", 1),
        ("x=relu,x=tanh", "both called `x`", 0),
        ("linear(1,2),0=relu", "both called `0`", 0),
        ("linear(1,2)(3)", "expected `,` between layers", 12),
        ("linear(=2)", "expected an argument", 8),
        ("linear(in=)", "expected a value after `in=`", 11),
    ];
    for (s, want, col) in cases {
        let e = Spec::parse(s).unwrap_err().to_string();
        assert!(e.contains(want), "{s}: {e}");
        if col > 0 {
            assert!(e.contains(&format!("column {col}")), "{s}: {e}");
        }
    }
}

#[test]
fn limits_hold_before_allocating() {
    let deep = "[".repeat(100) + &"]".repeat(100);
    assert!(Spec::parse(&deep).unwrap_err().to_string().contains("nest more than"));
    let many = vec!["relu"; MAX_LAYERS + 1].join(",");
    assert!(Spec::parse(&many).unwrap_err().to_string().contains("more than"));
    let big = ["linear(40000,40000)"; 3].join(",");
    assert!(Spec::parse(&big).unwrap_err().to_string().contains("refuses models"));
    assert!(Spec::parse(&"x".repeat(MAX_SPEC_BYTES + 1)).is_err());
    assert!(Spec::parse(&"1".repeat(1000)).is_err());
}

#[test]
fn random_inputs_never_panic() {
    // A cheap deterministic fuzz: random strings over the spec alphabet, and mutations of a
    // valid spec. Every call must return (Ok or Err) without panicking.
    let alphabet: Vec<char> = "[](),=x01239-.e abfglinrcovdptsmuyz_".chars().collect();
    let mut rng = Rng::new(7);
    for _ in 0..3000 {
        let len = rng.below(40);
        let s: String = (0..len).map(|_| alphabet[rng.below(alphabet.len())]).collect();
        let _ = Spec::parse(&s);
    }
    let base: Vec<char> = MNIST.chars().collect();
    for _ in 0..3000 {
        let mut s = base.clone();
        for _ in 0..1 + rng.below(3) {
            let i = rng.below(s.len());
            match rng.below(3) {
                0 => {
                    s.remove(i);
                }
                1 => s.insert(i, alphabet[rng.below(alphabet.len())]),
                _ => s[i] = alphabet[rng.below(alphabet.len())],
            }
        }
        let s: String = s.into_iter().collect();
        if let Ok(p) = Spec::parse(&s) {
            assert!(p.num_elements() <= MAX_LAYER_ELEMENTS);
        }
    }
}
