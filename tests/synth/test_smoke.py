import json

from pipelines.synth import generate


def test_tiny_world_writes_all_forms(tmp_path):
    res = generate(out=tmp_path, weeks="2026-W47", scale="0.01", faults="default", seed=3, workers=1)
    exp = res.expected["2026-W47"]
    assert (tmp_path / "区划名录.csv").exists()
    assert set(exp["submissions"]) == {"A", "B", "C", "D"}
    manifest = json.loads((res.truth_dir / "2026-W47" / "manifest.json").read_text("utf-8"))
    assert len({e["kind"] for e in manifest}) == 20
    assert res.files == exp["files"] > 0
