"""Synthetic Zhoukou world generator: register, weekly submissions in real-world shapes, ground truth.

    from pipelines.synth import generate
    result = generate(out="/tmp/zk", weeks="2026-W45..2026-W48", scale="zhoukou", faults="default", seed=1)
    print(result.summary_text())
"""
from pipelines.synth.generate import TRUTH_DIR, SynthResult, generate

__all__ = ["generate", "SynthResult", "TRUTH_DIR"]
