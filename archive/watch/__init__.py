"""The watch stage: checks of each source, its status moved on evidence, and the alerts that go out.

fetch (one light GET, the site's probe), select (what is due, its baseline), check (judging one source and a
run of them), record (checks, states, transitions), alerts (what an alert says, making them), notify (messages
and channels), deliver (claims and retries), feed (the Atom feed). No CLI code: see archive/cli/check.py and
archive/cli/alerts.py.
"""
