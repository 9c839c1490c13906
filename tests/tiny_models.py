"""Tiny real models for tests: a byte-level BPE tokenizer with a ChatML template, trained here on
GSM8K text, and a small Llama briefly trained on the same text so its next-token distributions have
real structure (peaked where text is predictable, flat where it is not) instead of random-init noise.

Everything is built from ../shared/data in a few seconds on CPU; nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def gsm8k_texts(n: int = 2000) -> list[str]:
    lines = (SHARED_DATA / "gsm8k" / "train.jsonl").read_text().splitlines()[:n]
    return [json.loads(x)["question"] + "\n" + json.loads(x)["answer"] for x in lines]


def build_tokenizer(out_dir: Path, vocab_size: int = 1024):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(gsm8k_texts(), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", unk_token="<|endoftext|>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out_dir)
    return fast


def build_tiny_llama(out_dir: Path, num_layers: int = 4, hidden: int = 128, train_steps: int = 300,
                     seed: int = 0, tokenizer_dir: Path | None = None) -> Path:
    """A Llama with head_dim 64 (vLLM's CPU attention supports it) trained `train_steps` steps on GSM8K."""
    import torch
    from transformers import AutoTokenizer, GenerationConfig, LlamaConfig, LlamaForCausalLM

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir) if tokenizer_dir else build_tokenizer(out_dir)
    tokenizer.save_pretrained(out_dir)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=num_layers,
        num_attention_heads=hidden // 64, num_key_value_heads=hidden // 64, max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    if train_steps:
        chat = [tokenizer.apply_chat_template([{"role": "user", "content": t.split("\n")[0]},
                                               {"role": "assistant", "content": t.split("\n", 1)[1]}], tokenize=False)
                for t in gsm8k_texts(1200)]
        enc = tokenizer(chat, return_tensors="pt", padding="max_length", truncation=True, max_length=96)
        opt = torch.optim.AdamW(model.parameters(), lr=5e-3)
        g = torch.Generator().manual_seed(seed)
        model.train()
        for _ in range(train_steps):
            idx = torch.randint(0, enc.input_ids.shape[0], (16,), generator=g)
            ids, mask = enc.input_ids[idx], enc.attention_mask[idx]
            loss = model(input_ids=ids, attention_mask=mask, labels=ids.masked_fill(mask == 0, -100)).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
        model.eval()
    model.generation_config = GenerationConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                               pad_token_id=tokenizer.pad_token_id)
    model.save_pretrained(out_dir)
    return out_dir
