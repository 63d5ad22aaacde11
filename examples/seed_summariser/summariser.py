"""The seed article's text summariser (its section 4: jieba → vocabulary → Transformer →
train → generate), written in PyTorch, with the seed's bugs fixed, running on minigrad.

Only the two imports below differ from the PyTorch program: put back ``import torch`` and
``import torch.nn as nn`` and the same file runs on PyTorch (the test does both).

What was fixed, against the seed's code:
- ``preprocess`` returned jieba's generator, which ``build_vocab`` used up: it returns a list;
- the vocabulary had no padding, unknown, start or end tokens, so nothing could mark where a
  summary begins or ends;
- the positional table was sized by the vocabulary (``zeros(1, vocab_size, d_model)``):
  positions index the sequence, so it has ``max_len`` rows and is sliced to each length;
- ``nn.Transformer(d_model, N, heads)`` passed the layer count as the number of heads and
  the heads as the layer count (harmless only because both were 8): keywords now;
- ``nn.Transformer`` got a source and no target: it needs both, the decoder's input being the
  summary shifted right behind a start token, with a causal mask;
- the targets were one token shorter than the outputs: the target is the summary followed by
  the end token, as long as the decoder input;
- ``model.generate`` did not exist: it is greedy decoding, below.

Run it: ``python examples/seed_summariser/summariser.py`` (the project's demo corpus; the
seed's sizes are ``--d-model 512 --layers 8 --heads 8``).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import jieba

import minigrad as torch  # the seed: import torch
import minigrad.nn as nn  # the seed: import torch.nn as nn

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SEED_TEXT = "人工智能大模型即服务时代：人才需求与培养"
DEMO_CORPUS = Path(__file__).resolve().parents[2] / "nlp" / "corpus" / "demo.jsonl"


def preprocess(text):
    return list(jieba.cut(text))


def build_vocab(sentences):
    vocab = {PAD: 0, BOS: 1, EOS: 2, UNK: 3}
    for words in sentences:
        for word in words:
            if word not in vocab:
                vocab[word] = len(vocab)
    return vocab


def encode(words, vocab):
    return [vocab.get(word, vocab[UNK]) for word in words]


def pad_batch(rows):
    """Token-id rows → a (batch, longest) long tensor, padded with PAD (id 0)."""
    longest = max(len(row) for row in rows)
    return torch.tensor([row + [0] * (longest - len(row)) for row in rows], dtype=torch.long)


class Transformer(nn.Module):
    def __init__(self, vocab_size, d_model, N, heads, max_len=256, dim_feedforward=2048, dropout=0.1):
        super(Transformer, self).__init__()
        self.d_model = d_model
        self.embedding = nn.Embedding(vocab_size, d_model)
        self.position_encoding = nn.Parameter(torch.zeros(1, max_len, d_model))
        self.transformer = nn.Transformer(
            d_model, nhead=heads, num_encoder_layers=N, num_decoder_layers=N,
            dim_feedforward=dim_feedforward, dropout=dropout, batch_first=True,
        )
        self.fc = nn.Linear(d_model, vocab_size)

    def embed(self, ids):
        positions = self.position_encoding[:, : ids.shape[1]]
        return self.embedding(ids) * math.sqrt(self.d_model) + positions

    def forward(self, src, tgt):
        length = tgt.shape[1]
        causal = torch.triu(torch.ones(length, length), diagonal=1) > 0  # True: may not attend
        src_padding = src == 0
        x = self.transformer(
            self.embed(src), self.embed(tgt), tgt_mask=causal, src_key_padding_mask=src_padding,
            tgt_key_padding_mask=tgt == 0, memory_key_padding_mask=src_padding,
        )
        return self.fc(x)

    def generate(self, src, max_length=10):
        """Greedy decoding: start from BOS, append the most likely next token until EOS."""
        ys = torch.full((src.shape[0], 1), 1, dtype=torch.long)
        with torch.no_grad():
            for _ in range(max_length):
                next_id = self(src, ys)[:, -1].argmax(dim=-1, keepdim=True)
                ys = torch.cat([ys, next_id], dim=1)
                if (next_id == 2).all():
                    break
        return ys[:, 1:]


def decode(ids, itos):
    words = []
    for i in ids:
        if itos[i] == EOS:
            break
        words.append(itos[i])
    return "".join(words)


def load_pairs(path, limit):
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [(preprocess(r["text"]), preprocess(r["summary"])) for r in rows[:limit]]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEMO_CORPUS), help="JSON Lines of {text, summary}")
    parser.add_argument("--pairs", type=int, default=8, help="how many pairs to train on")
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--feedforward", type=int, default=128)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)

    pairs = load_pairs(args.data, args.pairs)
    vocab = build_vocab([words for pair in pairs for words in pair] + [preprocess(SEED_TEXT)])
    itos = {i: word for word, i in vocab.items()}
    src = pad_batch([encode(text, vocab) for text, _ in pairs])
    tgt_in = pad_batch([[vocab[BOS]] + encode(summary, vocab) for _, summary in pairs])
    targets = pad_batch([encode(summary, vocab) + [vocab[EOS]] for _, summary in pairs])

    vocab_size = len(vocab)
    model = Transformer(vocab_size, args.d_model, args.layers, args.heads,
                        dim_feedforward=args.feedforward, dropout=args.dropout)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    criterion = nn.CrossEntropyLoss(ignore_index=vocab[PAD])

    losses = []
    model.train()
    for epoch in range(args.epochs):
        optimizer.zero_grad()
        outputs = model(src, tgt_in)
        loss = criterion(outputs.reshape(-1, vocab_size), targets.reshape(-1))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        print(f"Epoch {epoch}, Loss: {loss.item():.4f}")

    model.eval()
    longest = max(len(summary) for _, summary in pairs) + 1
    summaries = [decode(row, itos) for row in model.generate(src, max_length=longest).tolist()]
    for (text, summary), produced in zip(pairs, summaries):
        print(f"{''.join(text)[:30]}… → {produced}   (reference: {''.join(summary)})")
    seed_summary = model.generate(pad_batch([encode(preprocess(SEED_TEXT), vocab)]), max_length=longest)
    print(f"{SEED_TEXT} → {decode(seed_summary.tolist()[0], itos)}")
    return {"losses": losses, "summaries": summaries, "references": ["".join(s) for _, s in pairs]}


if __name__ == "__main__":
    main()
