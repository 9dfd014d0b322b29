"""onnxruntime session settings shared by every ONNX voice."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort


def create_session(model_path: Path, threads: int) -> ort.InferenceSession:
    """A CPU session for one worker process.

    The model on disk was optimized offline by `make export` with portable (non layout
    specific) rewrites; the layout rewrites that depend on this CPU are applied here at load.
    Sessions are created after gunicorn forks: onnxruntime sessions are not fork-safe.
    With the model optimized at export, the level chosen here changes nothing measurable
    (`bench/bench_tts_matrix.py`: within 1% from disabled to all).
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Idle pool threads would otherwise spin between pieces and steal the CPU that other
    # workers need for their own streams.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # No memory patterns: onnxruntime keeps one per input shape it has seen, for good, and
    # every text (and every span of audio) has a shape of its own, so the worker grew without
    # end (16 MB over 300 syntheses of varied sentences; flat without, at the same CPU time).
    options.enable_mem_pattern = False
    # The arena stays on: without it every tensor goes to malloc, which made the worker larger
    # (700 MB after 8 parallel streams) and halved its throughput with many streams.
    return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
