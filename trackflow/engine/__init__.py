"""TrackFlow's pure-Python core: everything worth testing without a Frappe site.

Nothing under this package may import frappe (tests/test_engine_purity.py enforces it). The
Frappe layer (doctypes, api/, integrations/, tasks, commands, web/) calls into it.
"""

# The version of the attribution rules, stamped on every credit of the ledger (Attribution Credit's
# engine_version): it changes only when the same input would get different credits, so it moves apart
# from the package version (trackflow.__version__) on purpose; `trackflow-attribution --version` shows both.
ENGINE_VERSION = "1.1.0"  # 1.1.0: Markov chains built in key order, channel-weighted path splits exact
