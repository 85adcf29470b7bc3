"""The operator's commands: python -m ops AREA VERB [options].

Every command has --help, prints aligned text or, with --json, one JSON document with stable
keys, and takes --dry-run when it changes data. Settings come from the environment, then
./local.settings.json (or --settings-file) for what the environment leaves unset; a command
needs only the settings it uses (most need DATABASE_URL alone).

Exit status: 0 done; 1 nothing found for what was named, or refused; 2 usage or a missing
setting; 3 a service did not answer (nothing more was changed: run it again).

Runbook and examples: docs/operations.md, "Operator commands (python -m ops)".
"""
