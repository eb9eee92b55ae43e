from __future__ import annotations

import pytest

import netorch.yamlsrc as yamlsrc
from netorch.errors import YamlSyntaxError
from netorch.yamlsrc import format_loc, line_of, load_text


def test_lines_of_keys_and_items_are_kept() -> None:
    data, problems = load_text("a: 1\nb:\n  - x: 1\n    y: 2\n  - x: 3\n", "f.yaml")
    assert problems == []
    assert line_of(data, ["a"]) == 1
    assert line_of(data, ["b", 0, "y"]) == 4
    assert line_of(data, ["b", 1, "x"]) == 5
    # a path that goes past the data stops at the deepest known node
    assert line_of(data, ["b", 1, "missing", "deeper"]) == 5


def test_duplicate_keys_are_reported_with_both_lines() -> None:
    _, problems = load_text("a: 1\nb: 2\na: 3\n", "f.yaml")
    assert len(problems) == 1
    assert problems[0].line == 3
    assert "first at line 1" in problems[0].message


def test_malformed_yaml_names_the_line() -> None:
    with pytest.raises(YamlSyntaxError) as info:
        load_text("a: 1\nb: [1, 2\nc: 3\n", "bad.yaml")
    assert info.value.problem.file == "bad.yaml"
    assert info.value.problem.line == 3
    assert "YAML syntax error" in info.value.problem.message


def test_tabs_are_a_syntax_error_not_a_traceback() -> None:
    with pytest.raises(YamlSyntaxError) as info:
        load_text("a:\n\t- 1\n", "tab.yaml")
    assert info.value.problem.line == 2


def test_format_loc() -> None:
    assert format_loc(("routes", 3, "prefix")) == "routes[3].prefix"
    assert format_loc(()) == ""


def test_yaml_1_1_look_alikes_stay_text() -> None:
    text = ("a: yes\nb: no\nc: on\nd: off\ne: 0022\nf: 1:30\ng: 0x1F\nh: 1_000\ni: 2024-01-01\nj: y\n"
            "k: 0o17\nl: =\n")
    data, problems = load_text(text, "f.yaml")
    assert problems == []
    assert data == {"a": "yes", "b": "no", "c": "on", "d": "off", "e": "0022", "f": "1:30", "g": "0x1F",
                    "h": "1_000", "i": "2024-01-01", "j": "y", "k": "0o17", "l": "="}


def test_core_scalars_keep_their_types() -> None:
    data, _ = load_text("a: true\nb: FALSE\nc: 10\nd: -3\ne: 0\nf: 1.5\ng: 1e3\nh: ~\ni:\nj: null\n"
                        "k: '10'\n", "f.yaml")
    assert data == {"a": True, "b": False, "c": 10, "d": -3, "e": 0, "f": 1.5, "g": 1000.0, "h": None,
                    "i": None, "j": None, "k": "10"}
    assert isinstance(data["c"], int) and not isinstance(data["c"], bool)


@pytest.mark.parametrize("text", ["a: !!int 0022", "a: !!bool yes", "a: !!float 1:30", "a: !!binary aGk=",
                                  "a: !!set {x}", "a: !!timestamp 2024-01-01", "a: !!python/object:os.system x"])
def test_other_explicit_tags_are_refused(text: str) -> None:
    with pytest.raises(YamlSyntaxError) as info:
        load_text("x: 1\n" + text + "\n", "f.yaml")
    assert info.value.problem.line == 2
    assert "unsupported YAML" in info.value.problem.message


def test_a_merged_key_is_overridden_by_the_mapping_itself_not_reported() -> None:
    data, problems = load_text("base: &b {x: 1, y: 1}\nm: {<<: *b, x: 2}\n", "f.yaml")
    assert problems == []
    assert data["m"] == {"x": 2, "y": 1}
    assert line_of(data, ["m", "x"]) == 2 and line_of(data, ["m", "y"]) == 1


def test_alias_expansion_is_bounded_before_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlsrc, "MAX_ALIAS_EXPANSION", 50)
    text = "a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]\nb: [*a, *a, *a, *a]\nc: [*a, *a]\n"
    with pytest.raises(YamlSyntaxError) as info:
        load_text(text, "f.yaml")
    assert info.value.problem.line == 3 and info.value.problem.code == "limit"
    assert "more than 50 nodes" in info.value.problem.message
    data, _ = load_text(text.replace("c: [*a, *a]\n", ""), "f.yaml")  # 40 nodes added: within the bound
    assert data["b"][3] == list(range(1, 10))


def test_nesting_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlsrc, "MAX_YAML_DEPTH", 5)
    assert load_text("a: [[[[1]]]]\n", "f.yaml")[0] == {"a": [[[[1]]]]}
    with pytest.raises(YamlSyntaxError) as info:
        load_text("a:\n  b: [[[[1]]]]\n", "f.yaml")
    assert info.value.problem.line == 2 and "deeper than 5" in info.value.problem.message


def test_recursive_alias_is_refused_with_its_line() -> None:
    with pytest.raises(YamlSyntaxError) as info:
        load_text("a: 1\nb: &x\n  c: *x\n", "f.yaml")
    assert info.value.problem.line == 3 and "recursive alias" in info.value.problem.message
