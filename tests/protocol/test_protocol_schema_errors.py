"""Protocol errors found after the schema: forms and instruments the visits name."""

import pytest


def test_an_unknown_form_in_a_visit_is_named_with_its_path():
    import yaml as _yaml

    from trialkit.protocol import ProtocolError, parse_protocol
    from trialkit.protocol.loader import default_protocol_dir

    data = _yaml.safe_load((default_protocol_dir() / "NCT07197606.yaml").read_text())
    data["schedule"]["visits"][2]["forms"].append("nihss_v9")
    with pytest.raises(ProtocolError) as caught:
        parse_protocol(_yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "x.yaml")
    issue = caught.value.issues[0]
    assert issue.path.startswith("schedule.visits[2].forms[")
    assert "unknown form 'nihss_v9'" in issue.message and issue.line is not None
