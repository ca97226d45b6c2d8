//! Extracts the demo's task B from the Fashion-MNIST IDX files: T-shirt/top (label 0 → 0) vs
//! pullover (label 2 → 1). Train: the first 200 such images of the official training split;
//! validation: the next 1000; test: all 2000 of the official test split. Written as gzipped
//! IDX files under `data/demo/`.
//!
//! Run: `cargo run --release --example make_demo_data -- /usr/share/datasets/fashion-mnist`

use graft::nn::formats::{read_idx, write_idx, RawArray, RawData};
use std::error::Error;
use std::path::Path;

fn pick(
    images: &RawArray,
    labels: &RawArray,
    skip: usize,
    take: usize,
) -> Result<(RawArray, RawArray), Box<dyn Error>> {
    let (RawData::U8(px), RawData::U8(lab)) = (&images.data, &labels.data) else {
        return Err("Fashion-MNIST images and labels are u8 IDX files".into());
    };
    let plane: usize = images.shape[1..].iter().product();
    let (mut out_px, mut out_lab) = (Vec::new(), Vec::new());
    for (i, &l) in lab.iter().enumerate() {
        if l == 0 || l == 2 {
            out_px.extend_from_slice(&px[i * plane..(i + 1) * plane]);
            out_lab.push(u8::from(l == 2));
        }
    }
    let n = out_lab.len().saturating_sub(skip).min(take);
    let px = out_px[skip * plane..(skip + n) * plane].to_vec();
    let lab = out_lab[skip..skip + n].to_vec();
    let shape = [&[n], &images.shape[1..]].concat();
    Ok((RawArray::new(shape, RawData::U8(px))?, RawArray::new(vec![n], RawData::U8(lab))?))
}

fn main() -> Result<(), Box<dyn Error>> {
    let src = std::env::args().nth(1).unwrap_or_else(|| "/usr/share/datasets/fashion-mnist".into());
    let src = Path::new(&src);
    let out = Path::new("data/demo");
    std::fs::create_dir_all(out)?;
    let train_x = read_idx(src.join("train-images-idx3-ubyte.gz"))?;
    let train_y = read_idx(src.join("train-labels-idx1-ubyte.gz"))?;
    let test_x = read_idx(src.join("t10k-images-idx3-ubyte.gz"))?;
    let test_y = read_idx(src.join("t10k-labels-idx1-ubyte.gz"))?;
    for (name, x, y, skip, take) in [
        ("train", &train_x, &train_y, 0, 200),
        ("val", &train_x, &train_y, 200, 1000),
        ("test", &test_x, &test_y, 0, 2000),
    ] {
        let (images, labels) = pick(x, y, skip, take)?;
        write_idx(out.join(format!("taskb-{name}-images.idx.gz")), &images)?;
        write_idx(out.join(format!("taskb-{name}-labels.idx.gz")), &labels)?;
        println!("task B {name}: {} images", labels.shape[0]);
    }
    Ok(())
}
