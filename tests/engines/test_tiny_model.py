from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from vllm_deploy.engines.tiny_model import make_tiny_model


def _digest(path: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.iterdir())}


def test_same_seed_gives_identical_files(tiny_model: Path, tmp_path: Path) -> None:
    make_tiny_model(tmp_path / "again")
    assert _digest(tmp_path / "again") == _digest(tiny_model)


def test_loads_with_transformers_and_generates(tiny_model: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_model, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(tiny_model, local_files_only=True)
    params = sum(p.numel() for p in model.parameters())
    assert 100_000 < params < 1_000_000
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False
    )
    assert prompt == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    ids = tok(prompt, return_tensors="pt", add_special_tokens=False).input_ids
    assert tok.decode(ids[0]) == prompt  # byte-level BPE round-trips
    out = model.generate(ids, max_new_tokens=5, do_sample=False)
    assert out.shape[1] == ids.shape[1] + 5 or tok.eos_token_id in out[0].tolist()
    assert torch.isfinite(model(ids).logits).all()


def test_shaped_for_vllm(tiny_model: Path) -> None:
    config = json.loads((tiny_model / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["hidden_size"] % config["num_attention_heads"] == 0
    assert config["num_attention_heads"] % config["num_key_value_heads"] == 0
    tok_config = json.loads((tiny_model / "tokenizer_config.json").read_text())
    assert tok_config["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert "chat_template" in tok_config and (tiny_model / "model.safetensors").exists()
