//! Writes the small Fashion-MNIST subset used by graft-nn's learning tests: the first 1800
//! training and first 450 test images with their labels, as gzipped IDX files.
//!
//! ```text
//! cargo run -p graft-nn --example fashion_mnist_subset -- [SOURCE_DIR] [OUT_DIR] [N_TRAIN] [N_TEST]
//! ```
//!
//! `SOURCE_DIR` holds the original gzipped IDX files (default `/usr/share/datasets/fashion-mnist`,
//! Debian's `dataset-fashion-mnist` package); `OUT_DIR` defaults to
//! `nn/tests/data/fashion-mnist-small`.

use graft_nn::formats::{read_idx, write_idx, RawArray, RawData};
use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let source = PathBuf::from(args.first().map_or("/usr/share/datasets/fashion-mnist", String::as_str));
    let out = args
        .get(1)
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fashion-mnist-small"), PathBuf::from);
    let n_train: usize = args.get(2).map_or(Ok(1800), |s| s.parse())?;
    let n_test: usize = args.get(3).map_or(Ok(450), |s| s.parse())?;
    std::fs::create_dir_all(&out)?;
    for (split, source_prefix, n) in [("train", "train", n_train), ("test", "t10k", n_test)] {
        for (kind, idx) in [("images", "idx3"), ("labels", "idx1")] {
            let from = source.join(format!("{source_prefix}-{kind}-{idx}-ubyte.gz"));
            let to = out.join(format!("{split}-{kind}-{idx}-ubyte.gz"));
            let head = first_rows(&read_idx(&from)?, n)?;
            write_idx(&to, &head)?;
            println!(
                "{} → {} ({:?}, {} bytes)",
                from.display(),
                to.display(),
                head.shape,
                std::fs::metadata(&to)?.len()
            );
        }
    }
    Ok(())
}

/// The first `n` entries along the first axis of a u8 array.
fn first_rows(array: &RawArray, n: usize) -> Result<RawArray, Box<dyn std::error::Error>> {
    let RawData::U8(data) = &array.data else { return Err("expected a u8 IDX file".into()) };
    let total = array.shape.first().copied().unwrap_or(0);
    if n > total {
        return Err(format!("asked for {n} rows but the file has {total}").into());
    }
    let row: usize = array.shape[1..].iter().product();
    let mut shape = array.shape.clone();
    shape[0] = n;
    Ok(RawArray::new(shape, RawData::U8(data[..n * row].to_vec()))?)
}
