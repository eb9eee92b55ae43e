"""`--help` reads as written: every command, the lab's included, rendered at a fixed width, has a
help text and every option and argument one; no sentence is broken by a line break of the
source (typer's help keeps a docstring's line breaks); the display drops or cuts nothing (rich
markup would eat a `[...]`); flags show no value."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
import typer.main

from netorch.cli import main
from netorch.cli.app import app

WIDTH = 100
BOX = "│╭╮╰╯─┃━┏┓┗┛┡┩╇╈┳┻"
#: a line break inside a paragraph of a help text (a paragraph break is a blank line)
LONE_BREAK = re.compile(r"(?<!\n)\n(?!\n)")


def words(text: str) -> str:
    return " ".join(text.split())


def commands() -> dict[tuple[str, ...], Any]:
    """Every command and group of netorch, by its path of names (() is netorch itself)."""
    found: dict[tuple[str, ...], Any] = {}

    def walk(command: Any, path: tuple[str, ...]) -> None:
        found[path] = command
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, (*path, name))

    walk(typer.main.get_group(app), ())
    return found


COMMANDS = commands()


def params(command: Any) -> list[Any]:
    """Its options and arguments, --help included."""
    ctx = command.make_context("netorch", [], resilient_parsing=True)
    return list(command.get_params(ctx))


def test_every_command_is_walked() -> None:
    names = {" ".join(path) for path in COMMANDS}
    assert {"validate", "plan", "apply", "drift", "history", "schema", "lab up", "lab probe"} <= names


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=lambda p: " ".join(p) or "netorch")
def test_help_texts_are_whole_sentences(path: tuple[str, ...]) -> None:
    command = COMMANDS[path]
    assert command.help and command.help.strip(), f"{path}: no help"
    assert not LONE_BREAK.search(command.help), f"{path}: a line break inside a sentence: {command.help!r}"
    for param in params(command):
        text = (getattr(param, "help", None) or "").strip()
        name = "/".join(param.opts)
        assert text, f"{path} {name}: no help"
        assert "\n" not in text, f"{path} {name}: a line break in its help"
        assert text[0].isupper() or text[0].isdigit() or text[0] == "`", f"{path} {name}: {text!r}"
        assert text.endswith("."), f"{path} {name}: not a sentence: {text!r}"


def rendered(path: tuple[str, ...], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    assert main([*path, "--help"]) == 0
    return capsys.readouterr().out


def early_breaks(text: str) -> list[str]:
    """Lines a sentence leaves although the next word would have fitted on them: a break the
    source made, not the display's wrapping."""
    found = []
    lines = text.splitlines()
    for line, following in itertools.pairwise(lines):
        end = line.rfind("│") if line.rstrip().endswith("│") else WIDTH
        start = 1 if line.startswith("│") else 0
        content = line[start:end].rstrip()
        nxt = following.strip(" " + BOX)
        if not content.strip() or not nxt or not nxt[0].islower():
            continue
        if following.startswith("│") and len(following[1:]) - len(following[1:].lstrip()) < 8:
            continue  # the next row of a panel (an option, a command), not a continuation
        word = nxt.split()[0]
        if len(content) + 1 + len(word) < end - start - 1:
            found.append(f"{content.strip()!r} / {word!r}")
    return found


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=lambda p: " ".join(p) or "netorch")
def test_help_renders_whole(path: tuple[str, ...], capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    command = COMMANDS[path]
    text = rendered(path, capsys, monkeypatch)
    assert "…" not in text and "<bool>" not in text
    assert early_breaks(text) == [], path
    flat = words(text.translate({ord(c): " " for c in BOX}))
    for paragraph in command.help.split("\n\n"):
        assert words(paragraph) in flat, (path, paragraph)
    for param in params(command):
        assert words(param.help) in flat, (path, param.opts, param.help)
    for name, sub in getattr(command, "commands", {}).items():
        short = words(sub.help.split("\n\n")[0])
        assert name in flat and short[:60] in flat, (path, name)


def test_the_detector_finds_a_broken_sentence() -> None:
    first = "│ rollback  Re-apply exactly what an earlier apply run pushed (its stored artifacts), through the"
    broken = "\n".join(line.ljust(WIDTH - 1) + "│" for line in (
        first, "│           same", "│           transaction as apply: the devices go back to that revision.",
        "│ diff      The differences between two stored revisions."))
    assert early_breaks(broken) == ["'same' / 'transaction'"]


def unwrapped(text: str) -> str:
    """Whitespace normalised, and a word the display broke after a hyphen joined again."""
    return re.sub(r"-\s+", "-", words(text.translate({ord(c): " " for c in BOX})))


@pytest.mark.parametrize("columns", [40, 60])
@pytest.mark.parametrize("path", sorted(COMMANDS), ids=lambda p: " ".join(p) or "netorch")
def test_help_in_a_narrow_terminal_is_whole(path: tuple[str, ...], columns: int, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Under 80 columns --help is plain text, each option's help under it at the terminal's
    width: nothing is cut with an ellipsis, no line is wider than the terminal."""
    monkeypatch.setenv("COLUMNS", str(columns))
    assert main([*path, "--help"]) == 0
    text = capsys.readouterr().out
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= columns, text
    flat = unwrapped(text)
    command = COMMANDS[path]
    for paragraph in command.help.split("\n\n"):
        assert unwrapped(paragraph) in flat, (path, paragraph)
    for param in params(command):
        assert unwrapped(param.help) in flat, (path, param.opts, param.help)
