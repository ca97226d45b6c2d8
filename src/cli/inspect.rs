//! `graft inspect`: what a .safetensors or PyTorch .pth file holds, and its architecture: the
//! stored one of a graft file, or the layers that a plain state dict's names and shapes show.

use super::CliResult;
use graft::nn::model_file::{inspect, FileSummary, TensorSummary};
use std::path::Path;

pub fn run(path: &Path) -> CliResult<()> {
    if !path.exists() {
        return Err(format!("{}: no such file", path.display()).into());
    }
    let summary = inspect(path)?;
    print!("{summary}");
    match summary.spec() {
        Some(spec) => println!("architecture (stored by graft):\n  {spec}"),
        None => print!("{}", inferred_architecture(&summary)),
    }
    Ok(())
}

/// The layers with parameters that the tensors of a plain state dict imply, in name order,
/// and how to give the whole architecture (activations, flatten and pooling hold no tensors,
/// so no file shows them).
fn inferred_architecture(summary: &FileSummary) -> String {
    let layers = layers_of(&summary.tensors);
    if layers.is_empty() {
        return "architecture: none (no tensor named like a layer's weight or kernel: a dataset?)\n".into();
    }
    let keras = summary.is_keras_layout();
    let mut s = format!(
        "architecture: not stored (a plain {} state dict); the layers with parameters, from names and shapes \
         (in name order):\n",
        if keras { "Keras" } else { "PyTorch" }
    );
    let width = layers.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, layer) in &layers {
        s += &format!("  {name:width$}  {layer}\n");
    }
    s += "activations, flatten and pooling layers hold no tensors, so the file cannot show them: give the whole \
          architecture with --pretrained-spec (transfer, sweep) or --spec (eval, predict)";
    if keras {
        s += ", and the Keras names and [in, out] kernels are mapped onto it";
    }
    s + "\n"
}

/// `(layer name, layer in the spec language)` for each group of tensors sharing a prefix.
fn layers_of(tensors: &[TensorSummary]) -> Vec<(String, String)> {
    let mut groups: Vec<(String, Vec<&TensorSummary>)> = Vec::new();
    for t in tensors {
        let name = t.name.strip_suffix(":0").unwrap_or(&t.name);
        let prefix = name.rfind(['.', '/']).map_or("", |i| &name[..i]).to_string();
        match groups.iter_mut().find(|(p, _)| *p == prefix) {
            Some((_, g)) => g.push(t),
            None => groups.push((prefix, vec![t])),
        }
    }
    groups.into_iter().filter_map(|(prefix, group)| Some((prefix.clone(), describe(&group)?))).collect()
}

/// One group's layer: PyTorch (`weight [out, in, …]`) or Keras (`kernel [… , in, out]`) names.
fn describe(group: &[&TensorSummary]) -> Option<String> {
    let leaf = |t: &TensorSummary| {
        let name = t.name.strip_suffix(":0").unwrap_or(&t.name);
        name.rsplit(['.', '/']).next().unwrap_or(name).to_string()
    };
    let find = |wanted: &str| group.iter().find(|t| leaf(t) == wanted).map(|t| t.shape.clone());
    let has = |wanted: &str| find(wanted).is_some();
    let no_bias = if has("bias") { "" } else { ",bias=false" };
    let kernel = |kh: usize, kw: usize| if kh == kw { kh.to_string() } else { format!("{kh}x{kw}") };
    if let Some(w) = find("weight") {
        return Some(match w.as_slice() {
            [o, i] if has("bias") => format!("linear({i},{o})"),
            [o, i] => format!("linear({i},{o},bias=false) or embedding({o},{i})"),
            // A weight's second dimension is the input channels *per group*: with one, the
            // layer may as well be depthwise (MobileNets), which the shapes cannot tell apart.
            [o, 1, kh, kw] if *o > 1 => format!(
                "conv2d(1,{o},{k}{no_bias}) or a depthwise conv2d(c,{o},{k},groups=c{no_bias}) with c dividing {o}",
                k = kernel(*kh, *kw)
            ),
            [o, i, kh, kw] => format!("conv2d({i},{o},{}{no_bias})", kernel(*kh, *kw)),
            [n] if has("running_mean") => format!("batchnorm1d({n}) or batchnorm2d({n})"),
            [n] => format!("layernorm({n})"),
            other => format!("a layer with a weight of shape {other:?}"),
        });
    }
    if let Some(k) = find("kernel") {
        return Some(match k.as_slice() {
            [i, o] => format!("linear({i},{o}{no_bias})  (Keras Dense kernel [in, out])"),
            [kh, kw, i, o] => {
                format!("conv2d({i},{o},{}{no_bias})  (Keras Conv2D kernel [kh, kw, in, out])", kernel(*kh, *kw))
            }
            other => format!("a layer with a kernel of shape {other:?}"),
        });
    }
    if let Some([n]) = find("gamma").as_deref() {
        return Some(format!("batchnorm1d({n}) or batchnorm2d({n})  (Keras BatchNormalization)"));
    }
    find("embeddings").and_then(|e| match e.as_slice() {
        [num, dim] => Some(format!("embedding({num},{dim})")),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, shape: &[usize]) -> TensorSummary {
        TensorSummary { name: name.into(), dtype: "F32".into(), shape: shape.to_vec() }
    }

    #[test]
    fn layers_follow_from_names_and_shapes() {
        let torch = [
            t("features.0.weight", &[32, 1, 3, 3]),
            t("features.0.bias", &[32]),
            t("features.1.weight", &[32]),
            t("features.1.bias", &[32]),
            t("features.1.running_mean", &[32]),
            t("features.1.running_var", &[32]),
            t("classifier.weight", &[10, 6272]),
            t("classifier.bias", &[10]),
            t("conv.weight", &[24, 8, 1, 1]),
        ];
        let got = layers_of(&torch);
        assert_eq!(
            got[0],
            ("features.0".into(), "conv2d(1,32,3) or a depthwise conv2d(c,32,3,groups=c) with c dividing 32".into())
        );
        assert_eq!(got[1].1, "batchnorm1d(32) or batchnorm2d(32)");
        assert_eq!(got[2], ("classifier".into(), "linear(6272,10)".into()));
        assert_eq!(got[3], ("conv".into(), "conv2d(8,24,1,bias=false)".into()));
        let keras = [t("dense/kernel:0", &[784, 100]), t("dense/bias:0", &[100]), t("dense_1/kernel", &[100, 1])];
        let got = layers_of(&keras);
        assert_eq!(got[0].1, "linear(784,100)  (Keras Dense kernel [in, out])");
        assert_eq!(got[1].1, "linear(100,1,bias=false)  (Keras Dense kernel [in, out])");
        assert!(layers_of(&[t("x", &[5, 3]), t("y", &[5])]).is_empty());
    }
}
