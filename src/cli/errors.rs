//! Errors as a command-line user meets them: a refusal whose fix is a setting names the flag
//! that sets it (`--layout flat`, `--keras`), not the Rust item the library would name.

use graft::nn::{Fix, NnError};
use graft::transfer::TransferError;

/// The flags of the running command that the fixes refer to.
#[derive(Clone, Copy, Debug)]
pub struct FixFlags {
    /// The flag that gives the architecture of a plain state dict (`--pretrained-spec`, `--spec`).
    pub spec: &'static str,
    /// The flag whose layers end the trained model (`--spec` for train, `--head` for transfer).
    pub model_end: &'static str,
    /// Whether the command has `--loss`.
    pub has_loss: bool,
}

impl FixFlags {
    pub const TRAIN: FixFlags = FixFlags { spec: "--spec", model_end: "--spec", has_loss: true };
    pub const TRANSFER: FixFlags = FixFlags { spec: "--pretrained-spec", model_end: "--head", has_loss: true };
    pub const EVAL: FixFlags = FixFlags { spec: "--spec", model_end: "--spec", has_loss: true };
    pub const PREDICT: FixFlags = FixFlags { spec: "--spec", model_end: "--spec", has_loss: false };
    pub const OTHER: FixFlags = FixFlags { spec: "--spec", model_end: "--spec", has_loss: false };
}

/// The fix in the command line's terms.
pub fn cli_fix(fix: &Fix, flags: FixFlags) -> String {
    match fix {
        Fix::GiveSpec => format!(
            "give its architecture with {} \"...\" (e.g. \"flatten,linear(784,100),relu,linear(100,10)\")",
            flags.spec
        ),
        Fix::FlatLayout => "add --layout flat (or --layout stored) for inputs that are not images".into(),
        Fix::KerasLayout => "add --keras, which transposes every Dense kernel (square ones too)".into(),
        Fix::TorchLayout => "drop --keras: the file is a PyTorch/graft state dict".into(),
        Fix::TargetsAsValues | Fix::TargetsAsClasses => {
            "graft's command line trains classifiers: store one integer class label per sample".into()
        }
        Fix::CrossEntropyLoss if flags.has_loss => "use --loss ce with an output layer of one unit per class".into(),
        Fix::BceLoss if flags.has_loss => {
            "use --loss bce (or --loss auto, the default, which picks it for a 1-unit head)".into()
        }
        Fix::CrossEntropyLoss => "give the model one output unit per class".into(),
        Fix::BceLoss => "a 1-unit model is a binary classifier: train it with --loss bce".into(),
        Fix::RemoveFinalActivation { layer } => format!(
            "remove `{layer}` from the end of {}: graft's losses take logits (predict --probabilities gives \
             probabilities)",
            flags.model_end
        ),
    }
}

/// `e` with any library fix restated for the command line.
pub fn for_cli(e: Box<dyn std::error::Error>, flags: FixFlags) -> Box<dyn std::error::Error> {
    let nn = e.downcast_ref::<NnError>().or_else(|| match e.downcast_ref::<TransferError>() {
        Some(TransferError::Nn(inner)) => Some(inner),
        _ => None,
    });
    match nn {
        Some(NnError::Fixable { message, fix }) => format!("{message} — {}", cli_fix(fix, flags)).into(),
        _ => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No fix, in any command's terms, names a Rust item.
    #[test]
    fn fixes_name_flags_not_rust_items() {
        let fixes = [
            Fix::GiveSpec,
            Fix::FlatLayout,
            Fix::KerasLayout,
            Fix::TorchLayout,
            Fix::TargetsAsValues,
            Fix::TargetsAsClasses,
            Fix::CrossEntropyLoss,
            Fix::BceLoss,
            Fix::RemoveFinalActivation { layer: "softmax(1)".into() },
        ];
        for flags in [FixFlags::TRAIN, FixFlags::TRANSFER, FixFlags::EVAL, FixFlags::PREDICT, FixFlags::OTHER] {
            for fix in &fixes {
                let text = cli_fix(fix, flags);
                for rust in ["::", "LoadOptions", "load_model", "LossKind", "TargetKind", "()"] {
                    assert!(!text.contains(rust), "{fix:?} under {flags:?} names `{rust}`: {text}");
                }
            }
        }
        assert!(cli_fix(&Fix::GiveSpec, FixFlags::TRANSFER).contains("--pretrained-spec"));
        let e = for_cli(Box::new(NnError::fixable("bad", Fix::FlatLayout)), FixFlags::TRAIN).to_string();
        assert_eq!(e, "bad — add --layout flat (or --layout stored) for inputs that are not images");
        let wrapped = TransferError::Nn(NnError::fixable("bad", Fix::KerasLayout));
        assert!(for_cli(Box::new(wrapped), FixFlags::TRANSFER).to_string().contains("--keras"));
    }
}
