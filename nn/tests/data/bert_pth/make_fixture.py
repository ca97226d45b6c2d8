"""Makes the fixture of nn/tests/bert.rs's pytorch_model.bin test: a tiny random Hugging Face
BertModel (the test's TINY config) saved the way older Hub repositories ship BERT weights,
`torch.save(model.state_dict(), "pytorch_model.bin")` (zip layout), and its last hidden state
for the test's batch.

    python3 nn/tests/data/bert_pth/make_fixture.py   # torch 2.15, transformers 4.57.1
"""

import json
import pathlib

import torch
import transformers

HERE = pathlib.Path(__file__).parent
CONFIG = {
    "architectures": ["BertModel"], "model_type": "bert", "vocab_size": 40, "hidden_size": 8,
    "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 12,
    "max_position_embeddings": 16, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
    "hidden_act": "gelu", "pad_token_id": 0,
}

torch.manual_seed(0)
model = transformers.BertModel(transformers.BertConfig(**CONFIG)).eval()
(HERE / "config.json").write_text(json.dumps(CONFIG, indent=1) + "\n")
torch.save(model.state_dict(), HERE / "pytorch_model.bin")
ids = torch.tensor([[1, 5, 9, 2, 0], [1, 7, 2, 0, 0]])
mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]])
with torch.no_grad():
    hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
(HERE / "expected.json").write_text(json.dumps({
    "shape": list(hidden.shape),
    "last_hidden_state": [round(v, 8) for v in hidden.flatten().tolist()],
}) + "\n")
print(sorted(model.state_dict())[:3], len(model.state_dict()))
