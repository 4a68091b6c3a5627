import pytest
from conftest import TINY_SCHEMA

from journeylab.journeys import ConfigError, Schema


def test_yaml_round_trip(tmp_path, tiny_schema):
    tiny_schema.write(tmp_path / "s.yaml")
    back = Schema.read(tmp_path / "s.yaml")
    assert back == tiny_schema and back.fingerprint() == tiny_schema.fingerprint()
    assert back.is_public


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"events": {"event_type": {"type": "categorical", "values": ["a"]}}},
            "event column 'channel' is required",
        ),
        ({"max_length": 0}, "max_length 0 must be >= 1"),
        ({"time_range": ["2024-02-01", "2024-01-01"]}, "is not before end"),
        (
            {"events": {**TINY_SCHEMA["events"], "amount": {"type": "text"}}},
            "type 'text' is not one",
        ),
        (
            {
                "events": {
                    **TINY_SCHEMA["events"],
                    "amount": {"type": "numeric", "min": 5, "max": 1},
                }
            },
            "min 5.0 > max 1.0",
        ),
        ({"context": {"customer_id": {"type": "categorical", "values": ["x"]}}}, "used twice"),
    ],
)
def test_bad_schema_names_the_problem(change, message):
    with pytest.raises(ConfigError, match=message):
        Schema.from_dict({**TINY_SCHEMA, **change})


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        Schema.read(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("name: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        Schema.read(tmp_path / "bad.yaml")


def test_undeclared_domains_are_listed():
    d = {
        **TINY_SCHEMA,
        "time_range": None,
        "max_length": None,
        "events": {**TINY_SCHEMA["events"], "amount": {"type": "numeric"}},
    }
    s = Schema.from_dict(d)
    assert s.undeclared() == ["amount", "time_range", "max_length"] and not s.is_public
