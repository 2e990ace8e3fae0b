"""A tiny random-weight Llama model with a byte-level BPE tokenizer, made offline.

The output directory is what vLLM and `transformers` both load: ``config.json``,
``generation_config.json``, ``model.safetensors``, ``tokenizer.json`` and
``tokenizer_config.json`` (with a ChatML chat template). The same arguments always give
byte-identical files.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["CHAT_TEMPLATE", "SPECIAL_TOKENS", "make_tiny_model"]

SPECIAL_TOKENS = ["<|begin_of_text|>", "<|end_of_text|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Training text for the BPE merges: varied English, code and numbers, so common words are
# single tokens and everything else falls back to bytes.
_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Kubernetes schedules pods onto nodes; a Deployment keeps replicas running.",
    "A language model predicts the next token given the previous tokens.",
    "def add(a, b):\n    return a + b\n",
    "Requests per second, tokens per second, time to first token, inter-token latency.",
    "Hello! How are you today? I am fine, thank you. What can I do for you?",
    "0 1 2 3 4 5 6 7 8 9 10 100 1000 3.14 2.718",
    "The server drains in-flight requests before it exits, so no stream is cut short.",
    "Prometheus scrapes metrics; Grafana shows dashboards; alerts page the on-call engineer.",
    "user assistant system message content role",
]


def _build_tokenizer(vocab_size: int) -> object:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|begin_of_text|>",
        eos_token="<|im_end|>",
        pad_token="<|end_of_text|>",
        chat_template=CHAT_TEMPLATE,
        model_max_length=2048,
        add_bos_token=False,
    )


def make_tiny_model(
    out_dir: Path, *, vocab_size: int = 1024, hidden_size: int = 96, layers: int = 2, seed: int = 0
) -> dict[str, int]:
    """Writes the model to ``out_dir`` and returns its sizes (parameters, vocabulary)."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = _build_tokenizer(vocab_size)
    real_vocab = len(tokenizer)  # type: ignore[arg-type]
    config = LlamaConfig(
        vocab_size=real_vocab,
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.convert_tokens_to_ids("<|begin_of_text|>"),  # type: ignore[attr-defined]
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),  # type: ignore[attr-defined]
        pad_token_id=tokenizer.convert_tokens_to_ids("<|end_of_text|>"),  # type: ignore[attr-defined]
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
    )
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)  # type: ignore[attr-defined]
    _widen_compatibility(out_dir)
    (out_dir / "README.md").write_text(
        "# tiny-llama (random weights)\n\n"
        "Made by `vllm-deploy make-tiny-model` for tests and demos. "
        "Its output is random text; it is not a trained model.\n"
    )
    params = sum(p.numel() for p in model.parameters())
    return {"parameters": int(params), "vocab_size": real_vocab}


def _widen_compatibility(out_dir: Path) -> None:
    """Also writes the keys that older `transformers` releases (as pinned by vLLM) read."""
    tok_path = out_dir / "tokenizer_config.json"
    tok_config = json.loads(tok_path.read_text())
    tok_config["tokenizer_class"] = "PreTrainedTokenizerFast"
    tok_config["chat_template"] = CHAT_TEMPLATE
    tok_path.write_text(json.dumps(tok_config, indent=2, sort_keys=True) + "\n")
    cfg_path = out_dir / "config.json"
    config = json.loads(cfg_path.read_text())
    config.setdefault("rope_theta", config.get("rope_parameters", {}).get("rope_theta", 10000.0))
    config.setdefault("torch_dtype", config.get("dtype", "float32"))
    cfg_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
