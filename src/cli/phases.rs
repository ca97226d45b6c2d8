//! `--phase epochs=4,lr=1e-3,unfreeze=0` arguments.

use super::CliResult;
use graft::nn::optim::SgdConfig;
use graft::transfer::{OptimizerSpec, Phase, Trainable};

/// How many reused layer units a phase unfreezes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unfreeze {
    Top(usize),
    All,
}

/// Parses one `--phase` value: `epochs=N,lr=X[,momentum=M][,unfreeze=K|all][,only=GLOB]`.
/// `only` trains exactly the parameters whose names match the glob (e.g. `only=3.*`).
pub fn parse_phase(s: &str, index: usize, head_start: usize, reused_units: usize) -> CliResult<Phase> {
    let (mut epochs, mut lr, mut momentum, mut unfreeze) = (None, None, 0.0f32, Unfreeze::Top(0));
    let mut only: Option<String> = None;
    for part in s.split(',') {
        let (k, v) = part.split_once('=').ok_or_else(|| format!("--phase {s}: `{part}` is not KEY=VALUE"))?;
        let bad = || format!("--phase {s}: `{v}` is not a valid value for {k}");
        match k.trim() {
            "epochs" => epochs = Some(v.trim().parse::<usize>().map_err(|_| bad())?),
            "lr" => lr = Some(v.trim().parse::<f32>().map_err(|_| bad())?),
            "momentum" => momentum = v.trim().parse().map_err(|_| bad())?,
            "only" => only = Some(v.trim().to_string()),
            "unfreeze" => {
                unfreeze =
                    if v.trim() == "all" { Unfreeze::All } else { Unfreeze::Top(v.trim().parse().map_err(|_| bad())?) }
            }
            other => {
                return Err(
                    format!("--phase {s}: unknown key `{other}` (use epochs, lr, momentum, unfreeze, only)").into()
                )
            }
        }
    }
    let epochs = epochs.ok_or_else(|| format!("--phase {s}: give epochs=N"))?;
    let lr = lr.ok_or_else(|| format!("--phase {s}: give lr=X"))?;
    let k = match unfreeze {
        Unfreeze::All => reused_units,
        Unfreeze::Top(k) if k <= reused_units => k,
        Unfreeze::Top(k) => {
            return Err(format!("--phase {s}: cannot unfreeze {k} layers, only {reused_units} are reused").into())
        }
    };
    let (name, trainable) = match only {
        Some(glob) => (format!("phase {} ({glob})", index + 1), Trainable::Pattern(glob)),
        None if k == 0 => (format!("phase {} (head)", index + 1), Trainable::HeadAndTopUnits { head_start, k }),
        None => (format!("phase {} (head + top {k})", index + 1), Trainable::HeadAndTopUnits { head_start, k }),
    };
    Ok(Phase {
        name,
        trainable,
        optimizer: OptimizerSpec::Sgd(SgdConfig { lr, momentum, ..SgdConfig::default() }),
        epochs,
    })
}
