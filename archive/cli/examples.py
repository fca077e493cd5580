"""What `lastseen COMMAND --help` shows beyond the options: the command's summary as its description, and
examples to copy. Kept in one table so every command has them (tests/test_cli_output.py checks each one)."""

from __future__ import annotations

import argparse

EXAMPLES: dict[str, str] = {
    "add": "lastseen add -c flood https://news.example/2026/flood https://news.example/2026/dam\n"
           "lastseen add -c flood --every 6h --tag dam https://news.example/2026/dam",
    "import": "lastseen import -c flood urls.txt\nlastseen import -c flood sitemap.xml --tag sitemap",
    "list": "lastseen list -c flood --status vanished\nlastseen list --csv > sources.csv",
    "status": "lastseen status https://news.example/2026/flood\nlastseen status --json https://news.example/2026/flood",
    "collections": "lastseen collections\nlastseen collections --json",
    "collection": "lastseen collection flood --every 12h --description 'Floods, spring 2026'\n"
                  "lastseen collection flood --screenshots no --regions default,kz\n"
                  "lastseen collection flood --capture browser",
    "config": "lastseen config\nlastseen config --check",
    "crawl": "lastseen crawl -c flood\nlastseen crawl -c flood --depth 1 https://news.example/2026/",
    "describe": "lastseen describe\nlastseen describe -c flood",
    "export": "lastseen export -c flood flood.wacz\nlastseen export -c flood flood.warc.gz",
    "alerts": "lastseen alerts\nlastseen alerts --max-wait 0",
    "feed": "lastseen feed -c flood > flood.atom\nlastseen feed -c flood --json",
    "check": "lastseen check\nlastseen check -c flood --all\nlastseen check https://news.example/2026/flood",
    "wayback": "lastseen wayback\nlastseen wayback --lookup https://news.example/2026/flood",
    "serve": "lastseen serve\nlastseen serve --port 8080",
    "token": "lastseen token create alice --role reader\nlastseen token list\nlastseen token revoke alice",
    "verify": "lastseen verify\nlastseen verify -c flood\nlastseen verify flood.wacz",
    "timestamp": "lastseen timestamp\nlastseen timestamp -c flood",
    "schedule": "lastseen schedule\nlastseen schedule --once",
    "worker": "lastseen worker\nlastseen worker --queues check,capture --concurrency 4 --region kz\n"
              "lastseen worker --queues browser --concurrency 1",
    "workers": "lastseen workers\nlastseen workers --json",
    "pause": "lastseen pause https://news.example/2026/flood\nlastseen pause -c flood",
    "resume": "lastseen resume https://news.example/2026/flood\nlastseen resume -c flood",
    "delete": "lastseen delete https://news.example/2026/flood\nlastseen delete -c flood --purge",
    "fingerprint": "lastseen fingerprint\nlastseen fingerprint -c flood",
    "similar": "lastseen similar still.png\nlastseen similar copy.mp4 -c flood --json\n"
               "lastseen similar https://youtu.be/dQw4w9WgXcQ",
    "transcribe": "lastseen transcribe\nlastseen transcribe -c flood",
    "transcript": "lastseen transcript https://youtu.be/dQw4w9WgXcQ\n"
                  "lastseen transcript https://youtu.be/dQw4w9WgXcQ --format vtt --source speech",
    "subscribe": "lastseen subscribe -c flood https://news.example/feed.xml\nlastseen subscribe -c flood --list\n"
                 "lastseen subscribe -c flood --remove https://news.example/feed.xml",
    "timeline": "lastseen timeline -c flood\nlastseen timeline -c flood --as-of 2026-01-06 --csv > then.csv\n"
                "lastseen timeline -c flood --as-of 2026-01-06T12:00Z --json",
    "search": "lastseen search sandbags bridge\nlastseen search \"river rose\" -c flood --json --limit 50\n"
              "lastseen search --reindex -c flood",
    "diff": "lastseen diff https://news.example/2026/flood\n"
            "lastseen diff https://news.example/2026/flood --from 2026-01-05 --to 2026-01-07",
    "report": "lastseen report -c flood flood-dossier.html\nlastseen report -c flood --status vanished gone.pdf",
}


def describe_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Give each command's --help its summary as a description (unless it has its own) and its examples."""
    for action in sub._choices_actions:
        parser = sub.choices[action.dest]
        parser.description = parser.description or (action.help[:1].upper() + action.help[1:] + "."
                                                     if action.help else None)
        if action.dest in EXAMPLES:
            parser.epilog = "examples:\n" + "\n".join(f"  {line}" for line in EXAMPLES[action.dest].splitlines())
            parser.formatter_class = argparse.RawDescriptionHelpFormatter
