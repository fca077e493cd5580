"""Read-side questions researchers ask of the archive, shared by the API and the command line: what was online
when (timeline), ... Reads only: nothing here changes what was archived."""
