import json

import sinter

from pipelines import main


def test_json_is_one_object_following_the_contract(capsys):
    code = main(["run", "--distance", "3", "--max-shots", "3000", "--p", "0.01", "--json",
                 "--decoder", "pymatching", "--decoder", "pymatching-correlated"])
    out = capsys.readouterr().out
    assert code == 0
    obj = json.loads(out)  # exactly one JSON document, nothing else on stdout
    assert obj["task"] == {"code": "rotated_surface_memory", "distance": 3, "rounds": 3,
                           "basis": "X", "noise": "uniform", "p": 0.01,
                           "noise_fingerprint": obj["task"]["noise_fingerprint"], "seed": 1}
    assert obj["shots"] == 3000 and 0 < obj["detection_event_density"] < 0.5
    for name in ("pymatching", "pymatching-correlated"):
        d = obj["decoders"][name]
        for key in ("errors", "ler", "ler_low", "ler_high", "ler_per_round", "seconds",
                    "us_per_round"):
            assert key in d
        assert d["ler_low"] <= d["ler"] <= d["ler_high"] and d["errors"] > 0


def test_same_seed_same_errors_and_both_bases(capsys):
    args = ["run", "--distance", "3", "--max-shots", "2000", "--p", "0.01", "--json",
            "--basis", "both", "--decoder", "pymatching"]
    main(args)
    first = json.loads(capsys.readouterr().out)
    main(args)
    second = json.loads(capsys.readouterr().out)
    assert set(first["bases"]) == {"X", "Z"}
    assert [first["bases"][b]["decoders"]["pymatching"]["errors"] for b in "XZ"] == \
        [second["bases"][b]["decoders"]["pymatching"]["errors"] for b in "XZ"]


def test_table_output_and_sinter_csv(tmp_path, capsys):
    out = tmp_path / "stats.csv"
    assert main(["run", "--distance", "3", "--max-shots", "2000", "--p", "0.01",
                 "--decoder", "pymatching", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "pymatching" in text and "LER per round" in text
    rows = sinter.read_stats_from_csv_files(out)
    assert len(rows) == 1 and rows[0].shots == 2000 and rows[0].decoder == "pymatching"
    assert rows[0].json_metadata["distance"] == 3


def test_max_errors_stops_early(capsys):
    main(["run", "--distance", "3", "--max-shots", "200000", "--p", "0.02", "--json",
          "--decoder", "pymatching", "--max-errors", "20"])
    obj = json.loads(capsys.readouterr().out)
    assert obj["shots"] < 200000 and obj["decoders"]["pymatching"]["errors"] >= 20


