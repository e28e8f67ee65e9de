"""TrackFlow's pure-Python core: everything worth testing without a Frappe site.

Nothing under this package may import frappe (tests/test_engine_purity.py enforces it). The
Frappe layer (doctypes, api/, integrations/, tasks, commands, web/) calls into it.
"""

ENGINE_VERSION = "1.0.0"
