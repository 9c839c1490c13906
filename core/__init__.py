"""The ground floor every other package stands on; it imports none of them (tests/test_structure.py).

`errors` (TempdraftError, ConfigError, RecipeError), `yamlconfig` (YAML loading, `--set` overrides,
pydantic problems with field paths), `schema` (the one `Strict` base), `hardware` (dtype for a device),
`home` (`$TEMPDRAFT_HOME`, sha256 of a file), `names` (the dataset-name rule), `public` (what a published
record may hold), `provenance` (the recorded command and library versions), `teacher` (a teacher name ->
a loadable folder and its identity), `faults` (test-only kill points), `cli` (the command
shape: `python -m X VERB CONFIG [--set k=v]`, every user mistake -> exit 2).
"""
