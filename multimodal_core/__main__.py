"""Entry point of ``python -m multimodal_core``."""

from multimodal_core.cli import main

raise SystemExit(main())
