"""The job folder beside an output (checkpoints, records, resume), the output guard and manifest,
the ledger of files written beside an output, and the plan ``--dry-run`` prints."""
