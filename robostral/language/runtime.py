"""Instruction text -> embedding with ONNX Runtime and tokenizers only: the deployed path, no torch.

An ``InstructionEncoder`` reads ``encoder.onnx`` and ``tokenizer.json`` from a
directory (a policy bundle) and keeps the embeddings of recent instructions, so an
instruction is encoded once, not at every control step.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from robostral.bundle.card import ENCODER_FILE, TOKENIZER_FILE
from robostral.language import POOLINGS
from robostral.language.tokenizer import check_instructions, load_tokenizer, tokenize

INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAME = "embedding"


def session_options(threads: int) -> ort.SessionOptions:
    """Options for a small CPU edge box: ``threads`` intra-op threads, every graph optimization, no busy spinning."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


class InstructionEncoder:
    """The frozen MiniLM-L6 encoder of a bundle directory, with an LRU cache of ``cache_size`` instructions.

    ``dim`` is the length of its embeddings (``robostral.language.POOLINGS``).
    """

    def __init__(self, directory: str | Path, threads: int = 1, cache_size: int = 256):
        if not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive int, got {threads!r}")
        if not isinstance(cache_size, int) or cache_size < 1:
            raise ValueError(f"cache_size must be a positive int, got {cache_size!r}")
        directory = Path(directory)
        model = directory / ENCODER_FILE
        if not model.is_file():
            raise FileNotFoundError(f"instruction encoder not found: {model}")
        self.tokenizer = load_tokenizer(directory / TOKENIZER_FILE)
        try:
            options = session_options(threads)
            self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own Fail/InvalidProtobuf types
            raise ValueError(f"{model} is not a loadable ONNX model: {error}") from error
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._check_signature(model)

    def encode(self, text: str) -> np.ndarray:
        """Embedding of one instruction: float32 (dim,)."""
        if not isinstance(text, str):
            raise TypeError(f"instruction must be a str, got {type(text).__name__}")
        return self.encode_batch([text])[0]

    def encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings (len(texts), dim) float32; instructions not in the cache go through the session in one batch."""
        texts = check_instructions(texts)
        with self._lock:
            found = {text: self._cache[text] for text in texts if text in self._cache}
            for text in found:
                self._cache.move_to_end(text)
            missing = [text for text in dict.fromkeys(texts) if text not in found]
            if missing:
                found.update(zip(missing, self.run(missing)))
                self._cache.update((text, found[text]) for text in missing)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return np.stack([found[text] for text in texts])

    def run(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings (len(texts), dim) float32 straight from the session, one batch, bypassing the cache."""
        ids, mask = tokenize(self.tokenizer, texts)
        return self.session.run([OUTPUT_NAME], {"input_ids": ids, "attention_mask": mask})[0]

    def _check_signature(self, model: Path) -> None:
        """Refuse a graph that is not an instruction encoder; the probe run also warms the session up."""
        inputs = tuple(i.name for i in self.session.get_inputs())
        outputs = tuple(o.name for o in self.session.get_outputs())
        if sorted(inputs) != sorted(INPUT_NAMES) or outputs != (OUTPUT_NAME,):
            raise ValueError(
                f"{model} is not an instruction encoder: inputs {inputs}, outputs {outputs}, "
                f"expected inputs {INPUT_NAMES} and output ({OUTPUT_NAME!r},)"
            )
        probe = self.run(["warm up"])
        lengths = sorted(set(POOLINGS.values()))
        if probe.ndim != 2 or probe.shape[0] != 1 or probe.shape[1] not in lengths or probe.dtype != np.float32:
            raise ValueError(f"{model} gives {probe.dtype} {probe.shape}, expected float32 (1, n), n one of {lengths}")
        self.dim = probe.shape[1]
