//! Dataset arguments: `IMAGES,LABELS` pairs (IDX or .npy) or one .npz / .safetensors file.

use super::{CliResult, Common, Layout};
use graft::nn::data::{load_idx, load_npy, load_npz, load_safetensors, Dataset, ImageLayout, LoadOptions, TargetKind};
use std::path::Path;

/// Load options from the shared flags.
pub fn load_options(common: &Common) -> CliResult<LoadOptions> {
    let layout = match common.layout {
        Layout::Chw => ImageLayout::Chw,
        Layout::Flat => ImageLayout::Flat,
        Layout::Stored => ImageLayout::AsStored,
    };
    let mut opts = LoadOptions { layout, targets: TargetKind::Classes, ..LoadOptions::default() };
    if let Some(ms) = &common.normalize {
        let parts: Vec<&str> = ms.split(',').collect();
        let parsed: Option<Vec<f32>> = parts.iter().map(|p| p.trim().parse().ok()).collect();
        match parsed.as_deref() {
            Some([mean, std]) if *std > 0.0 => opts = opts.normalized(*mean, *std),
            _ => return Err(format!("--normalize {ms}: give MEAN,STD with STD > 0, e.g. 0.1307,0.3081").into()),
        }
    }
    Ok(opts)
}

/// Loads a labelled dataset named on the command line.
pub fn load_dataset(arg: &str, opts: &LoadOptions) -> CliResult<Dataset> {
    if let Some((images, labels)) = arg.split_once(',') {
        for f in [images, labels] {
            if !Path::new(f).exists() {
                return Err(
                    format!("{f}: no such file (a dataset is IMAGES,LABELS or one .npz/.safetensors file)").into()
                );
            }
        }
        return Ok(if images.ends_with(".npy") {
            load_npy(images, labels, opts)?
        } else {
            load_idx(images, labels, opts)?
        });
    }
    if !Path::new(arg).exists() {
        return Err(format!("{arg}: no such file").into());
    }
    if arg.ends_with(".npz") {
        Ok(load_npz(arg, opts)?)
    } else if arg.ends_with(".safetensors") {
        Ok(load_safetensors(arg, opts)?)
    } else {
        Err(format!(
            "{arg}: a single dataset file must be .npz or .safetensors holding x and y; for IDX or .npy give IMAGES,LABELS"
        )
        .into())
    }
}

/// Keeps the samples whose label is in `classes` and renumbers the labels `0..classes.len()`
/// in the order given (e.g. Fashion-MNIST without T-shirts and pullovers: `1,3,4,5,6,7,8,9`).
pub fn keep_classes(data: &Dataset, classes: &[usize]) -> CliResult<Dataset> {
    let labels = data.targets().as_classes().ok_or("--classes needs a dataset with class labels")?;
    let keep: Vec<usize> = (0..labels.len()).filter(|&i| classes.contains(&labels[i])).collect();
    if keep.is_empty() {
        return Err(format!("--classes {classes:?} selects no sample of the dataset").into());
    }
    let subset = data.subset(&keep)?;
    let remapped = keep
        .iter()
        .map(|&i| classes.iter().position(|&c| c == labels[i]).expect("kept samples have a listed class"))
        .collect();
    let (x, _) = subset.into_parts();
    Ok(Dataset::new(x, graft::nn::data::Targets::Classes(remapped))?)
}

/// One item of a comma-separated list flag such as `--classes 1,3,4` (clap splits the list with
/// `value_delimiter = ','` and names the flag and the item in its error); spaces around an item
/// are allowed, as in `"1, 3, 4"`.
pub fn list_item<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.trim().parse::<T>().map_err(|_| format!("`{s}` is not a valid value"))
}
