"""PyTorch's time for benches/minilm.rs: all-MiniLM-L6-v2, batch 32 x 64 tokens, on the CPU.

    python3 benches/reference/minilm_pytorch.py [models/all-MiniLM-L6-v2]

Times (medians over repeated runs, after warm-up) one forward to sentence embeddings (mean
pooling + L2 normalisation, no_grad, eval mode) and one fine-tuning step (SGD) with only the
top encoder layer and a new 2-way head trainable. Uses 2 threads, as graft on the 2-core
development machine. Needs torch and transformers (CPU).
"""

import statistics
import sys
import time

import torch
from transformers import BertModel

BATCH, SEQ = 32, 64


def median_ms(fn, warmup=3, runs=15):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main(model_dir):
    torch.set_num_threads(2)
    torch.manual_seed(0)
    bert = BertModel.from_pretrained(model_dir, add_pooling_layer=False)
    ids = torch.randint(1000, bert.config.vocab_size, (BATCH, SEQ))
    ids[:, 0], ids[:, -1] = 101, 102
    mask = torch.ones(BATCH, SEQ, dtype=torch.long)

    def embed():
        h = bert(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).float()
        return torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=1)

    bert.eval()
    with torch.no_grad():
        fwd = median_ms(embed)

    head = torch.nn.Linear(384, 2)
    for name, p in bert.named_parameters():
        p.requires_grad_(name.startswith("encoder.layer.5."))
    bert.train()
    for m in bert.modules():  # graft's encoder has no dropout: compare like with like
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    params = [p for p in bert.parameters() if p.requires_grad] + list(head.parameters())
    opt = torch.optim.SGD(params, lr=1e-3)
    labels = torch.arange(BATCH) % 2

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(head(embed()), labels)
        loss.backward()
        opt.step()

    ft = median_ms(step)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {BATCH} x {SEQ} tokens")
    print(f"minilm forward (sentence embeddings): median {fwd:.1f} ms")
    print(f"minilm fine-tuning step, top layer + head: median {ft:.1f} ms")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "models/all-MiniLM-L6-v2")
