"""The command line for people: whole URLs when piped, a description and working examples in every --help, and
-c naming a collection everywhere."""

from __future__ import annotations

import argparse
import shlex

import pytest

from archive.cli import build_parser
from archive.cli.examples import EXAMPLES

LONG = "https://news.example/2026/12/06/" + "a-very-long-story-title-about-the-flood-" * 3 + "and-the-dam?utm=1"


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return dict(sub.choices)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_tables_print_whole_urls_when_piped(run) -> None:  # type: ignore[no-untyped-def]
    assert run("add", "-c", "flood", LONG, LONG.replace("dam", "dyke"))[0] == 0
    code, out, _ = run("list")
    assert code == 0 and LONG in out and LONG.replace("dam", "dyke") in out, out
    assert "…" not in out
    code, out, _ = run("list", "-c", "flood", "--status", "new")
    assert code == 0 and out.count("https://news.example/") == 2 and "…" not in out


def test_every_command_has_a_description_and_examples_that_parse() -> None:
    parser = build_parser()
    commands = _commands()
    assert set(commands) == set(EXAMPLES), "each command has its examples (archive/cli/examples.py)"
    for name, command in commands.items():
        shown = command.format_help()
        assert command.description and "examples:" in shown, name
        for line in EXAMPLES[name].splitlines():
            words = shlex.split(line.split(" > ")[0])
            assert words[:2] == ["lastseen", name], line
            parser.parse_args(words[1:])  # an example that does not parse exits here


def test_dash_c_names_a_collection_everywhere() -> None:
    for name, command in _commands().items():
        for action in command._actions:
            if "-c" in action.option_strings:
                assert action.dest == "collection", f"{name}: -c means {action.dest}"
