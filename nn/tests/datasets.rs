//! Datasets: batching, seeded shuffling, subsets and splits, and the loaders (IDX, .npy, .npz,
//! .safetensors) with their errors.

use graft_engine::{Rng, Tensor};
use graft_nn::data::{
    load, load_idx, load_npy, load_npz, load_safetensors, parse_safetensors, Dataset, ImageLayout, LoadOptions,
    TargetKind, Targets,
};
use graft_nn::formats::{write_idx, write_npy, write_npz, RawArray, RawData};
use graft_nn::NnError;
use safetensors::tensor::{Dtype, TensorView};
use std::path::PathBuf;

/// `n` samples whose input row `i` is `[i, i]` and whose label is `i`, so a batch shows which
/// samples it holds.
fn numbered(n: usize) -> Dataset {
    let x = Tensor::from_vec((0..n).flat_map(|i| [i as f32, i as f32]).collect(), &[n, 2]).unwrap();
    Dataset::new(x, Targets::Classes((0..n).collect())).unwrap()
}

fn ids(data: &Dataset) -> Vec<usize> {
    data.targets().as_classes().unwrap().to_vec()
}

/// The samples each batch holds, checking that inputs and targets stayed paired.
fn batch_ids(data: &Dataset, batch_size: usize, rng: Option<&mut Rng>) -> Vec<Vec<usize>> {
    data.batches(batch_size, rng)
        .unwrap()
        .map(|b| {
            let b = b.unwrap();
            let labels = b.targets.as_classes().unwrap().to_vec();
            let firsts: Vec<usize> = b.x.to_vec().unwrap().chunks(2).map(|r| r[0] as usize).collect();
            assert_eq!(firsts, labels, "inputs and targets of a batch must stay paired");
            labels
        })
        .collect()
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("graft-nn-datasets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn fashion(split: &str, kind: &str) -> PathBuf {
    let idx = if kind == "images" { "idx3" } else { "idx1" };
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fashion-mnist-small")
        .join(format!("{split}-{kind}-{idx}-ubyte.gz"))
}

fn data_error(r: Result<Dataset, NnError>) -> String {
    match r {
        Err(e) => e.to_string(),
        Ok(d) => panic!("expected an error, got a dataset of {} samples", d.len()),
    }
}

#[test]
fn batches_cover_the_data_and_keep_the_last_partial_batch() {
    let data = numbered(10);
    let sizes = |bs| batch_ids(&data, bs, None).iter().map(Vec::len).collect::<Vec<_>>();
    assert_eq!(sizes(3), vec![3, 3, 3, 1]);
    assert_eq!(sizes(5), vec![5, 5]);
    assert_eq!(sizes(10), vec![10]);
    assert_eq!(sizes(64), vec![10]);
    assert_eq!(sizes(1).len(), 10);
    assert_eq!(data.batches(3, None).unwrap().len(), 4);
    assert_eq!(batch_ids(&data, 4, None).concat(), (0..10).collect::<Vec<_>>(), "unshuffled batches keep the order");
    assert!(data.batches(0, None).is_err());
    let empty = data.subset(&[]).unwrap();
    assert_eq!(empty.batches(4, None).unwrap().count(), 0);
}

#[test]
fn shuffling_is_seeded_reproducible_and_new_each_epoch() {
    let data = numbered(50);
    let (mut a, mut b) = (Rng::new(3), Rng::new(3));
    let epoch1 = batch_ids(&data, 8, Some(&mut a));
    assert_eq!(epoch1, batch_ids(&data, 8, Some(&mut b)), "the same seed gives the same batches");
    let mut all = epoch1.concat();
    assert_ne!(all, (0..50).collect::<Vec<_>>(), "shuffled");
    all.sort_unstable();
    assert_eq!(all, (0..50).collect::<Vec<_>>(), "every sample exactly once");
    let epoch2 = batch_ids(&data, 8, Some(&mut a));
    assert_ne!(epoch1, epoch2, "the generator advances, so the next epoch has a new order");
    assert_eq!(epoch2, batch_ids(&data, 8, Some(&mut b)));
    assert_ne!(epoch1, batch_ids(&data, 8, Some(&mut Rng::new(4))), "another seed, another order");
    assert_eq!(epoch1.iter().map(Vec::len).collect::<Vec<_>>(), vec![8, 8, 8, 8, 8, 8, 2]);
}

#[test]
fn subsets_and_splits() {
    let data = numbered(10);
    let sub = data.subset(&[7, 2, 2]).unwrap();
    assert_eq!(ids(&sub), vec![7, 2, 2]);
    assert_eq!(sub.x().to_vec().unwrap(), vec![7.0, 7.0, 2.0, 2.0, 2.0, 2.0]);
    assert!(data.subset(&[10]).unwrap_err().to_string().contains("out of range"));

    let (head, tail) = data.split(3).unwrap();
    assert_eq!((ids(&head), ids(&tail)), ((0..3).collect(), (3..10).collect()));
    assert!(data.split(11).is_err());

    let (train, val) = data.train_val_split(0.3, 9).unwrap();
    assert_eq!((train.len(), val.len()), (7, 3));
    let mut both = [ids(&train), ids(&val)].concat();
    both.sort_unstable();
    assert_eq!(both, (0..10).collect::<Vec<_>>(), "the parts are disjoint and cover the data");
    let (train2, val2) = data.train_val_split(0.3, 9).unwrap();
    assert_eq!((ids(&train), ids(&val)), (ids(&train2), ids(&val2)), "the same seed gives the same split");
    assert!(data.train_val_split(1.5, 0).is_err());
    assert_eq!(data.train_val_split(0.0, 0).unwrap().1.len(), 0);

    let values = Dataset::new(Tensor::zeros(&[4, 3]), Targets::Values(Tensor::ones(&[4, 1]))).unwrap();
    assert_eq!(values.subset(&[0, 3]).unwrap().targets().as_values().unwrap().shape(), &[2, 1]);
    assert_eq!(values.num_classes(), None);
    assert_eq!(data.num_classes(), Some(10));
}

#[test]
fn a_dataset_refuses_mismatched_counts() {
    let err = Dataset::new(Tensor::zeros(&[4, 3]), Targets::Classes(vec![0, 1, 2])).unwrap_err().to_string();
    assert!(err.contains("4 samples") && err.contains("3 targets"), "{err}");
    assert!(Dataset::new(Tensor::scalar(1.0), Targets::Classes(vec![0])).is_err());
    assert!(Dataset::new(Tensor::zeros(&[2, 1]), Targets::Values(Tensor::zeros(&[3]))).is_err());
}

#[test]
fn idx_pairs_load_as_scaled_images_in_either_layout() {
    let (images, labels) = (fashion("test", "images"), fashion("test", "labels"));
    let flat = load_idx(&images, &labels, &LoadOptions::flat()).unwrap();
    assert_eq!(flat.x().shape(), &[450, 784]);
    assert_eq!(flat.num_classes(), Some(10));
    let v = flat.x().to_vec().unwrap();
    assert!(v.iter().all(|p| (0.0..=1.0).contains(p)));
    assert!(v.contains(&1.0) && v.contains(&0.0));

    let chw = load_idx(&images, &labels, &LoadOptions::chw()).unwrap();
    assert_eq!(chw.x().shape(), &[450, 1, 28, 28]);
    assert_eq!(chw.sample_shape(), &[1, 28, 28]);
    let stored = load_idx(&images, &labels, &LoadOptions::default()).unwrap();
    assert_eq!(stored.x().shape(), &[450, 28, 28]);

    let norm = load_idx(&images, &labels, &LoadOptions::flat().normalized(0.5, 0.25)).unwrap();
    let n = norm.x().to_vec().unwrap();
    assert!(v.iter().zip(&n).all(|(a, b)| ((a - 0.5) / 0.25 - b).abs() < 1e-6));
    assert!(load_idx(&images, &labels, &LoadOptions::flat().normalized(0.5, 0.0)).is_err());

    // The same data uncompressed loads identically.
    let plain = temp("t10k-images-idx3-ubyte");
    write_idx(&plain, &graft_nn::formats::read_idx(&images).unwrap()).unwrap();
    let again = load_idx(&plain, &labels, &LoadOptions::flat()).unwrap();
    assert_eq!(again.x().to_vec().unwrap(), v);
}

#[test]
fn idx_loader_errors_name_the_files_and_the_fix() {
    let err = data_error(load_idx(fashion("train", "images"), fashion("test", "labels"), &LoadOptions::flat()));
    assert!(err.contains("1800 samples") && err.contains("450 targets"), "{err}");
    assert!(err.contains("train-images") && err.contains("test-labels") && err.contains("pair"), "{err}");

    let missing = data_error(load_idx("no/such-images.gz", fashion("test", "labels"), &LoadOptions::flat()));
    assert!(missing.contains("no/such-images.gz") && missing.contains("check the path"), "{missing}");

    let truncated = temp("truncated-idx");
    std::fs::write(&truncated, [0, 0, 8, 1, 0, 0, 0, 9, 1, 2]).unwrap();
    let err = data_error(load_idx(fashion("test", "images"), &truncated, &LoadOptions::flat()));
    assert!(err.contains("truncated-idx") && err.contains("truncated"), "{err}");

    let err = data_error(load_idx(fashion("test", "labels"), fashion("test", "labels"), &LoadOptions::chw()));
    assert!(err.contains("CHW layout"), "{err}");
}

#[test]
fn npy_pairs_and_npz_archives_load_with_integer_labels_as_classes() {
    let x = RawArray::new(vec![3, 2], RawData::F32(vec![0.5, 1.0, 1.5, 2.0, 2.5, 3.0])).unwrap();
    let y = RawArray::new(vec![3], RawData::I64(vec![2, 0, 1])).unwrap();
    let (xp, yp) = (temp("x.npy"), temp("y.npy"));
    write_npy(&xp, &x).unwrap();
    write_npy(&yp, &y).unwrap();
    let data = load_npy(&xp, &yp, &LoadOptions::default()).unwrap();
    assert_eq!(data.x().to_vec().unwrap(), vec![0.5, 1.0, 1.5, 2.0, 2.5, 3.0], "f32 inputs are not scaled");
    assert_eq!(ids(&data), vec![2, 0, 1]);

    // Float targets are values; forced to classes they must be whole numbers.
    let yf = RawArray::new(vec![3], RawData::F64(vec![1.0, 0.0, 1.0])).unwrap();
    let npz = temp("data.npz");
    write_npz(&npz, &[("x", &x), ("y", &yf)]).unwrap();
    let values = load_npz(&npz, &LoadOptions::default()).unwrap();
    assert_eq!(values.targets().as_values().unwrap().to_vec().unwrap(), vec![1.0, 0.0, 1.0]);
    let classes = load_npz(&npz, &LoadOptions::default().targets(TargetKind::Classes)).unwrap();
    assert_eq!(ids(&classes), vec![1, 0, 1]);
    let as_values = load(&npz, &LoadOptions::default().targets(TargetKind::Values)).unwrap();
    assert!(as_values.targets().as_values().is_some());

    // Keras-style names.
    let keras = temp("keras.npz");
    write_npz(&keras, &[("x_train", &x), ("y_train", &y)]).unwrap();
    assert_eq!(load_npz(&keras, &LoadOptions::default().keys("x_train", "y_train")).unwrap().len(), 3);
    let err = data_error(load_npz(&keras, &LoadOptions::default()));
    assert!(err.contains("no array named 'x'") && err.contains("x_train, y_train") && err.contains("keys"), "{err}");

    let bad = RawArray::new(vec![3], RawData::I32(vec![1, -1, 0])).unwrap();
    write_npy(&yp, &bad).unwrap();
    let err = data_error(load_npy(&xp, &yp, &LoadOptions::default()));
    assert!(err.contains("y.npy") && err.contains("negative"), "{err}");

    let short = RawArray::new(vec![2], RawData::U8(vec![1, 0])).unwrap();
    write_npy(&yp, &short).unwrap();
    let err = data_error(load_npy(&xp, &yp, &LoadOptions::default()));
    assert!(err.contains("x.npy") && err.contains("3 samples") && err.contains("2 targets"), "{err}");

    let onehot = RawArray::new(vec![3, 2], RawData::U8(vec![1, 0, 0, 1, 1, 0])).unwrap();
    write_npy(&yp, &onehot).unwrap();
    assert!(load_npy(&xp, &yp, &LoadOptions::default()).unwrap().targets().as_values().is_some());
    let err = data_error(load_npy(&xp, &yp, &LoadOptions::default().targets(TargetKind::Classes)));
    assert!(err.contains("one-hot"), "{err}");

    let err = data_error(load(temp("data.csv"), &LoadOptions::default()));
    assert!(err.contains(".npz or .safetensors"), "{err}");
}

#[test]
fn safetensors_round_trip_keeps_u8_images_small_and_exact() {
    let data = load_idx(fashion("test", "images"), fashion("test", "labels"), &LoadOptions::chw()).unwrap();
    let path = temp("fashion.safetensors");
    data.save_safetensors(&path).unwrap();
    let size = std::fs::metadata(&path).unwrap().len() as usize;
    assert!(size < 450 * 784 + 450 * 8 + 1024, "u8 images are stored as u8: {size} bytes");
    let back = load_safetensors(&path, &LoadOptions::chw()).unwrap();
    assert_eq!(back.x().shape(), &[450, 1, 28, 28]);
    let bits = |d: &Dataset| d.x().to_vec().unwrap().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&back), bits(&data), "bit-exact");
    assert_eq!(ids(&back), ids(&data));
    assert_eq!(load(&path, &LoadOptions::flat()).unwrap().x().shape(), &[450, 784]);
    std::fs::remove_file(&path).unwrap();

    // Normalised inputs are no longer pixels: stored as f32, still exact.
    let norm =
        load_idx(fashion("test", "images"), fashion("test", "labels"), &LoadOptions::flat().normalized(0.3, 0.35))
            .unwrap()
            .subset(&[0, 1, 2])
            .unwrap();
    let bytes = norm.to_safetensors().unwrap();
    assert!(bytes.len() > 3 * 784 * 4);
    assert_eq!(bits(&parse_safetensors(&bytes, "mem", &LoadOptions::flat()).unwrap()), bits(&norm));

    // Value targets keep their shape.
    let reg =
        Dataset::new(Tensor::ones(&[2, 3]), Targets::Values(Tensor::from_vec(vec![0.5, -2.0], &[2]).unwrap())).unwrap();
    let back = parse_safetensors(&reg.to_safetensors().unwrap(), "mem", &LoadOptions::default()).unwrap();
    assert_eq!(back.targets().as_values().unwrap().shape(), &[2]);
    assert_eq!(back.targets().as_values().unwrap().to_vec().unwrap(), vec![0.5, -2.0]);
}

fn safetensors_bytes(tensors: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)>) -> Vec<u8> {
    let views: Vec<(&str, TensorView<'_>)> =
        tensors.iter().map(|(n, d, s, b)| (*n, TensorView::new(*d, s.clone(), b).unwrap())).collect();
    safetensors::serialize(views, &None).unwrap()
}

#[test]
fn safetensors_files_from_elsewhere_load_in_any_numeric_dtype() {
    let bf16: Vec<u8> =
        [1.5f32, -2.0, 0.25, 4.0].iter().flat_map(|v| ((v.to_bits() >> 16) as u16).to_le_bytes()).collect();
    let f16: Vec<u8> = [0x3c00u16, 0x4000].iter().flat_map(|h| h.to_le_bytes()).collect(); // 1.0, 2.0
    let i32s: Vec<u8> = [3i32, 1].iter().flat_map(|v| v.to_le_bytes()).collect();
    let bytes = safetensors_bytes(vec![
        ("x", Dtype::BF16, vec![2, 2], bf16),
        ("y", Dtype::I32, vec![2], i32s),
        ("t", Dtype::F16, vec![2, 1], f16),
    ]);
    let data = parse_safetensors(&bytes, "mem", &LoadOptions::default()).unwrap();
    assert_eq!(data.x().to_vec().unwrap(), vec![1.5, -2.0, 0.25, 4.0]);
    assert_eq!(ids(&data), vec![3, 1]);
    let reg = parse_safetensors(&bytes, "mem", &LoadOptions::default().keys("x", "t")).unwrap();
    assert_eq!(reg.targets().as_values().unwrap().to_vec().unwrap(), vec![1.0, 2.0]);
    assert_eq!(reg.targets().as_values().unwrap().shape(), &[2, 1]);

    let err = data_error(parse_safetensors(&bytes, "mem.safetensors", &LoadOptions::default().keys("x", "labels")));
    assert!(err.contains("no array named 'labels'") && err.contains("t, x, y"), "{err}");

    let fp8 =
        safetensors_bytes(vec![("x", Dtype::F8_E4M3, vec![2], vec![0, 0]), ("y", Dtype::U8, vec![2], vec![0, 1])]);
    let err = data_error(parse_safetensors(&fp8, "fp8.safetensors", &LoadOptions::default()));
    assert!(err.contains("F8_E4M3"), "{err}");

    for corrupt in [&bytes[..bytes.len() - 3], &bytes[..5], b"not a safetensors file at all".as_slice()] {
        let err = data_error(parse_safetensors(corrupt, "broken.safetensors", &LoadOptions::default()));
        assert!(err.contains("broken.safetensors"), "{err}");
    }
    let err = data_error(load_safetensors(temp("absent.safetensors"), &LoadOptions::default()));
    assert!(err.contains("absent.safetensors"), "{err}");
}

#[test]
fn layouts_apply_to_every_loader() {
    let x = RawArray::new(vec![2, 2, 3], RawData::U8(vec![0; 12])).unwrap();
    let y = RawArray::new(vec![2, 1], RawData::U16(vec![1, 0])).unwrap();
    assert_eq!(Dataset::from_raw(&x, &y, &LoadOptions::flat()).unwrap().x().shape(), &[2, 6]);
    let chw = LoadOptions { layout: ImageLayout::Chw, ..Default::default() };
    let data = Dataset::from_raw(&x, &y, &chw).unwrap();
    assert_eq!(data.x().shape(), &[2, 1, 2, 3]);
    assert_eq!(ids(&data), vec![1, 0], "[n, 1] integer labels are classes");
    let scalar = RawArray::new(vec![], RawData::U8(vec![1])).unwrap();
    assert!(Dataset::from_raw(&scalar, &y, &chw).unwrap_err().to_string().contains("scalar"));
}
