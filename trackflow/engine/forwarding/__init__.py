"""Server-to-server forwarding of conversions to ad platforms (Meta Conversions API, GA4 Measurement Protocol)."""
