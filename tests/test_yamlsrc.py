from __future__ import annotations

import pytest

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
