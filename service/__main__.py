"""`python -m service`: serve the API or manage the table (see `service.cli`)."""

from service.cli import main

raise SystemExit(main())
