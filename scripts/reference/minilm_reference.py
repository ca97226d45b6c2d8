"""Reference sentence embeddings of all-MiniLM-L6-v2, made once offline with PyTorch.

    python3 scripts/reference/minilm_reference.py models/all-MiniLM-L6-v2 nn/tests/fixtures/minilm

Writes `sentences.json` (the texts and the ids Hugging Face's `tokenizers` gives them) and
`reference.safetensors` (`input_ids`, `attention_mask` as f32 [n, T], padded to the longest;
`embeddings` [n, 384]: BertModel's last hidden state, mean-pooled over the attention mask and
L2-normalised, which is what sentence-transformers computes for this model; `cls_hidden` [n, 384]
the last hidden state at [CLS], to tell an encoder bug from a pooling bug).

Needs torch, transformers, tokenizers and safetensors (CPU); graft's tests never run it.
"""

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer
from transformers import BertModel

SENTENCES = [
    "A man is playing a guitar.",
    "The new movie is awesome!",
    "The cat sits outside on the mat.",
    "Transfer learning reuses the lower layers of a pretrained network.",
    "Congratulations!!! You have WON a $1,000 gift card. Click http://example.com/claim now.",
    "Hi Bob, can we move tomorrow's meeting to 3:30pm?",
    "Café au lait, naïve façade, Ångström and Straße.",
    "東京は日本の首都です。",
    "I don't think it's going to rain today.",
    "URGENT: your account has been suspended -- verify your password at once.",
    "The quarterly report shows revenue grew 3.14% year over year.",
    "Please find attached the minutes of last week's committee meeting.",
    "cheap meds online no prescription needed",
    "Supercalifragilisticexpialidocious is a very long word.",
    "A",
    "Python, Rust and C++ are programming languages.",
    "The mitochondria is the powerhouse of the cell.",
    "She sells sea shells by the sea shore.",
    "Re: [SAtalk] spam filter question -- thanks for the quick reply",
    "Unsubscribe here if you no longer wish to receive these e-mails.",
    "THIS IS ALL CAPS AND VERY LOUD",
    "Tabs\tand\nnewlines  and   spaces.",
    "Emoji 🙂 and symbols © ® ™ are handled too.",
    "Two sentences here. And a second one, with a comma; and a semicolon.",
]


def main(model_dir: Path, out_dir: Path) -> None:
    torch.manual_seed(0)
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(128)
    ids = [tok.encode(s).ids for s in SENTENCES]
    width = max(len(i) for i in ids)
    input_ids = torch.zeros(len(ids), width, dtype=torch.long)
    mask = torch.zeros(len(ids), width, dtype=torch.long)
    for row, seq in enumerate(ids):
        input_ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1

    model = BertModel.from_pretrained(str(model_dir), add_pooling_layer=False).eval()
    with torch.no_grad():
        hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
    m = mask.unsqueeze(-1).float()
    pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    embeddings = torch.nn.functional.normalize(pooled, p=2, dim=1)

    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "sentences.json", "w", encoding="utf-8") as f:
        json.dump(
            {
                "source": "scripts/reference/minilm_reference.py: tokenizers "
                + __import__("tokenizers").__version__
                + ", transformers "
                + __import__("transformers").__version__
                + ", torch "
                + torch.__version__,
                "max_len": 128,
                "cases": [{"text": s, "ids": i} for s, i in zip(SENTENCES, ids)],
            },
            f,
            ensure_ascii=False,
            indent=1,
        )
    save_file(
        {
            "input_ids": input_ids.float().contiguous(),
            "attention_mask": mask.float().contiguous(),
            "embeddings": embeddings.contiguous(),
            "cls_hidden": hidden[:, 0, :].contiguous(),
        },
        str(out_dir / "reference.safetensors"),
    )
    print(f"{len(SENTENCES)} sentences, width {width}, written to {out_dir}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
