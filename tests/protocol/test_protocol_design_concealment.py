"""Design concealment: the public trial page (HTML and text), ``trialkit protocol show`` in every
format and the server's trial page are the same whatever the block sizes and whatever the
protocol author wrote about them. Two protocols that differ only there must render identically.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from trialkit.cli.main import app
from trialkit.protocol import load_protocol
from trialkit.protocol.page import CONCEALED_BLOCKS, build_page, render_html, render_text

PROTOCOLS = Path(__file__).resolve().parents[2] / "protocols"
SEEDS = {"NCT04590118": ([4, 8], [12, 24]), "NCT07197606": ([2, 4, 6], [8, 10])}


def _variant(tmp_path: Path, nct_id: str, sizes: list[int]) -> Path:
    data = yaml.safe_load((PROTOCOLS / f"{nct_id}.yaml").read_text(encoding="utf-8"))
    data["randomization"]["block_sizes"] = sizes
    data["randomization"]["assumption"] = f"Permuted blocks of {' or '.join(map(str, sizes))} were chosen."
    path = tmp_path / f"{nct_id}-{'-'.join(map(str, sizes))}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("nct_id", sorted(SEEDS))
def test_public_outputs_do_not_depend_on_block_sizes(tmp_path, nct_id):
    first, second = (_variant(tmp_path, nct_id, sizes) for sizes in SEEDS[nct_id])
    assert load_protocol(first).randomization.block_sizes != load_protocol(second).randomization.block_sizes
    outputs = []
    for path in (first, second):
        protocol = load_protocol(path)
        page = build_page(protocol)
        cli = {
            fmt: CliRunner().invoke(app, ["protocol", "show", str(path), "--format", fmt])
            for fmt in ("html", "text", "json")
        }
        assert all(result.exit_code == 0 for result in cli.values()), {k: v.output for k, v in cli.items()}
        outputs.append(
            {
                "html": render_html(page),
                "text": render_text(page),
                **{f"cli-{fmt}": result.output for fmt, result in cli.items()},
            }
        )
    for kind in outputs[0]:
        assert outputs[0][kind] == outputs[1][kind], f"{nct_id}: {kind} shows the block sizes"
    assert CONCEALED_BLOCKS in outputs[0]["text"]
    assert not re.search(r"blocks? of \d", outputs[0]["cli-json"] + outputs[0]["html"])


@pytest.mark.django_db
def test_the_server_trial_page_says_varying_size(client, trials):
    for nct_id, trial in trials.items():
        body = client.get(f"/trials/{nct_id}/").content.decode()
        assert CONCEALED_BLOCKS in body, nct_id
        sizes = trial.protocol.randomization.block_sizes
        assert not re.search(r"blocks? of " + re.escape(str(sizes[0])) + r"\b", body), nct_id
